//! Gaussian splats in glTF 2.0 (`.glb`, `.gltf`) with the Khronos `KHR_gaussian_splatting` extension: a mesh
//! primitive (mode POINTS) whose attributes are `POSITION` and `KHR_gaussian_splatting:ROTATION` (x y z w),
//! `:SCALE` (linear), `:OPACITY` (after the sigmoid) and `:SH_DEGREE_l_COEF_k` (RGB per coefficient, DC first).
//! Every such primitive of the default scene is read, placed by its node's world transform (translation,
//! rotation, uniform scale; the SH bands rotate with the node), and the clouds are joined. A file may hold
//! ordinary meshes beside them: those are the scene loader's (`scene::SceneSource`), these are the splats'.
//!
//! Accessors may be float or normalised integers (as glTF allows), interleaved or not; every index, offset and
//! count is checked against the buffers before it is read.

use super::{RawSplat, SplatCloud, SplatLoadError};
use glam::{Mat4, Quat, Vec3};
use serde_json::Value;
use std::path::Path;

const FORMAT: &str = "glTF";
const EXTENSION: &str = "KHR_gaussian_splatting";

fn bad(path: &Path, reason: String) -> SplatLoadError {
    SplatLoadError::Header {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    }
}

/// Decodes one component (its bytes, whether it is normalised).
type Decode = fn(&[u8], bool) -> f32;

/// The JSON and binary chunk of a GLB, or the JSON of a `.gltf` with its buffers read beside it.
struct Document {
    json: Value,
    buffers: Vec<Vec<u8>>,
}

fn read_document(bytes: &[u8], path: &Path) -> Result<Document, SplatLoadError> {
    let truncated = |what: &str| SplatLoadError::Truncated {
        path: path.to_path_buf(),
        format: FORMAT,
        what: what.into(),
    };
    let (json_bytes, mut bin) = if bytes.starts_with(b"glTF") {
        if bytes.len() < 20 {
            return Err(truncated("the GLB header is incomplete"));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        };
        if word(4) != 2 {
            return Err(bad(
                path,
                format!("GLB version {} (glTF 2.0 is version 2)", word(4)),
            ));
        }
        let json_length = word(12);
        if word(16) != 0x4E4F_534A {
            return Err(bad(path, "the first GLB chunk is not JSON".into()));
        }
        let json_end = 20usize
            .checked_add(json_length)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| truncated("the JSON chunk runs past the file's end"))?;
        let mut bin = None;
        if json_end + 8 <= bytes.len() && word(json_end + 4) == 0x004E_4942 {
            let length = word(json_end);
            let start = json_end + 8;
            let end = start
                .checked_add(length)
                .filter(|&e| e <= bytes.len())
                .ok_or_else(|| truncated("the BIN chunk runs past the file's end"))?;
            bin = Some(bytes[start..end].to_vec());
        }
        (&bytes[20..json_end], bin)
    } else {
        (bytes, None)
    };
    let json: Value = serde_json::from_slice(json_bytes)
        .map_err(|e| bad(path, format!("the JSON does not parse: {e}")))?;
    let mut buffers = Vec::new();
    let declared = json["buffers"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, buffer) in declared.iter().enumerate() {
        let length = buffer["byteLength"]
            .as_u64()
            .ok_or_else(|| bad(path, format!("buffer {i} has no byteLength")))?
            as usize;
        let data = match buffer["uri"].as_str() {
            None if i == 0 => bin
                .take()
                .ok_or_else(|| bad(path, "buffer 0 has no uri and there is no BIN chunk".into()))?,
            None => return Err(bad(path, format!("buffer {i} has no uri"))),
            Some(uri) if uri.starts_with("data:") => {
                return Err(bad(
                    path,
                    format!("buffer {i} is a data: URI; save the file as .glb"),
                ));
            }
            Some(uri) => {
                let file = path.parent().unwrap_or(Path::new(".")).join(uri);
                std::fs::read(&file).map_err(|source| SplatLoadError::Io { path: file, source })?
            }
        };
        if data.len() < length {
            return Err(truncated(&format!(
                "buffer {i} holds {} of its {length} bytes",
                data.len()
            )));
        }
        buffers.push(data);
    }
    Ok(Document { json, buffers })
}

/// How much of a glTF file [`has_gaussian_splats`] looks at (its JSON comes first).
pub const SNIFF_BYTES: usize = 1 << 20;

/// Whether a glTF document (JSON) uses the extension, from its first [`SNIFF_BYTES`]; cheap enough to ask of every
/// `.glb` a user opens.
pub fn has_gaussian_splats(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    head.windows(EXTENSION.len())
        .any(|w| w == EXTENSION.as_bytes())
}

