//! The timeline: the loaded camera path drawn in the viewport (path and frustums), a bottom panel to scrub,
//! play, loop and step through it, and the "view through the ego camera" mode that shows exactly what the
//! streams will see.

use super::camera_control::ViewerCamera;
use super::notifications::Notifications;
use crate::action::{CameraFrame, DenseCameraPath};
use crate::streams::{PinholeProjection, StreamSettings};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use std::path::PathBuf;

/// Ask the viewer to load a camera path.
#[derive(Message, Clone, Debug)]
pub struct OpenCameraPath(pub PathBuf);

/// The action being authored: for now its camera path, resampled to the stream settings' frame count.
#[derive(Resource, Default)]
pub struct Timeline {
    pub path: Option<DenseCameraPath>,
    pub source: Option<PathBuf>,
    /// The path at the clip's frame count (what the streams render).
    pub frames: Vec<CameraFrame>,
    pub current: usize,
    pub playing: bool,
    pub looping: bool,
    pub ego_view: bool,
    /// Seconds since the last frame step while playing.
    accumulated: f64,
    /// Earlier and undone states of the path, for undo and redo.
    undo: Vec<(Option<DenseCameraPath>, Option<PathBuf>)>,
    redo: Vec<(Option<DenseCameraPath>, Option<PathBuf>)>,
}

impl Timeline {
    /// Replaces the path (an undoable edit).
    pub fn replace_path(
        &mut self,
        path: Option<DenseCameraPath>,
        source: Option<PathBuf>,
        settings: &StreamSettings,
    ) {
        let previous = (self.path.take(), self.source.take());
        self.undo.push(previous);
        self.redo.clear();
        self.set_path(path, source, settings);
    }

    fn set_path(
        &mut self,
        path: Option<DenseCameraPath>,
        source: Option<PathBuf>,
        settings: &StreamSettings,
    ) {
        self.frames = path
            .as_ref()
            .map(|p| resampled(p, settings))
            .unwrap_or_default();
        self.current = self.current.min(self.frames.len().saturating_sub(1));
        self.path = path;
        self.source = source;
        self.playing = false;
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self, settings: &StreamSettings) {
        if let Some((path, source)) = self.undo.pop() {
            self.redo.push((self.path.take(), self.source.take()));
            self.set_path(path, source, settings);
        }
    }

    pub fn redo(&mut self, settings: &StreamSettings) {
        if let Some((path, source)) = self.redo.pop() {
            self.undo.push((self.path.take(), self.source.take()));
            self.set_path(path, source, settings);
        }
    }

    pub fn current_frame(&self) -> Option<&CameraFrame> {
        self.frames.get(self.current)
    }

    fn step(&mut self, delta: isize) {
        if self.frames.is_empty() {
            return;
        }
        let last = self.frames.len() as isize - 1;
        let next = self.current as isize + delta;
        self.current = if self.looping {
            next.rem_euclid(last + 1)
        } else {
            next.clamp(0, last)
        } as usize;
    }
}

pub struct TimelinePlugin;

impl Plugin for TimelinePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<OpenCameraPath>()
            .init_resource::<Timeline>()
            .add_systems(
                Update,
                (
                    open_camera_path,
                    resample_to_settings,
                    play,
                    keyboard_shortcuts,
                    draw_path,
                ),
            )
            .add_systems(
                PostUpdate,
                apply_ego_view.before(bevy::transform::TransformSystems::Propagate),
            );
    }
}

fn open_camera_path(
    mut requests: MessageReader<OpenCameraPath>,
    mut timeline: ResMut<Timeline>,
    settings: Res<StreamSettings>,
    mut notifications: ResMut<Notifications>,
) {
    let Some(OpenCameraPath(file)) = requests.read().last().cloned() else {
        return;
    };
    match DenseCameraPath::load(&file) {
        Ok(path) => {
            notifications.info(format!(
                "loaded camera path {} ({} frames)",
                file.display(),
                path.frames.len()
            ));
            timeline.replace_path(Some(path), Some(file), &settings);
            timeline.current = 0;
        }
        // The previous path stays loaded.
        Err(error) => notifications.error(error.to_string()),
    }
}

fn resampled(path: &DenseCameraPath, settings: &StreamSettings) -> Vec<CameraFrame> {
    path.resampled(settings.frame_count)
        .into_iter()
        .map(|mut frame| {
            frame.intrinsics = frame.intrinsics.resized(settings.width, settings.height);
            frame
        })
        .collect()
}

fn resample_to_settings(mut timeline: ResMut<Timeline>, settings: Res<StreamSettings>) {
    if !settings.is_changed() {
        return;
    }
    if let Some(path) = &timeline.path {
        let frames = resampled(path, &settings);
        timeline.current = timeline.current.min(frames.len().saturating_sub(1));
        timeline.frames = frames;
    }
}

