//! Rendering Gaussian-splat scenes in Bevy: each splat entity's quad mesh is re-sorted back to front for the
//! sorting camera in every frame (no stale or throttled sort), with view-dependent colours evaluated for that
//! camera; `shaders/splat.wgsl` does the EWA projection and the per-pixel Gaussian.

use bevy::asset::{AssetEventSystems, RenderAssetUsages, uuid_handle};
use bevy::camera::visibility::NoFrustumCulling;
use bevy::mesh::{Indices, MeshVertexAttribute, MeshVertexBufferLayoutRef, PrimitiveTopology};
use bevy::pbr::{Material, MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, ShaderType, SpecializedMeshPipelineError, VertexFormat,
};
use bevy::shader::{Shader, ShaderRef};
use bevy::transform::TransformSystems;
use std::sync::Arc;

pub const SPLAT_SHADER: Handle<Shader> = uuid_handle!("0d7c6b1e-55a4-4d8e-9f0a-6a3b9c2e4f17");

const ATTRIBUTE_CORNER: MeshVertexAttribute =
    MeshVertexAttribute::new("SplatCorner", 917_301_001, VertexFormat::Float32x2);
const ATTRIBUTE_COVARIANCE_A: MeshVertexAttribute =
    MeshVertexAttribute::new("SplatCovarianceA", 917_301_002, VertexFormat::Float32x3);
const ATTRIBUTE_COVARIANCE_B: MeshVertexAttribute =
    MeshVertexAttribute::new("SplatCovarianceB", 917_301_003, VertexFormat::Float32x3);

/// What the renderer needs from a splat cloud. Implemented by the loaded clouds; colours are display-referred
/// (3DGS convention: the SH evaluation is the pixel value).
pub trait SplatData: Send + Sync + 'static {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn mean(&self, index: usize) -> Vec3;
    /// Upper triangle of the 3D covariance: xx, xy, xz, yy, yz, zz.
    fn covariance(&self, index: usize) -> [f32; 6];
    fn opacity(&self, index: usize) -> f32;
    /// Colour seen along `direction` (unit vector from the camera centre to the splat), unclamped.
    fn color(&self, index: usize, direction: Vec3) -> Vec3;
}

/// A splat cloud to draw. Put it on an entity with a `Transform` (the scene placement).
#[derive(Component, Clone)]
#[require(Transform, Visibility)]
pub struct SplatCloudComponent {
    pub data: Arc<dyn SplatData>,
}

/// The camera splats are sorted for. Exactly one camera should carry it.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct SplatSortCamera;

#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct SplatMaterial {
    #[uniform(0)]
    pub settings: SplatSettings,
}

#[derive(ShaderType, Clone, Copy, Debug, Default)]
pub struct SplatSettings {
    /// 1 when the camera writes an sRGB-encoded target (mesh pipeline): display colours are linearised first.
    pub linearize: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

impl Material for SplatMaterial {
    fn vertex_shader() -> ShaderRef {
        ShaderRef::Handle(SPLAT_SHADER)
    }

    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(SPLAT_SHADER)
    }

    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Premultiplied
    }

    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }

    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        let vertex_layout = layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            ATTRIBUTE_CORNER.at_shader_location(1),
            ATTRIBUTE_COVARIANCE_A.at_shader_location(2),
            ATTRIBUTE_COVARIANCE_B.at_shader_location(3),
            Mesh::ATTRIBUTE_COLOR.at_shader_location(4),
        ])?;
        descriptor.vertex.buffers = vec![vertex_layout];
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// The sorted quad mesh of one splat entity (a child added by [`SplatRenderPlugin`]).
#[derive(Component)]
struct SplatMesh {
    mesh: Handle<Mesh>,
    /// The eye and view direction (cloud frame) the mesh is sorted for: an unmoved camera needs no new sort.
    sorted_for: Option<(Vec3, Vec3)>,
}

pub struct SplatRenderPlugin;

impl Plugin for SplatRenderPlugin {
    fn build(&self, app: &mut App) {
        crate::shaders::embed_wgsl(
            app,
            &SPLAT_SHADER,
            include_str!("../../shaders/splat.wgsl"),
            "shaders/splat.wgsl",
        );
        app.add_plugins(MaterialPlugin::<SplatMaterial>::default())
            .init_resource::<SplatColorSpace>()
            .add_systems(
                PostUpdate,
                (attach_splat_meshes, sort_splats)
                    .chain()
                    .after(TransformSystems::Propagate)
                    // Mesh edits become visible to the render world only through the asset events flushed in
                    // `AssetEventSystems`: sorting after that flush would draw each frame with the previous
                    // frame's sort (its order, view-dependent colours and near cut).
                    .before(AssetEventSystems),
            );
    }
}

/// Whether splat colours must be linearised (true for the usual sRGB-encoded, tonemapped mesh pipeline; false
/// when the camera writes display values as they are, as 3DGS does).
#[derive(Resource, Clone, Copy, Debug)]
pub struct SplatColorSpace {
    pub linearize: bool,
}

impl Default for SplatColorSpace {
    fn default() -> Self {
        Self { linearize: true }
    }
}

