//! A small glTF 2.0 binary (GLB) writer for scenes built by our own code.
//!
//! Supports what the procedural scenes need: a node tree with TRS transforms, one indexed triangle primitive per
//! mesh (POSITION, NORMAL), metallic-roughness materials, and KHR_lights_punctual lights.

use super::primitives::TriMesh;
use glam::{Quat, Vec3};
use serde_json::{Value, json};

/// A PBR metallic-roughness material (linear base colour).
#[derive(Clone, Debug, PartialEq)]
pub struct Material {
    pub name: String,
    pub base_color: [f32; 4],
    pub metallic: f32,
    pub roughness: f32,
}

/// A punctual light (KHR_lights_punctual units: lux for directional, candela for point).
#[derive(Clone, Debug, PartialEq)]
pub enum Light {
    Directional {
        color: [f32; 3],
        illuminance_lux: f32,
    },
    Point {
        color: [f32; 3],
        intensity_candela: f32,
        range: f32,
    },
}

/// A node of the scene tree.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub name: String,
    pub translation: Vec3,
    pub rotation: Quat,
    /// A mesh and the index of its material in the document's material list.
    pub mesh: Option<(TriMesh, usize)>,
    pub light: Option<Light>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn group(name: &str, translation: Vec3, children: Vec<Node>) -> Self {
        Self {
            name: name.into(),
            translation,
            rotation: Quat::IDENTITY,
            children,
            ..Default::default()
        }
    }

    pub fn mesh(name: &str, translation: Vec3, mesh: TriMesh, material: usize) -> Self {
        Self {
            name: name.into(),
            translation,
            rotation: Quat::IDENTITY,
            mesh: Some((mesh, material)),
            ..Default::default()
        }
    }

    pub fn with_rotation(mut self, rotation: Quat) -> Self {
        self.rotation = rotation;
        self
    }

    /// Counts (nodes, triangles) in this subtree.
    pub fn statistics(&self) -> (usize, usize) {
        self.children.iter().fold(
            (1, self.mesh.as_ref().map_or(0, |(m, _)| m.triangle_count())),
            |(n, t), child| {
                let (cn, ct) = child.statistics();
                (n + cn, t + ct)
            },
        )
    }
}

/// Serialises a scene (one root node) with its materials to GLB bytes. Deterministic: the same input gives the
/// same bytes.
pub fn write_glb(root: &Node, materials: &[Material]) -> Vec<u8> {
    let mut writer = Writer::default();
    let root_index = writer.add_node(root);
    let materials_json: Vec<Value> = materials
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": m.base_color,
                    "metallicFactor": m.metallic,
                    "roughnessFactor": m.roughness,
                },
            })
        })
        .collect();
    let mut document = json!({
        "asset": { "version": "2.0", "generator": "handtwin scene builder" },
        "scene": 0,
        "scenes": [ { "name": root.name, "nodes": [root_index] } ],
        "nodes": writer.nodes,
        "meshes": writer.meshes,
        "materials": materials_json,
        "accessors": writer.accessors,
        "bufferViews": writer.buffer_views,
        "buffers": [ { "byteLength": writer.binary.len() } ],
    });
    if !writer.lights.is_empty() {
        document["extensionsUsed"] = json!(["KHR_lights_punctual"]);
        document["extensions"] = json!({ "KHR_lights_punctual": { "lights": writer.lights } });
    }
    // Serialising a `Value` cannot fail: its maps have string keys and its numbers are finite or null.
    #[allow(clippy::expect_used)] // audited: the reason above
    let mut json_bytes = serde_json::to_vec(&document).expect("a JSON value always serialises");
    while !json_bytes.len().is_multiple_of(4) {
        json_bytes.push(b' ');
    }
    let mut binary = writer.binary;
    while binary.len() % 4 != 0 {
        binary.push(0);
    }
    let total = 12 + 8 + json_bytes.len() + 8 + binary.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json_bytes);
    out.extend_from_slice(&(binary.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&binary);
    out
}

#[derive(Default)]
struct Writer {
    nodes: Vec<Value>,
    meshes: Vec<Value>,
    accessors: Vec<Value>,
    buffer_views: Vec<Value>,
    lights: Vec<Value>,
    binary: Vec<u8>,
}

impl Writer {
    fn add_node(&mut self, node: &Node) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Value::Null); // reserve the slot so children get later indices
        let mut value = json!({ "name": node.name });
        if node.translation != Vec3::ZERO {
            value["translation"] = json!(node.translation.to_array());
        }
        if node.rotation != Quat::IDENTITY {
            value["rotation"] = json!(node.rotation.to_array());
        }
        if let Some((mesh, material)) = &node.mesh {
            value["mesh"] = json!(self.add_mesh(&node.name, mesh, *material));
        }
        if let Some(light) = &node.light {
            let light_index = self.lights.len();
            self.lights.push(match light {
                Light::Directional { color, illuminance_lux } => {
                    json!({ "name": node.name, "type": "directional", "color": color, "intensity": illuminance_lux })
                }
                Light::Point { color, intensity_candela, range } => {
                    json!({ "name": node.name, "type": "point", "color": color, "intensity": intensity_candela, "range": range })
                }
            });
            value["extensions"] = json!({ "KHR_lights_punctual": { "light": light_index } });
        }
        let children: Vec<usize> = node
            .children
            .iter()
            .map(|child| self.add_node(child))
            .collect();
        if !children.is_empty() {
            value["children"] = json!(children);
        }
        self.nodes[index] = value;
        index
    }

    fn add_mesh(&mut self, name: &str, mesh: &TriMesh, material: usize) -> usize {
        let (lo, hi) = mesh.bounds();
        let positions = self.add_vec3_accessor(&mesh.positions, Some((lo, hi)));
        let normals = self.add_vec3_accessor(&mesh.normals, None);
        let view = self.add_view(
            mesh.indices.iter().flat_map(|i| i.to_le_bytes()),
            Some(34963),
        );
        let indices = self.accessors.len();
        self.accessors.push(json!({
            "bufferView": view, "componentType": 5125, "count": mesh.indices.len(), "type": "SCALAR",
        }));
        let index = self.meshes.len();
        self.meshes.push(json!({
            "name": name,
            "primitives": [ {
                "attributes": { "POSITION": positions, "NORMAL": normals },
                "indices": indices,
                "material": material,
                "mode": 4,
            } ],
        }));
        index
    }

    fn add_vec3_accessor(&mut self, values: &[Vec3], bounds: Option<(Vec3, Vec3)>) -> usize {
        let view = self.add_view(
            values
                .iter()
                .flat_map(|v| v.to_array())
                .flat_map(f32::to_le_bytes),
            Some(34962),
        );
        let index = self.accessors.len();
        let mut accessor = json!({ "bufferView": view, "componentType": 5126, "count": values.len(), "type": "VEC3" });
        if let Some((lo, hi)) = bounds {
            accessor["min"] = json!(lo.to_array());
            accessor["max"] = json!(hi.to_array());
        }
        self.accessors.push(accessor);
        index
    }

    fn add_view(&mut self, bytes: impl Iterator<Item = u8>, target: Option<u32>) -> usize {
        let offset = self.binary.len();
        self.binary.extend(bytes);
        let length = self.binary.len() - offset;
        while !self.binary.len().is_multiple_of(4) {
            self.binary.push(0);
        }
        let index = self.buffer_views.len();
        let mut view = json!({ "buffer": 0, "byteOffset": offset, "byteLength": length });
        if let Some(target) = target {
            view["target"] = json!(target);
        }
        self.buffer_views.push(view);
        index
    }
}
