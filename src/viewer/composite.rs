//! Compositing a generated clip with its conditioning streams (`shaders/composite.wgsl`): a full-viewport quad
//! drawn by its own camera on its own render layer, blended over the 3D view (opaque in every mode but "residual
//! over the scene", which draws the generated pixels inside the residual mask over the live render).

use crate::video::Frames;
use crate::world_model::composite::ResidualMask;
use bevy::asset::{RenderAssetUsages, uuid_handle};
use bevy::camera::visibility::RenderLayers;
use bevy::camera::{ScalingMode, Viewport};
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, Extent3d, ShaderType, TextureDimension, TextureFormat,
};
use bevy::shader::Shader;

pub const COMPOSITE_SHADER: Handle<Shader> = uuid_handle!("3b8e2f4a-91c7-4d2b-8a65-7e0f1d9c3a58");
/// The render layer of the composite quad.
pub const COMPOSITE_LAYER: usize = 2;

/// What the composite shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CompositeMode {
    /// The residual composite: the static stream with only what the model changed put in.
    #[default]
    Composite,
    /// The residual composite's generated pixels over the live render of the scene, at the viewport's resolution,
    /// fading out as the viewport leaves the path camera of the current frame.
    OverScene,
    /// The model's raw output.
    Generated,
    Static,
    Hands,
    /// |generated − static|, mean over channels, through a colour ramp, with the residual mask's outline.
    ResidualHeatMap,
    /// Static left of the wipe, generated right of it.
    Wipe,
    /// Static, hands / generated, ground truth.
    Grid,
    /// Generated A left of the wipe, generated B right of it.
    CompareAb,
}

impl CompositeMode {
    pub const ALL: [CompositeMode; 9] = [
        CompositeMode::Composite,
        CompositeMode::OverScene,
        CompositeMode::Generated,
        CompositeMode::Static,
        CompositeMode::Hands,
        CompositeMode::ResidualHeatMap,
        CompositeMode::Wipe,
        CompositeMode::Grid,
        CompositeMode::CompareAb,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CompositeMode::Composite => "residual composite",
            CompositeMode::OverScene => "residual over the scene",
            CompositeMode::Generated => "generated (raw)",
            CompositeMode::Static => "static stream",
            CompositeMode::Hands => "hand stream",
            CompositeMode::ResidualHeatMap => "residual heat map",
            CompositeMode::Wipe => "wipe static | generated",
            CompositeMode::Grid => "grid",
            CompositeMode::CompareAb => "A/B compare",
        }
    }

    fn index(self) -> u32 {
        match self {
            CompositeMode::Generated => 0,
            CompositeMode::Static => 1,
            CompositeMode::Hands => 2,
            CompositeMode::ResidualHeatMap => 3,
            CompositeMode::Wipe => 4,
            CompositeMode::Grid => 5,
            CompositeMode::CompareAb => 6,
            CompositeMode::Composite => 7,
            CompositeMode::OverScene => 8,
        }
    }
}

#[derive(ShaderType, Clone, Copy, Debug, Default)]
pub struct CompositeSettings {
    pub mode: u32,
    pub decode_srgb: u32,
    pub has_truth: u32,
    /// 1: a residual mask and composite are bound.
    pub has_mask: u32,
    pub wipe: f32,
    pub heat_gain: f32,
    /// "Residual over the scene": how much of the residual to show (1 at the path camera, 0 away from it).
    pub fade: f32,
    pub _pad: f32,
    /// "Residual over the scene": frame uv = offset + scale · viewport uv (the viewport camera's rays in the path
    /// camera's image).
    pub frame_offset: Vec2,
    pub frame_scale: Vec2,
}

#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct CompositeMaterial {
    #[uniform(0)]
    pub settings: CompositeSettings,
    #[texture(1)]
    pub static_frame: Handle<Image>,
    #[texture(2)]
    pub hand_frame: Handle<Image>,
    #[texture(3)]
    pub generated_frame: Handle<Image>,
    #[texture(4)]
    pub truth_frame: Handle<Image>,
    #[texture(5)]
    pub generated_b_frame: Handle<Image>,
    /// The residual composite's frame and its mask (in the red channel).
    #[texture(6)]
    pub composite_frame: Handle<Image>,
    #[texture(7)]
    #[sampler(8)]
    pub mask_frame: Handle<Image>,
}

