//! A pinhole projection from real intrinsics (fx, fy, cx, cy), for Bevy cameras.
//!
//! Bevy's `PerspectiveProjection` knows only a vertical field of view and a centred principal point; captured
//! streams must use the camera path's real intrinsics, including an off-centre principal point.

use crate::action::Intrinsics;
use bevy::camera::{CameraProjection, SubCameraView};
use bevy::math::{Mat4, Vec3A, Vec4};

/// Pixel convention: the image spans [0, width] × [0, height] with (0, 0) at the top-left corner, so the centre
/// of pixel (i, j) is (i + 0.5, j + 0.5) and `cx = width / 2` is the exact image centre (DWM's convention:
/// cx = 360 for 720 px).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PinholeProjection {
    pub intrinsics: Intrinsics,
    pub near: f32,
}

impl PinholeProjection {
    pub fn new(intrinsics: Intrinsics) -> Self {
        Self {
            intrinsics,
            near: 0.01,
        }
    }

    fn clip_from_view(&self, k: &Intrinsics) -> Mat4 {
        let (w, h) = (k.width as f32, k.height as f32);
        // Reverse-Z with an infinite far plane, as Bevy's own perspective projection.
        Mat4::from_cols(
            Vec4::new(2.0 * k.fx / w, 0.0, 0.0, 0.0),
            Vec4::new(0.0, 2.0 * k.fy / h, 0.0, 0.0),
            Vec4::new(1.0 - 2.0 * k.cx / w, 2.0 * k.cy / h - 1.0, 0.0, -1.0),
            Vec4::new(0.0, 0.0, self.near, 0.0),
        )
    }
}

impl CameraProjection for PinholeProjection {
    fn get_clip_from_view(&self) -> Mat4 {
        self.clip_from_view(&self.intrinsics)
    }

    fn get_clip_from_view_for_sub(&self, sub_view: &SubCameraView) -> Mat4 {
        // A sub view is a crop of the full image: scale the intrinsics to the full size, then shift the centre.
        let full = self
            .intrinsics
            .resized(sub_view.full_size.x, sub_view.full_size.y);
        let cropped = Intrinsics {
            width: sub_view.size.x,
            height: sub_view.size.y,
            cx: full.cx - sub_view.offset.x,
            cy: full.cy - sub_view.offset.y,
            ..full
        };
        self.clip_from_view(&cropped)
    }

    fn update(&mut self, width: f32, height: f32) {
        let (width, height) = (width.round() as u32, height.round() as u32);
        if width == 0
            || height == 0
            || (width, height) == (self.intrinsics.width, self.intrinsics.height)
        {
            return;
        }
        // Keep the horizontal field of view and square pixels when the target is resized (a window).
        let scale = width as f32 / self.intrinsics.width as f32;
        let k = self.intrinsics;
        self.intrinsics = Intrinsics {
            width,
            height,
            fx: k.fx * scale,
            fy: k.fy * scale,
            cx: k.cx * scale,
            cy: k.cy / k.height as f32 * height as f32,
        };
    }

    fn far(&self) -> f32 {
        1.0e4
    }

    fn get_frustum_corners(&self, z_near: f32, z_far: f32) -> [Vec3A; 8] {
        let k = &self.intrinsics;
        let corner = |u: f32, v: f32, z: f32| {
            let depth = z.abs();
            Vec3A::new((u - k.cx) / k.fx * depth, (k.cy - v) / k.fy * depth, z)
        };
        let (w, h) = (k.width as f32, k.height as f32);
        // Order required by Bevy: bottom right, top right, top left, bottom left; near plane then far plane.
        [
            corner(w, h, z_near),
            corner(w, 0.0, z_near),
            corner(0.0, 0.0, z_near),
            corner(0.0, h, z_near),
            corner(w, h, z_far),
            corner(w, 0.0, z_far),
            corner(0.0, 0.0, z_far),
            corner(0.0, h, z_far),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::math::Vec3;

    /// Projects a camera-space point to pixels through the clip matrix, as the rasteriser does.
    fn to_pixels(projection: &PinholeProjection, p: Vec3) -> [f32; 2] {
        let clip = projection.get_clip_from_view() * p.extend(1.0);
        let ndc = clip / clip.w;
        let k = projection.intrinsics;
        [
            (ndc.x + 1.0) * 0.5 * k.width as f32,
            (1.0 - ndc.y) * 0.5 * k.height as f32,
        ]
    }

    #[test]
    fn matches_the_pinhole_model_with_an_off_centre_principal_point() {
        let k = Intrinsics {
            width: 640,
            height: 480,
            fx: 500.0,
            fy: 450.0,
            cx: 300.0,
            cy: 260.0,
        };
        let projection = PinholeProjection::new(k);
        for p in [
            Vec3::new(0.0, 0.0, -2.0),
            Vec3::new(0.3, -0.2, -1.5),
            Vec3::new(-1.0, 0.7, -4.0),
        ] {
            let [u, v] = to_pixels(&projection, p);
            let [eu, ev] = k.project(p).unwrap();
            assert!(
                (u - eu).abs() < 1e-3 && (v - ev).abs() < 1e-3,
                "{p}: ({u}, {v}) vs ({eu}, {ev})"
            );
        }
    }

    #[test]
    fn reverse_z_puts_the_near_plane_at_one() {
        let projection = PinholeProjection::new(Intrinsics::DWM);
        let clip = projection.get_clip_from_view() * Vec4::new(0.0, 0.0, -projection.near, 1.0);
        assert!((clip.z / clip.w - 1.0).abs() < 1e-6);
    }
}
