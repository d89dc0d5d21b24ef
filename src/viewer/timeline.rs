//! The timeline: the loaded camera path drawn in the viewport (path and frustums), a bottom panel to scrub,
//! play, loop and step through it, and the "view through the ego camera" mode that shows exactly what the
//! streams will see.

use super::camera_control::ViewerCamera;
use super::messages::OpenCameraPath;
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use crate::action::{CameraFrame, CameraKeyframe, CameraPath, DenseCameraPath};
use crate::streams::{PinholeProjection, StreamSettings};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use std::path::PathBuf;

/// One undoable state of the path: the dense path, the file it came from, and its keyframes when it is drawn.
type PathState = (Option<DenseCameraPath>, Option<PathBuf>, Option<CameraPath>);

/// The action being authored: its camera path (loaded, recorded, or drawn from keyframes), resampled to the
/// stream settings' frame count.
#[derive(Resource, Default)]
pub struct Timeline {
    pub path: Option<DenseCameraPath>,
    pub source: Option<PathBuf>,
    /// The keyframes of a drawn path (clip time in seconds); `path` is sampled from them. A loaded or recorded
    /// path gets keyframes (one per frame) the first time a keyframe is edited.
    pub keys: Option<CameraPath>,
    pub selected_key: Option<usize>,
    /// A keyframe being dragged on the timeline: its index and the time under the pointer.
    dragging_key: Option<(usize, f64)>,
    /// The path at the clip's frame count (what the streams render).
    pub frames: Vec<CameraFrame>,
    pub current: usize,
    pub playing: bool,
    pub looping: bool,
    pub ego_view: bool,
    /// Seconds since the last frame step while playing.
    accumulated: f64,
    /// Earlier and undone states of the path, for undo and redo.
    undo: Vec<PathState>,
    redo: Vec<PathState>,
}

impl Timeline {
    /// Replaces the path (an undoable edit).
    pub fn replace_path(
        &mut self,
        path: Option<DenseCameraPath>,
        source: Option<PathBuf>,
        settings: &StreamSettings,
    ) {
        let previous = self.take_state();
        self.undo.push(previous);
        self.redo.clear();
        self.set_state((path, source, None), settings);
    }

