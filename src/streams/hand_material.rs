//! The hand-stream material: DWM's flat-colour Phong shading with a light at the camera (`shaders/hand_stream.wgsl`).

use crate::hand::Side;
use bevy::asset::uuid_handle;
use bevy::prelude::*;
use bevy::render::render_resource::AsBindGroup;
use bevy::shader::Shader;

/// The shader is embedded in the binary, so captures work from any working directory.
pub const HAND_STREAM_SHADER: Handle<Shader> = uuid_handle!("6c0f3a52-3f7e-4f53-9a3e-2b8f7d1c9e41");

#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct HandStreamMaterial {
    /// Linear RGB albedo (alpha unused).
    #[uniform(0)]
    pub albedo: Vec4,
}

impl HandStreamMaterial {
    pub fn for_side(side: Side) -> Self {
        let [r, g, b] = side.dwm_albedo();
        Self {
            albedo: Vec4::new(r, g, b, 1.0),
        }
    }
}

crate::shaders::fragment_only_material!(
    HandStreamMaterial,
    HAND_STREAM_SHADER,
    "PyTorch3D's rasteriser draws back faces too (cull_backfaces = False)"
);

/// Registers the material and its embedded shader.
pub struct HandStreamMaterialPlugin;

impl Plugin for HandStreamMaterialPlugin {
    fn build(&self, app: &mut App) {
        crate::shaders::embed_wgsl(
            app,
            &HAND_STREAM_SHADER,
            include_str!("../../shaders/hand_stream.wgsl"),
            "shaders/hand_stream.wgsl",
        );
        app.add_plugins(MaterialPlugin::<HandStreamMaterial>::default());
    }
}
