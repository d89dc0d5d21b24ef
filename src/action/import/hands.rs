//! Hand tracks from other tools.
//!
//! - **HaMeR-style MANO parameters** (JSON, or `.npz` with the same keys stacked over frames): a list of per-frame objects (or `{"frames": [...]}`) with
//!   `global_orient` (axis-angle [3], a 3×3 matrix, or HaMeR's [1][3][3]), `hand_pose` (45 numbers, 15×3
//!   axis-angle, or 15×3×3 matrices), `betas`, optional `is_right` (frames of the other hand are skipped),
//!   the camera translation `pred_cam_t_full` / `pred_cam_t` / `cam_t`, and the wrist's offset from it,
//!   `pred_keypoints_3d[0]` (HaMeR's 21 keypoints, wrist first, before the translation). HaMeR's camera is
//!   OpenCV (y down, z forward); we turn it to OpenGL. `"mirrored": true` marks a frame whose parameters were
//!   fitted to a mirrored image (HaMeR's demo predicts left hands as right hands on a flipped crop): every
//!   rotation's axis-angle (x, y, z) becomes (x, −y, −z) and the wrist's x its negative. The wrist is `keypoints_3d[0] + cam_t`; without keypoints,
//!   give `wrist_translation` (OpenCV camera) directly — MANO's `transl` alone does not locate the wrist without
//!   the MANO model's rest joint. Times: `time` (s), else `frame` / list position at the given fps. The wrist is
//!   in the camera frame (moves with the head).
//! - **HOT3D** `mano_hand_pose_trajectory.jsonl`: per line `timestamp_ns` and `hand_poses` keyed `"0"` (left) /
//!   `"1"` (right), each with `wrist_xform {q_wxyz, t_xyz}` (world frame, Aria's +Z-up world), `pose` (15 MANO
//!   PCA coefficients) and `betas`. Field names checked against HOT3D's `loader_hand_poses.py` and its sample
//!   data. The PCA basis is part of the licensed MANO model, so the caller supplies the conversion
//!   (`pose_from_pca`, from the `hand` module once it loads MANO). `t_xyz` is taken as the wrist joint's position
//!   (HOT3D passes it with the wrist rotation as MANO's global transform; unverified whether it is the joint or
//!   MANO's `transl`).
//! - **Our JSON**: the `left` / `right` track of a `handtwin.action` file.
//! - **ARCTIC `*.mano.npy`**: see [`super::arctic`] (it needs the MANO model).

use super::{SourceUp, opencv_from_opengl, read_text};
use crate::action::action_file::{ActionFileError, rigid_rotation};
use crate::action::interpolate::axis_angle_from_quat;
use crate::action::track::{Action, HandKeyframe, HandTrack, ManoPose, WristFrame, unit_rotation};
use crate::hand::{Side, json_numbers};
use glam::{Mat3, Quat, Vec3};
use serde_json::Value;
use std::path::Path;

/// A rotation given as axis-angle [3], a 3×3 matrix (rows), or a 1×3×3 matrix; as axis-angle.
fn rotation_value(value: &Value) -> Result<[f32; 3], String> {
    let numbers = json_numbers(value)?;
    match numbers.len() {
        3 => Ok([numbers[0], numbers[1], numbers[2]]),
        9 => {
            let rows = Mat3::from_cols_slice(&numbers).transpose();
            Ok(axis_angle_from_quat(rigid_rotation(rows)?))
        }
        n => Err(format!(
            "has {n} numbers; a rotation is 3 (axis-angle) or 9 (a 3×3 matrix)"
        )),
    }
}

fn hand_pose_value(value: &Value) -> Result<[[f32; 3]; 15], String> {
    let numbers = json_numbers(value)?;
    let mut pose = [[0.0; 3]; 15];
    match numbers.len() {
        45 => {
            for (joint, chunk) in pose.iter_mut().zip(numbers.chunks_exact(3)) {
                joint.copy_from_slice(chunk);
            }
        }
        135 => {
            for (joint, chunk) in pose.iter_mut().zip(numbers.chunks_exact(9)) {
                let matrix = Mat3::from_cols_slice(chunk).transpose();
                *joint = axis_angle_from_quat(rigid_rotation(matrix)?);
            }
        }
        n => {
            return Err(format!(
                "has {n} numbers; expected 45 (15 axis-angles) or 135 (15 rotation matrices)"
            ));
        }
    }
    Ok(pose)
}

