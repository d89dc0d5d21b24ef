//! Hand pose files: JSON with MANO's usual names, in metres and radians.
//!
//! ```json
//! { "global_orient": [0.0, 0.0, 0.0],            // axis-angle (3) or a 3×3 matrix (rows)
//!   "hand_pose": [0.0, ...],                      // 45 axis-angle numbers, 15×3, or 15 3×3 matrices
//!   "hand_pose_pca": [0.5, -0.2],                 // instead of hand_pose: PCA coefficients (≤ 45)
//!   "flat_hand_mean": true,                       // false: hand_pose / PCA are relative to MANO's mean hand
//!   "preset": "pinch",                            // instead of hand_pose: a named preset
//!   "betas": [0.0, ...],                          // ≤ the model's shape coefficients (10 for MANO)
//!   "transl": [0.0, 0.0, 0.0] }                   // metres
//! ```
//! Every key is optional (a missing pose is the flat hand). `flat_hand_mean` defaults to true: a zero pose is
//! the flat hand, as handtwin's presets and tracks write poses; MANO/smplx's own default is false.

use super::Side;
use super::mano::{FingerPose, ManoInput};
use super::pose::Preset;
use super::rotation::mat3_from_axis_angle;
use glam::{Mat3, Vec3};
use serde_json::{Map, Value};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PoseFileError {
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not valid JSON: {error}")]
    Json {
        path: String,
        error: serde_json::Error,
    },
    #[error("{path}: key `{key}` {reason}")]
    Key {
        path: String,
        key: String,
        reason: String,
    },
}

const KEYS: [&str; 7] = [
    "global_orient",
    "hand_pose",
    "hand_pose_pca",
    "flat_hand_mean",
    "preset",
    "betas",
    "transl",
];

pub fn load_pose_file(path: &Path, side: Side) -> Result<ManoInput, PoseFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| PoseFileError::Io {
        path: path.display().to_string(),
        error,
    })?;
    parse_pose_file(&path.display().to_string(), &text, side)
}

/// Parses a pose file; `name` only labels errors. `side` picks the mirrored preset for a left hand.
pub fn parse_pose_file(name: &str, text: &str, side: Side) -> Result<ManoInput, PoseFileError> {
    let value: Value = serde_json::from_str(text).map_err(|error| PoseFileError::Json {
        path: name.to_owned(),
        error,
    })?;
    let key_error = |key: &str, reason: String| PoseFileError::Key {
        path: name.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let Value::Object(object) = value else {
        return Err(key_error("(top level)", "must be a JSON object".into()));
    };
    if let Some(unknown) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(key_error(
            unknown,
            format!("is not a pose key (known: {})", KEYS.join(", ")),
        ));
    }
    let numbers = |key: &str| -> Result<Option<Vec<f32>>, PoseFileError> {
        object
            .get(key)
            .map(|v| json_numbers(v).map_err(|reason| key_error(key, reason)))
            .transpose()
    };
    let flat_hand_mean = match object.get("flat_hand_mean") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(key_error(
                "flat_hand_mean",
                format!("is {other}, not true or false"),
            ));
        }
    };
    let global_orient = match numbers("global_orient")? {
        None => Mat3::IDENTITY,
        Some(v) => rotation(&v).map_err(|reason| key_error("global_orient", reason))?,
    };
    let given: Vec<&str> = ["hand_pose", "hand_pose_pca", "preset"]
        .into_iter()
        .filter(|k| object.contains_key(*k))
        .collect();
    if given.len() > 1 {
        return Err(key_error(
            given[1],
            format!("cannot be given together with `{}`", given[0]),
        ));
    }
    let fingers = if let Some(v) = numbers("hand_pose")? {
        finger_pose(&v, flat_hand_mean).map_err(|reason| key_error("hand_pose", reason))?
    } else if let Some(coefficients) = numbers("hand_pose_pca")? {
        if coefficients.len() > 45 {
            return Err(key_error(
                "hand_pose_pca",
                format!(
                    "has {} coefficients; MANO has at most 45",
                    coefficients.len()
                ),
            ));
        }
        FingerPose::Pca {
            coefficients,
            flat_hand_mean,
        }
    } else if let Some(preset) = object.get("preset") {
        let preset = preset.as_str().and_then(Preset::from_name).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            key_error(
                "preset",
                format!("is {preset}, not one of {}", names.join(", ")),
            )
        })?;
        FingerPose::AxisAngle(preset.controls().pose_for(side).hand_pose)
    } else {
        FingerPose::AxisAngle([[0.0; 3]; 15])
    };
    let betas = numbers("betas")?.unwrap_or_default();
    let transl = match numbers("transl")? {
        None => Vec3::ZERO,
        Some(v) if v.len() == 3 => Vec3::from_slice(&v),
        Some(v) => {
            return Err(key_error(
                "transl",
                format!("has {} numbers, expected 3", v.len()),
            ));
        }
    };
    Ok(ManoInput {
        global_orient,
        fingers,
        betas,
        transl,
    })
}