fn play(mut timeline: ResMut<Timeline>, time: Res<Time<Real>>, settings: Res<StreamSettings>) {
    if !timeline.playing || timeline.frames.is_empty() {
        timeline.accumulated = 0.0;
        return;
    }
    timeline.accumulated += time.delta_secs_f64();
    let period = 1.0 / settings.fps;
    while timeline.accumulated >= period {
        timeline.accumulated -= period;
        if !timeline.looping && timeline.current + 1 >= timeline.frames.len() {
            timeline.playing = false;
            break;
        }
        timeline.step(1);
    }
}

fn keyboard_shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    mut timeline: ResMut<Timeline>,
    mut egui: EguiContexts,
    settings: Res<StreamSettings>,
) {
    if egui
        .ctx_mut()
        .is_ok_and(|ctx| ctx.egui_wants_keyboard_input())
    {
        return;
    }
    let control = keys.pressed(KeyCode::ControlLeft) || keys.pressed(KeyCode::ControlRight);
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    if control && keys.just_pressed(KeyCode::KeyZ) {
        if shift {
            timeline.redo(&settings)
        } else {
            timeline.undo(&settings)
        }
    }
    if control && keys.just_pressed(KeyCode::KeyY) {
        timeline.redo(&settings);
    }
    if timeline.frames.is_empty() {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        timeline.playing = !timeline.playing;
    }
    if keys.just_pressed(KeyCode::ArrowRight) || keys.just_pressed(KeyCode::Period) {
        timeline.playing = false;
        timeline.step(1);
    }
    if keys.just_pressed(KeyCode::ArrowLeft) || keys.just_pressed(KeyCode::Comma) {
        timeline.playing = false;
        timeline.step(-1);
    }
    if keys.just_pressed(KeyCode::Home) {
        timeline.current = 0;
    }
    if keys.just_pressed(KeyCode::End) {
        timeline.current = timeline.frames.len() - 1;
    }
    if keys.just_pressed(KeyCode::KeyL) {
        timeline.looping = !timeline.looping;
    }
    if keys.just_pressed(KeyCode::KeyV) {
        timeline.ego_view = !timeline.ego_view;
    }
}

/// The camera path in the viewport: a polyline through the camera centres and a frustum every few frames,
/// the current one highlighted.
fn draw_path(timeline: Res<Timeline>, mut gizmos: Gizmos) {
    if timeline.ego_view || timeline.frames.is_empty() {
        return;
    }
    let centres: Vec<Vec3> = timeline
        .frames
        .iter()
        .map(|f| Vec3::from(f.world_from_camera.translation))
        .collect();
    gizmos.linestrip(centres.iter().copied(), Color::srgb(0.95, 0.8, 0.2));
    let every = (timeline.frames.len() / 8).max(1);
    for (index, frame) in timeline.frames.iter().enumerate() {
        let current = index == timeline.current;
        if index % every != 0 && !current && index + 1 != timeline.frames.len() {
            continue;
        }
        let color = if current {
            Color::srgb(1.0, 0.35, 0.2)
        } else {
            Color::srgba(0.9, 0.9, 0.95, 0.6)
        };
        draw_frustum(&mut gizmos, frame, if current { 0.22 } else { 0.12 }, color);
    }
}

fn draw_frustum(gizmos: &mut Gizmos, frame: &CameraFrame, depth: f32, color: Color) {
    let k = &frame.intrinsics;
    let corner = |u: f32, v: f32| {
        let local = Vec3::new((u - k.cx) / k.fx * depth, (k.cy - v) / k.fy * depth, -depth);
        frame.world_from_camera.transform_point3(local)
    };
    let (w, h) = (k.width as f32, k.height as f32);
    let corners = [
        corner(0.0, 0.0),
        corner(w, 0.0),
        corner(w, h),
        corner(0.0, h),
    ];
    let apex = Vec3::from(frame.world_from_camera.translation);
    for i in 0..4 {
        gizmos.line(apex, corners[i], color);
        gizmos.line(corners[i], corners[(i + 1) % 4], color);
    }
    // A tick on the top edge shows which way is up.
    let top = (corners[0] + corners[1]) * 0.5;
    gizmos.line(
        top,
        top + frame.world_from_camera.transform_vector3(Vec3::Y) * depth * 0.25,
        color,
    );
}

/// Through the ego camera the viewport shows the current frame exactly (pose and intrinsics); leaving it
/// hands the camera back to the orbit/fly controls.
fn apply_ego_view(
    timeline: Res<Timeline>,
    mut cameras: Query<(&ViewerCamera, &mut Transform, &mut Projection)>,
    settings: Res<StreamSettings>,
    mut was_ego: Local<bool>,
) {
    let Ok((controller, mut transform, mut projection)) = cameras.single_mut() else {
        return;
    };
    match (timeline.ego_view, timeline.current_frame()) {
        (true, Some(frame)) => {
            *transform = Transform::from_matrix(Mat4::from(frame.world_from_camera));
            *projection = Projection::custom(PinholeProjection::new(frame.intrinsics));
            *was_ego = true;
        }
        _ if *was_ego => {
            *transform = controller.transform();
            let fov = settings.intrinsics().vertical_fov_degrees().to_radians();
            *projection = Projection::Perspective(PerspectiveProjection {
                fov,
                near: 0.02,
                ..default()
            });
            *was_ego = false;
        }
        _ => {}
    }
}