fn vec3_value(value: &Value) -> Result<Vec3, String> {
    let numbers = json_numbers(value)?;
    match numbers[..] {
        [x, y, z] => Ok(Vec3::new(x, y, z)),
        _ => Err(format!("has {} numbers, expected 3", numbers.len())),
    }
}

/// Reads HaMeR-style per-frame MANO parameters for one hand (see the module docs): JSON, or an `.npz` whose
/// arrays hold the same keys stacked over frames (first axis = frame; e.g. `hand_pose` (T, 15, 3, 3)).
pub fn load_hamer(path: &Path, side: Side, fps: f64) -> Result<HandTrack, ActionFileError> {
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if is_npz {
        let frames = hamer_npz_frames(path)?;
        return parse_hamer(&frames.to_string(), path, side, fps);
    }
    parse_hamer(&read_text(path)?, path, side, fps)
}

/// An `.npz` of per-frame arrays as the JSON frame list `parse_hamer` reads.
fn hamer_npz_frames(path: &Path) -> Result<Value, ActionFileError> {
    use crate::hand::npz::{NpyData, read_npz};
    let npz = read_npz(path).map_err(|e| ActionFileError::new(path, e.to_string()))?;
    let mut frame_count: Option<usize> = None;
    let mut columns: Vec<(String, Vec<usize>, Vec<f64>)> = Vec::new();
    for (name, array) in &npz.arrays {
        let Some((&frames, rest)) = array.shape.split_first() else {
            return Err(ActionFileError::at(
                path,
                name,
                "is a scalar; expected one row per frame",
            ));
        };
        if *frame_count.get_or_insert(frames) != frames {
            return Err(ActionFileError::at(
                path,
                name,
                format!(
                    "has {frames} frames, other arrays have {}",
                    frame_count.unwrap_or(0)
                ),
            ));
        }
        let values = match &array.data {
            NpyData::Float(v) => v.clone(),
            NpyData::Int(v) => v.iter().map(|&x| x as f64).collect(),
        };
        columns.push((name.clone(), rest.to_vec(), values));
    }
    let frames = frame_count.unwrap_or(0);
    let mut out = Vec::with_capacity(frames);
    for frame in 0..frames {
        let mut object = serde_json::Map::new();
        for (name, rest, values) in &columns {
            let per_frame: usize = rest.iter().product();
            let row = &values[frame * per_frame..][..per_frame];
            let value = if name == "is_right" || name == "mirrored" {
                Value::Bool(row.first().is_some_and(|&v| v != 0.0))
            } else if rest.is_empty() {
                serde_json::json!(row[0])
            } else {
                serde_json::json!(row)
            };
            object.insert(name.clone(), value);
        }
        out.push(Value::Object(object));
    }
    Ok(Value::Array(out))
}

