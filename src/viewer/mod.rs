//! `viewer`: the Bevy desktop app. One plugin per feature: the scene, the camera controls, the side panel,
//! opening files, toasts.

mod camera_control;
mod candidates;
pub mod composite;
mod file_open;
mod generation;
mod hands;
mod messages;
mod notifications;
mod panel;
mod project;
mod recording;
mod results;
mod scene_view;
mod search;
mod timeline;

pub use camera_control::{CameraMode, ViewerCamera};
pub use messages::{CaptureStreams, ExportSample, OpenCameraPath, OpenScene};
pub use results::Results;
pub use scene_view::CurrentScene;
pub use timeline::Timeline;

use crate::scene::{HandtwinCamera, SceneSetupPlugin, SceneSource, assets_dir};
use crate::streams::StreamSettings;
use anyhow::Context as _;
use bevy::asset::UnapprovedPathMode;
use bevy::camera::CameraOutputMode;
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::light::GlobalAmbientLight;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy_egui::{EguiGlobalSettings, EguiPlugin, PrimaryEguiContext};

/// What the viewer starts with.
#[derive(Clone, Debug)]
pub struct ViewerOptions {
    pub scene: SceneSource,
    pub camera_path: Option<std::path::PathBuf>,
    /// A project to open.
    pub project: Option<std::path::PathBuf>,
    /// Preselected model directory and LoRA folder for generation.
    pub model: Option<std::path::PathBuf>,
    pub lora: Option<std::path::PathBuf>,
    pub steps: Option<usize>,
}

/// Opens the viewer window and runs until it is closed.
pub fn run(options: ViewerOptions) -> anyhow::Result<()> {
    check_display()?;
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "handtwin".into(),
                    resolution: (1600, 900).into(),
                    ..default()
                }),
                // The project plugin closes the window itself, after asking about unsaved changes.
                close_when_requested: false,
                ..default()
            })
            .set(AssetPlugin {
                file_path: assets_dir().to_string_lossy().into_owned(),
                // Users open scenes from anywhere on disk.
                unapproved_path_mode: UnapprovedPathMode::Allow,
                ..default()
            })
            // handtwin installs its own tracing subscriber.
            .disable::<bevy::log::LogPlugin>(),
    )
    .add_plugins(EguiPlugin::default())
    .insert_resource(ClearColor(Color::srgb(0.09, 0.09, 0.1)))
    .insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 300.0,
        ..default()
    })
    .init_resource::<StreamSettings>()
    .add_plugins((
        SceneSetupPlugin,
        messages::MessagesPlugin,
        crate::scene::splat_render::SplatRenderPlugin,
        scene_view::SceneViewPlugin {
            initial: options.scene,
        },
        camera_control::CameraControlPlugin,
        notifications::NotificationsPlugin,
        file_open::FileOpenPlugin,
        panel::PanelPlugin,
        timeline::TimelinePlugin,
        hands::HandsPlugin,
        project::ProjectPlugin,
        results::ResultsPlugin,
        recording::RecordingPlugin,
        generation::GenerationPlugin {
            loader: crate::worker::DwmLoader,
        },
        candidates::CandidatesPlugin,
    ))
    .add_plugins(search::ActionSearchPlugin)
    .add_systems(Startup, spawn_cameras);
    if options.model.is_some() || options.lora.is_some() || options.steps.is_some() {
        let mut choices = generation::GenerationChoices::default();
        if let Some(model) = options.model {
            choices.set_model(model);
        }
        choices.set_lora(options.lora);
        if let Some(steps) = options.steps {
            choices.settings.steps = steps;
        }
        app.insert_resource(choices);
    }
    if let Some(path) = options.project {
        app.add_systems(
            Startup,
            move |mut commands: MessageWriter<messages::ProjectCommand>| {
                commands.write(messages::ProjectCommand::OpenPath(path.clone()));
            },
        );
    }
    if let Some(path) = options.camera_path {
        app.add_systems(Startup, move |mut open: MessageWriter<OpenCameraPath>| {
            open.write(OpenCameraPath(path.clone()));
        });
    }
    app.run();
    Ok(())
}

/// The viewer needs a desktop session; say so instead of letting the windowing library panic.
fn check_display() -> anyhow::Result<()> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if cfg!(target_os = "linux")
        && !set("DISPLAY")
        && !set("WAYLAND_DISPLAY")
        && !set("WAYLAND_SOCKET")
    {
        return Err(anyhow::anyhow!(
            "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set): the viewer needs a desktop session. \
             Run it under xvfb-run for screenshots, or use the headless commands (`handtwin render`)"
        ))
        .context("cannot open the viewer");
    }
    Ok(())
}

fn spawn_cameras(
    mut commands: Commands,
    mut egui_settings: ResMut<EguiGlobalSettings>,
    settings: Res<StreamSettings>,
) {
    // The viewport sees what the streams see: the same vertical field of view as the DWM camera.
    let fov = settings.intrinsics().vertical_fov_degrees().to_radians();
    let controller = ViewerCamera::looking_at(Vec3::new(1.7, 1.9, 1.4), Vec3::new(-0.4, 0.8, -1.3));
    commands.spawn((
        Name::new("viewport camera"),
        HandtwinCamera,
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov,
            near: 0.02,
            ..default()
        }),
        controller.transform(),
        controller,
        Tonemapping::TonyMcMapface,
        Msaa::Sample4,
        // Splat scenes are sorted for this camera every frame.
        crate::scene::splat_render::SplatSortCamera,
    ));
    // egui draws through its own camera over the whole window, so the 3D camera can keep a viewport beside
    // the panel.
    egui_settings.auto_create_primary_context = false;
    commands.spawn((
        Name::new("ui camera"),
        HandtwinCamera,
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 2,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}