/// The bottom panel (drawn by the panel system, inside the window's root `Ui`).
pub(super) fn timeline_ui(
    root: &mut egui::Ui,
    timeline: &mut Timeline,
    settings: &StreamSettings,
    open: &mut MessageWriter<super::file_open::ShowOpenDialog>,
    recorder: &super::recording::Recorder,
    record: &mut MessageWriter<super::recording::ToggleRecording>,
    save: &mut MessageWriter<super::recording::SavePath>,
) {
    let edit_buttons =
        |ui: &mut egui::Ui,
         timeline: &mut Timeline,
         record: &mut MessageWriter<super::recording::ToggleRecording>,
         save: &mut MessageWriter<super::recording::SavePath>| {
            let label = if recorder.is_recording() {
                format!(
                    "⏹ Stop ({:.1} / {:.1} s)",
                    recorder.elapsed(),
                    settings.duration_seconds()
                )
            } else {
                "⏺ Record".to_string()
            };
            if ui
                .button(label)
                .on_hover_text(
                    "R: record the viewport camera for the clip's duration (fly with Tab, W/A/S/D)",
                )
                .clicked()
            {
                record.write(super::recording::ToggleRecording);
            }
            if ui
                .add_enabled(timeline.path.is_some(), egui::Button::new("Save path…"))
                .clicked()
            {
                save.write(super::recording::SavePath);
            }
            if ui
                .add_enabled(timeline.can_undo(), egui::Button::new("Undo"))
                .on_hover_text("Undo (Ctrl+Z)")
                .clicked()
            {
                timeline.undo(settings);
            }
            if ui
                .add_enabled(timeline.can_redo(), egui::Button::new("Redo"))
                .on_hover_text("Redo (Ctrl+Shift+Z)")
                .clicked()
            {
                timeline.redo(settings);
            }
        };
    egui::Panel::bottom("timeline").resizable(false).show(root, |ui| {
        ui.add_space(4.0);
        if timeline.frames.is_empty() {
            ui.horizontal(|ui| {
                ui.label("No camera path loaded.");
                if ui.button("Open camera path…").clicked() {
                    open.write(super::file_open::ShowOpenDialog);
                }
                edit_buttons(ui, timeline, record, save);
                ui.label(egui::RichText::new("or drop a handtwin.camera_path .json on the window").weak());
            });
            ui.add_space(4.0);
            return;
        }
        let last = timeline.frames.len() - 1;
        ui.horizontal(|ui| {
            if ui.button(if timeline.playing { "⏸ Pause" } else { "▶ Play" }).on_hover_text("Space").clicked() {
                timeline.playing = !timeline.playing;
            }
            if ui.button("⏮").on_hover_text("Home").clicked() {
                timeline.current = 0;
            }
            if ui.button("◀").on_hover_text("Left or ,").clicked() {
                timeline.step(-1);
            }
            if ui.button("▶").on_hover_text("Right or .").clicked() {
                timeline.step(1);
            }
            if ui.button("⏭").on_hover_text("End").clicked() {
                timeline.current = last;
            }
            let mut looping = timeline.looping;
            ui.toggle_value(&mut looping, "Loop").on_hover_text("L");
            timeline.looping = looping;
            let mut ego = timeline.ego_view;
            ui.toggle_value(&mut ego, "👁 Ego camera").on_hover_text("V: view through the camera of the current frame");
            timeline.ego_view = ego;
            ui.separator();
            ui.monospace(format!(
                "frame {:>3} / {}   {:.3} s / {:.3} s",
                timeline.current,
                last,
                timeline.current as f64 / settings.fps,
                last as f64 / settings.fps
            ));
            ui.separator();
            edit_buttons(ui, timeline, record, save);
            if let Some(source) = &timeline.source {
                ui.separator();
                ui.label(egui::RichText::new(source.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())).weak());
            }
        });
        let mut current = timeline.current;
        ui.spacing_mut().slider_width = (ui.available_width() - 80.0).max(100.0);
        if ui.add(egui::Slider::new(&mut current, 0..=last).show_value(true)).changed() {
            timeline.playing = false;
            timeline.current = current;
        }
        ui.label(
            egui::RichText::new("Space play/pause · Left/Right or ,/. step · Home/End · L loop · V ego camera · R record · Ctrl+Z/Ctrl+Shift+Z undo/redo · Tab orbit/fly")
                .small()
                .weak(),
        );
        ui.add_space(2.0);
    });
}
