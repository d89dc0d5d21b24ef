//! Offscreen capture of the static-scene stream and the hand stream in one headless Bevy app.
//!
//! Both streams are rendered in the same update for each frame: the scene on render layer 0 through the
//! static camera (PBR, tonemapped, sRGB), the hand meshes on layer 1 through the hand camera (DWM's hand
//! shading, no anti-aliasing, linear 8-bit output). Each frame's pixels are read back through a one-shot
//! `Readback` tagged with its frame index, so no frame can be confused with another.

use super::hand_material::{HandStreamMaterial, HandStreamMaterialPlugin};
use super::projection::PinholeProjection;
use crate::action::{CameraFrame, Intrinsics};
use crate::hand::{HandMesh, Side};
use crate::scene::splat_render::{
    SplatCloudComponent, SplatColorSpace, SplatData, SplatRenderPlugin, SplatSortCamera,
};
use crate::scene::{
    HandtwinCamera, SceneLoadState, SceneSetupPlugin, SceneSource, assets_dir, scene_load_state,
    spawn_scene_in_world,
};
use crate::video::Frames;
use bevy::app::PluginsState;
use bevy::asset::{RenderAssetUsages, UnapprovedPathMode};
use bevy::camera::visibility::{NoFrustumCulling, RenderLayers};
use bevy::camera::{Hdr, RenderTarget};
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::light::GlobalAmbientLight;
use bevy::math::Affine3A;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::render::render_resource::{PipelineCache, PollType, TextureFormat, TextureUsages};
use bevy::render::renderer::RenderDevice;
use bevy::window::ExitCondition;
use bevy::world_serialization::WorldAsset;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use thiserror::Error;

pub(super) const SCENE_LAYER: usize = 0;
pub(super) const HAND_LAYER: usize = 1;
/// Updates allowed for loading and warming up before we give up (each is one rendered frame).
const MAX_WARMUP_UPDATES: usize = 600;
/// Identical consecutive readbacks that prove the renderer has settled (all assets and pipelines ready).
const SETTLED_AFTER: usize = 3;
/// Updates allowed for outstanding readbacks after the last frame.
const MAX_DRAIN_UPDATES: usize = 60;

#[derive(Debug, Error)]
pub enum StreamError {
    #[error(
        "no graphics device could be started ({0}); on a machine without a GPU install Mesa's software Vulkan driver (Debian/Ubuntu: apt install mesa-vulkan-drivers)"
    )]
    NoRenderer(String),
    #[error(transparent)]
    Scene(#[from] crate::scene::SceneError),
    #[error("the camera path is empty: nothing to render")]
    EmptyPath,
    #[error(
        "frame {index} of the camera path is {width}x{height}, but frame 0 is {first_width}x{first_height}; every frame must have the same size"
    )]
    MixedSizes {
        index: usize,
        width: u32,
        height: u32,
        first_width: u32,
        first_height: u32,
    },
    #[error(
        "the hand sequence has {hands} frames but the camera path has {cameras}; give one (possibly empty) set of hand meshes per frame"
    )]
    HandFrameCount { hands: usize, cameras: usize },
    #[error("the renderer did not settle after {0} frames (assets or shaders never became ready)")]
    NotSettled(usize),
    #[error("{missing} frame readbacks never arrived from the GPU")]
    LostReadbacks { missing: usize },
    #[error(
        "the GPU returned {got} bytes for a {width}x{height} frame, expected at least {expected}"
    )]
    ShortReadback {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
    },
    #[error(
        "the part placements have {parts} frames but the camera path has {cameras}; give one (possibly empty) list per frame"
    )]
    PartFrameCount { parts: usize, cameras: usize },
    #[error("part {index} is moved, but the procedural scene has only {part_count} parts")]
    NoSuchPart { index: usize, part_count: usize },
    #[error(transparent)]
    Frames(#[from] crate::video::FramesError),
}

/// The two conditioning videos of one camera path.
#[derive(Clone, Debug)]
pub struct RenderedStreams {
    pub static_video: Frames,
    pub hand_video: Frames,
}

/// What to render: a camera path and, per frame, the hand meshes in that frame's camera space
/// (`point_in_camera`, OpenGL axes: x right, y up, looking down −z).
#[derive(Clone, Copy, Debug)]
pub struct StreamRequest<'a> {
    pub cameras: &'a [CameraFrame],
    /// Empty, or exactly one entry per camera frame.
    pub hands: &'a [Vec<HandMesh>],
    pub fps: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Stream {
    Static,
    Hands,
    /// The scene camera's target in the interaction pass (objects moved, skin hands shown).
    Interaction,
}

