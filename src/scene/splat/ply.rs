//! INRIA 3DGS `.ply` files (binary little-endian), read in one pass over the bytes.

use super::SplatCloud;
use glam::{Quat, Vec3};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SplatLoadError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path}: splat {index}, property `{property}`: {reason}")]
    Value {
        path: PathBuf,
        index: usize,
        property: String,
        reason: String,
    },
}

#[derive(Clone, Copy)]
enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "char" | "int8" => Scalar::I8,
            "uchar" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }

    fn read(self, bytes: &[u8]) -> f32 {
        let array = |n: usize| {
            let mut out = [0u8; 8];
            out[..n].copy_from_slice(&bytes[..n]);
            out
        };
        match self {
            Scalar::I8 => bytes[0] as i8 as f32,
            Scalar::U8 => bytes[0] as f32,
            Scalar::I16 => i16::from_le_bytes([bytes[0], bytes[1]]) as f32,
            Scalar::U16 => u16::from_le_bytes([bytes[0], bytes[1]]) as f32,
            Scalar::I32 => i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as f32,
            Scalar::U32 => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as f32,
            Scalar::F32 => f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            Scalar::F64 => f64::from_le_bytes(array(8)) as f32,
        }
    }
}

/// Reads a splat `.ply` file.
pub fn load_ply(path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".compressed.ply") {
        return Err(SplatLoadError::File {
            path: path.to_path_buf(),
            reason: "PlayCanvas/SuperSplat .compressed.ply is not supported yet; export an uncompressed 3DGS .ply".into(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| SplatLoadError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_ply(&bytes, path)
}

/// Parses the bytes of a splat `.ply`; `path` names it in errors.
pub fn parse_ply(bytes: &[u8], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let file_error = |reason: String| SplatLoadError::File {
        path: path.to_path_buf(),
        reason,
    };
    if !bytes.starts_with(b"ply\n") && !bytes.starts_with(b"ply\r\n") {
        return Err(file_error("not a PLY file (no \"ply\" magic)".into()));
    }
    let header_end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .map(|at| at + 11)
        .ok_or_else(|| file_error("the PLY header has no end_header line".into()))?;
    let header = std::str::from_utf8(&bytes[..header_end])
        .map_err(|_| file_error("the PLY header is not text".into()))?;
    let mut count: Option<usize> = None;
    let mut properties: Vec<(String, Scalar)> = Vec::new();
    let mut in_vertex = false;
    for line in header.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["format", "binary_little_endian", _] => {}
            ["format", other, _] => {
                return Err(file_error(format!(
                    "PLY format {other} is not supported (handtwin reads binary_little_endian)"
                )));
            }
            ["element", "vertex", n] => {
                if count.is_some() {
                    return Err(file_error("more than one vertex element".into()));
                }
                count =
                    Some(n.parse().map_err(|_| {
                        file_error(format!("vertex count \"{n}\" is not a number"))
                    })?);
                in_vertex = true;
            }
            ["element", other, _] => {
                if count.is_none() {
                    return Err(file_error(format!(
                        "element \"{other}\" comes before the vertices; not a 3DGS file"
                    )));
                }
                in_vertex = false;
            }
            ["property", "list", ..] if in_vertex => {
                return Err(file_error(
                    "list properties on vertices are not part of the 3DGS layout".into(),
                ));
            }
            ["property", kind, name] if in_vertex => {
                let scalar = Scalar::parse(kind).ok_or_else(|| {
                    file_error(format!("property {name} has unknown type {kind}"))
                })?;
                properties.push((name.to_string(), scalar));
            }
            _ => {}
        }
    }
    let count = count.ok_or_else(|| file_error("no vertex element".into()))?;
    let stride: usize = properties.iter().map(|(_, s)| s.size()).sum();
    let body = &bytes[header_end..];
    let needed = count
        .checked_mul(stride)
        .ok_or_else(|| file_error(format!("vertex count {count} is absurd")))?;
    if needed > body.len() {
        return Err(file_error(format!(
            "truncated: {count} splats of {stride} bytes need {needed} bytes after the header, the file has {}",
            body.len()
        )));
    }
    let offset_of = |name: &str| {
        let mut offset = 0;
        for (property, scalar) in &properties {
            if property == name {
                return Some((offset, *scalar));
            }
            offset += scalar.size();
        }
        None
    };
    let required = |name: &str| {
        offset_of(name).ok_or_else(|| file_error(format!("missing property `{name}`")))
    };
    let position = [required("x")?, required("y")?, required("z")?];
    let dc = [
        required("f_dc_0")?,
        required("f_dc_1")?,
        required("f_dc_2")?,
    ];
    let opacity = required("opacity")?;
    let scale = [
        required("scale_0")?,
        required("scale_1")?,
        required("scale_2")?,
    ];
    let rotation = [
        required("rot_0")?,
        required("rot_1")?,
        required("rot_2")?,
        required("rot_3")?,
    ];
    let rest_count = properties
        .iter()
        .filter(|(n, _)| n.starts_with("f_rest_"))
        .count();
    let sh_degree = match rest_count {
        0 => 0,
        9 => 1,
        24 => 2,
        45 => 3,
        other => {
            return Err(file_error(format!(
                "{other} f_rest properties; 3DGS files have 0, 9, 24 or 45"
            )));
        }
    };
    let rest: Vec<(usize, Scalar)> = (0..rest_count)
        .map(|i| required(&format!("f_rest_{i}")))
        .collect::<Result<_, _>>()?;
    let per_channel = rest_count / 3;
    let k = (sh_degree + 1) * (sh_degree + 1);

    let mut cloud = SplatCloud {
        means: Vec::with_capacity(count),
        scales: Vec::with_capacity(count),
        rotations: Vec::with_capacity(count),
        opacities: Vec::with_capacity(count),
        sh: Vec::with_capacity(count * k),
        sh_degree,
    };
    for (index, record) in body[..needed].chunks_exact(stride.max(1)).enumerate() {
        let value =
            |(offset, scalar): (usize, Scalar), name: &str| -> Result<f32, SplatLoadError> {
                let v = scalar.read(&record[offset..]);
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(SplatLoadError::Value {
                        path: path.to_path_buf(),
                        index,
                        property: name.into(),
                        reason: format!("{v} is not finite"),
                    })
                }
            };
        cloud.means.push(Vec3::new(
            value(position[0], "x")?,
            value(position[1], "y")?,
            value(position[2], "z")?,
        ));
        let log_scale = Vec3::new(
            value(scale[0], "scale_0")?,
            value(scale[1], "scale_1")?,
            value(scale[2], "scale_2")?,
        );
        cloud.scales.push(log_scale.exp());
        let (w, x, y, z) = (
            value(rotation[0], "rot_0")?,
            value(rotation[1], "rot_1")?,
            value(rotation[2], "rot_2")?,
            value(rotation[3], "rot_3")?,
        );
        let quaternion = Quat::from_xyzw(x, y, z, w);
        if quaternion.length_squared() < 1e-12 {
            return Err(SplatLoadError::Value {
                path: path.to_path_buf(),
                index,
                property: "rot_0..3".into(),
                reason: "zero-length rotation".into(),
            });
        }
        cloud.rotations.push(quaternion.normalize());
        let logit = value(opacity, "opacity")?;
        cloud.opacities.push(1.0 / (1.0 + (-logit).exp()));
        cloud.sh.push([
            value(dc[0], "f_dc_0")?,
            value(dc[1], "f_dc_1")?,
            value(dc[2], "f_dc_2")?,
        ]);
        // INRIA stores f_rest channel-major: all of red's coefficients, then green's, then blue's.
        for coefficient in 0..per_channel {
            let mut rgb = [0.0; 3];
            for (channel, slot) in rgb.iter_mut().enumerate() {
                let index_in_rest = channel * per_channel + coefficient;
                *slot = value(rest[index_in_rest], "f_rest")?;
            }
            cloud.sh.push(rgb);
        }
    }
    Ok(cloud)
}