/// Every number of a JSON number or (nested, up to four levels) list of numbers, in order, as finite f32: the
/// reader behind pose files and the hand importers.
pub(crate) fn json_numbers(value: &Value) -> Result<Vec<f32>, String> {
    fn walk(value: &Value, out: &mut Vec<f32>, depth: usize) -> Result<(), String> {
        if depth > 4 {
            return Err("is nested too deeply".into());
        }
        match value {
            Value::Number(n) => {
                let v = n.as_f64().unwrap_or(f64::NAN) as f32;
                if !v.is_finite() {
                    return Err(format!("holds {n}, not a finite f32"));
                }
                out.push(v);
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, out, depth + 1)),
            other => Err(format!("holds {other}, not a number")),
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out, 0)?;
    Ok(out)
}

fn rotation(numbers: &[f32]) -> Result<Mat3, String> {
    match numbers.len() {
        3 => Ok(mat3_from_axis_angle(Vec3::from_slice(numbers))),
        9 => {
            let m = Mat3::from_cols_slice(numbers).transpose();
            let error = (m * m.transpose() - Mat3::IDENTITY).abs_diff_eq(Mat3::ZERO, 1e-3);
            if !error || m.determinant() < 0.0 {
                return Err("is a 3×3 matrix that is not a rotation".into());
            }
            Ok(m)
        }
        n => Err(format!(
            "has {n} numbers; a rotation is 3 (axis-angle) or 9 (a 3×3 matrix)"
        )),
    }
}

fn finger_pose(numbers: &[f32], flat_hand_mean: bool) -> Result<FingerPose, String> {
    match numbers.len() {
        45 => {
            let mut pose = [[0.0; 3]; 15];
            for (joint, chunk) in pose.iter_mut().zip(numbers.chunks_exact(3)) {
                joint.copy_from_slice(chunk);
            }
            Ok(if flat_hand_mean {
                FingerPose::AxisAngle(pose)
            } else {
                FingerPose::AxisAngleFromMean(pose)
            })
        }
        135 => {
            if !flat_hand_mean {
                return Err(
                    "holds rotation matrices, which are absolute: drop flat_hand_mean".into(),
                );
            }
            let mut matrices = [Mat3::IDENTITY; 15];
            for (m, chunk) in matrices.iter_mut().zip(numbers.chunks_exact(9)) {
                *m = rotation(chunk)?;
            }
            Ok(FingerPose::Matrices(Box::new(matrices)))
        }
        n => Err(format!(
            "has {n} numbers; expected 45 (15 joints × axis-angle) or 135 (15 rotation matrices)"
        )),
    }
}

/// A pose file's JSON for an axis-angle pose (what `hand export` reads back).
pub fn pose_file_json(
    global_orient: [f32; 3],
    hand_pose: &[[f32; 3]; 15],
    betas: &[f32],
    transl: Vec3,
) -> String {
    let mut object = Map::new();
    object.insert("global_orient".into(), serde_json::json!(global_orient));
    object.insert(
        "hand_pose".into(),
        serde_json::json!(hand_pose.iter().flatten().collect::<Vec<_>>()),
    );
    object.insert("betas".into(), serde_json::json!(betas));
    object.insert("transl".into(), serde_json::json!(transl.to_array()));
    serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_form_and_names_bad_keys() {
        let input = parse_pose_file("p.json", "{}", Side::Right).unwrap();
        assert_eq!(input.fingers, FingerPose::AxisAngle([[0.0; 3]; 15]));
        let pca = parse_pose_file(
            "p.json",
            r#"{"hand_pose_pca": [1, 2], "flat_hand_mean": false, "transl": [0, 0.1, 0]}"#,
            Side::Left,
        )
        .unwrap();
        assert_eq!(
            pca.fingers,
            FingerPose::Pca {
                coefficients: vec![1.0, 2.0],
                flat_hand_mean: false
            }
        );
        assert_eq!(pca.transl, Vec3::new(0.0, 0.1, 0.0));
        let preset = parse_pose_file("p.json", r#"{"preset": "fist"}"#, Side::Left).unwrap();
        assert_eq!(
            preset.fingers,
            FingerPose::AxisAngle(Preset::Fist.controls().pose_for(Side::Left).hand_pose)
        );
        for (text, key) in [
            (r#"{"hand_pose": [1, 2]}"#, "`hand_pose` has 2 numbers"),
            (
                r#"{"global_orient": [1, 2, "x"]}"#,
                "`global_orient` holds \"x\"",
            ),
            (r#"{"pose": []}"#, "`pose` is not a pose key"),
            (r#"{"preset": "wave"}"#, "`preset` is \"wave\""),
            (r#"{"flat_hand_mean": 1}"#, "`flat_hand_mean` is 1"),
            (
                r#"{"preset": "fist", "hand_pose_pca": [1]}"#,
                "cannot be given together",
            ),
            (
                r#"{"global_orient": [[2,0,0],[0,1,0],[0,0,1]]}"#,
                "not a rotation",
            ),
        ] {
            let err = parse_pose_file("p.json", text, Side::Right)
                .unwrap_err()
                .to_string();
            assert!(err.contains("p.json") && err.contains(key), "{text}: {err}");
        }
        let round = pose_file_json([0.1, 0.2, 0.3], &[[0.5; 3]; 15], &[1.0], Vec3::X);
        let back = parse_pose_file("r.json", &round, Side::Right).unwrap();
        assert_eq!(back.fingers, FingerPose::AxisAngle([[0.5; 3]; 15]));
        assert_eq!(back.betas, vec![1.0]);
    }
}
