//! Where a reconstructed scene sits in handtwin's world (+Y up, metres): the up-axis convention it arrived in,
//! a rotation, a uniform scale and a translation. Saved with the project; applied by the scene loaders.

use glam::{Affine3A, EulerRot, Quat, Vec3};
use serde::{Deserialize, Serialize};

/// The up axis (and handedness convention) a scene was reconstructed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpAxis {
    /// +Y up: glTF, Bevy, handtwin, most 3DGS viewers' exports already in this frame.
    #[default]
    #[serde(rename = "y")]
    Y,
    /// +Z up: Blender, nerfstudio's world, Aria's world, many photogrammetry tools.
    #[serde(rename = "z")]
    Z,
    /// −Y up (y down, z forward): reconstructions left in OpenCV / COLMAP camera axes, as INRIA 3DGS scenes
    /// of COLMAP captures often are.
    #[serde(rename = "-y")]
    NegY,
}

impl UpAxis {
    pub const ALL: [UpAxis; 3] = [UpAxis::Y, UpAxis::Z, UpAxis::NegY];

    pub fn name(self) -> &'static str {
        match self {
            UpAxis::Y => "+Y up",
            UpAxis::Z => "+Z up",
            UpAxis::NegY => "−Y up (OpenCV)",
        }
    }

    /// The rotation taking this convention to +Y up.
    pub fn to_y_up(self) -> Quat {
        match self {
            UpAxis::Y => Quat::IDENTITY,
            // z → y, y → −z.
            UpAxis::Z => Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
            // y → −y, z → −z.
            UpAxis::NegY => Quat::from_rotation_x(std::f32::consts::PI),
        }
    }

    pub fn parse(text: &str) -> Option<UpAxis> {
        match text.trim().to_lowercase().as_str() {
            "y" | "+y" => Some(UpAxis::Y),
            "z" | "+z" => Some(UpAxis::Z),
            "-y" | "opencv" => Some(UpAxis::NegY),
            _ => None,
        }
    }
}

/// `world_from_scene = T(translation) · R(yaw, pitch, roll) · S(scale) · R(up → +Y)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenePlacement {
    #[serde(default)]
    pub up: UpAxis,
    /// Yaw (about +Y), pitch (about +X), roll (about +Z), degrees, applied after the up-axis turn.
    #[serde(default)]
    pub rotation_degrees: [f32; 3],
    #[serde(default = "one")]
    pub scale: f32,
    /// Metres, in the world.
    #[serde(default)]
    pub translation: [f32; 3],
}

fn one() -> f32 {
    1.0
}

impl Default for ScenePlacement {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl ScenePlacement {
    pub const IDENTITY: ScenePlacement = ScenePlacement {
        up: UpAxis::Y,
        rotation_degrees: [0.0; 3],
        scale: 1.0,
        translation: [0.0; 3],
    };

    pub fn rotation(&self) -> Quat {
        let [yaw, pitch, roll] = self.rotation_degrees.map(f32::to_radians);
        Quat::from_euler(EulerRot::YXZ, yaw, pitch, roll) * self.up.to_y_up()
    }

    pub fn world_from_scene(&self) -> Affine3A {
        Affine3A::from_scale_rotation_translation(
            Vec3::splat(self.scale),
            self.rotation(),
            Vec3::from_array(self.translation),
        )
    }

    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// Why the placement cannot be used, if it cannot: every number finite, the scale positive and sane.
    pub fn problem(&self) -> Option<String> {
        let numbers = self
            .rotation_degrees
            .iter()
            .chain(&self.translation)
            .chain(std::iter::once(&self.scale));
        if numbers.clone().any(|v| !v.is_finite()) {
            return Some("holds a number that is not finite".into());
        }
        if !(1e-6..=1e6).contains(&self.scale) {
            return Some(format!("has scale {}, outside (1e-6, 1e6]", self.scale));
        }
        if self.translation.iter().any(|v| v.abs() > 1e6) {
            return Some("has a translation beyond a million metres".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_axes_map_to_y_up_and_compose() {
        let z_up = ScenePlacement {
            up: UpAxis::Z,
            ..ScenePlacement::IDENTITY
        };
        assert!(
            z_up.world_from_scene()
                .transform_vector3(Vec3::Z)
                .abs_diff_eq(Vec3::Y, 1e-6)
        );
        let opencv = ScenePlacement {
            up: UpAxis::NegY,
            scale: 2.0,
            translation: [1.0, 0.0, 0.0],
            ..ScenePlacement::IDENTITY
        };
        let p = opencv
            .world_from_scene()
            .transform_point3(Vec3::new(0.0, -1.0, 1.0));
        assert!(p.abs_diff_eq(Vec3::new(1.0, 2.0, -2.0), 1e-6), "{p}");
        let yawed = ScenePlacement {
            rotation_degrees: [90.0, 0.0, 0.0],
            ..ScenePlacement::IDENTITY
        };
        assert!(
            yawed
                .world_from_scene()
                .transform_vector3(Vec3::X)
                .abs_diff_eq(-Vec3::Z, 1e-6)
        );
        assert!(ScenePlacement::IDENTITY.problem().is_none());
        let bad = ScenePlacement {
            scale: 0.0,
            ..ScenePlacement::IDENTITY
        };
        assert!(bad.problem().unwrap().contains("scale"));
        let json = serde_json::to_string(&opencv).unwrap();
        assert_eq!(
            serde_json::from_str::<ScenePlacement>(&json).unwrap(),
            opencv
        );
        let partial: ScenePlacement = serde_json::from_str(r#"{"up": "z"}"#).unwrap();
        assert_eq!(partial.scale, 1.0);
    }
}
