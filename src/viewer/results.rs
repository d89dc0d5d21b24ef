//! Captured streams and generated clips in the viewer: capture the two conditioning streams for the current
//! camera path on a background thread (the viewport stays interactive), show them — and generated clips —
//! through the composite pass synced to the timeline, and export the DWM sample folder.

use super::composite::{
    CompositeMaterial, CompositeMode, CompositePlugin, CompositeSettings, frame_image, mask_image,
    spawn_composite,
};
use super::messages::{CaptureStreams, ExportSample};
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::scene_view::CurrentScene;
use super::timeline::Timeline;
use crate::action::CameraFrame;
use crate::scene::SceneSource;
use crate::streams::{RenderedStreams, StreamRenderer, StreamRequest, StreamSettings};
use crate::video::{DwmSample, Ffmpeg, Frames, SampleWriteOptions};
use crate::world_model::composite::Composite;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use crossbeam_channel::{Receiver, unbounded};
use std::path::PathBuf;
use std::time::Instant;

/// What a capture thread reports.
enum CaptureMessage {
    Progress(usize, usize),
    Done(Result<RenderedStreams, String>),
}

/// The streams and clips the viewer holds for the current action.
#[derive(Resource, Default)]
pub struct Results {
    pub streams: Option<RenderedStreams>,
    pub generated: Option<Frames>,
    /// The residual composite of `generated` and its mask.
    pub composite: Option<Composite>,
    pub generated_b: Option<Frames>,
    pub ground_truth: Option<Frames>,
    /// Show the composite over the viewport.
    pub showing: bool,
    pub mode: CompositeMode,
    pub wipe: f32,
    pub heat_gain: f32,
    capture: Option<(Receiver<CaptureMessage>, Instant)>,
    pub capture_progress: Option<(usize, usize)>,
    /// The frame whose textures are uploaded, and for which clips.
    shown: Option<(usize, u64)>,
    revision: u64,
    /// What the captured streams were rendered from (see [`action_key`]).
    pub streams_key: Option<u64>,
    /// Generated clips (and their composites) by action, settings and generation choices.
    pub cache: std::collections::HashMap<u64, (Frames, Option<Composite>)>,
    capture_key: Option<u64>,
    export: Option<Task<Option<rfd::FileHandle>>>,
}

/// A fingerprint of what the streams are rendered from: the scene, every camera frame and the stream settings.
pub fn action_key(
    timeline: &Timeline,
    settings: &StreamSettings,
    scene: &SceneSource,
    hands: &super::hands::HandRig,
    placement: &super::scene_view::ScenePlacementState,
    overlay: Option<&std::path::Path>,
) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{scene:?}{:?}{overlay:?}", placement.placement).hash(&mut hasher);
    hands.key().hash(&mut hasher);
    for frame in &timeline.frames {
        for value in frame.world_from_camera.to_cols_array() {
            value.to_bits().hash(&mut hasher);
        }
        let k = &frame.intrinsics;
        (
            k.width,
            k.height,
            k.fx.to_bits(),
            k.fy.to_bits(),
            k.cx.to_bits(),
            k.cy.to_bits(),
        )
            .hash(&mut hasher);
    }
    (
        settings.width,
        settings.height,
        settings.frame_count,
        settings.fps.to_bits(),
    )
        .hash(&mut hasher);
    hasher.finish()
}

impl Results {
    pub fn is_capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// The clips changed: upload their frames again.
    pub fn invalidate(&mut self) {
        self.revision += 1;
    }
}

/// The composite quad, camera and textures.
#[derive(Resource)]
struct CompositeView {
    camera: Entity,
    material: Handle<CompositeMaterial>,
    images: [Handle<Image>; 7],
}

pub struct ResultsPlugin;

impl Plugin for ResultsPlugin {
    fn build(&self, app: &mut App) {
        app.add_side_panel_section(50, results_section);
        app.add_plugins(CompositePlugin)
            .insert_resource(Results {
                wipe: 0.5,
                heat_gain: 4.0,
                ..default()
            })
            .add_systems(Startup, spawn_composite_view)
            .add_systems(
                Update,
                (
                    start_capture,
                    poll_capture,
                    update_composite,
                    start_export,
                    finish_export,
                ),
            );
    }
}