impl Document {
    /// Accessor `index` as `width`-component rows of f32 (normalised integers mapped as glTF says).
    fn accessor(
        &self,
        index: usize,
        width: usize,
        path: &Path,
        name: &str,
    ) -> Result<Vec<f32>, SplatLoadError> {
        let a = &self.json["accessors"][index];
        let what = |reason: String| bad(path, format!("accessor {index} ({name}): {reason}"));
        let count = a["count"].as_u64().ok_or_else(|| what("no count".into()))? as usize;
        if count as u64 > super::MAX_SPLATS {
            return Err(SplatLoadError::TooManySplats {
                path: path.to_path_buf(),
                count: count as u64,
                limit: super::MAX_SPLATS,
            });
        }
        let components = match a["type"].as_str() {
            Some("SCALAR") => 1,
            Some("VEC3") => 3,
            Some("VEC4") => 4,
            other => return Err(what(format!("type {other:?}"))),
        };
        if components != width {
            return Err(what(format!(
                "{components} components where {width} are needed"
            )));
        }
        let normalized = a["normalized"].as_bool().unwrap_or(false);
        let (size, decode): (usize, Decode) = match a["componentType"].as_u64() {
            Some(5126) => (4, |b, _| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Some(5121) => (1, |b, n| {
                if n {
                    f32::from(b[0]) / 255.0
                } else {
                    f32::from(b[0])
                }
            }),
            Some(5120) => (1, |b, n| {
                let v = f32::from(b[0] as i8);
                if n { (v / 127.0).max(-1.0) } else { v }
            }),
            Some(5123) => (2, |b, n| {
                let v = f32::from(u16::from_le_bytes([b[0], b[1]]));
                if n { v / 65535.0 } else { v }
            }),
            Some(5122) => (2, |b, n| {
                let v = f32::from(i16::from_le_bytes([b[0], b[1]]));
                if n { (v / 32767.0).max(-1.0) } else { v }
            }),
            other => return Err(what(format!("component type {other:?}"))),
        };
        let view_index = a["bufferView"]
            .as_u64()
            .ok_or_else(|| what("no bufferView (sparse accessors are not read)".into()))?
            as usize;
        let view = &self.json["bufferViews"][view_index];
        let buffer = view["buffer"]
            .as_u64()
            .and_then(|b| self.buffers.get(b as usize))
            .ok_or_else(|| what(format!("bufferView {view_index} names no buffer")))?;
        let view_offset = view["byteOffset"].as_u64().unwrap_or(0) as usize;
        let view_length = view["byteLength"]
            .as_u64()
            .ok_or_else(|| what(format!("bufferView {view_index} has no byteLength")))?
            as usize;
        let element = size * components;
        let stride = view["byteStride"].as_u64().map_or(element, |s| s as usize);
        if stride < element {
            return Err(what(format!(
                "byteStride {stride} is less than an element ({element} bytes)"
            )));
        }
        let offset = a["byteOffset"].as_u64().unwrap_or(0) as usize;
        let needed = if count == 0 {
            0
        } else {
            offset
                .checked_add(
                    (count - 1)
                        .checked_mul(stride)
                        .and_then(|s| s.checked_add(element))
                        .ok_or_else(|| what("its size overflows".into()))?,
                )
                .ok_or_else(|| what("its size overflows".into()))?
        };
        let view_end = view_offset
            .checked_add(view_length)
            .filter(|&e| e <= buffer.len());
        if view_end.is_none() || needed > view_length {
            return Err(SplatLoadError::Truncated {
                path: path.to_path_buf(),
                format: FORMAT,
                what: format!(
                    "accessor {index} ({name}) needs {needed} bytes of bufferView {view_index} ({view_length} bytes, in a buffer of {})",
                    buffer.len()
                ),
            });
        }
        let data = &buffer[view_offset..view_offset + view_length];
        let mut out = Vec::with_capacity(count * components);
        for i in 0..count {
            let at = offset + i * stride;
            for c in 0..components {
                out.push(decode(&data[at + c * size..], normalized));
            }
        }
        Ok(out)
    }
}

/// A node's local transform (matrix, or translation · rotation · scale).
fn local_transform(node: &Value) -> Mat4 {
    if let Some(m) = node["matrix"].as_array().filter(|m| m.len() == 16) {
        let v: Vec<f32> = m.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect();
        return Mat4::from_cols_slice(&v);
    }
    let vec = |key: &str, default: &[f32]| -> Vec<f32> {
        node[key].as_array().map_or_else(
            || default.to_vec(),
            |a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect(),
        )
    };
    let t = vec("translation", &[0.0, 0.0, 0.0]);
    let r = vec("rotation", &[0.0, 0.0, 0.0, 1.0]);
    let s = vec("scale", &[1.0, 1.0, 1.0]);
    if t.len() != 3 || r.len() != 4 || s.len() != 3 {
        return Mat4::IDENTITY;
    }
    Mat4::from_scale_rotation_translation(
        Vec3::new(s[0], s[1], s[2]),
        Quat::from_xyzw(r[0], r[1], r[2], r[3]).normalize(),
        Vec3::new(t[0], t[1], t[2]),
    )
}

/// Reads every splat primitive of the file's default scene, placed by its nodes.
pub(super) fn read_gltf(bytes: &[u8], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let doc = read_document(bytes, path)?;
    let json = &doc.json;
    let scene = json["scene"].as_u64().unwrap_or(0) as usize;
    let roots: Vec<usize> = json["scenes"][scene]["nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_u64().map(|n| n as usize))
                .collect()
        })
        .unwrap_or_default();
    // (node, world transform), depth first; a node met twice (a cycle) is refused.
    let node_count = json["nodes"].as_array().map_or(0, Vec::len);
    let mut stack: Vec<(usize, Mat4)> = roots
        .into_iter()
        .rev()
        .map(|n| (n, Mat4::IDENTITY))
        .collect();
    let mut seen = vec![false; node_count];
    let mut clouds = Vec::new();
    while let Some((index, parent)) = stack.pop() {
        if index >= node_count {
            return Err(bad(
                path,
                format!("node {index} does not exist ({node_count} nodes)"),
            ));
        }
        if std::mem::replace(&mut seen[index], true) {
            return Err(bad(
                path,
                format!(
                    "node {index} is reached twice (the node tree has a cycle or a shared child)"
                ),
            ));
        }
        let node = &json["nodes"][index];
        let world = parent * local_transform(node);
        if let Some(children) = node["children"].as_array() {
            for child in children.iter().rev().filter_map(Value::as_u64) {
                stack.push((child as usize, world));
            }
        }
        let Some(mesh) = node["mesh"].as_u64() else {
            continue;
        };
        let primitives = json["meshes"][mesh as usize]["primitives"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        for (p, primitive) in primitives.iter().enumerate() {
            if primitive["extensions"].get(EXTENSION).is_none() {
                continue;
            }
            let name = format!("node {index}, mesh {mesh}, primitive {p}");
            clouds.push(read_primitive(&doc, primitive, world, path, &name)?);
        }
    }
    let mut clouds = clouds.into_iter();
    let mut joined = clouds.next().ok_or_else(|| {
        bad(
            path,
            format!("no primitive of the default scene uses {EXTENSION}; the file holds no splats"),
        )
    })?;
    for cloud in clouds {
        joined = super::join_clouds(joined, cloud);
    }
    Ok(joined)
}

fn read_primitive(
    doc: &Document,
    primitive: &Value,
    world: Mat4,
    path: &Path,
    name: &str,
) -> Result<SplatCloud, SplatLoadError> {
    let attributes = &primitive["attributes"];
    let attribute = |key: &str, width: usize| -> Result<Vec<f32>, SplatLoadError> {
        let index = attributes[key]
            .as_u64()
            .ok_or_else(|| bad(path, format!("{name} has no {key} attribute")))?;
        doc.accessor(index as usize, width, path, key)
    };
    let positions = attribute("POSITION", 3)?;
    let count = positions.len() / 3;
    let rotations = attribute("KHR_gaussian_splatting:ROTATION", 4)?;
    let scales = attribute("KHR_gaussian_splatting:SCALE", 3)?;
    let opacities = attribute("KHR_gaussian_splatting:OPACITY", 1)?;
    let mut degree = 0;
    while degree < 3
        && attributes
            .get(format!(
                "KHR_gaussian_splatting:SH_DEGREE_{}_COEF_0",
                degree + 1
            ))
            .is_some()
    {
        degree += 1;
    }
    let mut sh_columns = Vec::new();
    for l in 0..=degree {
        for k in 0..(2 * l + 1) {
            sh_columns.push(attribute(
                &format!("KHR_gaussian_splatting:SH_DEGREE_{l}_COEF_{k}"),
                3,
            )?);
        }
    }
    for (label, len) in [
        ("ROTATION", rotations.len() / 4),
        ("SCALE", scales.len() / 3),
        ("OPACITY", opacities.len()),
    ]
    .into_iter()
    .chain(sh_columns.iter().map(|c| ("SH", c.len() / 3)))
    {
        if len != count {
            return Err(bad(
                path,
                format!("{name}: {label} has {len} values for {count} positions"),
            ));
        }
    }
    let (scale, rotation, translation) = world.to_scale_rotation_translation();
    if !scale.is_finite()
        || (scale.max_element() - scale.min_element()).abs() > 1e-3 * scale.abs().max_element()
        || scale.min_element() <= 0.0
    {
        return Err(bad(
            path,
            format!(
                "{name}: its node's scale {scale} is not uniform and positive (splats take rotation, translation and uniform scale)"
            ),
        ));
    }
    let s = scale.x;
    let rotate_sh = super::sh_rotation(rotation, degree);
    let mut cloud = SplatCloud::with_capacity(count, degree);
    let k = (degree + 1) * (degree + 1);
    let mut coefficients = vec![[0.0f32; 3]; k];
    for i in 0..count {
        let q = Quat::from_xyzw(
            rotations[i * 4],
            rotations[i * 4 + 1],
            rotations[i * 4 + 2],
            rotations[i * 4 + 3],
        );
        let placed = rotation * q;
        cloud.push_checked(
            RawSplat {
                mean: rotation
                    * Vec3::new(positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2])
                    * s
                    + translation,
                scale: Vec3::new(scales[i * 3], scales[i * 3 + 1], scales[i * 3 + 2]) * s,
                rotation_wxyz: [placed.w, placed.x, placed.y, placed.z],
                opacity: opacities[i],
            },
            i,
            path,
        )?;
        for (c, column) in sh_columns.iter().enumerate() {
            coefficients[c] = [column[i * 3], column[i * 3 + 1], column[i * 3 + 2]];
        }
        rotate_sh.apply(&mut coefficients);
        if let Some(bad_value) = coefficients.iter().flatten().find(|v| !v.is_finite()) {
            return Err(SplatLoadError::Value {
                path: path.to_path_buf(),
                index: i,
                property: "SH".into(),
                reason: format!("{bad_value} is not finite"),
            });
        }
        cloud.sh.extend_from_slice(&coefficients);
    }
    Ok(cloud)
}

