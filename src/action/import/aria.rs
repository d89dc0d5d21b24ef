//! Project Aria MPS trajectories: `closed_loop_trajectory.csv` (T_world_device per row) composed with the
//! device→RGB-camera extrinsic.
//!
//! Columns are found by name in the header (`tracking_timestamp_us`, `tx_world_device`, `ty_world_device`,
//! `tz_world_device`, `qx_world_device`, `qy_world_device`, `qz_world_device`, `qw_world_device`; the others —
//! `graph_uid`, `utc_timestamp_ns`, velocities, gravity, … — are ignored). The MPS world is gravity-aligned with
//! +Z up (its `gravity_z_world` is −9.81), so by default it is turned to +Y up.
//!
//! The extrinsic `T_Device_Camera` is given explicitly or read from an Aria calibration JSON — a device
//! calibration object or the first line of MPS's `online_calibration.jsonl` — at
//! `CameraCalibrations[i].T_Device_Camera` for the entry whose `Label` is `"camera-rgb"`:
//! `{"Translation": [x, y, z], "UnitQuaternion": [w, [x, y, z]]}`. Aria camera frames are OpenCV-like (z
//! forward, y down) in the sensor's raw image orientation; the RGB sensor is mounted sideways and Aria's own
//! tools rotate its images 90° clockwise to make them upright. With `upright` the camera is turned the same way
//! so that the rendered view is the upright one.
//!
//! Aria's RGB lens is a fisheye (`FisheyeRadTanThinPrism`); we render pinhole, so intrinsics are the caller's
//! (DWM's 90° by default), not the lens's.

use super::{SourceUp, check_increasing, number, opencv_from_opengl, read_text};
use crate::action::Intrinsics;
use crate::action::action_file::{ActionFileError, rigid_rotation};
use crate::action::track::{CameraKeyframe, CameraPath, MAX_COORDINATE, unit_rotation};
use glam::{Affine3A, Mat3, Quat, Vec3};
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AriaOptions {
    /// Device→camera extrinsic (`T_Device_Camera`, camera axes as Aria gives them: OpenCV-like).
    pub device_from_camera: Affine3A,
    pub up: SourceUp,
    /// Turn the camera 90° about its optical axis to match Aria's upright RGB images.
    pub upright: bool,
    pub intrinsics: Intrinsics,
}

impl Default for AriaOptions {
    fn default() -> Self {
        Self {
            device_from_camera: Affine3A::IDENTITY,
            up: SourceUp::Z,
            upright: true,
            intrinsics: Intrinsics::DWM,
        }
    }
}

const COLUMNS: [&str; 8] = [
    "tracking_timestamp_us",
    "tx_world_device",
    "ty_world_device",
    "tz_world_device",
    "qx_world_device",
    "qy_world_device",
    "qz_world_device",
    "qw_world_device",
];

/// Reads a `closed_loop_trajectory.csv` (or `open_loop_trajectory.csv`, which has the same columns for these).
pub fn load_trajectory(path: &Path, options: &AriaOptions) -> Result<CameraPath, ActionFileError> {
    parse_trajectory(&read_text(path)?, path, options)
}

