//! A procedurally built scene as plain data (meshes, materials, placements, lights), for renderers that spawn
//! it directly instead of going through a GLB file. Parts are addressed by their index, so a caller can move
//! one (a drawer, a door, a mug) frame by frame.

use super::primitives::TriMesh;
use glam::{Affine3A, Vec3};

/// A PBR material: linear base colour, metallic, perceptual roughness.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartMaterial {
    pub base_color: [f32; 3],
    pub metallic: f32,
    pub roughness: f32,
}

impl PartMaterial {
    pub fn matte(base_color: [f32; 3]) -> Self {
        Self {
            base_color,
            metallic: 0.0,
            roughness: 0.8,
        }
    }
}

/// One mesh of the scene with its material and its placement at rest.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenePart {
    pub name: String,
    pub mesh: TriMesh,
    pub material: PartMaterial,
    pub world_from_part: Affine3A,
}

/// A light of a procedural scene.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SceneLight {
    /// Light travelling along `direction` (world, unit).
    Directional {
        direction: Vec3,
        color: [f32; 3],
        illuminance_lux: f32,
    },
    Point {
        position: Vec3,
        color: [f32; 3],
        intensity_lumens: f32,
        range: f32,
    },
}

/// A whole procedural scene: parts, lights, and the ambient light.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProceduralScene {
    pub parts: Vec<ScenePart>,
    pub lights: Vec<SceneLight>,
    pub ambient_color: [f32; 3],
    /// Bevy's ambient brightness (cd/m²-like units; the bundled renderer uses 300).
    pub ambient_brightness: f32,
}

impl ProceduralScene {
    /// Adds a part and returns its index.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        mesh: TriMesh,
        material: PartMaterial,
        world_from_part: Affine3A,
    ) -> usize {
        self.parts.push(ScenePart {
            name: name.into(),
            mesh,
            material,
            world_from_part,
        });
        self.parts.len() - 1
    }
}
