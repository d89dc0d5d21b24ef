//! The stream settings a user chooses: size, frame count, frame rate, field of view.

use crate::action::Intrinsics;
use bevy::prelude::Resource;

/// DWM's defaults: 720×480, 49 frames at 8 fps, 90° horizontal field of view.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct StreamSettings {
    pub width: u32,
    pub height: u32,
    pub frame_count: usize,
    pub fps: f64,
    pub horizontal_fov_degrees: f32,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            width: 720,
            height: 480,
            frame_count: 49,
            fps: 8.0,
            horizontal_fov_degrees: 90.0,
        }
    }
}

impl StreamSettings {
    /// Centred pinhole intrinsics for these settings.
    pub fn intrinsics(&self) -> Intrinsics {
        Intrinsics::from_horizontal_fov(self.width, self.height, self.horizontal_fov_degrees)
    }

    /// Clip length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.frame_count as f64 / self.fps
    }

    /// Why these settings cannot be used by DWM, if they cannot (sizes must be multiples of 16 for the VAE and
    /// the transformer's patches).
    pub fn dwm_compatibility_issue(&self) -> Option<String> {
        if !self.width.is_multiple_of(16) || !self.height.is_multiple_of(16) {
            return Some(format!(
                "{}x{} is not a multiple of 16 in both directions; DWM needs that",
                self.width, self.height
            ));
        }
        if self.frame_count != 49 {
            return Some(format!(
                "DWM was trained on 49 frames; {} frames will be resampled to 49 and back",
                self.frame_count
            ));
        }
        None
    }
}