/// A GLB with its splats: the same document without the `KHR_gaussian_splatting` primitives (what a mesh loader
/// can read: Bevy's glTF loader refuses the extension's attribute names), and whether any mesh primitive is left.
pub struct MeshPart {
    pub glb: Vec<u8>,
    pub has_meshes: bool,
}

/// [`MeshPart`] of a GLB that holds splats. Meshes emptied by the removal are dropped and the nodes that used
/// them lose their mesh; the binary chunk is kept as it is (its splat data simply goes unreferenced).
pub fn mesh_part(bytes: &[u8], path: &Path) -> Result<MeshPart, SplatLoadError> {
    if !bytes.starts_with(b"glTF") {
        return Err(bad(
            path,
            "a .gltf with splats and meshes is read for its splats only; save it as .glb to load both".into(),
        ));
    }
    let json_length = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let doc = read_document(bytes, path)?;
    let mut json = doc.json;
    let mut new_index = Vec::new();
    let mut kept = Vec::new();
    let mut has_meshes = false;
    if let Some(meshes) = json["meshes"].as_array() {
        for mesh in meshes {
            let mut mesh = mesh.clone();
            if let Some(primitives) = mesh["primitives"].as_array() {
                let left: Vec<Value> = primitives
                    .iter()
                    .filter(|p| p["extensions"].get(EXTENSION).is_none())
                    .cloned()
                    .collect();
                if left.is_empty() {
                    new_index.push(None);
                    continue;
                }
                has_meshes = true;
                mesh["primitives"] = Value::Array(left);
            }
            new_index.push(Some(kept.len()));
            kept.push(mesh);
        }
    }
    json["meshes"] = Value::Array(kept);
    if let Some(nodes) = json["nodes"].as_array_mut() {
        for node in nodes {
            if let Some(old) = node["mesh"].as_u64() {
                match new_index.get(old as usize).copied().flatten() {
                    Some(new) => node["mesh"] = Value::from(new),
                    None => {
                        if let Some(map) = node.as_object_mut() {
                            map.remove("mesh");
                        }
                    }
                }
            }
        }
    }
    for key in ["extensionsUsed", "extensionsRequired"] {
        // `get_mut`, not indexing: indexing a missing key would insert a null.
        if let Some(list) = json.get_mut(key).and_then(Value::as_array_mut) {
            list.retain(|e| e.as_str() != Some(EXTENSION));
        }
    }
    if json["meshes"].as_array().is_some_and(Vec::is_empty)
        && let Some(map) = json.as_object_mut()
    {
        map.remove("meshes");
    }
    let mut text = serde_json::to_vec(&json).map_err(|e| bad(path, e.to_string()))?;
    while !text.len().is_multiple_of(4) {
        text.push(b' ');
    }
    let rest = &bytes[20 + json_length..];
    let mut glb = Vec::with_capacity(20 + text.len() + rest.len());
    glb.extend_from_slice(b"glTF");
    glb.extend_from_slice(&2u32.to_le_bytes());
    glb.extend_from_slice(&((20 + text.len() + rest.len()) as u32).to_le_bytes());
    glb.extend_from_slice(&(text.len() as u32).to_le_bytes());
    glb.extend_from_slice(b"JSON");
    glb.extend_from_slice(&text);
    glb.extend_from_slice(rest);
    Ok(MeshPart { glb, has_meshes })
}