/// A readback in flight: which stream and frame it belongs to. `usize::MAX` marks warm-up frames.
#[derive(Component, Clone, Copy)]
struct ReadbackTag {
    stream: Stream,
    frame: usize,
}

/// Read-back pixels by (stream, frame index).
pub(super) type Readbacks = HashMap<(Stream, usize), Vec<u8>>;

#[derive(Resource, Default, Clone)]
pub(super) struct ReadbackSink(pub(super) Arc<Mutex<Readbacks>>);

#[derive(Component)]
struct StaticCamera;

#[derive(Component)]
struct HandCamera;

/// One slot of the hand-mesh pool.
pub(super) struct HandSlot {
    pub(super) entity: Entity,
    pub(super) mesh: Handle<Mesh>,
}

/// A headless renderer for the two streams of one scene. Reuse it for several camera paths of the same scene.
pub struct StreamRenderer {
    pub(super) app: App,
    scene: Option<Handle<WorldAsset>>,
    scene_name: String,
    size: (u32, u32),
    pub(super) static_target: Handle<Image>,
    hand_target: Handle<Image>,
    materials: HashMap<Side, Handle<HandStreamMaterial>>,
    pub(super) hand_slots: Vec<HandSlot>,
    pub(super) sink: ReadbackSink,
    warmup_counter: usize,
    static_format: TextureFormat,
    /// The interaction pass (see `super::interaction`): skin-shaded hands on the scene layer, one per hand slot
    /// and sharing its mesh; the procedural scene's parts with their rest placements, and its lights.
    pub(super) skin_slots: Vec<Entity>,
    pub(super) skin_material: Option<Handle<StandardMaterial>>,
    pub(super) procedural_parts: Vec<(Entity, Transform)>,
    pub(super) procedural_lights: Vec<Entity>,
}

impl StreamRenderer {
    /// Starts a headless renderer and begins loading the scene (`None`: an empty scene, hands only).
    pub fn new(scene: Option<&SceneSource>) -> Result<Self, StreamError> {
        Self::new_placed(scene, Affine3A::IDENTITY)
    }

    /// [`StreamRenderer::new`] with the scene placed in the world by `world_from_scene` (rotation, uniform scale,
    /// translation; see `action::ScenePlacement`).
    pub fn new_placed(
        scene: Option<&SceneSource>,
        world_from_scene: Affine3A,
    ) -> Result<Self, StreamError> {
        let scene_transform = Transform::from_matrix(Mat4::from(world_from_scene));
        let mut app = headless_app(|app| {
            app.add_plugins((
                HandStreamMaterialPlugin,
                SceneSetupPlugin,
                SplatRenderPlugin,
            ));
        })?;
        let sink = ReadbackSink::default();
        app.insert_resource(sink.clone());
        app.insert_resource(GlobalAmbientLight {
            color: Color::WHITE,
            brightness: 300.0,
            ..default()
        });
        app.insert_resource(ClearColor(Color::BLACK));

        let world = app.world_mut();
        let mut materials = HashMap::new();
        for side in [Side::Left, Side::Right] {
            let handle = world
                .resource_mut::<Assets<HandStreamMaterial>>()
                .add(HandStreamMaterial::for_side(side));
            materials.insert(side, handle);
        }
        let static_target = world.resource_mut::<Assets<Image>>().add(target_image(
            1,
            1,
            TextureFormat::Rgba8UnormSrgb,
        ));
        let hand_target = world.resource_mut::<Assets<Image>>().add(target_image(
            1,
            1,
            TextureFormat::Rgba8Unorm,
        ));
        let projection = Projection::custom(PinholeProjection::new(Intrinsics::DWM));
        world.spawn((
            Name::new("static stream camera"),
            StaticCamera,
            HandtwinCamera,
            Camera3d::default(),
            Camera {
                order: 0,
                clear_color: ClearColorConfig::Custom(Color::BLACK),
                ..default()
            },
            RenderTarget::Image(static_target.clone().into()),
            projection.clone(),
            Tonemapping::TonyMcMapface,
            // Dithering adds noise: the streams must be deterministic.
            DebandDither::Disabled,
            Msaa::Sample4,
            RenderLayers::layer(SCENE_LAYER),
            SplatSortCamera,
            // Point-light shadow detail is chosen for this camera (there is no window camera).
            bevy::camera::ShadowLodOrigin,
        ));
        world.spawn((
            Name::new("hand stream camera"),
            HandCamera,
            HandtwinCamera,
            Camera3d::default(),
            Camera {
                order: 1,
                clear_color: ClearColorConfig::Custom(Color::BLACK),
                ..default()
            },
            RenderTarget::Image(hand_target.clone().into()),
            projection,
            // A float intermediate keeps the shader's exact k/255 values; no tonemapping, dithering or
            // anti-aliasing, as DWM's renderer.
            Hdr,
            Tonemapping::None,
            DebandDither::Disabled,
            Msaa::Off,
            RenderLayers::layer(HAND_LAYER),
        ));

        let mut splats = None;
        // Splats inside a glTF scene (KHR_gaussian_splatting) join its meshes as "Add splats" does; alone, they
        // are composited as a splat scene.
        let mut embedded = None;
        let (scene, scene_name) = match scene {
            Some(source) if source.is_splats() => {
                splats = Some(Arc::new(source.load_splats()?));
                (None, source.display_name())
            }
            Some(source) => {
                embedded = source.embedded_splats()?;
                (
                    Some(spawn_scene_in_world(world, source, scene_transform)?),
                    source.display_name(),
                )
            }
            None => (None, "no scene".to_string()),
        };
        let mut renderer = Self {
            app,
            scene,
            scene_name,
            size: (1, 1),
            static_target,
            hand_target,
            materials,
            hand_slots: Vec::new(),
            sink,
            warmup_counter: 0,
            static_format: TextureFormat::Rgba8UnormSrgb,
            skin_slots: Vec::new(),
            skin_material: None,
            procedural_parts: Vec::new(),
            procedural_lights: Vec::new(),
        };
        if let Some(cloud) = splats {
            // 3DGS colours are display values: composite them as 3DGS does.
            renderer.add_splats(cloud, scene_transform, true);
        }
        if let Some((cloud, has_meshes)) = embedded {
            renderer.add_splats(Arc::new(cloud), scene_transform, !has_meshes);
        }
        Ok(renderer)
    }

