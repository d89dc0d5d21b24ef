//! The camera-path file (`format: "handtwin.camera_path"`), the smallest way to say where the camera goes:
//!
//! ```json
//! {
//!   "format": "handtwin.camera_path",
//!   "version": 1,
//!   "fps": 8,
//!   "intrinsics": { "width": 720, "height": 480, "fx": 360, "fy": 360, "cx": 360, "cy": 240 },
//!   "frames": [
//!     { "translation": [0.5, 1.55, 0.6], "rotation": [x, y, z, w] },
//!     { "world_from_camera": [16 numbers, column-major 4×4], "intrinsics": { ... } }
//!   ]
//! }
//! ```
//!
//! Conventions (DESIGN.md): world +Y up, metres; the camera looks down its −Z with +Y up (OpenGL). A frame
//! gives `world_from_camera` either as a column-major 4×4 matrix (rigid: orthonormal rotation, last row
//! 0 0 0 1) or as a translation plus a unit quaternion [x, y, z, w]. `intrinsics` (pixels, image spanning
//! [0, W]×[0, H], so cx = W/2 is the centre) applies to every frame unless a frame overrides it; omitted, it is
//! DWM's 720×480 at 90° horizontal field of view. Frames are evenly spaced at `fps`.

use super::camera::{CameraFrame, Intrinsics};
use glam::Affine3A;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const CAMERA_PATH_FORMAT: &str = "handtwin.camera_path";