fn spawn_composite_view(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<CompositeMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    let blank = || {
        Frames::black(1, 2, 2, 8.0)
            .ok()
            .and_then(|f| frame_image(&f, 0))
            .unwrap_or_default()
    };
    let handles = [(); 7].map(|_| images.add(blank()));
    let material = CompositeMaterial {
        settings: CompositeSettings {
            decode_srgb: 1,
            ..default()
        },
        static_frame: handles[0].clone(),
        hand_frame: handles[1].clone(),
        generated_frame: handles[2].clone(),
        truth_frame: handles[3].clone(),
        generated_b_frame: handles[4].clone(),
        composite_frame: handles[5].clone(),
        mask_frame: handles[6].clone(),
    };
    // Drawn after the 3D view (order 1) and before the UI (order 2 is egui's).
    let camera = Camera {
        order: 1,
        is_active: false,
        ..default()
    };
    let (camera, material) = spawn_composite(
        &mut commands,
        &mut meshes,
        &mut materials,
        material,
        camera,
        None,
    );
    commands.insert_resource(CompositeView {
        camera,
        material,
        images: handles,
    });
}

fn start_capture(
    mut requests: MessageReader<CaptureStreams>,
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    scene: Res<CurrentScene>,
    settings: Res<StreamSettings>,
    mut notifications: ResMut<Notifications>,
    rig_and_placement: (
        Res<super::hands::HandRig>,
        Res<super::scene_view::ScenePlacementState>,
    ),
) {
    let (rig, placement) = rig_and_placement;
    if requests.read().last().is_none() || results.is_capturing() {
        return;
    }
    if timeline.frames.is_empty() {
        notifications.error("load a camera path before capturing the streams".into());
        return;
    }
    let cameras: Vec<CameraFrame> = timeline.frames.clone();
    let scene_state_overlay = scene.overlay.as_ref().map(|(_, path)| path.clone());
    // The hands ride with the camera: per frame, from their tracks or the panel's pose.
    let hands: Vec<_> = (0..cameras.len())
        .map(|i| rig.meshes_in_camera_at(i as f64 / settings.fps, cameras.get(i)))
        .collect();
    let scene: SceneSource = scene.source.clone();
    let world_from_scene = placement.placement.world_from_scene();
    let overlay = scene_state_overlay.clone();
    let scene_source_for_key = scene.clone();
    let fps = settings.fps;
    let (sender, receiver) = unbounded();
    let spawned = std::thread::Builder::new()
        .name("handtwin-capture".into())
        .spawn(move || {
            let result = (|| {
                let mut renderer = StreamRenderer::new_placed(Some(&scene), world_from_scene)
                    .map_err(|e| e.to_string())?;
                if let Some(path) = &overlay {
                    // Splats over a mesh scene go through the mesh pipeline (linearised colours).
                    let cloud = SceneSource::File(path.clone())
                        .load_splats()
                        .map_err(|e| e.to_string())?;
                    let transform = bevy::prelude::Transform::from_matrix(
                        bevy::prelude::Mat4::from(world_from_scene),
                    );
                    renderer.add_splats(std::sync::Arc::new(cloud), transform, false);
                }
                let request = StreamRequest {
                    cameras: &cameras,
                    hands: &hands,
                    fps,
                };
                renderer
                    .render(&request, &mut |done, total| {
                        sender.send(CaptureMessage::Progress(done, total)).ok();
                    })
                    .map_err(|e| e.to_string())
            })();
            sender.send(CaptureMessage::Done(result)).ok();
        });
    match spawned {
        Ok(_) => {
            results.capture_key = Some(action_key(
                &timeline,
                &settings,
                &scene_source_for_key,
                &rig,
                &placement,
                scene_state_overlay.as_deref(),
            ));
            results.capture = Some((receiver, Instant::now()));
            results.capture_progress = Some((0, timeline.frames.len()));
        }
        Err(error) => notifications.error(format!("could not start the capture thread: {error}")),
    }
}