    /// Renders both streams along the camera path. `progress(done, total)` is called after each frame.
    pub fn render(
        &mut self,
        request: &StreamRequest<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RenderedStreams, StreamError> {
        let (width, height) = check_request(request.cameras, request.hands)?;
        self.resize_targets(width, height);
        self.wait_for_scene()?;

        let no_hands: Vec<HandMesh> = Vec::new();
        let hands_at = |index: usize| request.hands.get(index).unwrap_or(&no_hands);

        // Warm up on frame 0 until the renderer has settled, so frame 0 is already correct.
        self.set_frame(&request.cameras[0], hands_at(0));
        self.settle()?;

        let total = request.cameras.len();
        let mut tags = Vec::with_capacity(total * 2);
        for (index, camera) in request.cameras.iter().enumerate() {
            self.set_frame(camera, hands_at(index));
            tags.push(self.request_readbacks(index));
            self.update();
            self.stop_readbacks(tags.last().copied().into_iter().flatten());
            progress(index + 1, total);
        }
        self.drain(|sink| {
            (0..total).all(|i| {
                sink.contains_key(&(Stream::Static, i)) && sink.contains_key(&(Stream::Hands, i))
            })
        })?;
        for pair in tags {
            for entity in pair {
                self.app.world_mut().despawn(entity);
            }
        }

        let mut results = self
            .sink
            .0
            .lock()
            .map_err(|_| StreamError::LostReadbacks { missing: total * 2 })?;
        let mut static_bytes = Vec::with_capacity(total * (width * height * 3) as usize);
        let mut hand_bytes = Vec::with_capacity(total * (width * height * 3) as usize);
        for index in 0..total {
            let missing = || StreamError::LostReadbacks { missing: 1 };
            let data = results
                .remove(&(Stream::Static, index))
                .ok_or_else(missing)?;
            append_rgb(&mut static_bytes, &data, width, height)?;
            let data = results
                .remove(&(Stream::Hands, index))
                .ok_or_else(missing)?;
            append_rgb(&mut hand_bytes, &data, width, height)?;
        }
        results.clear();
        Ok(RenderedStreams {
            static_video: Frames::new(width, height, request.fps, static_bytes)?,
            hand_video: Frames::new(width, height, request.fps, hand_bytes)?,
        })
    }

    /// The scene's display name.
    /// Adds a Gaussian-splat cloud to the scene, placed by `world_from_splats`.
    ///
    /// With `display_referred`, the static stream is composited as 3DGS does: the splats' colours are written as
    /// they are (no tonemapping, no sRGB encoding; right for splat-only scenes). Otherwise the splats join the
    /// mesh pipeline with linearised colours.
    pub fn add_splats(
        &mut self,
        data: Arc<dyn SplatData>,
        world_from_splats: Transform,
        display_referred: bool,
    ) {
        let world = self.app.world_mut();
        world.insert_resource(SplatColorSpace {
            linearize: !display_referred,
        });
        world.spawn((
            Name::new("splats"),
            SplatCloudComponent { data },
            world_from_splats,
            RenderLayers::layer(SCENE_LAYER),
        ));
        if display_referred {
            let mut cameras = world.query_filtered::<Entity, With<StaticCamera>>();
            let static_cameras: Vec<Entity> = cameras.iter(world).collect();
            for entity in static_cameras {
                world
                    .entity_mut(entity)
                    .insert((Hdr, Tonemapping::None, Msaa::Off));
            }
            world
                .resource_mut::<Assets<Image>>()
                .insert(
                    self.static_target.id(),
                    target_image(self.size.0, self.size.1, TextureFormat::Rgba8Unorm),
                )
                .ok();
            self.static_format = TextureFormat::Rgba8Unorm;
        }
    }

    pub fn scene_name(&self) -> &str {
        &self.scene_name
    }

    pub(super) fn resize_targets(&mut self, width: u32, height: u32) {
        if self.size == (width, height) {
            return;
        }
        let mut images = self.app.world_mut().resource_mut::<Assets<Image>>();
        images
            .insert(
                self.static_target.id(),
                target_image(width, height, self.static_format),
            )
            .ok();
        images
            .insert(
                self.hand_target.id(),
                target_image(width, height, TextureFormat::Rgba8Unorm),
            )
            .ok();
        self.size = (width, height);
    }

    pub(super) fn wait_for_scene(&mut self) -> Result<(), StreamError> {
        let Some(handle) = self.scene.clone() else {
            return Ok(());
        };
        for _ in 0..MAX_WARMUP_UPDATES {
            let state = scene_load_state(self.app.world().resource::<AssetServer>(), &handle);
            match state {
                SceneLoadState::Loaded => return Ok(()),
                SceneLoadState::Failed(reason) => {
                    return Err(crate::scene::SceneError::LoadFailed {
                        name: self.scene_name.clone(),
                        reason,
                    }
                    .into());
                }
                SceneLoadState::Loading => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    self.update();
                }
            }
        }
        Err(StreamError::NotSettled(MAX_WARMUP_UPDATES))
    }