fn attach_splat_meshes(
    mut commands: Commands,
    clouds: Query<Entity, (With<SplatCloudComponent>, Without<SplatMesh>)>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<SplatMaterial>>,
    color_space: Res<SplatColorSpace>,
) {
    for entity in &clouds {
        let mesh = meshes.add(quad_mesh(SortedQuads::default()));
        let material = materials.add(SplatMaterial {
            settings: SplatSettings {
                linearize: u32::from(color_space.linearize),
                ..default()
            },
        });
        commands.entity(entity).insert((
            SplatMesh {
                mesh: mesh.clone(),
                sorted_for: None,
            },
            Mesh3d(mesh),
            MeshMaterial3d(material),
            // The mesh changes every frame; its bounds would go stale.
            NoFrustumCulling,
        ));
    }
}

fn sort_splats(
    cameras: Query<&GlobalTransform, With<SplatSortCamera>>,
    mut clouds: Query<(Ref<SplatCloudComponent>, &mut SplatMesh, &GlobalTransform)>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let Some(camera) = cameras.iter().next() else {
        return;
    };
    for (cloud, mut splat_mesh, transform) in &mut clouds {
        let local_from_world = transform.affine().inverse();
        let eye = local_from_world.transform_point3(camera.translation());
        let forward = local_from_world
            .transform_vector3(camera.forward().as_vec3())
            .normalize_or_zero();
        if splat_mesh.sorted_for == Some((eye, forward)) && !cloud.is_changed() {
            continue;
        }
        let quads = sorted_quads(cloud.data.as_ref(), eye, forward);
        meshes.insert(splat_mesh.mesh.id(), quad_mesh(quads)).ok();
        splat_mesh.sorted_for = Some((eye, forward));
    }
}

/// Vertex data of the sorted quads.
#[derive(Default)]
struct SortedQuads {
    means: Vec<[f32; 3]>,
    corners: Vec<[f32; 2]>,
    covariance_a: Vec<[f32; 3]>,
    covariance_b: Vec<[f32; 3]>,
    colors: Vec<[f32; 4]>,
    indices: Vec<u32>,
}

/// Splats in front of `eye` (all in the cloud's local frame), far to near, four corners each.
fn sorted_quads(data: &dyn SplatData, eye: Vec3, forward: Vec3) -> SortedQuads {
    let mut order: Vec<(f32, u32)> = (0..data.len())
        .filter_map(|index| {
            let depth = (data.mean(index) - eye).dot(forward);
            (depth > 0.2 && depth.is_finite()).then_some((depth, index as u32))
        })
        .collect();
    // Back to front; ties broken by index so the order (and so the image) is deterministic.
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let count = order.len();
    let mut quads = SortedQuads {
        means: Vec::with_capacity(count * 4),
        corners: Vec::with_capacity(count * 4),
        covariance_a: Vec::with_capacity(count * 4),
        covariance_b: Vec::with_capacity(count * 4),
        colors: Vec::with_capacity(count * 4),
        indices: Vec::with_capacity(count * 6),
    };
    for (slot, &(_, index)) in order.iter().enumerate() {
        let index = index as usize;
        let mean = data.mean(index);
        let [xx, xy, xz, yy, yz, zz] = data.covariance(index);
        let color = data.color(index, (mean - eye).normalize_or_zero());
        let rgba = [color.x, color.y, color.z, data.opacity(index)];
        for corner in [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]] {
            quads.means.push(mean.to_array());
            quads.corners.push(corner);
            quads.covariance_a.push([xx, xy, xz]);
            quads.covariance_b.push([yy, yz, zz]);
            quads.colors.push(rgba);
        }
        let base = slot as u32 * 4;
        quads
            .indices
            .extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    quads
}

fn quad_mesh(quads: SortedQuads) -> Mesh {
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, quads.means)
    .with_inserted_attribute(ATTRIBUTE_CORNER, quads.corners)
    .with_inserted_attribute(ATTRIBUTE_COVARIANCE_A, quads.covariance_a)
    .with_inserted_attribute(ATTRIBUTE_COVARIANCE_B, quads.covariance_b)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, quads.colors)
    .with_inserted_indices(Indices::U32(quads.indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Line;
    impl SplatData for Line {
        fn len(&self) -> usize {
            3
        }
        fn mean(&self, index: usize) -> Vec3 {
            Vec3::new(0.0, 0.0, -(index as f32) - 1.0)
        }
        fn covariance(&self, _: usize) -> [f32; 6] {
            [0.01, 0.0, 0.0, 0.01, 0.0, 0.01]
        }
        fn opacity(&self, _: usize) -> f32 {
            0.5
        }
        fn color(&self, index: usize, _: Vec3) -> Vec3 {
            Vec3::splat(index as f32)
        }
    }

    #[test]
    fn sorts_back_to_front_and_drops_splats_behind_the_eye() {
        let quads = sorted_quads(&Line, Vec3::ZERO, Vec3::NEG_Z);
        let depths: Vec<f32> = quads.means.iter().step_by(4).map(|m| -m[2]).collect();
        assert_eq!(depths, vec![3.0, 2.0, 1.0]);
        // From z = −1.5 only the splat at −2 and −3 are in front.
        let quads = sorted_quads(&Line, Vec3::new(0.0, 0.0, -1.5), Vec3::NEG_Z);
        assert_eq!(quads.means.len(), 8);
        assert_eq!(quads.indices.len(), 12);
    }
}