fn poll_capture(mut results: ResMut<Results>, mut notifications: ResMut<Notifications>) {
    let Some((receiver, started)) = &results.capture else {
        return;
    };
    let started = *started;
    let messages: Vec<CaptureMessage> = receiver.try_iter().collect();
    for message in messages {
        match message {
            CaptureMessage::Progress(done, total) => results.capture_progress = Some((done, total)),
            CaptureMessage::Done(result) => {
                results.capture = None;
                results.capture_progress = None;
                match result {
                    Ok(streams) => {
                        notifications.info(format!(
                            "captured {} frames of both streams in {:.1} s",
                            streams.static_video.frame_count(),
                            started.elapsed().as_secs_f64()
                        ));
                        results.streams = Some(streams);
                        results.streams_key = results.capture_key.take();
                        results.generated = None;
                        results.composite = None;
                        results.generated_b = None;
                        results.showing = true;
                        results.mode = CompositeMode::Static;
                        results.revision += 1;
                    }
                    Err(error) => notifications.error(format!("capture failed: {error}")),
                }
            }
        }
    }
}

/// How far the viewport camera may be from the path camera before the residual over the scene is gone: it is
/// full within the first distance (metres) and angle (radians) and fades out by the second.
const FADE_DISTANCE: (f32, f32) = (0.01, 0.15);
const FADE_ANGLE: (f32, f32) = (0.02, 0.2);

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// How much of the residual belongs in the viewport: 1 at the path camera of the current frame, fading to 0 as
/// the viewport camera moves or turns away from it (a residual belongs to the camera it was generated for).
pub fn residual_fade(viewport: &GlobalTransform, path_camera: &CameraFrame) -> f32 {
    let (_, rotation, eye) = viewport.to_scale_rotation_translation();
    let path_eye = Vec3::from(path_camera.world_from_camera.translation);
    let path_rotation = Quat::from_mat3a(&path_camera.world_from_camera.matrix3).normalize();
    let distance = eye.distance(path_eye);
    let angle = rotation.normalize().angle_between(path_rotation);
    (1.0 - smoothstep(FADE_DISTANCE.0, FADE_DISTANCE.1, distance))
        * (1.0 - smoothstep(FADE_ANGLE.0, FADE_ANGLE.1, angle))
}

/// Where the viewport's pixels fall in the path camera's image, as frame uv = offset + scale · viewport uv, from
/// the viewport camera's projection (any pinhole-like matrix: ndc = (P00·x + P02·z, P11·y + P12·z) / −z) and the
/// frame's intrinsics.
pub fn frame_mapping(clip_from_view: &Mat4, path_camera: &CameraFrame) -> (Vec2, Vec2) {
    let k = &path_camera.intrinsics;
    let (p00, p02, p11, p12) = (
        clip_from_view.x_axis.x,
        clip_from_view.z_axis.x,
        clip_from_view.y_axis.y,
        clip_from_view.z_axis.y,
    );
    if p00 == 0.0 || p11 == 0.0 {
        return (Vec2::ZERO, Vec2::ONE);
    }
    let (w, h) = (k.width as f32, k.height as f32);
    // A view ray (d.x, d.y, −1): ndc.x = P00·d.x − P02 with ndc.x = 2u − 1; the image point is cx + fx·d.x,
    // and (rows down) cy − fy·d.y with ndc.y = 1 − 2v.
    let scale = Vec2::new(2.0 * k.fx / (p00 * w), 2.0 * k.fy / (p11 * h));
    let offset = Vec2::new(
        (k.cx + k.fx * (p02 - 1.0) / p00) / w,
        (k.cy - k.fy * (1.0 + p12) / p11) / h,
    );
    (offset, scale)
}