    /// Renders the current state until consecutive readbacks are identical and no pipeline is still compiling.
    pub(super) fn settle(&mut self) -> Result<(), StreamError> {
        let mut previous: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut identical = 0;
        for _ in 0..MAX_WARMUP_UPDATES {
            let frame = usize::MAX - self.warmup_counter;
            self.warmup_counter += 1;
            let tags = self.request_readbacks(frame);
            self.update();
            self.stop_readbacks(tags);
            let key_static = (Stream::Static, frame);
            let key_hands = (Stream::Hands, frame);
            self.drain(|sink| sink.contains_key(&key_static) && sink.contains_key(&key_hands))?;
            for entity in tags {
                self.app.world_mut().despawn(entity);
            }
            let current = {
                let mut sink = self
                    .sink
                    .0
                    .lock()
                    .map_err(|_| StreamError::LostReadbacks { missing: 2 })?;
                match (sink.remove(&key_static), sink.remove(&key_hands)) {
                    (Some(s), Some(h)) => (s, h),
                    _ => return Err(StreamError::LostReadbacks { missing: 2 }),
                }
            };
            let pipelines_idle = self
                .app
                .get_sub_app(bevy::render::RenderApp)
                .and_then(|render| render.world().get_resource::<PipelineCache>())
                .is_none_or(|cache| cache.waiting_pipelines().next().is_none());
            if previous.as_ref() == Some(&current) && pipelines_idle {
                identical += 1;
                if identical + 1 >= SETTLED_AFTER {
                    return Ok(());
                }
            } else {
                identical = 0;
            }
            previous = Some(current);
        }
        Err(StreamError::NotSettled(MAX_WARMUP_UPDATES))
    }