    /// Replaces the keyframes of a drawn path (an undoable edit); the dense path is sampled from them at the
    /// clip's frame count and rate.
    pub fn edit_keys(&mut self, keys: CameraPath, settings: &StreamSettings) {
        let previous = self.take_state();
        self.undo.push(previous);
        self.redo.clear();
        let dense = keys.to_dense(settings.frame_count, settings.fps);
        self.set_state((Some(dense), None, Some(keys)), settings);
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

    fn take_state(&mut self) -> PathState {
        (self.path.take(), self.source.take(), self.keys.take())
    }

    fn set_state(&mut self, (path, source, keys): PathState, settings: &StreamSettings) {
        self.selected_key = self
            .selected_key
            .filter(|&i| keys.as_ref().is_some_and(|k| i < k.keyframes().len()));
        self.keys = keys;
        self.set_path(path, source, settings);
    }

    /// The keyframes to edit: the drawn ones, or the loaded path's frames made into keyframes.
    fn editable_keys(&self) -> Option<CameraPath> {
        if let Some(keys) = &self.keys {
            return Some(keys.clone());
        }
        self.path
            .as_ref()
            .and_then(|dense| CameraPath::from_dense(dense).ok())
    }

    /// Adds a keyframe with the viewport camera at the current time, or re-poses the keyframe already there.
    pub fn key_viewport(
        &mut self,
        world_from_camera: glam::Affine3A,
        settings: &StreamSettings,
    ) -> Result<(), String> {
        let time = self.current as f64 / settings.fps;
        let keyframe = CameraKeyframe::new(time, world_from_camera, settings.intrinsics());
        let half_frame = 0.5 / settings.fps;
        let (keys, index) = match self.editable_keys() {
            None => (
                CameraPath::new(vec![keyframe]).map_err(|e| e.to_string())?,
                0,
            ),
            Some(mut keys) => {
                let existing = keys
                    .keyframes()
                    .iter()
                    .position(|k| (k.time - time).abs() < half_frame);
                let index = match existing {
                    Some(i) => keys.replace(i, keyframe),
                    None => keys.insert(keyframe),
                }
                .map_err(|e| e.to_string())?;
                (keys, index)
            }
        };
        self.edit_keys(keys, settings);
        self.selected_key = Some(index);
        Ok(())
    }

    /// Moves the selected keyframe to the viewport camera (same time).
    pub fn move_selected_key(
        &mut self,
        world_from_camera: glam::Affine3A,
        settings: &StreamSettings,
    ) -> Result<(), String> {
        let (Some(mut keys), Some(index)) = (self.editable_keys(), self.selected_key) else {
            return Err("select a keyframe first".into());
        };
        let old = *keys.keyframes().get(index).ok_or("no such keyframe")?;
        let keyframe = CameraKeyframe::new(old.time, world_from_camera, old.intrinsics);
        let index = keys.replace(index, keyframe).map_err(|e| e.to_string())?;
        self.edit_keys(keys, settings);
        self.selected_key = Some(index);
        Ok(())
    }

    /// Deletes the selected keyframe; deleting the last one clears the path.
    pub fn delete_selected_key(&mut self, settings: &StreamSettings) {
        let (Some(mut keys), Some(index)) = (self.editable_keys(), self.selected_key) else {
            return;
        };
        if keys.keyframes().len() <= 1 {
            self.replace_path(None, None, settings);
        } else if keys.remove(index).is_ok() {
            self.edit_keys(keys, settings);
        }
        self.selected_key = None;
    }

    /// Moves a keyframe in time (re-timing keeps the order of the others).
    pub fn retime_key(&mut self, index: usize, time: f64, settings: &StreamSettings) {
        let Some(mut keys) = self.editable_keys() else {
            return;
        };
        let Some(&old) = keys.keyframes().get(index) else {
            return;
        };
        // Within the clip's frames: the last frame is at (frames − 1) / fps, not at the clip's duration.
        let last_frame = settings.frame_count.saturating_sub(1) as f64 / settings.fps;
        let time = time.clamp(0.0, last_frame);
        let keyframe = CameraKeyframe { time, ..old };
        if let Ok(index) = keys.replace(index, keyframe) {
            self.edit_keys(keys, settings);
            self.selected_key = Some(index);
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self, settings: &StreamSettings) {
        if let Some(state) = self.undo.pop() {
            let current = self.take_state();
            self.redo.push(current);
            self.set_state(state, settings);
        }
    }

    pub fn redo(&mut self, settings: &StreamSettings) {
        if let Some(state) = self.redo.pop() {
            let current = self.take_state();
            self.undo.push(current);
            self.set_state(state, settings);
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
        app.add_bottom_panel(0, timeline_bar);
        app.init_resource::<Timeline>()
            .add_systems(
                Update,
                (
                    open_camera_path,
                    resample_to_settings,
                    play,
                    keyboard_shortcuts,
                    key_shortcut,
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
    // A drawn path is sampled from its keyframes at the new frame count and rate.
    if let Some(keys) = &timeline.keys {
        timeline.path = Some(keys.to_dense(settings.frame_count, settings.fps));
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
    viewport: Query<&ViewerCamera>,
    mut notifications: ResMut<Notifications>,
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
    let pose = viewport
        .single()
        .ok()
        .map(|c| c.transform().compute_affine());
    if keys.just_pressed(KeyCode::KeyM)
        && let Some(pose) = pose
        && let Err(e) = timeline.move_selected_key(pose, &settings)
    {
        notifications.error(e);
    }
    if keys.just_pressed(KeyCode::Delete) {
        timeline.delete_selected_key(&settings);
    }
}

/// K adds a keyframe even before any path exists.
fn key_shortcut(
    keys: Res<ButtonInput<KeyCode>>,
    mut timeline: ResMut<Timeline>,
    mut egui: EguiContexts,
    settings: Res<StreamSettings>,
    viewport: Query<&ViewerCamera>,
    mut notifications: ResMut<Notifications>,
) {
    if !keys.just_pressed(KeyCode::KeyK)
        || egui
            .ctx_mut()
            .is_ok_and(|ctx| ctx.egui_wants_keyboard_input())
    {
        return;
    }
    if let Ok(camera) = viewport.single()
        && let Err(e) = timeline.key_viewport(camera.transform().compute_affine(), &settings)
    {
        notifications.error(e);
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
    // Keyframes of a drawn path: cyan, the selected one brighter and larger.
    if let Some(keys) = &timeline.keys {
        for (index, key) in keys.keyframes().iter().enumerate() {
            let selected = timeline.selected_key == Some(index);
            let color = if selected {
                Color::srgb(0.3, 1.0, 1.0)
            } else {
                Color::srgb(0.2, 0.7, 0.8)
            };
            draw_frustum(
                &mut gizmos,
                &key.frame(),
                if selected { 0.3 } else { 0.18 },
                color,
            );
        }
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

/// What the timeline's buttons ask of other systems: the file dialog, the recorder, the path's save dialog.
/// (Each writer keeps its own world borrow: Bevy gives every system parameter its own lifetime.)
pub(super) struct TimelineRequests<'a, 'o, 'r, 's> {
    pub open: &'a mut MessageWriter<'o, super::messages::ShowOpenDialog>,
    pub record: &'a mut MessageWriter<'r, super::messages::ToggleRecording>,
    pub save: &'a mut MessageWriter<'s, super::messages::SavePath>,
}

/// The bottom panel (drawn by the panel system, inside the window's root `Ui`).
pub(super) fn timeline_ui(
    root: &mut egui::Ui,
    timeline: &mut Timeline,
    settings: &StreamSettings,
    requests: TimelineRequests,
    recorder: &super::recording::Recorder,
    viewport: Option<glam::Affine3A>,
    hand_keys: &[(crate::hand::Side, f64)],
) -> Option<String> {
    let TimelineRequests { open, record, save } = requests;
    let mut problem = None;
    let edit_buttons =
        |ui: &mut egui::Ui,
         timeline: &mut Timeline,
         record: &mut MessageWriter<super::messages::ToggleRecording>,
         save: &mut MessageWriter<super::messages::SavePath>| {
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
                record.write(super::messages::ToggleRecording);
            }
            if ui
                .add_enabled(timeline.path.is_some(), egui::Button::new("Save path…"))
                .clicked()
            {
                save.write(super::messages::SavePath);
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
                    open.write(super::messages::ShowOpenDialog);
                }
                edit_buttons(ui, timeline, record, save);
                if let Some(pose) = viewport
                    && ui
                        .button("+ Key")
                        .on_hover_text("K: start a drawn path with the viewport camera as its first keyframe")
                        .clicked()
                    && let Err(e) = timeline.key_viewport(pose, settings)
                {
                    problem = Some(e);
                }
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
        ui.horizontal(|ui| {
            let pose = viewport;
            if ui
                .add_enabled(pose.is_some(), egui::Button::new("+ Key"))
                .on_hover_text("K: keyframe the viewport camera at the current frame (replaces a keyframe there)")
                .clicked()
                && let Some(pose) = pose
                && let Err(e) = timeline.key_viewport(pose, settings)
            {
                problem = Some(e);
            }
            let selected = timeline.selected_key.is_some();
            if ui
                .add_enabled(selected && pose.is_some(), egui::Button::new("Move key to view"))
                .on_hover_text("M: the selected keyframe takes the viewport camera's pose")
                .clicked()
                && let Some(pose) = pose
                && let Err(e) = timeline.move_selected_key(pose, settings)
            {
                problem = Some(e);
            }
            if ui
                .add_enabled(selected, egui::Button::new("Delete key"))
                .on_hover_text("Delete: remove the selected keyframe")
                .clicked()
            {
                timeline.delete_selected_key(settings);
            }
            if let (Some(index), Some(keys)) = (timeline.selected_key, &timeline.keys)
                && let Some(key) = keys.keyframes().get(index)
            {
                ui.label(format!("key {} of {} at {:.3} s", index + 1, keys.keyframes().len(), key.time));
            }
        });
        keyframe_strip_ui(ui, timeline, settings);
        hand_key_strip_ui(ui, timeline, settings, hand_keys);
        ui.label(
            egui::RichText::new("Space play/pause · Left/Right or ,/. step · Home/End · L loop · V ego camera · R record · K key · M move key · Delete delete key · drag a key to re-time · Ctrl+Z/Ctrl+Shift+Z undo/redo · Tab orbit/fly")
                .small()
                .weak(),
        );
        ui.add_space(2.0);
    });
    problem
}

/// A strip under the scrub bar on which x is clip time (0 to the clip's duration, 8 px margins).
struct TimeStrip {
    rect: egui::Rect,
    duration: f64,
}

impl TimeStrip {
    fn allocate(
        ui: &mut egui::Ui,
        height: f32,
        gray: u8,
        settings: &StreamSettings,
    ) -> (Self, egui::Painter) {
        let (rect, _) = ui.allocate_exact_size(
            egui::vec2(ui.available_width(), height),
            egui::Sense::hover(),
        );
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, egui::Color32::from_gray(gray));
        let duration = settings.duration_seconds().max(1e-6);
        (Self { rect, duration }, painter)
    }

    fn span(&self) -> (f32, f32) {
        (self.rect.left() + 8.0, self.rect.right() - 8.0)
    }

    fn x(&self, t: f64) -> f32 {
        let (left, right) = self.span();
        left + (right - left) * (t / self.duration).clamp(0.0, 1.0) as f32
    }

    fn time(&self, x: f32) -> f64 {
        let (left, right) = self.span();
        ((x - left) / (right - left)).clamp(0.0, 1.0) as f64 * self.duration
    }
}

/// The keyframe markers of a drawn path on a strip under the scrub bar: click selects (and jumps there), dragging
/// re-times (one undo step when released).
fn keyframe_strip_ui(ui: &mut egui::Ui, timeline: &mut Timeline, settings: &StreamSettings) {
    let Some(keys) = timeline.keys.clone() else {
        return;
    };
    let (strip, painter) = TimeStrip::allocate(ui, 18.0, 32, settings);
    let x_of = |t: f64| strip.x(t);
    let t_of = |x: f32| strip.time(x);
    let strip = strip.rect;
    // The current frame.
    let now = x_of(timeline.current as f64 / settings.fps);
    painter.line_segment(
        [
            egui::pos2(now, strip.top()),
            egui::pos2(now, strip.bottom()),
        ],
        egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 90, 50)),
    );
    let mut released = None;
    for (index, key) in keys.keyframes().iter().enumerate() {
        let time = match timeline.dragging_key {
            Some((dragged, t)) if dragged == index => t,
            _ => key.time,
        };
        let centre = egui::pos2(x_of(time), strip.center().y);
        let rect = egui::Rect::from_center_size(centre, egui::vec2(12.0, 16.0));
        let response = ui.interact(
            rect,
            ui.id().with(("keyframe", index)),
            egui::Sense::click_and_drag(),
        );
        if response.clicked() {
            timeline.selected_key = Some(index);
            timeline.playing = false;
            timeline.current = ((key.time * settings.fps).round() as usize)
                .min(timeline.frames.len().saturating_sub(1));
        }
        if response.dragged()
            && let Some(pointer) = response.interact_pointer_pos()
        {
            timeline.dragging_key = Some((index, t_of(pointer.x)));
            timeline.selected_key = Some(index);
        }
        if response.drag_stopped()
            && let Some((dragged, t)) = timeline.dragging_key
            && dragged == index
        {
            released = Some((index, t));
        }
        let selected = timeline.selected_key == Some(index);
        let color = if selected {
            egui::Color32::from_rgb(80, 255, 255)
        } else {
            egui::Color32::from_rgb(50, 170, 200)
        };
        let size = if selected { 6.0 } else { 4.5 };
        painter.add(egui::Shape::convex_polygon(
            vec![
                centre + egui::vec2(0.0, -size),
                centre + egui::vec2(size, 0.0),
                centre + egui::vec2(0.0, size),
                centre + egui::vec2(-size, 0.0),
            ],
            color,
            egui::Stroke::NONE,
        ));
        response.on_hover_text(format!(
            "keyframe {} at {:.3} s (drag to re-time)",
            index + 1,
            key.time
        ));
    }
    if let Some((index, time)) = released {
        timeline.dragging_key = None;
        // Snap to the frame grid so keyframes land on output frames.
        let snapped = (time * settings.fps).round() / settings.fps;
        timeline.retime_key(index, snapped, settings);
    }
}

/// The hand keyframes (left green, right red) on their own strip; clicking one jumps to its frame.
fn hand_key_strip_ui(
    ui: &mut egui::Ui,
    timeline: &mut Timeline,
    settings: &StreamSettings,
    hand_keys: &[(crate::hand::Side, f64)],
) {
    if hand_keys.is_empty() {
        return;
    }
    let (strip, painter) = TimeStrip::allocate(ui, 14.0, 26, settings);
    let x_of = |t: f64| strip.x(t);
    let strip = strip.rect;
    for (index, &(side, time)) in hand_keys.iter().enumerate() {
        let (y, color) = match side {
            crate::hand::Side::Left => (strip.top() + 4.0, egui::Color32::from_rgb(128, 204, 128)),
            crate::hand::Side::Right => {
                (strip.bottom() - 4.0, egui::Color32::from_rgb(204, 102, 102))
            }
        };
        let centre = egui::pos2(x_of(time), y);
        painter.circle_filled(centre, 3.5, color);
        let rect = egui::Rect::from_center_size(centre, egui::vec2(10.0, 8.0));
        let response = ui.interact(
            rect,
            ui.id().with(("hand_key", index)),
            egui::Sense::click(),
        );
        if response.clicked() {
            timeline.playing = false;
            timeline.current = ((time * settings.fps).round() as usize)
                .min(timeline.frames.len().saturating_sub(1));
        }
        response.on_hover_text(format!(
            "{} hand keyframe at {time:.3} s",
            match side {
                crate::hand::Side::Left => "left",
                crate::hand::Side::Right => "right",
            }
        ));
    }
}

/// The timeline bar along the bottom of the window.
#[allow(clippy::too_many_arguments)] // a Bevy system
fn timeline_bar(
    InMut(root): InMut<egui::Ui>,
    mut timeline: ResMut<Timeline>,
    settings: Res<StreamSettings>,
    mut open: MessageWriter<super::messages::ShowOpenDialog>,
    mut record: MessageWriter<super::messages::ToggleRecording>,
    mut save: MessageWriter<super::messages::SavePath>,
    recorder: Res<super::recording::Recorder>,
    cameras: Query<&ViewerCamera>,
    rig: Res<super::hands::HandRig>,
    mut notifications: ResMut<Notifications>,
) {
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
        .map(|camera| camera.transform().compute_affine());
    if let Some(problem) = timeline_ui(
        root,
        &mut timeline,
        &settings,
        TimelineRequests {
            open: &mut open,
            record: &mut record,
            save: &mut save,
        },
        &recorder,
        viewport,
        &hand_keys,
    ) {
        notifications.error(problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Affine3A, Vec3};

    fn at(x: f32) -> Affine3A {
        Affine3A::from_translation(Vec3::new(x, 1.5, 0.0))
    }

    fn keys(timeline: &Timeline) -> Vec<(f64, f32)> {
        timeline
            .keys
            .as_ref()
            .map(|k| {
                k.keyframes()
                    .iter()
                    .map(|k| (k.time, k.translation.x))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn keying_undo_and_redo() {
        let settings = StreamSettings::default();
        let mut timeline = Timeline::default();
        assert!(!timeline.can_undo() && timeline.current_frame().is_none());
        timeline.key_viewport(at(0.0), &settings).unwrap();
        timeline.current = 24;
        timeline.key_viewport(at(1.0), &settings).unwrap();
        timeline.current = 48;
        timeline.key_viewport(at(2.0), &settings).unwrap();
        assert_eq!(timeline.frames.len(), settings.frame_count);
        assert_eq!(keys(&timeline), vec![(0.0, 0.0), (3.0, 1.0), (6.0, 2.0)]);
        // Keying again at a keyed frame re-poses that keyframe.
        timeline.key_viewport(at(5.0), &settings).unwrap();
        assert_eq!(keys(&timeline).len(), 3);
        assert_eq!(keys(&timeline)[2], (6.0, 5.0));
        timeline.undo(&settings);
        timeline.undo(&settings);
        assert_eq!(keys(&timeline), vec![(0.0, 0.0), (3.0, 1.0)]);
        timeline.redo(&settings);
        assert_eq!(keys(&timeline).len(), 3);
        // A new edit drops what was undone.
        timeline.undo(&settings);
        timeline.current = 8;
        timeline.key_viewport(at(9.0), &settings).unwrap();
        assert!(!timeline.can_redo());
        assert_eq!(keys(&timeline)[1], (1.0, 9.0));
        // The dense path passes through the keyframes.
        assert!((timeline.frames[24].world_from_camera.translation.x - 1.0).abs() < 1e-4);
    }

    #[test]
    fn moving_retiming_and_deleting_keys() {
        let settings = StreamSettings::default();
        let mut timeline = Timeline::default();
        assert_eq!(
            timeline.move_selected_key(at(1.0), &settings),
            Err("select a keyframe first".to_string())
        );
        timeline.key_viewport(at(0.0), &settings).unwrap();
        timeline.current = 16;
        timeline.key_viewport(at(1.0), &settings).unwrap();
        assert_eq!(timeline.selected_key, Some(1));
        timeline.move_selected_key(at(3.0), &settings).unwrap();
        assert_eq!(keys(&timeline), vec![(0.0, 0.0), (2.0, 3.0)]);
        // Re-timed past the end: clamped to the clip, the selection follows the key.
        timeline.retime_key(0, 100.0, &settings);
        assert_eq!(keys(&timeline), vec![(2.0, 3.0), (6.0, 0.0)]);
        assert_eq!(timeline.selected_key, Some(1));
        timeline.delete_selected_key(&settings);
        assert_eq!(keys(&timeline), vec![(2.0, 3.0)]);
        timeline.selected_key = Some(0);
        // Deleting the last keyframe clears the path; undo brings it back.
        timeline.delete_selected_key(&settings);
        assert!(timeline.path.is_none() && timeline.frames.is_empty());
        timeline.undo(&settings);
        assert_eq!(keys(&timeline), vec![(2.0, 3.0)]);
    }

    #[test]
    fn stepping_clamps_or_loops() {
        let settings = StreamSettings::default();
        let mut timeline = Timeline::default();
        timeline.step(1);
        assert_eq!(timeline.current, 0);
        timeline.key_viewport(at(0.0), &settings).unwrap();
        let last = settings.frame_count - 1;
        timeline.step(-1);
        assert_eq!(timeline.current, 0);
        timeline.current = last;
        timeline.step(1);
        assert_eq!(timeline.current, last);
        timeline.looping = true;
        timeline.step(1);
        assert_eq!(timeline.current, 0);
        timeline.step(-1);
        assert_eq!(timeline.current, last);
    }
}