/// Uploads the current frame of every clip and points the composite camera at the 3D viewport.
#[allow(clippy::too_many_arguments)] // a Bevy system takes its resources as arguments
fn update_composite(
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    view: Res<CompositeView>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<CompositeMaterial>>,
    mut cameras: Query<&mut Camera, Without<super::camera_control::ViewerCamera>>,
    viewport_cameras: Query<(&Camera, &GlobalTransform), With<super::camera_control::ViewerCamera>>,
) {
    let viewport_camera = viewport_cameras.iter().next();
    let viewport = viewport_camera.and_then(|(c, _)| c.viewport.clone());
    let active = results.showing && results.streams.is_some();
    if let Ok(mut camera) = cameras.get_mut(view.camera) {
        camera.is_active = active;
        camera.viewport = viewport;
    }
    if !active {
        return;
    }
    let Some(streams) = &results.streams else {
        return;
    };
    let frame = timeline
        .current
        .min(streams.static_video.frame_count().saturating_sub(1));
    let has_truth = results.ground_truth.is_some();
    let has_mask = results.composite.is_some();
    if results.shown != Some((frame, results.revision)) {
        let clips: [Option<&Frames>; 6] = [
            Some(&streams.static_video),
            Some(&streams.hand_video),
            results.generated.as_ref(),
            results.ground_truth.as_ref(),
            results.generated_b.as_ref(),
            results.composite.as_ref().map(|c| &c.frames),
        ];
        for (handle, clip) in view.images.iter().zip(clips) {
            if let Some(image) =
                clip.and_then(|c| frame_image(c, frame.min(c.frame_count().saturating_sub(1))))
            {
                images.insert(handle.id(), image).ok();
            }
        }
        if let Some(image) = results
            .composite
            .as_ref()
            .and_then(|c| mask_image(&c.mask, frame.min(c.mask.frames.saturating_sub(1))))
        {
            images.insert(view.images[6].id(), image).ok();
        }
        let revision = results.revision;
        results.shown = Some((frame, revision));
    }
    // The residual over the scene follows the viewport camera every frame (it moves without the timeline).
    let (fade, (frame_offset, frame_scale)) = match (viewport_camera, timeline.current_frame()) {
        (Some((camera, transform)), Some(path_camera)) => (
            residual_fade(transform, path_camera),
            frame_mapping(&camera.clip_from_view(), path_camera),
        ),
        _ => (0.0, (Vec2::ZERO, Vec2::ONE)),
    };
    if let Some(mut material) = materials.get_mut(&view.material) {
        material.set_mode(results.mode, results.wipe, results.heat_gain);
        material.settings.has_truth = u32::from(has_truth);
        material.settings.has_mask = u32::from(has_mask);
        material.settings.fade = fade;
        material.settings.frame_offset = frame_offset;
        material.settings.frame_scale = frame_scale;
    }
}

fn start_export(mut requests: MessageReader<ExportSample>, mut results: ResMut<Results>) {
    if requests.read().last().is_none() || results.export.is_some() || results.streams.is_none() {
        return;
    }
    let dialog = rfd::AsyncFileDialog::new().set_title("Export the DWM sample to a folder");
    results.export = Some(AsyncComputeTaskPool::get().spawn(dialog.pick_folder()));
}

fn finish_export(
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    mut notifications: ResMut<Notifications>,
) {
    let Some(task) = results.export.as_mut() else {
        return;
    };
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    results.export = None;
    let Some(folder) = picked.map(|f| f.path().to_path_buf()) else {
        return;
    };
    let Some(streams) = &results.streams else {
        return;
    };
    let stem = timeline
        .source
        .as_ref()
        .and_then(|p| p.file_stem())
        .map_or_else(
            || "action".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
    let sample = DwmSample {
        stem,
        static_video: streams.static_video.clone(),
        hand_video: streams.hand_video.clone(),
        ground_truth: results.ground_truth.clone(),
        prompt: None,
    };
    match export(&sample, &folder, results.generated.as_ref()) {
        Ok(written) => notifications.info(format!("exported {}", written.display())),
        Err(error) => {
            notifications.error(format!("export to {} failed: {error:#}", folder.display()))
        }
    }
}

fn export(
    sample: &DwmSample,
    folder: &std::path::Path,
    generated: Option<&Frames>,
) -> anyhow::Result<PathBuf> {
    let ffmpeg = Ffmpeg::from_env();
    let paths = sample.write(folder, &SampleWriteOptions::default(), &ffmpeg)?;
    if let Some(generated) = generated {
        // The generated clip, and DWM's comparison video: static | hands | generated | ground truth.
        let mut clips = vec![&sample.static_video, &sample.hand_video, generated];
        if let Some(truth) = &sample.ground_truth {
            clips.push(truth);
        }
        let comparison = crate::video::side_by_side(&clips)?;
        for (folder_name, clip) in [("generated", generated), ("comparison", &comparison)] {
            let path = folder
                .join(folder_name)
                .join(format!("{}.mp4", sample.stem));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            crate::video::write_video_with(
                clip,
                &path,
                &crate::video::Mp4Options::video(),
                &ffmpeg,
            )?;
        }
    }
    Ok(paths
        .static_video
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| folder.to_path_buf(), |p| p.to_path_buf()))
}

