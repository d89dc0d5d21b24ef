//! nerfstudio files: `transforms.json` (a capture's cameras) and `camera_path.json` (a path rendered by
//! `ns-render`).
//!
//! Both store camera-to-world matrices with OpenGL camera axes (x right, y up, looking down −z), the same as
//! ours, so only the world turns: nerfstudio's viewer and its processed captures are +Z up, so the default
//! [`SourceUp::Z`] maps (x, y, z) → (x, z, −y). Scale is the capture's (metres only if the capture was metric).
//!
//! - `transforms.json`: `frames[].transform_matrix` (4×4 as 4 rows); intrinsics `fl_x`, `fl_y`, `cx`, `cy`,
//!   `w`, `h` at the top level or per frame (per frame wins). Frames are ordered by `file_path` (natural order,
//!   so `frame_2` comes before `frame_10`) and spaced 1 / fps apart. Distortion parameters are ignored.
//! - `camera_path.json`: `camera_path[].camera_to_world` (16 numbers, row-major), `fov` (vertical, degrees),
//!   `render_width`, `render_height` (top level); times from `fps` (or `seconds` spread over the frames).

use super::{SourceUp, read_text};
use crate::action::Intrinsics;
use crate::action::action_file::{ActionFileError, rigid_rotation};
use crate::action::track::{CameraKeyframe, CameraPath, check_intrinsics};
use glam::{Affine3A, Mat3, Mat4, Vec4};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct TransformsFrame {
    #[serde(default)]
    file_path: String,
    transform_matrix: Vec<Vec<f32>>,
    fl_x: Option<f32>,
    fl_y: Option<f32>,
    cx: Option<f32>,
    cy: Option<f32>,
    w: Option<f32>,
    h: Option<f32>,
}

#[derive(Deserialize)]
struct Transforms {
    fl_x: Option<f32>,
    fl_y: Option<f32>,
    cx: Option<f32>,
    cy: Option<f32>,
    w: Option<f32>,
    h: Option<f32>,
    frames: Vec<TransformsFrame>,
}

/// A row-major rigid 4×4 as our pose, world turned to +Y up.
fn pose(rows: &[f32], up: SourceUp) -> Result<Affine3A, String> {
    if rows.len() != 16 {
        return Err(format!("has {} numbers, expected 16 (a 4×4)", rows.len()));
    }
    if rows.iter().any(|v| !v.is_finite()) {
        return Err("holds a non-finite number".into());
    }
    // Row-major in the file: reading it column-major gives the transpose.
    let matrix = Mat4::from_cols_slice(rows).transpose();
    if (matrix.row(3) - Vec4::W).abs().max_element() > 1e-3 {
        return Err(format!(
            "last row is {:?}, expected [0, 0, 0, 1]",
            matrix.row(3).to_array()
        ));
    }
    let rotation = rigid_rotation(Mat3::from_mat4(matrix))?;
    let camera = Affine3A::from_rotation_translation(rotation, matrix.w_axis.truncate());
    Ok(Affine3A::from_quat(up.world_from_source()) * camera)
}

/// Natural order: digit runs compare as numbers.
fn natural_key(name: &str) -> Vec<(u8, u128, String)> {
    let mut key = Vec::new();
    let mut chars = name.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut run = String::new();
        let digits = c.is_ascii_digit();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() != digits {
                break;
            }
            run.push(c);
            chars.next();
        }
        key.push(if digits {
            (0, run.parse().unwrap_or(u128::MAX), run)
        } else {
            (1, 0, run)
        });
    }
    key
}

pub fn load_transforms(path: &Path, up: SourceUp, fps: f64) -> Result<CameraPath, ActionFileError> {
    parse_transforms(&read_text(path)?, path, up, fps)
}

