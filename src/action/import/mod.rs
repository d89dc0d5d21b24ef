//! Importers: camera paths and hand tracks from other tools' files, converted at the border into our
//! conventions (world +Y up, metres; cameras looking down −Z with +Y up, OpenGL) and nowhere else.
//!
//! Every importer returns an [`ActionFileError`](super::ActionFileError) naming the file and the line or key on
//! malformed input (wrong column count, non-finite numbers, non-unit quaternions beyond
//! [`UNIT_QUATERNION_TOLERANCE`](super::UNIT_QUATERNION_TOLERANCE), unsorted timestamps, empty files) and never
//! panics. Source times become seconds from the source's first sample; use
//! [`CameraPath::resampled`](super::CameraPath::resampled) with a [`TimeWindow`](super::TimeWindow) to cut the
//! clip.

pub mod arctic;
pub mod aria;
pub mod colmap;
pub mod hands;
pub mod nerfstudio;
pub mod pickle;

use super::action_file::ActionFileError;
use glam::Quat;
use std::path::Path;

/// Which way is up in the source's world; we turn it to +Y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceUp {
    /// Already +Y up (no change).
    Y,
    /// +Z up (Aria MPS worlds, nerfstudio's viewer): (x, y, z) → (x, z, −y).
    Z,
    /// −Y up (COLMAP reconstructions of upright photos often are): a half turn about x.
    NegY,
}

impl SourceUp {
    /// Rotation taking source world coordinates to ours.
    pub fn world_from_source(self) -> Quat {
        match self {
            SourceUp::Y => Quat::IDENTITY,
            SourceUp::Z => Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
            SourceUp::NegY => Quat::from_rotation_x(std::f32::consts::PI),
        }
    }
}

impl std::str::FromStr for SourceUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "y" | "+y" => Ok(SourceUp::Y),
            "z" | "+z" => Ok(SourceUp::Z),
            "-y" => Ok(SourceUp::NegY),
            other => Err(format!("up axis \"{other}\" is not one of y, z, -y")),
        }
    }
}

/// OpenCV camera axes (x right, y down, z forward) in OpenGL ones (x right, y up, −z forward): a half turn
/// about x. `world_from_camera_gl = world_from_camera_cv · OPENCV_FROM_OPENGL`.
pub fn opencv_from_opengl() -> Quat {
    Quat::from_rotation_x(std::f32::consts::PI)
}

pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, ActionFileError> {
    let bytes = std::fs::read(path).map_err(|e| ActionFileError::new(path, e.to_string()))?;
    if bytes.is_empty() {
        return Err(ActionFileError::new(path, "is empty"));
    }
    Ok(bytes)
}

pub(crate) fn read_text(path: &Path) -> Result<String, ActionFileError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ActionFileError::new(path, e.to_string()))?;
    if text.trim().is_empty() {
        return Err(ActionFileError::new(path, "is empty"));
    }
    Ok(text)
}

/// A finite number from a text field.
pub(crate) fn number(field: &str, name: &str) -> Result<f64, String> {
    let value: f64 = field
        .trim()
        .parse()
        .map_err(|_| format!("{name} \"{}\" is not a number", field.trim()))?;
    if !value.is_finite() {
        return Err(format!("{name} is {value}, not a finite number"));
    }
    Ok(value)
}

/// Checks that source timestamps strictly increase; `at(i)` names sample i in errors.
pub(crate) fn check_increasing(
    path: &Path,
    times: &[f64],
    at: impl Fn(usize) -> String,
) -> Result<(), ActionFileError> {
    for (i, pair) in times.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(ActionFileError::at(
                path,
                at(i + 1),
                format!(
                    "timestamp {} is not after the previous one {} (timestamps must increase)",
                    pair[1], pair[0]
                ),
            ));
        }
    }
    Ok(())
}