/// The side panel's section for captured streams and generated clips.
pub(super) fn results_ui(
    ui: &mut bevy_egui::egui::Ui,
    results: &mut Results,
    has_path: bool,
    capture: &mut MessageWriter<CaptureStreams>,
    export: &mut MessageWriter<ExportSample>,
) {
    use bevy_egui::egui;
    ui.strong("Conditioning streams");
    match results.capture_progress {
        Some((done, total)) => {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .text(format!("capturing {done}/{total}")),
            );
        }
        None => {
            let button = ui.add_enabled(has_path, egui::Button::new("Capture streams"));
            let button = button.on_hover_text(
                "Render the static and hand streams along the camera path (in the background)",
            );
            if !has_path {
                button.on_disabled_hover_text("load a camera path first");
            } else if button.clicked() {
                capture.write(CaptureStreams);
            }
        }
    }
    if results.streams.is_none() {
        return;
    }
    ui.checkbox(&mut results.showing, "Show over the viewport");
    let available: Vec<CompositeMode> = CompositeMode::ALL
        .into_iter()
        .filter(|mode| match mode {
            CompositeMode::Generated | CompositeMode::ResidualHeatMap | CompositeMode::Wipe => {
                results.generated.is_some()
            }
            CompositeMode::Composite | CompositeMode::OverScene => results.composite.is_some(),
            CompositeMode::CompareAb => {
                results.generated.is_some() && results.generated_b.is_some()
            }
            _ => true,
        })
        .collect();
    egui::ComboBox::from_label("view")
        .selected_text(results.mode.label())
        .show_ui(ui, |ui| {
            for mode in available {
                ui.selectable_value(&mut results.mode, mode, mode.label());
            }
        });
    if matches!(results.mode, CompositeMode::Wipe | CompositeMode::CompareAb) {
        ui.add(egui::Slider::new(&mut results.wipe, 0.0..=1.0).text("wipe"));
    }
    if let Some(composite) = &results.composite {
        ui.label(format!(
            "the composite takes {:.1}% of its pixels from the model",
            100.0 * composite.mask.coverage()
        ))
        .on_hover_text(
            "Only where the model changed the scene (its output minus its own no-action output, above its VAE's \
             noise, near the hands) do generated pixels replace the static stream; everywhere else the scene stays \
             sharp. \"residual over the scene\" draws them over the live render through the ego camera.",
        );
    }
    if results.mode == CompositeMode::ResidualHeatMap {
        ui.add(
            egui::Slider::new(&mut results.heat_gain, 1.0..=20.0)
                .logarithmic(true)
                .text("gain"),
        );
    }
    if ui
        .button("Export sample…")
        .on_hover_text("videos_static/, videos_hands/ (and generated/) in DWM's layout")
        .clicked()
    {
        export.write(ExportSample);
    }
}

/// The side panel's section for the conditioning streams and the composite view.
fn results_section(
    InMut(ui): InMut<bevy_egui::egui::Ui>,
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    mut capture: MessageWriter<CaptureStreams>,
    mut export: MessageWriter<ExportSample>,
) {
    results_ui(
        ui,
        &mut results,
        !timeline.frames.is_empty(),
        &mut capture,
        &mut export,
    );
}
