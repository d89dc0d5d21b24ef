//! The side panel: the scene and its statistics, the camera, and the stream settings.

use super::camera_control::{CameraMode, ViewerCamera};
use super::file_open::ShowOpenDialog;
use super::notifications::Notifications;
use super::scene_view::{CurrentScene, OpenScene};
use crate::scene::{SceneLoadState, SceneSource};
use crate::streams::StreamSettings;
use bevy::camera::Viewport;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, side_panel_system);
    }
}

#[allow(clippy::too_many_arguments, clippy::type_complexity)] // a Bevy system: resources as (grouped) arguments
pub(super) fn side_panel_system(
    mut contexts: EguiContexts,
    current: Res<CurrentScene>,
    mut settings: ResMut<StreamSettings>,
    mut notifications: ResMut<Notifications>,
    mut cameras: Query<(&mut ViewerCamera, &mut Camera)>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut show_dialog: MessageWriter<ShowOpenDialog>,
    mut open: MessageWriter<OpenScene>,
    mut timeline: ResMut<super::timeline::Timeline>,
    mut results: ResMut<super::results::Results>,
    mut capture: MessageWriter<super::results::CaptureStreams>,
    mut export: MessageWriter<super::results::ExportSample>,
    recording: (
        Res<super::recording::Recorder>,
        MessageWriter<super::recording::ToggleRecording>,
        MessageWriter<super::recording::SavePath>,
    ),
    generation: (
        Option<ResMut<super::generation::Generation>>,
        ResMut<super::generation::GenerationChoices>,
        MessageWriter<super::generation::Generate>,
    ),
    hands_and_placement: (
        ResMut<super::hands::HandRig>,
        ResMut<super::scene_view::ScenePlacementState>,
        Res<super::project::ProjectState>,
        MessageWriter<super::project::ProjectCommand>,
        MessageWriter<super::scene_view::PickSplats>,
    ),
) -> Result {
    let (mut rig, mut placement, project, mut project_commands, mut pick_splats) =
        hands_and_placement;
    let (recorder, mut record, mut save) = recording;
    let (mut generation, mut choices, mut generate) = generation;
    let ctx = contexts.ctx_mut()?.clone();
    let mut window_ui = egui::Ui::new(
        ctx.clone(),
        "window".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::Panel::left("side_panel")
        .resizable(true)
        .default_size(300.0)
        .show(&mut window_ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("handtwin");
                ui.label(egui::RichText::new("make a static digital twin interactive").weak());
                ui.separator();
                super::project::project_ui(ui, &project, &mut project_commands);
                ui.separator();
                scene_ui(ui, &current, &mut show_dialog, &mut open);
                if !current.source.is_splats() {
                    ui.horizontal(|ui| {
                        if ui
                            .button("Add splats…")
                            .on_hover_text(
                                "show a Gaussian-splat file together with this mesh scene",
                            )
                            .clicked()
                        {
                            pick_splats.write(super::scene_view::PickSplats);
                        }
                        if let Some((_, path)) = &current.overlay {
                            ui.label(
                                egui::RichText::new(format!(
                                    "+ {}",
                                    path.file_name()
                                        .map(|n| n.to_string_lossy().into_owned())
                                        .unwrap_or_default()
                                ))
                                .weak(),
                            );
                        }
                    });
                }
                super::scene_view::placement_ui(ui, &mut placement);
                ui.separator();
                if let Ok((mut camera, _)) = cameras.single_mut() {
                    camera_ui(ui, &mut camera);
                    ui.separator();
                }
                let time = (!timeline.frames.is_empty())
                    .then(|| (timeline.current as f64 / settings.fps, settings.fps));
                super::hands::hands_ui(
                    ui,
                    &mut rig,
                    &mut notifications,
                    time,
                    timeline.current_frame(),
                );
                ui.separator();
                stream_settings_ui(ui, &mut settings);
                ui.separator();
                super::results::results_ui(
                    ui,
                    &mut results,
                    !timeline.frames.is_empty(),
                    &mut capture,
                    &mut export,
                );
                if let Some(generation) = generation.as_deref_mut() {
                    ui.separator();
                    super::generation::generation_ui(
                        ui,
                        generation,
                        &mut choices,
                        &mut generate,
                        !timeline.frames.is_empty(),
                    );
                }
            });
        });
    let hand_keys: Vec<(crate::hand::Side, f64)> =
        [crate::hand::Side::Left, crate::hand::Side::Right]
            .into_iter()
            .flat_map(|side| {
                rig.track(side)
                    .map(|track| {
                        track
                            .keyframes()
                            .iter()
                            .map(|k| (side, k.time))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
    let viewport = cameras
        .single()
        .ok()
        .map(|(camera, _)| camera.transform().compute_affine());
    if let Some(problem) = super::timeline::timeline_ui(
        &mut window_ui,
        &mut timeline,
        &settings,
        super::timeline::TimelineRequests {
            open: &mut show_dialog,
            record: &mut record,
            save: &mut save,
        },
        &recorder,
        viewport,
        &hand_keys,
    ) {
        notifications.error(problem);
    }
    notifications.toasts_ui(&ctx);

    // Keep the 3D view in the space the panels leave rather than under them.
    if let Ok((_, mut camera)) = cameras.single_mut() {
        let scale = window.scale_factor();
        let mut free = window_ui.available_rect_before_wrap();
        // Through the ego camera or over a clip, show exactly the streams' frame: letterbox to their aspect.
        let showing_clip = results.showing && results.streams.is_some();
        if (timeline.ego_view && timeline.current_frame().is_some()) || showing_clip {
            let aspect = settings.width as f32 / settings.height as f32;
            let size = if free.width() / free.height() > aspect {
                egui::vec2(free.height() * aspect, free.height())
            } else {
                egui::vec2(free.width(), free.width() / aspect)
            };
            free = egui::Rect::from_center_size(free.center(), size);
        }
        let position = UVec2::new(
            (free.min.x * scale).max(0.0) as u32,
            (free.min.y * scale).max(0.0) as u32,
        );
        let size = UVec2::new(
            ((free.width() * scale) as u32)
                .min(window.physical_width().saturating_sub(position.x))
                .max(1),
            ((free.height() * scale) as u32)
                .min(window.physical_height().saturating_sub(position.y))
                .max(1),
        );
        camera.viewport = Some(Viewport {
            physical_position: position,
            physical_size: size,
            ..default()
        });
    }
    Ok(())
}

fn scene_ui(
    ui: &mut egui::Ui,
    current: &CurrentScene,
    show_dialog: &mut MessageWriter<ShowOpenDialog>,
    open: &mut MessageWriter<OpenScene>,
) {
    ui.strong("Scene");
    ui.label(current.source.display_name());
    if let SceneSource::File(path) = &current.source {
        ui.label(
            egui::RichText::new(path.display().to_string())
                .small()
                .weak(),
        );
    }
    match &current.state {
        SceneLoadState::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("loading…");
            });
        }
        SceneLoadState::Failed(reason) => {
            ui.colored_label(egui::Color32::LIGHT_RED, format!("failed: {reason}"));
        }
        SceneLoadState::Loaded => {}
    }
    if let Some(stats) = &current.statistics {
        egui::Grid::new("scene_statistics")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                if stats.splats > 0 {
                    ui.label("splats");
                    ui.label(stats.splats.to_string());
                    ui.end_row();
                } else {
                    ui.label("meshes");
                    ui.label(stats.meshes.to_string());
                    ui.end_row();
                    ui.label("triangles");
                    ui.label(stats.triangles.to_string());
                    ui.end_row();
                    ui.label("vertices");
                    ui.label(stats.vertices.to_string());
                    ui.end_row();
                    ui.label("materials");
                    ui.label(stats.materials.to_string());
                    ui.end_row();
                    ui.label("lights");
                    ui.label(if stats.lights == 0 {
                        "none (default light added)".to_string()
                    } else {
                        stats.lights.to_string()
                    });
                    ui.end_row();
                }
                if let Some((min, max)) = stats.bounds {
                    let size = max - min;
                    ui.label("size");
                    ui.label(format!("{:.2} × {:.2} × {:.2} m", size.x, size.y, size.z));
                    ui.end_row();
                }
            });
    }
    ui.horizontal(|ui| {
        if ui
            .button("Open scene…")
            .on_hover_text("glTF / GLB; or drop a file on the window")
            .clicked()
        {
            show_dialog.write(ShowOpenDialog);
        }
        if current.source != SceneSource::Bundled && ui.button("Bundled room").clicked() {
            open.write(OpenScene(SceneSource::Bundled));
        }
    });
}

