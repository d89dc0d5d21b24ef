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

    /// Why these settings cannot be used by DWM as they are, if they cannot: sizes must be multiples of 16 for the
    /// VAE and the transformer's patches, and a clip of another length than the chosen model's `model_frames` is
    /// resampled to it and back.
    pub fn dwm_compatibility_issue(&self, model_frames: usize) -> Option<String> {
        if !self.width.is_multiple_of(16) || !self.height.is_multiple_of(16) {
            return Some(format!(
                "{}x{} is not a multiple of 16 in both directions; DWM needs that",
                self.width, self.height
            ));
        }
        if self.frame_count != model_frames {
            return Some(format!(
                "the chosen model runs on {model_frames} frames; {} frames will be resampled to {model_frames} and \
                 back",
                self.frame_count
            ));
        }
        None
    }
}

#[cfg(test)]
mod frame_note_tests {
    use super::*;

    #[test]
    fn the_frame_note_follows_the_chosen_model() {
        let settings = StreamSettings {
            frame_count: 17,
            ..StreamSettings::default()
        };
        // The bundled tiny model runs on 17 frames: nothing to say; DWM's real models on 49.
        assert_eq!(settings.dwm_compatibility_issue(17), None);
        let note = settings.dwm_compatibility_issue(49).unwrap();
        assert!(note.contains("runs on 49 frames; 17 frames"), "{note}");
        let odd = StreamSettings {
            width: 100,
            ..settings
        };
        assert!(
            odd.dwm_compatibility_issue(17)
                .unwrap()
                .contains("multiple of 16")
        );
    }
}