#[derive(Debug, Error)]
pub enum PathFileError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path}: frame {frame}: {reason}")]
    Frame {
        path: PathBuf,
        frame: usize,
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct FileFrame {
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
struct File {
    format: String,
    version: u32,
    fps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intrinsics: Option<Intrinsics>,
    frames: Vec<FileFrame>,
}

/// A dense camera path: one posed pinhole camera per frame, at `fps`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseCameraPath {
    pub fps: f64,
    pub frames: Vec<CameraFrame>,
}

impl DenseCameraPath {
    /// Reads a camera-path file, checking every number.
    pub fn load(path: &Path) -> Result<Self, PathFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| PathFileError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the JSON text of a camera-path file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PathFileError> {
        let file_error = |reason: String| PathFileError::File {
            path: path.to_path_buf(),
            reason,
        };
        let file: File = serde_json::from_str(text)
            .map_err(|e| file_error(format!("not a camera-path file: {e}")))?;
        if file.format != CAMERA_PATH_FORMAT {
            return Err(file_error(format!(
                "format is \"{}\", expected \"{CAMERA_PATH_FORMAT}\"",
                file.format
            )));
        }
        if file.version != 1 {
            return Err(file_error(format!(
                "version {} is not supported (this handtwin reads version 1)",
                file.version
            )));
        }
        if !(file.fps.is_finite() && file.fps > 0.0) {
            return Err(file_error(format!(
                "fps must be positive, got {}",
                file.fps
            )));
        }
        if file.frames.is_empty() {
            return Err(file_error("has no frames".into()));
        }
        let default = match &file.intrinsics {
            Some(k) => intrinsics(k).map_err(file_error)?,
            None => Intrinsics::DWM,
        };
        let mut frames = Vec::with_capacity(file.frames.len());
        for (index, frame) in file.frames.iter().enumerate() {
            let frame_error = |reason: String| PathFileError::Frame {
                path: path.to_path_buf(),
                frame: index,
                reason,
            };
            let world_from_camera = pose(frame).map_err(frame_error)?;
            let intrinsics = match &frame.intrinsics {
                Some(k) => intrinsics(k).map_err(frame_error)?,
                None => default,
            };
            frames.push(CameraFrame {
                world_from_camera,
                intrinsics,
            });
        }
        Ok(Self {
            fps: file.fps,
            frames,
        })
    }

    /// The path as a camera-path file (translation + quaternion per frame, shared intrinsics when all agree).
    pub fn to_json(&self) -> String {
        let shared = self
            .frames
            .first()
            .map(|f| f.intrinsics)
            .filter(|k| self.frames.iter().all(|f| f.intrinsics == *k));
        let to_file = |k: &Intrinsics| *k;
        let file = File {
            format: CAMERA_PATH_FORMAT.into(),
            version: 1,
            fps: self.fps,
            intrinsics: shared.as_ref().map(to_file),
            frames: self
                .frames
                .iter()
                .map(|frame| {
                    let (_, rotation, translation) =
                        frame.world_from_camera.to_scale_rotation_translation();
                    FileFrame {
                        world_from_camera: None,
                        translation: Some(translation.to_array()),
                        rotation: Some(rotation.to_array()),
                        intrinsics: if shared.is_some() {
                            None
                        } else {
                            Some(to_file(&frame.intrinsics))
                        },
                    }
                })
                .collect(),
        };
        // A struct of plain numbers and strings always serialises.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// The path resampled to `count` frames over the same duration: positions linearly, rotations by slerp
    /// (short path), intrinsics linearly. The first and last frames are kept exactly.
    pub fn resampled(&self, count: usize) -> Vec<CameraFrame> {
        if count == self.frames.len() || self.frames.len() == 1 {
            return (0..count)
                .map(|i| self.frames[i.min(self.frames.len() - 1)])
                .collect();
        }
        let last = (self.frames.len() - 1) as f32;
        (0..count)
            .map(|i| {
                let s = if count == 1 {
                    0.0
                } else {
                    i as f32 / (count - 1) as f32 * last
                };
                let i0 = (s.floor() as usize).min(self.frames.len() - 2);
                let t = s - i0 as f32;
                let (a, b) = (&self.frames[i0], &self.frames[i0 + 1]);
                let (_, ra, ta) = a.world_from_camera.to_scale_rotation_translation();
                let (_, rb, tb) = b.world_from_camera.to_scale_rotation_translation();
                let rotation = ra.slerp(rb, t).normalize();
                let lerp = |x: f32, y: f32| x + (y - x) * t;
                let (ka, kb) = (&a.intrinsics, &b.intrinsics);
                CameraFrame {
                    world_from_camera: Affine3A::from_rotation_translation(
                        rotation,
                        ta.lerp(tb, t),
                    ),
                    intrinsics: Intrinsics {
                        fx: lerp(ka.fx, kb.fx),
                        fy: lerp(ka.fy, kb.fy),
                        cx: lerp(ka.cx, kb.cx),
                        cy: lerp(ka.cy, kb.cy),
                        ..*ka
                    },
                }
            })
            .collect()
    }
}

/// Checked intrinsics (the same rules as an action's camera).
fn intrinsics(k: &Intrinsics) -> Result<Intrinsics, String> {
    super::track::check_intrinsics(k)?;
    Ok(*k)
}

/// The frame's pose, in either form an action's camera keyframe takes (the same reader and checks).
fn pose(frame: &FileFrame) -> Result<Affine3A, String> {
    let (rotation, translation) = super::action_file::parse_pose(
        frame.world_from_camera.as_deref(),
        frame.translation,
        frame.rotation,
    )?;
    Ok(Affine3A::from_rotation_translation(rotation, translation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    fn parse(text: &str) -> Result<DenseCameraPath, PathFileError> {
        DenseCameraPath::parse(text, Path::new("path.json"))
    }

    #[test]
    fn reads_both_pose_forms_and_round_trips() {
        let text = r#"{"format": "handtwin.camera_path", "version": 1, "fps": 8,
            "frames": [
              {"translation": [1, 2, 3], "rotation": [0, 0.7071068, 0, 0.7071068]},
              {"world_from_camera": [1,0,0,0, 0,1,0,0, 0,0,1,0, 4,5,6,1],
               "intrinsics": {"width": 64, "height": 48, "fx": 40, "fy": 40, "cx": 32, "cy": 24}}
            ]}"#;
        let path = parse(text).unwrap();
        assert_eq!(path.frames.len(), 2);
        assert_eq!(path.frames[0].intrinsics, Intrinsics::DWM);
        assert_eq!(
            path.frames[1].world_from_camera.translation,
            Vec3::new(4.0, 5.0, 6.0).into()
        );
        // A quarter turn about +Y turns the view direction (−Z) to −X.
        let forward = path.frames[0]
            .world_from_camera
            .transform_vector3(Vec3::NEG_Z);
        assert!((forward - Vec3::NEG_X).length() < 1e-5);
        let again = parse(&path.to_json()).unwrap();
        for (a, b) in path.frames.iter().zip(&again.frames) {
            assert!(a.world_from_camera.abs_diff_eq(b.world_from_camera, 1e-6));
            assert_eq!(a.intrinsics, b.intrinsics);
        }
    }

    #[test]
    fn rejects_bad_files_with_the_frame_and_the_reason() {
        let frame = |body: &str| {
            format!(
                r#"{{"format": "handtwin.camera_path", "version": 1, "fps": 8, "frames": [{body}]}}"#
            )
        };
        for (text, needle) in [
            ("{".to_string(), "not a camera-path file"),
            (
                r#"{"format": "other", "version": 1, "fps": 8, "frames": []}"#.to_string(),
                "expected \"handtwin.camera_path\"",
            ),
            (
                r#"{"format": "handtwin.camera_path", "version": 1, "fps": 8, "frames": []}"#
                    .to_string(),
                "no frames",
            ),
            (
                frame(r#"{"translation": [0, 0, 0], "rotation": [0, 0, 0, 2]}"#),
                "not a unit quaternion",
            ),
            (
                frame(r#"{"world_from_camera": [1, 0, 0]}"#),
                "has 3 numbers",
            ),
            (
                frame(r#"{"world_from_camera": [2,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1]}"#),
                "not a rotation",
            ),
            (
                frame(r#"{"world_from_camera": [1,0,0,4, 0,1,0,5, 0,0,1,6, 0,0,0,1]}"#),
                "row-major",
            ),
            (
                frame(r#"{"translation": [0, 0, 0]}"#),
                "either world_from_camera",
            ),
        ] {
            let error = parse(&text).err().unwrap().to_string();
            assert!(
                error.contains("path.json") && error.contains(needle),
                "{error}"
            );
        }
    }

    #[test]
    fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("path.json");
        let frames = vec![CameraFrame {
            world_from_camera: Affine3A::from_translation(Vec3::X),
            intrinsics: Intrinsics::DWM,
        }];
        let path = DenseCameraPath { fps: 8.0, frames };
        path.save(&file).unwrap();
        assert_eq!(DenseCameraPath::load(&file).unwrap().frames.len(), 1);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left behind"
        );
        // A save that cannot complete leaves the previous file as it was.
        let blocked = dir.path().join("folder.json");
        std::fs::create_dir(&blocked).unwrap();
        assert!(path.save(&blocked).is_err());
        assert!(blocked.is_dir());
    }

    #[test]
    fn resampling_keeps_the_ends_and_interpolates() {
        let frames = vec![
            CameraFrame {
                world_from_camera: Affine3A::from_translation(Vec3::ZERO),
                intrinsics: Intrinsics::DWM,
            },
            CameraFrame {
                world_from_camera: Affine3A::from_translation(Vec3::X),
                intrinsics: Intrinsics::DWM,
            },
        ];
        let path = DenseCameraPath { fps: 8.0, frames };
        let out = path.resampled(5);
        assert_eq!(out.len(), 5);
        assert_eq!(
            out[2].world_from_camera.translation,
            Vec3::new(0.5, 0.0, 0.0).into()
        );
        assert_eq!(out[4].world_from_camera.translation, Vec3::X.into());
    }
}