/// Writes a cloud in the INRIA layout (binary little-endian float32, normals zero).
pub fn write_ply(cloud: &SplatCloud) -> Vec<u8> {
    let per_channel = cloud.coefficients_per_channel() - 1;
    let mut header = String::from("ply\nformat binary_little_endian 1.0\n");
    header += &format!("element vertex {}\n", cloud.len());
    let mut names: Vec<String> = [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..per_channel * 3).map(|i| format!("f_rest_{i}")));
    names.extend(
        [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for name in &names {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    let mut out = header.into_bytes();
    let k = cloud.coefficients_per_channel();
    for i in 0..cloud.len() {
        let sh = &cloud.sh[i * k..(i + 1) * k];
        let mut values = vec![
            cloud.means[i].x,
            cloud.means[i].y,
            cloud.means[i].z,
            0.0,
            0.0,
            0.0,
        ];
        values.extend(sh[0]);
        for channel in 0..3 {
            values.extend((1..k).map(|c| sh[c][channel]));
        }
        let p = cloud.opacities[i].clamp(1e-6, 1.0 - 1e-6);
        values.push((p / (1.0 - p)).ln());
        values.extend(cloud.scales[i].to_array().map(f32::ln));
        let q = cloud.rotations[i];
        values.extend([q.w, q.x, q.y, q.z]);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(degree: usize) -> SplatCloud {
        let k = (degree + 1) * (degree + 1);
        SplatCloud {
            means: vec![Vec3::new(1.0, 2.0, 3.0), Vec3::new(-1.0, 0.5, 0.0)],
            scales: vec![Vec3::new(0.1, 0.2, 0.3), Vec3::splat(0.05)],
            rotations: vec![Quat::from_rotation_y(0.7), Quat::IDENTITY],
            opacities: vec![0.25, 0.9],
            sh: (0..2 * k)
                .map(|i| [i as f32 * 0.01, -(i as f32) * 0.02, 0.3])
                .collect(),
            sh_degree: degree,
        }
    }

    fn close(a: &SplatCloud, b: &SplatCloud) {
        assert_eq!(a.sh_degree, b.sh_degree);
        for i in 0..a.len() {
            assert!((a.means[i] - b.means[i]).length() < 1e-6);
            assert!((a.scales[i] - b.scales[i]).length() < 1e-5);
            assert!(a.rotations[i].abs_diff_eq(b.rotations[i], 1e-6));
            assert!((a.opacities[i] - b.opacities[i]).abs() < 1e-5);
        }
        for (x, y) in a.sh.iter().zip(&b.sh) {
            assert!((Vec3::from_array(*x) - Vec3::from_array(*y)).length() < 1e-6);
        }
    }

    #[test]
    fn round_trips_every_sh_degree() {
        for degree in 0..=3 {
            let original = cloud(degree);
            let back = parse_ply(&write_ply(&original), Path::new("t.ply")).unwrap();
            close(&original, &back);
        }
    }

    #[test]
    fn names_each_problem() {
        let good = write_ply(&cloud(1));
        let error = |bytes: &[u8]| {
            parse_ply(bytes, Path::new("scene.ply"))
                .err()
                .unwrap()
                .to_string()
        };
        assert!(error(b"hello").contains("no \"ply\" magic"));
        assert!(error(&good[..good.len() - 10]).contains("truncated"));
        let ascii = String::from_utf8_lossy(&good)
            .replacen("binary_little_endian", "ascii", 1)
            .into_bytes();
        assert!(error(&ascii).contains("PLY format ascii is not supported"));
        let missing = String::from_utf8_lossy(&good)
            .replacen("property float opacity\n", "property float opacitx\n", 1)
            .into_bytes();
        assert!(error(&missing).contains("missing property `opacity`"));
        let absurd = String::from_utf8_lossy(&good)
            .replacen("element vertex 2", "element vertex 999999999999", 1)
            .into_bytes();
        assert!(error(&absurd).contains("truncated") || error(&absurd).contains("absurd"));
        let mut nan = good.clone();
        let header_end = nan.windows(11).position(|w| w == b"end_header\n").unwrap() + 11;
        nan[header_end..header_end + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let message = error(&nan);
        assert!(
            message.contains("splat 0") && message.contains("`x`"),
            "{message}"
        );
        let dir = tempfile::tempdir().unwrap();
        let compressed = dir.path().join("room.compressed.ply");
        std::fs::write(&compressed, &good).unwrap();
        assert!(
            load_ply(&compressed)
                .err()
                .unwrap()
                .to_string()
                .contains(".compressed.ply is not supported")
        );
    }
}
