//! COLMAP text models: `images.txt` (per image `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`, then a line of 2D
//! points) and `cameras.txt` (`CAMERA_ID MODEL WIDTH HEIGHT PARAMS…`).
//!
//! COLMAP stores `camera_from_world` with OpenCV camera axes (x right, y down, z forward); we invert it and turn
//! the camera to OpenGL axes. COLMAP's world has no fixed up (often −Y for upright photos): pass [`SourceUp`].
//! Intrinsics: `SIMPLE_PINHOLE`/`SIMPLE_RADIAL`/`RADIAL`/`SIMPLE_RADIAL_FISHEYE`/`RADIAL_FISHEYE` (f, cx, cy,
//! …), `PINHOLE`/`OPENCV`/`OPENCV_FISHEYE`/`FULL_OPENCV`/`FOV`/`THIN_PRISM_FISHEYE` (fx, fy, cx, cy, …);
//! distortion is ignored (we render pinhole). COLMAP's pixel origin is the corner of the first pixel, as ours.
//! Images are ordered by name (natural order) and spaced 1 / fps apart.

use super::{SourceUp, number, opencv_from_opengl, read_text};
use crate::action::Intrinsics;
use crate::action::action_file::ActionFileError;
use crate::action::track::{CameraKeyframe, CameraPath, check_intrinsics, unit_rotation};
use glam::{Affine3A, Quat, Vec3};
use std::collections::HashMap;
use std::path::Path;

fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
}

pub fn parse_cameras(text: &str, path: &Path) -> Result<HashMap<u64, Intrinsics>, ActionFileError> {
    let mut cameras = HashMap::new();
    for (line, content) in content_lines(text) {
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let at = format!("line {line}");
        let err = |e: String| ActionFileError::at(path, &at, e);
        if fields.len() < 5 {
            return Err(err(format!(
                "has {} fields, expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS…",
                fields.len()
            )));
        }
        let id: u64 = fields[0]
            .parse()
            .map_err(|_| err(format!("camera id \"{}\" is not a whole number", fields[0])))?;
        let size = |i: usize, name: &str| -> Result<u32, ActionFileError> {
            fields[i]
                .parse::<u32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    err(format!(
                        "{name} \"{}\" is not a positive whole number",
                        fields[i]
                    ))
                })
        };
        let (width, height) = (size(2, "WIDTH")?, size(3, "HEIGHT")?);
        let params: Vec<f32> = fields[4..]
            .iter()
            .map(|f| number(f, "parameter").map(|v| v as f32))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let model = fields[1];
        let (f_count, needed) = match model {
            "SIMPLE_PINHOLE"
            | "SIMPLE_RADIAL"
            | "RADIAL"
            | "SIMPLE_RADIAL_FISHEYE"
            | "RADIAL_FISHEYE" => (1, 3),
            "PINHOLE" | "OPENCV" | "OPENCV_FISHEYE" | "FULL_OPENCV" | "FOV"
            | "THIN_PRISM_FISHEYE" => (2, 4),
            other => return Err(err(format!("camera model {other} is not supported"))),
        };
        if params.len() < needed {
            return Err(err(format!(
                "{model} needs at least {needed} parameters, got {}",
                params.len()
            )));
        }
        let (fx, fy) = if f_count == 1 {
            (params[0], params[0])
        } else {
            (params[0], params[1])
        };
        let intrinsics = Intrinsics {
            width,
            height,
            fx,
            fy,
            cx: params[f_count],
            cy: params[f_count + 1],
        };
        check_intrinsics(&intrinsics).map_err(err)?;
        cameras.insert(id, intrinsics);
    }
    if cameras.is_empty() {
        return Err(ActionFileError::new(path, "lists no cameras"));
    }
    Ok(cameras)
}

pub fn load(
    images: &Path,
    cameras: &Path,
    up: SourceUp,
    fps: f64,
) -> Result<CameraPath, ActionFileError> {
    let cameras_by_id = parse_cameras(&read_text(cameras)?, cameras)?;
    parse_images(&read_text(images)?, images, &cameras_by_id, up, fps)
}

pub fn parse_images(
    text: &str,
    path: &Path,
    cameras: &HashMap<u64, Intrinsics>,
    up: SourceUp,
    fps: f64,
) -> Result<CameraPath, ActionFileError> {
    let mut images: Vec<(String, Affine3A, Intrinsics)> = Vec::new();
    let mut lines = content_lines(text);
    let world_from_source = Affine3A::from_quat(up.world_from_source());
    let flip = Affine3A::from_quat(opencv_from_opengl());
    while let Some((line, content)) = lines.next() {
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let at = format!("line {line}");
        let err = |e: String| ActionFileError::at(path, &at, e);
        if fields.len() < 10 {
            return Err(err(format!(
                "has {} fields, expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME",
                fields.len()
            )));
        }
        let v: Vec<f32> = fields[1..8]
            .iter()
            .map(|f| number(f, "pose value").map(|v| v as f32))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let rotation = unit_rotation(Quat::from_xyzw(v[1], v[2], v[3], v[0]))
            .map_err(|e| err(format!("{e} (QW QX QY QZ)")))?;
        let camera_from_world =
            Affine3A::from_rotation_translation(rotation, Vec3::new(v[4], v[5], v[6]));
        let camera_id: u64 = fields[8]
            .parse()
            .map_err(|_| err(format!("CAMERA_ID \"{}\" is not a whole number", fields[8])))?;
        let intrinsics = *cameras
            .get(&camera_id)
            .ok_or_else(|| err(format!("camera {camera_id} is not in cameras.txt")))?;
        let name = fields[9..].join(" ");
        images.push((
            name,
            world_from_source * camera_from_world.inverse() * flip,
            intrinsics,
        ));
        // The next line lists the image's 2D points (possibly empty): skip it.
        lines.next();
    }
    if images.is_empty() {
        return Err(ActionFileError::new(path, "lists no images"));
    }
    images.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    if let Some(pair) = images.windows(2).find(|p| p[0].0 == p[1].0) {
        return Err(ActionFileError::new(
            path,
            format!("image name \"{}\" appears twice", pair[0].0),
        ));
    }
    let keyframes = images
        .iter()
        .enumerate()
        .map(|(i, (_, pose, k))| CameraKeyframe::new(i as f64 / fps, *pose, *k))
        .collect();
    CameraPath::new(keyframes).map_err(|e| ActionFileError::track(path, "images", e))
}

fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| {
        let mut parts: Vec<(bool, u128, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match parts.last_mut() {
                Some(last) if last.0 == digit => last.2.push(c),
                _ => parts.push((digit, 0, c.to_string())),
            }
        }
        parts
            .into_iter()
            .map(|(d, _, s)| {
                if d {
                    (0u8, s.parse::<u128>().unwrap_or(u128::MAX), s)
                } else {
                    (1u8, 0, s)
                }
            })
            .collect::<Vec<_>>()
    };
    key(a).cmp(&key(b))
}