    pub(super) fn set_frame(&mut self, camera: &CameraFrame, hands: &[HandMesh]) {
        let world = self.app.world_mut();
        let transform = Transform::from_matrix(Mat4::from(camera.world_from_camera));
        let projection = Projection::custom(PinholeProjection::new(camera.intrinsics));
        let mut cameras = world.query_filtered::<(&mut Transform, &mut Projection), Or<(With<StaticCamera>, With<HandCamera>)>>();
        for (mut camera_transform, mut camera_projection) in cameras.iter_mut(world) {
            *camera_transform = transform;
            *camera_projection = projection.clone();
        }
        while self.hand_slots.len() < hands.len() {
            let mesh = world
                .resource_mut::<Assets<Mesh>>()
                .add(hand_mesh_asset(None));
            let material = self.materials[&Side::Right].clone();
            let entity = world
                .spawn((
                    Name::new("hand stream mesh"),
                    Mesh3d(mesh.clone()),
                    MeshMaterial3d(material),
                    Transform::IDENTITY,
                    Visibility::Hidden,
                    // The mesh changes every frame; its bounds would go stale.
                    NoFrustumCulling,
                    RenderLayers::layer(HAND_LAYER),
                ))
                .id();
            self.hand_slots.push(HandSlot { entity, mesh });
        }
        for (slot_index, slot) in self.hand_slots.iter().enumerate() {
            match hands.get(slot_index) {
                Some(hand) => {
                    world
                        .resource_mut::<Assets<Mesh>>()
                        .insert(slot.mesh.id(), hand_mesh_asset(Some(hand)))
                        .ok();
                    let material = self.materials[&hand.side].clone();
                    let mut entity = world.entity_mut(slot.entity);
                    entity.insert((transform, Visibility::Visible, MeshMaterial3d(material)));
                }
                None => {
                    world.entity_mut(slot.entity).insert(Visibility::Hidden);
                }
            }
        }
    }

    /// Spawns one-shot readbacks of both targets for `frame`; returns their entities.
    pub(super) fn request_readbacks(&mut self, frame: usize) -> [Entity; 2] {
        [
            self.request_readback(Stream::Static, self.static_target.clone(), frame),
            self.request_readback(Stream::Hands, self.hand_target.clone(), frame),
        ]
    }

    /// Spawns a one-shot readback of `target`, delivered to the sink as (`stream`, `frame`).
    pub(super) fn request_readback(
        &mut self,
        stream: Stream,
        target: Handle<Image>,
        frame: usize,
    ) -> Entity {
        self.app
            .world_mut()
            .spawn((Readback::texture(target), ReadbackTag { stream, frame }))
            .observe(
                move |event: On<ReadbackComplete>,
                      tags: Query<&ReadbackTag>,
                      sink: Res<ReadbackSink>| {
                    let Ok(tag) = tags.get(event.entity) else {
                        return;
                    };
                    if let Ok(mut sink) = sink.0.lock() {
                        // The first delivery is the frame the readback was requested in.
                        sink.entry((tag.stream, tag.frame))
                            .or_insert_with(|| event.data.clone());
                    }
                },
            )
            .id()
    }

    pub(super) fn stop_readbacks(&mut self, entities: impl IntoIterator<Item = Entity>) {
        for entity in entities {
            if let Ok(mut entity) = self.app.world_mut().get_entity_mut(entity) {
                entity.remove::<Readback>();
            }
        }
    }

    /// Updates until `done` holds for the delivered readbacks.
    pub(super) fn drain(
        &mut self,
        done: impl Fn(&HashMap<(Stream, usize), Vec<u8>>) -> bool,
    ) -> Result<(), StreamError> {
        for _ in 0..MAX_DRAIN_UPDATES {
            {
                let sink = self
                    .sink
                    .0
                    .lock()
                    .map_err(|_| StreamError::LostReadbacks { missing: 1 })?;
                if done(&sink) {
                    return Ok(());
                }
            }
            self.update();
        }
        Err(StreamError::LostReadbacks { missing: 1 })
    }

    /// One app update, then wait for the GPU to finish it (so readback maps complete promptly).
    pub(super) fn update(&mut self) {
        self.app.update();
        if let Some(device) = self.app.world().get_resource::<RenderDevice>() {
            device
                .wgpu_device()
                .poll(PollType::Wait {
                    submission_index: None,
                    timeout: None,
                })
                .ok();
        }
    }
}

