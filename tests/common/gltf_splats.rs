//! Shared by the splat tests: a GLB holding a splat cloud as a `KHR_gaussian_splatting` primitive.

use glam::{Quat, Vec3};
use handtwin::scene::splat::SplatCloud;

/// A GLB holding `cloud` as a KHR_gaussian_splatting primitive under a node with `translation`, `rotation` and
/// `scale`, and (with `mesh`) a unit square in the z = 0 plane (x, y in 0..1) on another node at that translation.
pub fn write_gltf_splats(
    cloud: &SplatCloud,
    translation: Vec3,
    rotation: Quat,
    scale: f32,
    mesh: Option<Vec3>,
) -> Vec<u8> {
    let n = cloud.len();
    let k = cloud.coefficients_per_channel();
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut attributes = serde_json::Map::new();
    let mut add = |name: &str, kind: &str, values: Vec<f32>, bin: &mut Vec<u8>| {
        let offset = bin.len();
        for v in &values {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        views.push(
            serde_json::json!({"buffer": 0, "byteOffset": offset, "byteLength": values.len() * 4}),
        );
        accessors.push(serde_json::json!({"bufferView": views.len() - 1, "componentType": 5126,
            "count": values.len() / match kind { "SCALAR" => 1, "VEC3" => 3, _ => 4 }, "type": kind}));
        attributes.insert(name.to_string(), serde_json::json!(accessors.len() - 1));
    };
    add(
        "POSITION",
        "VEC3",
        cloud.means.iter().flat_map(|m| m.to_array()).collect(),
        &mut bin,
    );
    add(
        "KHR_gaussian_splatting:ROTATION",
        "VEC4",
        cloud.rotations.iter().flat_map(|q| q.to_array()).collect(),
        &mut bin,
    );
    add(
        "KHR_gaussian_splatting:SCALE",
        "VEC3",
        cloud.scales.iter().flat_map(|s| s.to_array()).collect(),
        &mut bin,
    );
    add(
        "KHR_gaussian_splatting:OPACITY",
        "SCALAR",
        cloud.opacities.clone(),
        &mut bin,
    );
    for l in 0..=cloud.sh_degree {
        for c in 0..2 * l + 1 {
            let index = l * l + c;
            let values = (0..n).flat_map(|i| cloud.sh[i * k + index]).collect();
            add(
                &format!("KHR_gaussian_splatting:SH_DEGREE_{l}_COEF_{c}"),
                "VEC3",
                values,
                &mut bin,
            );
        }
    }
    let mut meshes = vec![
        serde_json::json!({"primitives": [{"attributes": attributes, "mode": 0,
        "extensions": {"KHR_gaussian_splatting": {"kernel": "ellipse"}}}]}),
    ];
    let mut nodes = vec![
        serde_json::json!({"mesh": 0, "translation": translation.to_array(),
        "rotation": rotation.to_array(), "scale": [scale, scale, scale]}),
    ];
    if let Some(at) = mesh {
        let offset = bin.len();
        let square: [f32; 18] = [
            0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0,
            0.0,
        ];
        for v in square {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        views.push(serde_json::json!({"buffer": 0, "byteOffset": offset, "byteLength": 72}));
        accessors.push(
            serde_json::json!({"bufferView": views.len() - 1, "componentType": 5126,
            "count": 6, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]}),
        );
        meshes.push(
            serde_json::json!({"primitives": [{"attributes": {"POSITION": accessors.len() - 1}}]}),
        );
        nodes.push(serde_json::json!({"mesh": 1, "translation": at.to_array()}));
    }
    let roots: Vec<usize> = (0..nodes.len()).collect();
    let json = serde_json::json!({
        "asset": {"version": "2.0"}, "extensionsUsed": ["KHR_gaussian_splatting"], "scene": 0,
        "scenes": [{"nodes": roots}], "nodes": nodes, "meshes": meshes, "accessors": accessors,
        "bufferViews": views, "buffers": [{"byteLength": bin.len()}]
    });
    let mut json = serde_json::to_vec(&json).unwrap();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let mut glb = Vec::new();
    glb.extend_from_slice(b"glTF");
    glb.extend_from_slice(&2u32.to_le_bytes());
    glb.extend_from_slice(&((12 + 8 + json.len() + 8 + bin.len()) as u32).to_le_bytes());
    glb.extend_from_slice(&(json.len() as u32).to_le_bytes());
    glb.extend_from_slice(b"JSON");
    glb.extend_from_slice(&json);
    glb.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    glb.extend_from_slice(b"BIN\0");
    glb.extend_from_slice(&bin);
    glb
}