fn camera_ui(ui: &mut egui::Ui, camera: &mut ViewerCamera) {
    ui.strong("Camera");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut camera.mode, CameraMode::Orbit, "Orbit");
        ui.selectable_value(&mut camera.mode, CameraMode::Fly, "Fly");
        ui.label(egui::RichText::new("Tab").weak());
    });
    let help = match camera.mode {
        CameraMode::Orbit => "left-drag: orbit · right/middle-drag: pan · wheel: zoom",
        CameraMode::Fly => "hold right button: look · W/A/S/D: move · Q/E: down/up · Shift: fast",
    };
    ui.label(egui::RichText::new(help).small().weak());
    if camera.mode == CameraMode::Fly {
        ui.add(
            egui::Slider::new(&mut camera.speed, 0.1..=10.0)
                .logarithmic(true)
                .text("speed m/s"),
        );
    }
    let eye = camera.eye();
    ui.label(format!("eye ({:.2}, {:.2}, {:.2}) m", eye.x, eye.y, eye.z));
}

fn stream_settings_ui(ui: &mut egui::Ui, settings: &mut StreamSettings) {
    ui.strong("Streams");
    egui::Grid::new("stream_settings")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("size");
            ui.horizontal(|ui| {
                ui.add(
                    egui::DragValue::new(&mut settings.width)
                        .range(16..=4096)
                        .speed(16),
                );
                ui.label("×");
                ui.add(
                    egui::DragValue::new(&mut settings.height)
                        .range(16..=4096)
                        .speed(16),
                );
            });
            ui.end_row();
            ui.label("frames");
            ui.add(egui::DragValue::new(&mut settings.frame_count).range(1..=1000));
            ui.end_row();
            ui.label("fps");
            ui.add(
                egui::DragValue::new(&mut settings.fps)
                    .range(1.0..=120.0)
                    .speed(0.5),
            );
            ui.end_row();
            ui.label("horizontal FOV");
            ui.add(
                egui::DragValue::new(&mut settings.horizontal_fov_degrees)
                    .range(10.0..=170.0)
                    .suffix("°"),
            );
            ui.end_row();
        });
    let k = settings.intrinsics();
    ui.label(
        egui::RichText::new(format!(
            "fx = fy = {:.1} px, c = ({:.1}, {:.1}); {:.2} s; vertical FOV {:.1}°",
            k.fx,
            k.cx,
            k.cy,
            settings.duration_seconds(),
            k.vertical_fov_degrees()
        ))
        .small()
        .weak(),
    );
    if let Some(issue) = settings.dwm_compatibility_issue() {
        ui.colored_label(egui::Color32::from_rgb(230, 180, 80), issue);
    }
    if ui.button("DWM defaults").clicked() {
        *settings = StreamSettings::default();
    }
}