pub fn parse_trajectory(
    text: &str,
    path: &Path,
    options: &AriaOptions,
) -> Result<CameraPath, ActionFileError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(ActionFileError::new(path, "is empty"));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut index = [0usize; 8];
    for (slot, wanted) in index.iter_mut().zip(COLUMNS) {
        *slot = names.iter().position(|n| *n == wanted).ok_or_else(|| {
            ActionFileError::at(
                path,
                "line 1",
                format!("the header has no column \"{wanted}\" (is this an MPS trajectory csv?)"),
            )
        })?;
    }
    let camera_fix = options.device_from_camera
        * Affine3A::from_quat(
            if options.upright {
                Quat::from_rotation_z(-std::f32::consts::FRAC_PI_2)
            } else {
                Quat::IDENTITY
            } * opencv_from_opengl(),
        );
    let world_from_source = Affine3A::from_quat(options.up.world_from_source());
    let mut times = Vec::new();
    let mut keyframes = Vec::new();
    for (line_index, line) in lines {
        let at = || format!("line {}", line_index + 1);
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != names.len() {
            return Err(ActionFileError::at(
                path,
                at(),
                format!(
                    "has {} columns, the header has {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let mut values = [0f64; 8];
        for ((value, &column), name) in values.iter_mut().zip(&index).zip(COLUMNS) {
            // `column` came from the header and every row has the header's width.
            *value = number(fields.get(column).copied().unwrap_or(""), name)
                .map_err(|e| ActionFileError::at(path, at(), e))?;
        }
        let [t_us, tx, ty, tz, qx, qy, qz, qw] = values;
        let rotation = unit_rotation(Quat::from_xyzw(qx as f32, qy as f32, qz as f32, qw as f32))
            .map_err(|e| {
            ActionFileError::at(path, at(), format!("{e} (qx/qy/qz/qw_world_device)"))
        })?;
        let world_from_device = Affine3A::from_rotation_translation(
            rotation,
            Vec3::new(tx as f32, ty as f32, tz as f32),
        );
        times.push(t_us * 1e-6);
        keyframes.push((
            line_index,
            world_from_source * world_from_device * camera_fix,
        ));
    }
    if keyframes.is_empty() {
        return Err(ActionFileError::new(path, "has a header but no rows"));
    }
    let lines_of: Vec<usize> = keyframes.iter().map(|(l, _)| *l).collect();
    check_increasing(path, &times, |i| {
        format!("line {}", lines_of.get(i).map_or(0, |l| l + 1))
    })?;
    let start = times.first().copied().unwrap_or(0.0);
    let keyframes = keyframes
        .iter()
        .zip(&times)
        .map(|((_, pose), t)| CameraKeyframe::new(t - start, *pose, options.intrinsics))
        .collect();
    CameraPath::new(keyframes).map_err(|e| ActionFileError::track(path, "rows", e))
}

#[derive(Deserialize)]
struct Transform {
    #[serde(rename = "Translation")]
    translation: [f32; 3],
    #[serde(rename = "UnitQuaternion")]
    unit_quaternion: (f32, [f32; 3]),
}

#[derive(Deserialize)]
struct CameraCalibration {
    #[serde(rename = "Label")]
    label: String,
    #[serde(rename = "T_Device_Camera")]
    device_from_camera: Transform,
}

#[derive(Deserialize)]
struct Calibration {
    #[serde(rename = "CameraCalibrations")]
    cameras: Vec<CameraCalibration>,
}

/// `T_Device_Camera` of the camera labelled `label` (normally `"camera-rgb"`) from an Aria calibration JSON (or
/// the first line of an `online_calibration.jsonl`).
pub fn load_device_from_camera(path: &Path, label: &str) -> Result<Affine3A, ActionFileError> {
    parse_device_from_camera(&read_text(path)?, path, label)
}

pub fn parse_device_from_camera(
    text: &str,
    path: &Path,
    label: &str,
) -> Result<Affine3A, ActionFileError> {
    let first = text.trim_start().lines().next().unwrap_or("");
    // A whole JSON document first; a JSON-lines file's first line otherwise.
    let calibration: Calibration = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(first))
        .map_err(|e| {
            ActionFileError::new(
                path,
                format!(
                    "not an Aria calibration (needs CameraCalibrations[].T_Device_Camera): {e}"
                ),
            )
        })?;
    let camera = calibration
        .cameras
        .iter()
        .find(|c| c.label == label)
        .ok_or_else(|| {
            let labels: Vec<&str> = calibration
                .cameras
                .iter()
                .map(|c| c.label.as_str())
                .collect();
            ActionFileError::at(
                path,
                "CameraCalibrations",
                format!("has no camera labelled \"{label}\" (found {labels:?})"),
            )
        })?;
    let key = format!("CameraCalibrations[Label={label}].T_Device_Camera");
    let (w, [x, y, z]) = camera.device_from_camera.unit_quaternion;
    let rotation = unit_rotation(Quat::from_xyzw(x, y, z, w))
        .map_err(|e| ActionFileError::at(path, &key, e))?;
    let translation = Vec3::from_array(camera.device_from_camera.translation);
    if !(translation.is_finite() && translation.abs().max_element() <= MAX_COORDINATE) {
        return Err(ActionFileError::at(
            path,
            key,
            format!("Translation {translation} is not finite or beyond ±{MAX_COORDINATE} m"),
        ));
    }
    Ok(Affine3A::from_rotation_translation(rotation, translation))
}

/// An explicit extrinsic "tx,ty,tz,qx,qy,qz,qw" (metres; unit quaternion).
pub fn parse_extrinsic(text: &str) -> Result<Affine3A, String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|f| number(f, "extrinsic value"))
        .collect::<Result<_, _>>()?;
    let [tx, ty, tz, qx, qy, qz, qw] = values[..] else {
        return Err(format!(
            "extrinsic needs 7 numbers tx,ty,tz,qx,qy,qz,qw, got {}",
            values.len()
        ));
    };
    let rotation = unit_rotation(Quat::from_xyzw(qx as f32, qy as f32, qz as f32, qw as f32))?;
    // Checked rigid: keeps rigid_rotation in use for matrices given elsewhere.
    let rotation = rigid_rotation(Mat3::from_quat(rotation))?;
    let translation = Vec3::new(tx as f32, ty as f32, tz as f32);
    if !(translation.is_finite() && translation.abs().max_element() <= MAX_COORDINATE) {
        return Err(format!(
            "extrinsic translation {translation} is beyond ±{MAX_COORDINATE} m"
        ));
    }
    Ok(Affine3A::from_rotation_translation(rotation, translation))
}
