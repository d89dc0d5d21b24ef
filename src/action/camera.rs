//! Pinhole cameras: intrinsics and one posed frame of a camera path.

use glam::{Affine3A, Vec3};
use serde::{Deserialize, Serialize};

/// Pinhole intrinsics in pixels, for an image of `width`×`height`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    pub width: u32,
    pub height: u32,
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Intrinsics {
    /// DWM's default camera: 720×480, 90° horizontal field of view (fx = fy = 360, centred).
    pub const DWM: Intrinsics = Intrinsics {
        width: 720,
        height: 480,
        fx: 360.0,
        fy: 360.0,
        cx: 360.0,
        cy: 240.0,
    };

    /// A centred camera of the given size and horizontal field of view (degrees), square pixels.
    pub fn from_horizontal_fov(width: u32, height: u32, horizontal_fov_degrees: f32) -> Self {
        let fx = width as f32 * 0.5 / (horizontal_fov_degrees.to_radians() * 0.5).tan();
        Self {
            width,
            height,
            fx,
            fy: fx,
            cx: width as f32 * 0.5,
            cy: height as f32 * 0.5,
        }
    }

    pub fn horizontal_fov_degrees(&self) -> f32 {
        2.0 * (self.width as f32 * 0.5 / self.fx).atan().to_degrees()
    }

    pub fn vertical_fov_degrees(&self) -> f32 {
        2.0 * (self.height as f32 * 0.5 / self.fy).atan().to_degrees()
    }

    /// The same camera for an image scaled to `width`×`height` (focal lengths and centre scale per axis).
    pub fn resized(&self, width: u32, height: u32) -> Self {
        let sx = width as f32 / self.width as f32;
        let sy = height as f32 / self.height as f32;
        Self {
            width,
            height,
            fx: self.fx * sx,
            fy: self.fy * sy,
            cx: self.cx * sx,
            cy: self.cy * sy,
        }
    }

    /// Projects a point in camera space (OpenGL axes: x right, y up, looking down −z) to pixel coordinates
    /// (x right, y down, origin at the top-left corner of the image). `None` behind the camera.
    pub fn project(&self, point_in_camera: Vec3) -> Option<[f32; 2]> {
        let depth = -point_in_camera.z;
        if depth <= 0.0 {
            return None;
        }
        Some([
            self.cx + self.fx * point_in_camera.x / depth,
            self.cy - self.fy * point_in_camera.y / depth,
        ])
    }
}

impl Default for Intrinsics {
    fn default() -> Self {
        Self::DWM
    }
}

/// One frame of a camera path: where the camera is and how it images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraFrame {
    /// Maps camera-space points (OpenGL axes) to the world (Y up, metres).
    pub world_from_camera: Affine3A,
    pub intrinsics: Intrinsics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dwm_default_is_ninety_degrees() {
        let fov = Intrinsics::from_horizontal_fov(720, 480, 90.0);
        assert!((fov.fx - 360.0).abs() < 1e-3);
        assert!((Intrinsics::DWM.horizontal_fov_degrees() - 90.0).abs() < 1e-4);
    }

    #[test]
    fn projects_the_optical_axis_to_the_principal_point() {
        let k = Intrinsics::DWM;
        assert_eq!(k.project(Vec3::new(0.0, 0.0, -2.0)), Some([360.0, 240.0]));
        // Up in camera space is up in the image (smaller row).
        let [_, row] = k.project(Vec3::new(0.0, 1.0, -2.0)).unwrap();
        assert!(row < 240.0);
        assert_eq!(k.project(Vec3::new(0.0, 0.0, 1.0)), None);
    }
}
