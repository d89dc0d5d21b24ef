//! A hand-mesh sequence file (`format: "handtwin.hand_meshes"`): per frame, the triangle meshes of the visible
//! hands in that frame's camera space (metres, OpenGL axes: x right, y up, looking down −z). It lets any tool
//! (or a test) drive the hand stream with arbitrary closed meshes:
//!
//! ```json
//! { "format": "handtwin.hand_meshes", "version": 1,
//!   "faces": { "left": [[0, 1, 2], ...], "right": [[0, 1, 2], ...] },
//!   "frames": [ { "left": [[x, y, z], ...], "right": [[x, y, z], ...] }, { "right": [...] }, ... ] }
//! ```
//!
//! A frame that omits a side has no such hand in view.

use super::{HandMesh, Side};
use glam::Vec3;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const HAND_MESHES_FORMAT: &str = "handtwin.hand_meshes";

#[derive(Debug, Error)]
pub enum MeshSequenceError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path}: frame {frame}, {side} hand: {reason}")]
    Frame {
        path: PathBuf,
        frame: usize,
        side: &'static str,
        reason: String,
    },
}

#[derive(Deserialize)]
struct File {
    format: String,
    version: u32,
    faces: BTreeMap<String, Vec<[u32; 3]>>,
    frames: Vec<BTreeMap<String, Vec<[f32; 3]>>>,
}

/// Reads a hand-mesh sequence: one list of hand meshes per frame.
pub fn load_hand_meshes(path: &Path) -> Result<Vec<Vec<HandMesh>>, MeshSequenceError> {
    let file_error = |reason: String| MeshSequenceError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let file: File = serde_json::from_str(&text)
        .map_err(|e| file_error(format!("not a hand-mesh file: {e}")))?;
    if file.format != HAND_MESHES_FORMAT {
        return Err(file_error(format!(
            "format is \"{}\", expected \"{HAND_MESHES_FORMAT}\"",
            file.format
        )));
    }
    if file.version != 1 {
        return Err(file_error(format!(
            "version {} is not supported (this handtwin reads version 1)",
            file.version
        )));
    }
    let side_of = |name: &str| match name {
        "left" => Some(Side::Left),
        "right" => Some(Side::Right),
        _ => None,
    };
    for name in file.faces.keys() {
        if side_of(name).is_none() {
            return Err(file_error(format!(
                "faces has a side \"{name}\"; expected \"left\" or \"right\""
            )));
        }
    }
    let mut frames = Vec::with_capacity(file.frames.len());
    for (index, frame) in file.frames.into_iter().enumerate() {
        let mut meshes = Vec::new();
        for (name, vertices) in frame {
            let side = side_of(&name).ok_or_else(|| MeshSequenceError::Frame {
                path: path.to_path_buf(),
                frame: index,
                side: "unknown",
                reason: format!("\"{name}\" is not a side; expected \"left\" or \"right\""),
            })?;
            let label = if side == Side::Left { "left" } else { "right" };
            let faces = file
                .faces
                .get(&name)
                .ok_or_else(|| MeshSequenceError::Frame {
                    path: path.to_path_buf(),
                    frame: index,
                    side: label,
                    reason: "the file gives no faces for this side".into(),
                })?;
            let vertices: Vec<Vec3> = vertices.into_iter().map(Vec3::from_array).collect();
            let mesh = HandMesh::new(side, vertices, faces.clone()).map_err(|e| {
                MeshSequenceError::Frame {
                    path: path.to_path_buf(),
                    frame: index,
                    side: label,
                    reason: e.to_string(),
                }
            })?;
            meshes.push(mesh);
        }
        frames.push(meshes);
    }
    if frames.is_empty() {
        return Err(file_error("has no frames".into()));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<Vec<HandMesh>>, MeshSequenceError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hands.json");
        std::fs::write(&path, text).unwrap();
        load_hand_meshes(&path)
    }

    #[test]
    fn reads_frames_with_and_without_hands() {
        let frames = load(
            r#"{"format": "handtwin.hand_meshes", "version": 1, "faces": {"right": [[0, 1, 2]]},
                "frames": [{"right": [[0, 0, -1], [1, 0, -1], [0, 1, -1]]}, {}]}"#,
        )
        .unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0][0].side, Side::Right);
        assert!(frames[1].is_empty());
    }

    #[test]
    fn names_the_frame_and_side_of_bad_meshes() {
        let error = load(
            r#"{"format": "handtwin.hand_meshes", "version": 1, "faces": {"left": [[0, 1, 5]]},
                "frames": [{"left": [[0, 0, -1], [1, 0, -1], [0, 1, -1]]}]}"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("hands.json: frame 0, left hand") && error.contains("vertex 5"),
            "{error}"
        );
        let error = load(r#"{"format": "handtwin.hand_meshes", "version": 1, "faces": {}, "frames": [{"right": []}]}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("no faces"), "{error}");
    }
}