pub fn parse_hamer(
    text: &str,
    path: &Path,
    side: Side,
    fps: f64,
) -> Result<HandTrack, ActionFileError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| ActionFileError::new(path, format!("not JSON: {e}")))?;
    let frames = match &root {
        Value::Array(frames) => frames,
        Value::Object(map) => match map.get("frames") {
            Some(Value::Array(frames)) => frames,
            _ => {
                return Err(ActionFileError::at(
                    path,
                    "frames",
                    "expected a list of per-frame MANO parameters",
                ));
            }
        },
        _ => {
            return Err(ActionFileError::new(
                path,
                "expected a list of per-frame MANO parameters",
            ));
        }
    };
    let flip = opencv_from_opengl();
    let mut betas: Option<Vec<f32>> = None;
    let mut keyframes = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let key = |name: &str| format!("frames[{i}].{name}");
        let err = |name: &str, e: String| ActionFileError::at(path, key(name), e);
        let Value::Object(frame) = frame else {
            return Err(ActionFileError::at(
                path,
                format!("frames[{i}]"),
                "is not an object",
            ));
        };
        if let Some(is_right) = frame.get("is_right") {
            let right = match is_right {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|v| v > 0.5),
                _ => return Err(err("is_right", "is not a boolean or 0/1".into())),
            };
            if right != (side == Side::Right) {
                continue;
            }
        }
        let field = |name: &str| {
            frame
                .get(name)
                .ok_or_else(|| err(name, "is missing".into()))
        };
        let mut global_orient =
            rotation_value(field("global_orient")?).map_err(|e| err("global_orient", e))?;
        let mut hand_pose =
            hand_pose_value(field("hand_pose")?).map_err(|e| err("hand_pose", e))?;
        let mirrored = match frame.get("mirrored") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(err("mirrored", "is not a boolean".into())),
        };
        if mirrored {
            // Mirroring across the x = 0 plane maps a rotation's axis-angle (x, y, z) to (x, −y, −z).
            for rotation in std::iter::once(&mut global_orient).chain(hand_pose.iter_mut()) {
                rotation[1] = -rotation[1];
                rotation[2] = -rotation[2];
            }
        }
        let frame_betas = json_numbers(field("betas")?).map_err(|e| err("betas", e))?;
        betas.get_or_insert(frame_betas);
        let wrist_in_opencv = if let Some(wrist) = frame.get("wrist_translation") {
            vec3_value(wrist).map_err(|e| err("wrist_translation", e))?
        } else {
            let (name, translation) = ["pred_cam_t_full", "pred_cam_t", "cam_t"]
                .iter()
                .find_map(|n| frame.get(*n).map(|v| (*n, v)))
                .ok_or_else(|| err("cam_t", "is missing (also looked for pred_cam_t_full, pred_cam_t, wrist_translation)".into()))?;
            let translation = vec3_value(translation).map_err(|e| err(name, e))?;
            let keypoints = frame.get("pred_keypoints_3d").ok_or_else(|| {
                err(
                    "pred_keypoints_3d",
                    "is missing: the wrist is keypoint 0 + cam_t (or give wrist_translation)"
                        .into(),
                )
            })?;
            let keypoints = json_numbers(keypoints).map_err(|e| err("pred_keypoints_3d", e))?;
            let [x, y, z, ..] = keypoints[..] else {
                return Err(err("pred_keypoints_3d", "has fewer than 3 numbers".into()));
            };
            translation + Vec3::new(x, y, z)
        };
        let wrist_in_opencv = if mirrored {
            wrist_in_opencv * Vec3::new(-1.0, 1.0, 1.0)
        } else {
            wrist_in_opencv
        };
        let time = match (frame.get("time"), frame.get("frame")) {
            (Some(t), _) => t
                .as_f64()
                .filter(|t| t.is_finite())
                .ok_or_else(|| err("time", "is not a number".into()))?,
            (None, Some(f)) => {
                f.as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| err("frame", "is not a number".into()))?
                    / fps
            }
            (None, None) => i as f64 / fps,
        };
        // OpenCV camera → OpenGL camera: the wrist's rotation and position both turn by the half turn about x.
        let rotation = flip * crate::action::interpolate::quat_from_axis_angle(global_orient);
        keyframes.push(HandKeyframe {
            time,
            pose: ManoPose {
                global_orient: axis_angle_from_quat(rotation),
                hand_pose,
            },
            wrist_translation: (flip * wrist_in_opencv).to_array(),
        });
    }
    if keyframes.is_empty() {
        return Err(ActionFileError::new(
            path,
            format!("has no frames for the {side:?} hand"),
        ));
    }
    HandTrack::new(
        side,
        betas.unwrap_or_default(),
        WristFrame::Camera,
        keyframes,
    )
    .map_err(|e| ActionFileError::track(path, "frames", e))
}

/// Turns MANO PCA coefficients into 15 axis-angle joint rotations (needs the MANO model's basis).
pub type PoseFromPca<'a> = &'a dyn Fn(&[f32]) -> Result<[[f32; 3]; 15], String>;

/// Reads one hand of a HOT3D `mano_hand_pose_trajectory.jsonl` (see the module docs).
pub fn load_hot3d(
    path: &Path,
    side: Side,
    up: SourceUp,
    pose_from_pca: PoseFromPca,
) -> Result<HandTrack, ActionFileError> {
    parse_hot3d(&read_text(path)?, path, side, up, pose_from_pca)
}

