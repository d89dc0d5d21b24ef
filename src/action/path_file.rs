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
use glam::{Affine3A, Mat3, Mat4, Quat, Vec3, Vec4};
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
struct FileIntrinsics {
    width: u32,
    height: u32,
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
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
    intrinsics: Option<FileIntrinsics>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    fps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intrinsics: Option<FileIntrinsics>,
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
        let to_file = |k: &Intrinsics| FileIntrinsics {
            width: k.width,
            height: k.height,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
        };
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

    /// Writes the path as a camera-path file, atomically: a temporary file in the same folder, flushed, then
    /// renamed over `path`, so a crash never leaves a half-written file.
    pub fn save(&self, path: &Path) -> Result<(), PathFileError> {
        let error = |reason: String| PathFileError::File {
            path: path.to_path_buf(),
            reason,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| error("is not a file name".into()))?;
        let temporary = dir.join(format!(".{}.partial", name.to_string_lossy()));
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(self.to_json().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        };
        write().map_err(|e| {
            std::fs::remove_file(&temporary).ok();
            error(e.to_string())
        })
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

fn intrinsics(k: &FileIntrinsics) -> Result<Intrinsics, String> {
    if k.width == 0 || k.height == 0 {
        return Err(format!("intrinsics size {}x{} is empty", k.width, k.height));
    }
    for (name, value) in [("fx", k.fx), ("fy", k.fy)] {
        if !(value.is_finite() && value > 0.0) {
            return Err(format!(
                "intrinsics {name} must be a positive number of pixels, got {value}"
            ));
        }
    }
    for (name, value) in [("cx", k.cx), ("cy", k.cy)] {
        if !value.is_finite() {
            return Err(format!("intrinsics {name} is not a number"));
        }
    }
    Ok(Intrinsics {
        width: k.width,
        height: k.height,
        fx: k.fx,
        fy: k.fy,
        cx: k.cx,
        cy: k.cy,
    })
}

/// Tolerance on |q| − 1 and on the orthonormality of a rotation matrix.
const UNIT_TOLERANCE: f32 = 1e-3;

fn pose(frame: &FileFrame) -> Result<Affine3A, String> {
    match (
        &frame.world_from_camera,
        &frame.translation,
        &frame.rotation,
    ) {
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
            if (matrix.row(3) - Vec4::new(0.0, 0.0, 0.0, 1.0))
                .abs()
                .max_element()
                > UNIT_TOLERANCE
            {
                return Err(format!(
                    "world_from_camera's last row is {:?}, expected [0, 0, 0, 1] (is it row-major?)",
                    matrix.row(3).to_array()
                ));
            }
            let rotation = Mat3::from_mat4(matrix);
            let error = (rotation.transpose() * rotation - Mat3::IDENTITY)
                .to_cols_array()
                .iter()
                .fold(0f32, |a, v| a.max(v.abs()));
            if error > UNIT_TOLERANCE || rotation.determinant() < 0.0 {
                return Err("world_from_camera's rotation part is not a rotation (scaled, sheared or mirrored)".into());
            }
            Ok(Affine3A::from_mat4(matrix))
        }
        (None, Some(t), Some(q)) => {
            if t.iter().chain(q.iter()).any(|v| !v.is_finite()) {
                return Err("translation or rotation holds a non-finite number".into());
            }
            let quaternion = Quat::from_array(*q);
            if (quaternion.length() - 1.0).abs() > UNIT_TOLERANCE {
                return Err(format!(
                    "rotation {q:?} is not a unit quaternion [x, y, z, w] (length {})",
                    quaternion.length()
                ));
            }
            Ok(Affine3A::from_rotation_translation(
                quaternion.normalize(),
                Vec3::from_array(*t),
            ))
        }
        _ => Err("give either world_from_camera, or translation and rotation".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
