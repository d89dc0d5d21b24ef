//! The action file (`format: "handtwin.action"`, version 1): a camera path, optional hand tracks, the clip
//! length and a prompt, as human-readable JSON. `docs/action-format.md` is the full description; in short:
//!
//! ```json
//! {
//!   "format": "handtwin.action",
//!   "version": 1,
//!   "frame_count": 49,
//!   "fps": 8,
//!   "prompt": "open the top drawer",
//!   "camera": {
//!     "intrinsics": { "width": 720, "height": 480, "fx": 360, "fy": 360, "cx": 360, "cy": 240 },
//!     "keyframes": [
//!       { "time": 0.0, "translation": [0.5, 1.55, 0.6], "rotation": [x, y, z, w] },
//!       { "frame": 48, "world_from_camera": [16 numbers, column-major 4×4], "intrinsics": { ... } }
//!     ]
//!   },
//!   "left": null,
//!   "right": {
//!     "wrist_frame": "camera",
//!     "betas": [10 numbers],
//!     "keyframes": [
//!       { "time": 0.0, "global_orient": [3], "hand_pose": [[3] × 15], "wrist_translation": [3] }
//!     ]
//!   }
//! }
//! ```
//!
//! Conventions: world +Y up, metres; camera axes OpenGL (x right, y up, looking down −z); rotations are unit
//! quaternions [x, y, z, w] (|q| within 1e-3 of 1, renormalised) or rigid column-major 4×4 matrices; a keyframe's
//! time is `time` (seconds) or `frame` (index at the file's fps; fractional allowed), or, with neither, its
//! position in the list at the file's fps. Hand rotations are MANO axis-angle (radians). `wrist_frame` is
//! `"camera"` (moves with the head) or `"world"` (stays put).
//!
//! A bare camera-path file (`format: "handtwin.camera_path"`, see `path_file`) is accepted wherever an action is.

use super::camera::Intrinsics;
use super::path_file::{CAMERA_PATH_FORMAT, DenseCameraPath};
use super::track::{
    Action, CameraKeyframe, CameraPath, HandKeyframe, HandTrack, ManoPose, TrackError, WristFrame,
    check_intrinsics, unit_rotation,
};
use crate::atomic::write_atomically;
use crate::hand::Side;
use glam::{Mat3, Mat4, Quat, Vec3, Vec4};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub const ACTION_FORMAT: &str = "handtwin.action";

/// A sanity bound on a clip's length (DWM uses 49); a corrupt file must not make a renderer allocate forever.
pub const MAX_FRAME_COUNT: usize = 100_000;

/// A file that could not be read, imported or saved: which file, where in it (line, key or frame), and why.
#[derive(Debug)]
pub struct ActionFileError {
    pub path: PathBuf,
    /// "line 12", "camera.keyframes[3]", …
    pub location: Option<String>,
    pub reason: String,
}

impl ActionFileError {
    pub(crate) fn new(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            location: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at(path: &Path, location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            location: Some(location.into()),
            reason: reason.into(),
        }
    }

    pub(crate) fn track(path: &Path, what: &str, error: TrackError) -> Self {
        let location = match &error {
            TrackError::BadTime { index, .. }
            | TrackError::Unsorted { index, .. }
            | TrackError::BadValue { index, .. }
            | TrackError::NoSuchKeyframe { index, .. } => format!("{what}[{index}]"),
            TrackError::Empty | TrackError::LastKeyframe => what.to_string(),
        };
        Self::at(path, location, error.to_string())
    }
}