/// A headless Bevy app with rendering but no window, driven by our own update calls (also used by tests of
/// other render passes). `configure` adds plugins before the app is finished.
pub fn headless_app(configure: impl FnOnce(&mut App)) -> Result<App, StreamError> {
    let build = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut app = App::new();
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: None,
                    exit_condition: ExitCondition::DontExit,
                    ..default()
                })
                .set(RenderPlugin {
                    synchronous_pipeline_compilation: true,
                    ..default()
                })
                .set(AssetPlugin {
                    file_path: assets_dir().to_string_lossy().into_owned(),
                    unapproved_path_mode: UnapprovedPathMode::Allow,
                    ..default()
                })
                .disable::<bevy::winit::WinitPlugin>()
                .disable::<bevy::log::LogPlugin>()
                // One update renders one frame, in order: no render thread running a frame behind.
                .disable::<PipelinedRenderingPlugin>(),
        );
        configure(&mut app);
        while app.plugins_state() == PluginsState::Adding {
            bevy::tasks::tick_global_task_pools_on_main_thread();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        app.finish();
        app.cleanup();
        app
    }));
    let app = build.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the renderer panicked while starting".into());
        StreamError::NoRenderer(message)
    })?;
    if app.world().get_resource::<RenderDevice>().is_none() {
        return Err(StreamError::NoRenderer(
            "no render device was created".into(),
        ));
    }
    Ok(app)
}

/// Checks that every camera frame has frame 0's size and that hands are empty or one set per frame; returns the
/// size.
pub(super) fn check_request(
    cameras: &[CameraFrame],
    hands: &[Vec<HandMesh>],
) -> Result<(u32, u32), StreamError> {
    let first = cameras.first().ok_or(StreamError::EmptyPath)?;
    let (width, height) = (first.intrinsics.width, first.intrinsics.height);
    for (index, frame) in cameras.iter().enumerate() {
        if (frame.intrinsics.width, frame.intrinsics.height) != (width, height) {
            return Err(StreamError::MixedSizes {
                index,
                width: frame.intrinsics.width,
                height: frame.intrinsics.height,
                first_width: width,
                first_height: height,
            });
        }
    }
    if !hands.is_empty() && hands.len() != cameras.len() {
        return Err(StreamError::HandFrameCount {
            hands: hands.len(),
            cameras: cameras.len(),
        });
    }
    Ok((width, height))
}

fn target_image(width: u32, height: u32, format: TextureFormat) -> Image {
    let mut image = Image::new_target_texture(width, height, format, None);
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    image
}

/// A Bevy mesh of a hand (smooth normals); `None` gives a degenerate placeholder triangle.
pub fn hand_mesh_asset(hand: Option<&HandMesh>) -> Mesh {
    let (positions, normals, indices): (Vec<[f32; 3]>, Vec<[f32; 3]>, Vec<u32>) = match hand {
        Some(hand) => (
            hand.vertices().iter().map(|v| v.to_array()).collect(),
            hand.vertex_normals().iter().map(|n| n.to_array()).collect(),
            hand.faces().iter().flatten().copied().collect(),
        ),
        None => (vec![[0.0; 3]; 3], vec![[0.0, 0.0, 1.0]; 3], vec![0, 1, 2]),
    };
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_indices(Indices::U32(indices))
}

/// Appends one RGBA readback as RGB, dropping the row padding (rows are aligned to 256 bytes). Public for
/// tests of other render passes that read back their targets.
pub fn append_rgb(
    out: &mut Vec<u8>,
    data: &[u8],
    width: u32,
    height: u32,
) -> Result<(), StreamError> {
    let row_bytes = width as usize * 4;
    let padded_row = row_bytes.div_ceil(256) * 256;
    let expected = padded_row * (height as usize - 1) + row_bytes;
    if data.len() < expected {
        return Err(StreamError::ShortReadback {
            got: data.len(),
            expected,
            width,
            height,
        });
    }
    for row in data.chunks(padded_row).take(height as usize) {
        for pixel in row[..row_bytes].chunks_exact(4) {
            out.extend_from_slice(&pixel[..3]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_row_padding() {
        // 3 px wide → 12 bytes per row, padded to 256.
        let mut data = vec![0u8; 256 * 2];
        data[..12].copy_from_slice(&[1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
        data[256..268].copy_from_slice(&[10, 11, 12, 255, 13, 14, 15, 255, 16, 17, 18, 255]);
        let mut out = Vec::new();
        append_rgb(&mut out, &data, 3, 2).unwrap();
        assert_eq!(out, (1..=18).collect::<Vec<u8>>());
        assert!(append_rgb(&mut out, &data[..200], 3, 2).is_err());
    }
}
