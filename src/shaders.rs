//! Registering the WGSL shaders handtwin embeds in its binary (`shaders/*.wgsl`, read with `include_str!` by
//! the plugin that owns each), so a build runs without its source tree.

use bevy::prelude::*;

/// Puts an embedded WGSL `source` under `handle` in the app's shader assets; `path` names it in shader errors.
pub fn embed_wgsl(
    app: &mut App,
    handle: &Handle<Shader>,
    source: &'static str,
    path: &'static str,
) {
    let shader = Shader::from_wgsl(source, path);
    app.world_mut()
        .resource_mut::<Assets<Shader>>()
        .insert(handle.id(), shader)
        .ok();
}

/// Implements `Material` for a material that is only a fragment shader (`$shader`, a `Handle<Shader>`) drawn
/// on both faces, with no depth prepass and no shadows: the hand stream's flat shading, the composite quad.
macro_rules! fragment_only_material {
    ($material:ty, $shader:expr, $why_both_faces:literal) => {
        impl bevy::pbr::Material for $material {
            fn fragment_shader() -> bevy::shader::ShaderRef {
                bevy::shader::ShaderRef::Handle($shader)
            }

            fn enable_prepass() -> bool {
                false
            }

            fn enable_shadows() -> bool {
                false
            }

            #[doc = concat!("Both faces: ", $why_both_faces, ".")]
            fn specialize(
                _pipeline: &bevy::pbr::MaterialPipeline,
                descriptor: &mut bevy::render::render_resource::RenderPipelineDescriptor,
                _layout: &bevy::mesh::MeshVertexBufferLayoutRef,
                _key: bevy::pbr::MaterialPipelineKey<Self>,
            ) -> Result<(), bevy::render::render_resource::SpecializedMeshPipelineError> {
                descriptor.primitive.cull_mode = None;
                Ok(())
            }
        }
    };
}
pub(crate) use fragment_only_material;