pub fn parse_transforms(
    text: &str,
    path: &Path,
    up: SourceUp,
    fps: f64,
) -> Result<CameraPath, ActionFileError> {
    let file: Transforms = serde_json::from_str(text).map_err(|e| {
        ActionFileError::new(path, format!("not a nerfstudio transforms.json: {e}"))
    })?;
    if file.frames.is_empty() {
        return Err(ActionFileError::at(path, "frames", "is empty"));
    }
    let mut order: Vec<usize> = (0..file.frames.len()).collect();
    order.sort_by_cached_key(|&i| file.frames.get(i).map(|f| natural_key(&f.file_path)));
    let mut keyframes = Vec::with_capacity(order.len());
    for (slot, &i) in order.iter().enumerate() {
        let Some(frame) = file.frames.get(i) else {
            continue;
        };
        let key = format!("frames[{i}]");
        let flat: Vec<f32> = frame.transform_matrix.iter().flatten().copied().collect();
        if frame.transform_matrix.len() != 4 || frame.transform_matrix.iter().any(|r| r.len() != 4)
        {
            return Err(ActionFileError::at(
                path,
                format!("{key}.transform_matrix"),
                "is not 4 rows of 4 numbers",
            ));
        }
        let world_from_camera = pose(&flat, up)
            .map_err(|e| ActionFileError::at(path, format!("{key}.transform_matrix"), e))?;
        let get = |name: &str, own: Option<f32>, shared: Option<f32>| {
            own.or(shared).ok_or_else(|| {
                ActionFileError::at(path, &key, format!("no {name} here or at the top level"))
            })
        };
        let (w, h) = (get("w", frame.w, file.w)?, get("h", frame.h, file.h)?);
        if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0 && w < 1e6 && h < 1e6) {
            return Err(ActionFileError::at(
                path,
                &key,
                format!("image size {w}x{h} is not a usable size"),
            ));
        }
        let intrinsics = Intrinsics {
            width: w.round() as u32,
            height: h.round() as u32,
            fx: get("fl_x", frame.fl_x, file.fl_x)?,
            fy: get("fl_y", frame.fl_y, file.fl_y)
                .or_else(|_| get("fl_x", frame.fl_x, file.fl_x))?,
            cx: frame.cx.or(file.cx).unwrap_or(w * 0.5),
            cy: frame.cy.or(file.cy).unwrap_or(h * 0.5),
        };
        check_intrinsics(&intrinsics).map_err(|e| ActionFileError::at(path, &key, e))?;
        keyframes.push(CameraKeyframe::new(
            slot as f64 / fps,
            world_from_camera,
            intrinsics,
        ));
    }
    CameraPath::new(keyframes).map_err(|e| ActionFileError::track(path, "frames", e))
}

#[derive(Deserialize)]
struct PathCamera {
    camera_to_world: Vec<f32>,
    fov: f32,
}

#[derive(Deserialize)]
struct NerfstudioPath {
    render_width: f32,
    render_height: f32,
    camera_path: Vec<PathCamera>,
    fps: Option<f64>,
    seconds: Option<f64>,
}

pub fn load_camera_path(path: &Path, up: SourceUp) -> Result<CameraPath, ActionFileError> {
    parse_camera_path(&read_text(path)?, path, up)
}

pub fn parse_camera_path(
    text: &str,
    path: &Path,
    up: SourceUp,
) -> Result<CameraPath, ActionFileError> {
    let file: NerfstudioPath = serde_json::from_str(text).map_err(|e| {
        ActionFileError::new(path, format!("not a nerfstudio camera_path.json: {e}"))
    })?;
    let count = file.camera_path.len();
    if count == 0 {
        return Err(ActionFileError::at(path, "camera_path", "is empty"));
    }
    let (w, h) = (file.render_width, file.render_height);
    if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0 && w < 1e6 && h < 1e6) {
        return Err(ActionFileError::at(
            path,
            "render_width/render_height",
            format!("{w}x{h} is not a usable size"),
        ));
    }
    let step = match (file.fps, file.seconds) {
        (Some(fps), _) if fps.is_finite() && fps > 0.0 => 1.0 / fps,
        (_, Some(seconds)) if seconds.is_finite() && seconds > 0.0 && count > 1 => {
            seconds / (count - 1) as f64
        }
        _ => {
            return Err(ActionFileError::at(
                path,
                "fps",
                "needs a positive fps (or seconds) to time the cameras",
            ));
        }
    };
    let mut keyframes = Vec::with_capacity(count);
    for (i, camera) in file.camera_path.iter().enumerate() {
        let key = format!("camera_path[{i}]");
        let world_from_camera = pose(&camera.camera_to_world, up)
            .map_err(|e| ActionFileError::at(path, format!("{key}.camera_to_world"), e))?;
        if !(camera.fov.is_finite() && camera.fov > 0.0 && camera.fov < 180.0) {
            return Err(ActionFileError::at(
                path,
                format!("{key}.fov"),
                format!("{} is not a field of view in degrees", camera.fov),
            ));
        }
        let fy = h * 0.5 / (camera.fov.to_radians() * 0.5).tan();
        let intrinsics = Intrinsics {
            width: w.round() as u32,
            height: h.round() as u32,
            fx: fy,
            fy,
            cx: w * 0.5,
            cy: h * 0.5,
        };
        keyframes.push(CameraKeyframe::new(
            i as f64 * step,
            world_from_camera,
            intrinsics,
        ));
    }
    CameraPath::new(keyframes).map_err(|e| ActionFileError::track(path, "camera_path", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_2_before_10() {
        let mut names = vec!["frame_10.png", "frame_2.png", "frame_1.png"];
        names.sort_by_cached_key(|n| natural_key(n));
        assert_eq!(names, vec!["frame_1.png", "frame_2.png", "frame_10.png"]);
    }
}