impl CompositeMaterial {
    pub fn set_mode(&mut self, mode: CompositeMode, wipe: f32, heat_gain: f32) {
        self.settings.mode = mode.index();
        self.settings.wipe = wipe.clamp(0.0, 1.0);
        self.settings.heat_gain = heat_gain;
    }
}

crate::shaders::fragment_only_material!(
    CompositeMaterial,
    COMPOSITE_SHADER,
    "the quad faces whichever way its camera looks"
);

pub struct CompositePlugin;

impl Plugin for CompositePlugin {
    fn build(&self, app: &mut App) {
        crate::shaders::embed_wgsl(
            app,
            &COMPOSITE_SHADER,
            include_str!("../../shaders/composite.wgsl"),
            "shaders/composite.wgsl",
        );
        app.add_plugins(MaterialPlugin::<CompositeMaterial>::default());
    }
}

/// One video frame as a texture (RGBA8, not sRGB: the shader reads the stored values exactly, and filters them
/// linearly when the viewport is larger). `None` past the end of the clip.
pub fn frame_image(frames: &Frames, index: usize) -> Option<Image> {
    let rgb = frames.frame(index)?;
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    Some(rgba_image(frames.width(), frames.height(), rgba))
}

/// One frame of a residual mask as a texture (the mask in the red channel). `None` past the end of the clip.
pub fn mask_image(mask: &ResidualMask, index: usize) -> Option<Image> {
    let plane = mask.width * mask.height;
    let values = mask.values.get(index * plane..(index + 1) * plane)?;
    let rgba: Vec<u8> = values
        .iter()
        .flat_map(|&v| [(v.clamp(0.0, 1.0) * 255.0).round() as u8, 0, 0, 255])
        .collect();
    Some(rgba_image(mask.width as u32, mask.height as u32, rgba))
}

fn rgba_image(width: u32, height: u32, rgba: Vec<u8>) -> Image {
    let mut image = Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        rgba,
        TextureFormat::Rgba8Unorm,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    );
    // Frames smaller than the viewport are enlarged with bilinear filtering, not in nearest-neighbour blocks.
    image.sampler = ImageSampler::linear();
    image
}

/// The quad and the camera that draws it. `decode_srgb` must match the camera's target (true for a window).
pub fn spawn_composite(
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<CompositeMaterial>,
    material: CompositeMaterial,
    camera: Camera,
    viewport: Option<Viewport>,
) -> (Entity, Handle<CompositeMaterial>) {
    let handle = materials.add(material);
    commands.spawn((
        Name::new("composite quad"),
        Mesh3d(meshes.add(Rectangle::new(2.0, 2.0))),
        MeshMaterial3d(handle.clone()),
        Transform::from_xyz(0.0, 0.0, -1.0),
        RenderLayers::layer(COMPOSITE_LAYER),
    ));
    let camera = commands
        .spawn((
            Name::new("composite camera"),
            crate::scene::HandtwinCamera,
            Camera3d::default(),
            Camera {
                viewport,
                // Blended over the 3D view: opaque (alpha 1) in every mode but "residual over the scene".
                output_mode: bevy::camera::CameraOutputMode::Write {
                    blend_state: Some(bevy::render::render_resource::BlendState::ALPHA_BLENDING),
                    clear_color: ClearColorConfig::None,
                },
                clear_color: ClearColorConfig::Custom(Color::NONE),
                ..camera
            },
            Projection::Orthographic(OrthographicProjection {
                scaling_mode: ScalingMode::Fixed {
                    width: 2.0,
                    height: 2.0,
                },
                ..OrthographicProjection::default_3d()
            }),
            Transform::IDENTITY,
            Tonemapping::None,
            DebandDither::Disabled,
            Msaa::Off,
            RenderLayers::layer(COMPOSITE_LAYER),
        ))
        .id();
    (camera, handle)
}