pub fn parse_hot3d(
    text: &str,
    path: &Path,
    side: Side,
    up: SourceUp,
    pose_from_pca: PoseFromPca,
) -> Result<HandTrack, ActionFileError> {
    let hand_key = match side {
        Side::Left => "0",
        Side::Right => "1",
    };
    let world_from_source = up.world_from_source();
    let mut first_ns: Option<i64> = None;
    let mut previous_ns: Option<i64> = None;
    let mut betas: Option<Vec<f32>> = None;
    let mut keyframes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", index + 1);
        let err = |e: String| ActionFileError::at(path, &at, e);
        let record: Value =
            serde_json::from_str(line).map_err(|e| err(format!("not JSON: {e}")))?;
        let timestamp = record
            .get("timestamp_ns")
            .and_then(Value::as_i64)
            .ok_or_else(|| err("timestamp_ns is missing or not a whole number".into()))?;
        if let Some(previous) = previous_ns
            && timestamp <= previous
        {
            return Err(err(format!(
                "timestamp_ns {timestamp} is not after the previous {previous} (timestamps must increase)"
            )));
        }
        previous_ns = Some(timestamp);
        let Some(hand) = record.get("hand_poses").and_then(|h| h.get(hand_key)) else {
            // This hand was not tracked at this moment.
            continue;
        };
        let field = |name: &str| {
            hand.get(name)
                .ok_or_else(|| err(format!("hand_poses.{hand_key}.{name} is missing")))
        };
        let named = |name: &str, e: String| err(format!("hand_poses.{hand_key}.{name} {e}"));
        let wrist = field("wrist_xform")?;
        let q = json_numbers(
            wrist
                .get("q_wxyz")
                .ok_or_else(|| named("wrist_xform.q_wxyz", "is missing".into()))?,
        )
        .map_err(|e| named("wrist_xform.q_wxyz", e))?;
        let t = json_numbers(
            wrist
                .get("t_xyz")
                .ok_or_else(|| named("wrist_xform.t_xyz", "is missing".into()))?,
        )
        .map_err(|e| named("wrist_xform.t_xyz", e))?;
        let (&[w, x, y, z], &[tx, ty, tz]) = (&q[..], &t[..]) else {
            return Err(named(
                "wrist_xform",
                "needs q_wxyz of 4 and t_xyz of 3 numbers".into(),
            ));
        };
        let rotation = unit_rotation(Quat::from_xyzw(x, y, z, w))
            .map_err(|e| named("wrist_xform.q_wxyz", e))?;
        let pca = json_numbers(field("pose")?).map_err(|e| named("pose", e))?;
        let hand_pose = pose_from_pca(&pca).map_err(|e| named("pose", e))?;
        betas.get_or_insert(json_numbers(field("betas")?).map_err(|e| named("betas", e))?);
        let first = *first_ns.get_or_insert(timestamp);
        keyframes.push(HandKeyframe {
            time: (i128::from(timestamp) - i128::from(first)) as f64 * 1e-9,
            pose: ManoPose {
                global_orient: axis_angle_from_quat(world_from_source * rotation),
                hand_pose,
            },
            wrist_translation: (world_from_source * Vec3::new(tx, ty, tz)).to_array(),
        });
    }
    if keyframes.is_empty() {
        return Err(ActionFileError::new(
            path,
            format!("has no poses for the {side:?} hand (key \"{hand_key}\")"),
        ));
    }
    HandTrack::new(
        side,
        betas.unwrap_or_default(),
        WristFrame::World,
        keyframes,
    )
    .map_err(|e| ActionFileError::track(path, "lines", e))
}

/// The `left` or `right` track of one of our action files.
pub fn load_from_action(path: &Path, side: Side) -> Result<HandTrack, ActionFileError> {
    let action = Action::load(path)?;
    match side {
        Side::Left => action.left,
        Side::Right => action.right,
    }
    .ok_or_else(|| ActionFileError::new(path, format!("has no {side:?} hand track")))
}