impl fmt::Display for ActionFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(location) = &self.location {
            write!(f, ": {location}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ActionFileError {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCameraKeyframe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    world_from_camera: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    translation: Option<[f32; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation: Option<[f32; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intrinsics: Option<Intrinsics>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCamera {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intrinsics: Option<Intrinsics>,
    keyframes: Vec<FileCameraKeyframe>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileWristFrame {
    Camera,
    World,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHandKeyframe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame: Option<f64>,
    global_orient: [f32; 3],
    hand_pose: [[f32; 3]; 15],
    wrist_translation: [f32; 3],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHand {
    wrist_frame: FileWristFrame,
    #[serde(default)]
    betas: Vec<f32>,
    keyframes: Vec<FileHandKeyframe>,
}

fn default_frame_count() -> usize {
    super::track::DEFAULT_FRAME_COUNT
}

fn default_fps() -> f64 {
    super::track::DEFAULT_FPS
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAction {
    format: String,
    version: u32,
    #[serde(default = "default_frame_count")]
    frame_count: usize,
    #[serde(default = "default_fps")]
    fps: f64,
    #[serde(default)]
    prompt: String,
    camera: FileCamera,
    #[serde(default)]
    left: Option<FileHand>,
    #[serde(default)]
    right: Option<FileHand>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: String,
}

/// A pose given as a 4×4 column-major rigid matrix or as translation + unit quaternion [x, y, z, w].
pub(crate) fn parse_pose(
    matrix: Option<&[f32]>,
    translation: Option<[f32; 3]>,
    rotation: Option<[f32; 4]>,
) -> Result<(Quat, Vec3), String> {
    match (matrix, translation, rotation) {
        (Some(m), None, None) => {
            if m.len() != 16 {
                return Err(format!(
                    "world_from_camera has {} numbers, expected 16 (a column-major 4×4)",
                    m.len()
                ));
            }
            if m.iter().any(|v| !v.is_finite()) {
                return Err("world_from_camera holds a non-finite number".into());
            }
            let matrix = Mat4::from_cols_slice(m);
            if (matrix.row(3) - Vec4::W).abs().max_element() > 1e-3 {
                return Err(format!(
                    "world_from_camera's last row is {:?}, expected [0, 0, 0, 1] (is it row-major?)",
                    matrix.row(3).to_array()
                ));
            }
            let rotation = rigid_rotation(Mat3::from_mat4(matrix))?;
            Ok((rotation, matrix.w_axis.truncate()))
        }
        (None, Some(t), Some(q)) => {
            if t.iter().any(|v| !v.is_finite()) {
                return Err("translation holds a non-finite number".into());
            }
            Ok((unit_rotation(Quat::from_array(q))?, Vec3::from_array(t)))
        }
        _ => Err("give either world_from_camera, or translation and rotation".into()),
    }
}

/// A rotation matrix (orthonormal within 1e-3, determinant +1) as a unit quaternion.
pub(crate) fn rigid_rotation(rotation: Mat3) -> Result<Quat, String> {
    if !rotation.is_finite() {
        return Err("rotation holds a non-finite number".into());
    }
    let error = (rotation.transpose() * rotation - Mat3::IDENTITY)
        .to_cols_array()
        .iter()
        .fold(0f32, |a, v| a.max(v.abs()));
    if error > 1e-3 || rotation.determinant() < 0.0 {
        return Err("the rotation part is not a rotation (scaled, sheared or mirrored)".into());
    }
    Ok(Quat::from_mat3(&rotation).normalize())
}

fn keyframe_time(
    time: Option<f64>,
    frame: Option<f64>,
    index: usize,
    fps: f64,
) -> Result<f64, String> {
    match (time, frame) {
        (Some(t), None) => Ok(t),
        (None, Some(f)) => Ok(f / fps),
        (None, None) => Ok(index as f64 / fps),
        (Some(_), Some(_)) => Err("give time (seconds) or frame, not both".into()),
    }
}

fn camera_from_file(
    camera: &FileCamera,
    fps: f64,
    path: &Path,
    prefix: &str,
) -> Result<CameraPath, ActionFileError> {
    let shared = match &camera.intrinsics {
        Some(k) => {
            check_intrinsics(k)
                .map_err(|e| ActionFileError::at(path, format!("{prefix}camera.intrinsics"), e))?;
            *k
        }
        None => Intrinsics::DWM,
    };
    let mut keyframes = Vec::with_capacity(camera.keyframes.len());
    for (index, k) in camera.keyframes.iter().enumerate() {
        let here = || format!("{prefix}camera.keyframes[{index}]");
        let time = keyframe_time(k.time, k.frame, index, fps)
            .map_err(|e| ActionFileError::at(path, here(), e))?;
        let (rotation, translation) =
            parse_pose(k.world_from_camera.as_deref(), k.translation, k.rotation)
                .map_err(|e| ActionFileError::at(path, here(), e))?;
        keyframes.push(CameraKeyframe {
            time,
            rotation,
            translation,
            intrinsics: k.intrinsics.unwrap_or(shared),
        });
    }
    CameraPath::new(keyframes)
        .map_err(|e| ActionFileError::track(path, &format!("{prefix}camera.keyframes"), e))
}

fn hand_from_file(
    hand: &FileHand,
    side: Side,
    fps: f64,
    path: &Path,
    prefix: &str,
) -> Result<HandTrack, ActionFileError> {
    let name = match side {
        Side::Left => "left",
        Side::Right => "right",
    };
    let mut keyframes = Vec::with_capacity(hand.keyframes.len());
    for (index, k) in hand.keyframes.iter().enumerate() {
        let time = keyframe_time(k.time, k.frame, index, fps).map_err(|e| {
            ActionFileError::at(path, format!("{prefix}{name}.keyframes[{index}]"), e)
        })?;
        keyframes.push(HandKeyframe {
            time,
            pose: ManoPose {
                global_orient: k.global_orient,
                hand_pose: k.hand_pose,
            },
            wrist_translation: k.wrist_translation,
        });
    }
    let wrist_frame = match hand.wrist_frame {
        FileWristFrame::Camera => WristFrame::Camera,
        FileWristFrame::World => WristFrame::World,
    };
    HandTrack::new(side, hand.betas.clone(), wrist_frame, keyframes)
        .map_err(|e| ActionFileError::track(path, &format!("{prefix}{name}.keyframes"), e))
}

impl Action {
    /// Reads an action file, or a bare camera-path file (then the clip is the path's frames at its fps, no hands).
    pub fn load(path: &Path) -> Result<Self, ActionFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ActionFileError::new(path, e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parses the JSON text of an action or camera-path file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ActionFileError> {
        let format: FormatOnly = serde_json::from_str(text).map_err(|e| {
            ActionFileError::new(
                path,
                format!("not a handtwin action or camera-path file: {e}"),
            )
        })?;
        if format.format == CAMERA_PATH_FORMAT {
            let dense = DenseCameraPath::parse(text, path)
                .map_err(|e| ActionFileError::new(path, e.to_string()))?;
            let camera = CameraPath::from_dense(&dense)
                .map_err(|e| ActionFileError::track(path, "frames", e))?;
            let mut action = Action::new(camera);
            action.frame_count = dense.frames.len();
            action.fps = dense.fps;
            return Ok(action);
        }
        if format.format != ACTION_FORMAT {
            return Err(ActionFileError::at(
                path,
                "format",
                format!(
                    "is \"{}\", expected \"{ACTION_FORMAT}\" or \"{CAMERA_PATH_FORMAT}\"",
                    format.format
                ),
            ));
        }
        let file: FileAction = serde_json::from_str(text)
            .map_err(|e| ActionFileError::new(path, format!("not a valid action file: {e}")))?;
        action_from_file(&file, path, "")
    }

    /// The action as an action file (times in seconds, poses as translation + quaternion; shared intrinsics when
    /// every keyframe agrees). Loading it gives back an equal `Action`.
    pub fn to_json(&self) -> String {
        // Plain numbers and strings always serialise (the types above hold only finite floats).
        serde_json::to_string_pretty(&action_to_file(self)).unwrap_or_default() + "\n"
    }

    /// Saves atomically (temporary file + fsync + rename).
    pub fn save(&self, path: &Path) -> Result<(), ActionFileError> {
        write_atomically(path, self.to_json().as_bytes())
            .map_err(|e| ActionFileError::new(path, format!("could not save: {e}")))
    }
}

pub(crate) fn action_to_file(action: &Action) -> FileAction {
    {
        let keys = action.camera.keyframes();
        let shared = keys
            .first()
            .map(|k| k.intrinsics)
            .filter(|k| keys.iter().all(|f| f.intrinsics == *k));
        let hand = |track: &HandTrack| FileHand {
            wrist_frame: match track.wrist_frame() {
                WristFrame::Camera => FileWristFrame::Camera,
                WristFrame::World => FileWristFrame::World,
            },
            betas: track.betas().to_vec(),
            keyframes: track
                .keyframes()
                .iter()
                .map(|k| FileHandKeyframe {
                    time: Some(k.time),
                    frame: None,
                    global_orient: k.pose.global_orient,
                    hand_pose: k.pose.hand_pose,
                    wrist_translation: k.wrist_translation,
                })
                .collect(),
        };
        FileAction {
            format: ACTION_FORMAT.into(),
            version: 1,
            frame_count: action.frame_count,
            fps: action.fps,
            prompt: action.prompt.clone(),
            camera: FileCamera {
                intrinsics: shared,
                keyframes: keys
                    .iter()
                    .map(|k| FileCameraKeyframe {
                        time: Some(k.time),
                        frame: None,
                        world_from_camera: None,
                        translation: Some(k.translation.to_array()),
                        rotation: Some(k.rotation.to_array()),
                        intrinsics: if shared.is_some() {
                            None
                        } else {
                            Some(k.intrinsics)
                        },
                    })
                    .collect(),
            },
            left: action.left.as_ref().map(hand),
            right: action.right.as_ref().map(hand),
        }
    }
}

/// Checks and converts a parsed action; `prefix` goes before keys in errors (e.g. "actions[2].").
pub(crate) fn action_from_file(
    file: &FileAction,
    path: &Path,
    prefix: &str,
) -> Result<Action, ActionFileError> {
    if file.format != ACTION_FORMAT {
        return Err(ActionFileError::at(
            path,
            format!("{prefix}format"),
            format!("is \"{}\", expected \"{ACTION_FORMAT}\"", file.format),
        ));
    }
    if file.version != 1 {
        return Err(ActionFileError::at(
            path,
            format!("{prefix}version"),
            format!(
                "{} is not supported (this handtwin reads version 1)",
                file.version
            ),
        ));
    }
    if !(file.fps.is_finite() && file.fps > 0.0) {
        return Err(ActionFileError::at(
            path,
            format!("{prefix}fps"),
            format!("must be positive, got {}", file.fps),
        ));
    }
    if file.frame_count == 0 {
        return Err(ActionFileError::at(
            path,
            format!("{prefix}frame_count"),
            "must be at least 1",
        ));
    }
    let camera = camera_from_file(&file.camera, file.fps, path, prefix)?;
    let left = file
        .left
        .as_ref()
        .map(|h| hand_from_file(h, Side::Left, file.fps, path, prefix))
        .transpose()?;
    let right = file
        .right
        .as_ref()
        .map(|h| hand_from_file(h, Side::Right, file.fps, path, prefix))
        .transpose()?;
    Ok(Action {
        camera,
        left,
        right,
        frame_count: file.frame_count,
        fps: file.fps,
        prompt: file.prompt.clone(),
    })
}

impl CameraPath {
    /// A dense path's frames as keyframes, frame i at time i / fps.
    pub fn from_dense(dense: &DenseCameraPath) -> Result<Self, TrackError> {
        CameraPath::new(
            dense
                .frames
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    CameraKeyframe::new(i as f64 / dense.fps, f.world_from_camera, f.intrinsics)
                })
                .collect(),
        )
    }
}

/// Loads an action file or a bare camera-path file.
pub fn load_action(path: &Path) -> Result<Action, ActionFileError> {
    Action::load(path)
}

/// Loads the camera path of an action file or a bare camera-path file.
pub fn load_camera_path(path: &Path) -> Result<CameraPath, ActionFileError> {
    Action::load(path).map(|a| a.camera)
}

impl CameraPath {
    /// This path as a dense camera-path file (`handtwin.camera_path`), sampled at `frame_count` frames at `fps`.
    pub fn to_dense(&self, frame_count: usize, fps: f64) -> DenseCameraPath {
        DenseCameraPath {
            fps,
            frames: self.frames(frame_count, fps),
        }
    }
}

impl DenseCameraPath {
    /// Saves atomically as a camera-path file.
    pub fn save(&self, path: &Path) -> Result<(), ActionFileError> {
        write_atomically(path, (self.to_json() + "\n").as_bytes())
            .map_err(|e| ActionFileError::new(path, format!("could not save: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::track::{HandKeyframe, TimeWindow};
    use glam::Affine3A;

    fn sample_action() -> Action {
        let keys = vec![
            CameraKeyframe {
                time: 0.0,
                rotation: Quat::from_euler(glam::EulerRot::YXZ, 0.3, -0.2, 0.01),
                translation: Vec3::new(0.6, 1.6, 0.8),
                intrinsics: Intrinsics::DWM,
            },
            CameraKeyframe {
                time: 2.7,
                rotation: Quat::from_euler(glam::EulerRot::YXZ, -0.1, -0.35, 0.0),
                translation: Vec3::new(-0.6, 1.5, -1.2),
                intrinsics: Intrinsics::from_horizontal_fov(720, 480, 75.0),
            },
        ];
        let mut pose = ManoPose::FLAT;
        pose.hand_pose[7] = [0.1, -0.7, 0.3333333];
        let right = HandTrack::new(
            Side::Right,
            vec![0.5, -1.25, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-7],
            WristFrame::World,
            vec![
                HandKeyframe {
                    time: 0.0,
                    pose,
                    wrist_translation: [0.1, 0.9, -1.0],
                },
                HandKeyframe {
                    time: 6.0,
                    pose: ManoPose::FLAT,
                    wrist_translation: [0.2, 0.95, -1.1],
                },
            ],
        )
        .unwrap();
        Action {
            camera: CameraPath::new(keys).unwrap(),
            left: None,
            right: Some(right),
            frame_count: 49,
            fps: 8.0,
            prompt: "open the top drawer".into(),
        }
    }

    #[test]
    fn export_then_import_is_lossless() {
        let action = sample_action();
        let again = Action::parse(&action.to_json(), Path::new("a.json")).unwrap();
        assert_eq!(action, again);
        // Through a file too (atomic save).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        action.save(&file).unwrap();
        assert_eq!(Action::load(&file).unwrap(), action);
        // A resampled dense path survives as well.
        let dense = action
            .camera
            .resampled(TimeWindow::default(), 49, 8.0)
            .unwrap();
        let with_dense = Action {
            camera: dense,
            ..action
        };
        assert_eq!(
            Action::parse(&with_dense.to_json(), Path::new("b.json")).unwrap(),
            with_dense
        );
    }

    #[test]
    fn reads_matrices_frames_and_bare_camera_paths() {
        let text = r#"{"format": "handtwin.action", "version": 1, "fps": 4,
          "camera": {"keyframes": [
            {"frame": 0, "world_from_camera": [1,0,0,0, 0,1,0,0, 0,0,1,0, 4,5,6,1]},
            {"frame": 8, "translation": [0, 0, 0], "rotation": [0, 0.7071068, 0, 0.7071068]}
          ]}}"#;
        let action = Action::parse(text, Path::new("m.json")).unwrap();
        assert_eq!(action.frame_count, 49);
        assert_eq!(action.camera.keyframes()[1].time, 2.0);
        assert_eq!(
            action.camera.keyframes()[0].translation,
            Vec3::new(4.0, 5.0, 6.0)
        );
        let dense = DenseCameraPath {
            fps: 8.0,
            frames: vec![
                crate::action::CameraFrame {
                    world_from_camera: Affine3A::IDENTITY,
                    intrinsics: Intrinsics::DWM
                };
                3
            ],
        };
        let action = Action::parse(&dense.to_json(), Path::new("p.json")).unwrap();
        assert_eq!((action.frame_count, action.fps), (3, 8.0));
        assert_eq!(action.camera.keyframes()[2].time, 0.25);
    }

    #[test]
    fn bad_files_name_the_key() {
        let base = |camera: &str| {
            format!(
                r#"{{"format": "handtwin.action", "version": 1, "camera": {{"keyframes": [{camera}]}}}}"#
            )
        };
        for (text, needle) in [
            ("".to_string(), "not a handtwin action"),
            (r#"{"format": "x"}"#.to_string(), "format: is \"x\""),
            (
                base(""),
                "camera.keyframes: a track needs at least one keyframe",
            ),
            (
                base(r#"{"translation": [0,0,0], "rotation": [0,0,0,3]}"#),
                "camera.keyframes[0]: rotation",
            ),
            (
                base(
                    r#"{"time": 1, "translation": [0,0,0], "rotation": [0,0,0,1]}, {"time": 0.5, "translation": [0,0,0], "rotation": [0,0,0,1]}"#,
                ),
                "camera.keyframes[1]: keyframe 1: time 0.5 s is not after",
            ),
            (
                base(r#"{"translation": [0,0,0], "rotaton": [0,0,0,1]}"#),
                "unknown field `rotaton`",
            ),
            (
                base(r#"{"world_from_camera": [1,0,0,4, 0,1,0,5, 0,0,1,6, 0,0,0,1]}"#),
                "row-major",
            ),
        ] {
            let error = Action::parse(&text, Path::new("bad.json"))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("bad.json") && error.contains(needle),
                "{error}\n  wanted: {needle}"
            );
        }
    }
}
