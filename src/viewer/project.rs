//! Projects in the viewer: open, save, save as (`handtwin.project` JSON, written atomically), recent projects,
//! autosave every minute to a side file (`<name>.autosave.json`, never over the user's file), and a prompt for
//! unsaved changes when the window closes.
//!
//! A project holds the scene and its placement, one action (the timeline's camera path and the hands as posed
//! in the hand panel, attached to the camera), the stream settings, and the Candidates section's candidates and
//! goal (a goal taken from a frame is written beside the project as `<name>.goal.png` when it is saved).

use super::candidates::{Candidates, Goal, read_goal_image};
use super::hands::{HandRig, HandState};
use super::messages::OpenScene;
use super::messages::ProjectCommand;
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::scene_view::{CurrentScene, ScenePlacementState};
use super::timeline::Timeline;
use crate::action::{
    Action, CameraPath, HandTrack, NamedAction, Project, RecentProjects, SceneReference,
    WristFrame, recent_projects_path,
};
use crate::hand::Side;
use crate::scene::SceneSource;
use crate::streams::StreamSettings;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy::window::WindowCloseRequested;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const AUTOSAVE_EVERY: Duration = Duration::from_secs(60);
/// How often the project is compared with what was saved (serialising it every frame would be waste).
const DIRTY_CHECK_EVERY: Duration = Duration::from_millis(500);

enum Dialog {
    Open(Task<Option<rfd::FileHandle>>),
    SaveAs(Task<Option<rfd::FileHandle>>),
}

#[derive(Resource)]
pub struct ProjectState {
    pub path: Option<PathBuf>,
    /// The JSON last saved or opened; the project is dirty when the current JSON differs.
    saved_json: String,
    pub dirty: bool,
    last_check: Option<Instant>,
    last_autosave: Instant,
    autosaved_json: Option<String>,
    pub recent: RecentProjects,
    dialog: Option<Dialog>,
    /// The window was asked to close with unsaved changes.
    quit_prompt: bool,
    /// Close once the save (possibly through the save dialog) succeeds.
    quit_after_save: bool,
    /// A project was just opened: the next snapshot of the viewer is what was opened (the viewer holds the
    /// project in its own form — the camera path resampled to frames — so the file's JSON is not it).
    opened: bool,
}

impl ProjectState {
    /// Notes the project as it is now (`json`): dirty when it differs from what was saved or opened; returns the
    /// side file to autosave it to when that is due — a named project, changed, not autosaved with this content
    /// yet, and a minute since the last autosave (the time is taken as the autosave's).
    fn note_snapshot(&mut self, json: &str, now: Instant) -> Option<PathBuf> {
        if std::mem::take(&mut self.opened) {
            self.saved_json = json.to_string();
        }
        self.dirty = json != self.saved_json;
        let due = self.dirty
            && now.duration_since(self.last_autosave) >= AUTOSAVE_EVERY
            && self.autosaved_json.as_deref() != Some(json);
        let path = self.path.as_ref().filter(|_| due)?;
        self.last_autosave = now;
        Some(crate::action::autosave_path(path))
    }
}

impl Default for ProjectState {
    fn default() -> Self {
        let recent = recent_projects_path()
            .and_then(|path| RecentProjects::load(&path).ok())
            .unwrap_or_default();
        Self {
            path: None,
            saved_json: String::new(),
            dirty: false,
            last_check: None,
            last_autosave: Instant::now(),
            autosaved_json: None,
            recent,
            dialog: None,
            quit_prompt: false,
            quit_after_save: false,
            opened: false,
        }
    }
}

pub struct ProjectPlugin;

impl Plugin for ProjectPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ProjectState>()
            .add_systems(Startup, remember_empty_project)
            .add_systems(
                Update,
                (
                    shortcuts,
                    run_commands,
                    finish_dialogs,
                    check_dirty_and_autosave,
                    close_requests,
                )
                    .chain(),
            )
            .add_systems(EguiPrimaryContextPass, quit_prompt_ui)
            .add_side_panel_section(0, project_section);
    }
}

/// The pieces of the viewer a project is made of.
struct Snapshot<'a> {
    scene: &'a CurrentScene,
    placement: &'a ScenePlacementState,
    timeline: &'a Timeline,
    rig: &'a HandRig,
    settings: &'a StreamSettings,
    candidates: &'a Candidates,
    /// Where the project is (or is being) saved: names a goal taken from a frame.
    path: Option<&'a Path>,
}

impl Snapshot<'_> {
    fn project(&self) -> Project {
        let scene = match &self.scene.source {
            SceneSource::Bundled => None,
            SceneSource::File(path) => Some(SceneReference {
                path: path.clone(),
                world_from_scene: glam::Affine3A::IDENTITY,
                placement: self.placement.placement,
            }),
        };
        let mut actions = Vec::new();
        let mut candidates = Vec::new();
        if let Some(dense) = &self.timeline.path
            && let Ok(camera) = CameraPath::from_dense(dense)
        {
            let mut action = Action::new(camera);
            action.frame_count = self.settings.frame_count;
            action.fps = self.settings.fps;
            for side in [Side::Left, Side::Right] {
                if !self.rig.shown.shows(side) {
                    continue;
                }
                if let Some(track) = self.rig.track(side) {
                    match side {
                        Side::Left => action.left = Some(track.clone()),
                        Side::Right => action.right = Some(track.clone()),
                    }
                    continue;
                }
                let state = self.rig.state(side);
                let keyframe = state.keyframe(side, 0.0, state.camera_from_hand(side));
                if let Ok(track) = HandTrack::new(side, vec![], WristFrame::Camera, vec![keyframe])
                {
                    match side {
                        Side::Left => action.left = Some(track),
                        Side::Right => action.right = Some(track),
                    }
                }
            }
            for candidate in &self.candidates.list {
                let mut candidate_action = action.clone();
                candidate_action.left = candidate.tracks[0].clone();
                candidate_action.right = candidate.tracks[1].clone();
                candidates.push(NamedAction {
                    name: candidate.name.clone(),
                    action: candidate_action,
                });
            }
            actions.push(NamedAction {
                name: "action 1".into(),
                action,
            });
        }
        let mut settings = serde_json::Map::new();
        settings.insert("width".into(), self.settings.width.into());
        settings.insert("height".into(), self.settings.height.into());
        settings.insert("frame_count".into(), self.settings.frame_count.into());
        settings.insert("fps".into(), self.settings.fps.into());
        settings.insert(
            "horizontal_fov_degrees".into(),
            f64::from(self.settings.horizontal_fov_degrees).into(),
        );
        Project {
            scene,
            actions,
            settings,
            candidates,
            goal: self.candidates.goal_reference(self.path),
        }
    }
}

type ViewerParts<'w> = (
    Res<'w, CurrentScene>,
    Res<'w, ScenePlacementState>,
    Res<'w, Timeline>,
    Res<'w, HandRig>,
    Res<'w, StreamSettings>,
    Res<'w, Candidates>,
);

fn snapshot_json(parts: &ViewerParts, path: Option<&Path>) -> String {
    let (scene, placement, timeline, rig, settings, candidates) = parts;
    Snapshot {
        scene,
        placement,
        timeline,
        rig,
        settings,
        candidates,
        path,
    }
    .project()
    .to_json()
}

fn remember_empty_project(mut state: ResMut<ProjectState>, parts: ViewerParts) {
    state.saved_json = snapshot_json(&parts, None);
}

fn shortcuts(keys: Res<ButtonInput<KeyCode>>, mut commands: MessageWriter<ProjectCommand>) {
    let control = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    if control && keys.just_pressed(KeyCode::KeyS) {
        let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
        commands.write(if shift {
            ProjectCommand::SaveAs
        } else {
            ProjectCommand::Save
        });
    }
    if control && keys.just_pressed(KeyCode::KeyO) {
        commands.write(ProjectCommand::Open);
    }
}

fn save_to(
    state: &mut ProjectState,
    path: &Path,
    json: String,
    candidates: &Candidates,
    notifications: &mut Notifications,
) -> bool {
    if let Err(error) = candidates.write_goal_beside(path) {
        notifications.error(error);
        return false;
    }
    match crate::action::write_atomically(path, json.as_bytes()) {
        Ok(()) => {
            notifications.info(format!("saved {}", path.display()));
            state.path = Some(path.to_owned());
            state.saved_json = json;
            state.dirty = false;
            state.recent.add(path);
            if let Some(list) = recent_projects_path() {
                state.recent.save(&list).ok();
            }
            true
        }
        Err(error) => {
            notifications.error(format!("could not save {}: {error}", path.display()));
            false
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_commands(
    mut commands: MessageReader<ProjectCommand>,
    mut state: ResMut<ProjectState>,
    scene: Res<CurrentScene>,
    mut notifications: ResMut<Notifications>,
    mut open_scene: MessageWriter<OpenScene>,
    mut placement: ResMut<ScenePlacementState>,
    mut timeline: ResMut<Timeline>,
    mut rig: ResMut<HandRig>,
    mut settings: ResMut<StreamSettings>,
    mut exit: MessageWriter<AppExit>,
    mut candidates: ResMut<Candidates>,
) {
    let requests: Vec<ProjectCommand> = commands.read().cloned().collect();
    for command in requests {
        match command {
            ProjectCommand::Save => match state.path.clone() {
                Some(path) => {
                    let json = Snapshot {
                        scene: &scene,
                        placement: &placement,
                        timeline: &timeline,
                        rig: &rig,
                        settings: &settings,
                        candidates: &candidates,
                        path: Some(&path),
                    }
                    .project()
                    .to_json();
                    let saved = save_to(&mut state, &path, json, &candidates, &mut notifications);
                    if saved && state.quit_after_save {
                        exit.write(AppExit::Success);
                    }
                }
                None => start_save_as(&mut state),
            },
            ProjectCommand::SaveAs => start_save_as(&mut state),
            ProjectCommand::Open => {
                if state.dialog.is_none() {
                    let dialog = rfd::AsyncFileDialog::new()
                        .set_title("Open a project")
                        .add_filter("handtwin project", &["json"]);
                    state.dialog = Some(Dialog::Open(
                        AsyncComputeTaskPool::get().spawn(dialog.pick_file()),
                    ));
                }
            }
            ProjectCommand::OpenPath(path) => {
                let loaded = Project::load(&path);
                match loaded {
                    Ok(project) => {
                        apply_project(
                            &project,
                            &path,
                            &mut open_scene,
                            &mut placement,
                            &mut timeline,
                            &mut rig,
                            &mut settings,
                        );
                        let list = project
                            .candidates
                            .iter()
                            .map(|c| {
                                (
                                    c.name.clone(),
                                    [c.action.left.clone(), c.action.right.clone()],
                                )
                            })
                            .collect();
                        let goal = project
                            .goal_file(&path)
                            .and_then(|file| match read_goal_image(&file) {
                                Ok(frames) => {
                                    let label = file.file_name().map_or_else(String::new, |n| {
                                        n.to_string_lossy().into_owned()
                                    });
                                    Some(Goal::new(frames, label, project.goal.clone()))
                                }
                                Err(error) => {
                                    notifications.error(format!("the project's goal: {error}"));
                                    None
                                }
                            });
                        candidates.replace(list, goal);
                        notifications.info(format!("opened {}", path.display()));
                        state.path = Some(path.clone());
                        // What was opened is the saved state: the viewer's snapshot of it once the scene
                        // request has gone out (the next check), not the file's text.
                        state.saved_json = project.to_json();
                        state.opened = true;
                        state.dirty = false;
                        state.recent.add(&path);
                        if let Some(list) = recent_projects_path() {
                            state.recent.save(&list).ok();
                        }
                    }
                    Err(error) => notifications.error(error.to_string()),
                }
            }
        }
    }
}

fn start_save_as(state: &mut ProjectState) {
    if state.dialog.is_some() {
        return;
    }
    let name = state.path.as_ref().and_then(|p| p.file_name()).map_or_else(
        || "project.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Save the project")
        .add_filter("handtwin project", &["json"])
        .set_file_name(name);
    state.dialog = Some(Dialog::SaveAs(
        AsyncComputeTaskPool::get().spawn(dialog.save_file()),
    ));
}

#[allow(clippy::too_many_arguments)]
fn apply_project(
    project: &Project,
    path: &Path,
    open_scene: &mut MessageWriter<OpenScene>,
    placement: &mut ScenePlacementState,
    timeline: &mut Timeline,
    rig: &mut HandRig,
    settings: &mut StreamSettings,
) {
    let number = |key: &str| {
        project
            .settings
            .get(key)
            .and_then(serde_json::Value::as_f64)
    };
    if let (Some(w), Some(h)) = (number("width"), number("height"))
        && w >= 1.0
        && h >= 1.0
    {
        settings.width = w as u32;
        settings.height = h as u32;
    }
    if let Some(n) = number("frame_count").filter(|n| *n >= 1.0) {
        settings.frame_count = n as usize;
    }
    if let Some(fps) = number("fps").filter(|f| f.is_finite() && *f > 0.0) {
        settings.fps = fps;
    }
    if let Some(fov) = number("horizontal_fov_degrees").filter(|f| (1.0..179.0).contains(f)) {
        settings.horizontal_fov_degrees = fov as f32;
    }
    let source = project
        .scene_file(path)
        .map_or(SceneSource::Bundled, SceneSource::File);
    open_scene.write(OpenScene(source));
    placement.placement = project
        .scene
        .as_ref()
        .map(|s| s.placement)
        .unwrap_or_default();
    let action = project.actions.first().map(|a| &a.action);
    timeline.replace_path(
        action.map(|a| a.camera.to_dense(a.frame_count, a.fps)),
        None,
        settings,
    );
    if let Some(action) = action {
        let first_camera = action.camera.sample(0.0);
        rig.tracks = [None, None];
        for side in [Side::Left, Side::Right] {
            if let Some(track) = action.hand(side) {
                // A track with several keyframes (or posed in the world) plays along the timeline.
                if track.keyframes().len() > 1 || track.wrist_frame() != WristFrame::Camera {
                    rig.tracks[super::hands::side_index(side)] = Some(track.clone());
                }
                let sample = track.sample(0.0);
                *rig.state_mut(side) = HandState::from_saved(
                    side,
                    &sample.pose,
                    sample.camera_from_hand(&first_camera),
                );
            }
        }
        rig.shown = match (action.left.is_some(), action.right.is_some()) {
            (true, true) => super::hands::HandsShown::Both,
            (true, false) => super::hands::HandsShown::Left,
            (false, true) => super::hands::HandsShown::Right,
            (false, false) => super::hands::HandsShown::None,
        };
    }
}

fn finish_dialogs(
    mut state: ResMut<ProjectState>,
    parts: ViewerParts,
    mut commands: MessageWriter<ProjectCommand>,
    mut notifications: ResMut<Notifications>,
    mut exit: MessageWriter<AppExit>,
) {
    let picked = match state.dialog.as_mut() {
        Some(Dialog::Open(task)) | Some(Dialog::SaveAs(task)) => block_on(poll_once(task)),
        None => return,
    };
    let Some(picked) = picked else {
        return;
    };
    let dialog = state.dialog.take();
    let Some(file) = picked.map(|f| f.path().to_path_buf()) else {
        // Cancelled: a pending quit waits for the user again.
        state.quit_after_save = false;
        return;
    };
    match dialog {
        Some(Dialog::Open(_)) => {
            commands.write(ProjectCommand::OpenPath(file));
        }
        Some(Dialog::SaveAs(_)) => {
            let json = snapshot_json(&parts, Some(&file));
            if save_to(&mut state, &file, json, &parts.5, &mut notifications)
                && state.quit_after_save
            {
                exit.write(AppExit::Success);
            }
        }
        None => {}
    }
}

fn check_dirty_and_autosave(
    mut state: ResMut<ProjectState>,
    parts: ViewerParts,
    mut notifications: ResMut<Notifications>,
) {
    let now = Instant::now();
    if state
        .last_check
        .is_some_and(|t| now.duration_since(t) < DIRTY_CHECK_EVERY)
    {
        return;
    }
    state.last_check = Some(now);
    let json = snapshot_json(&parts, state.path.as_deref());
    if let Some(side) = state.note_snapshot(&json, now) {
        match crate::action::write_atomically(&side, json.as_bytes()) {
            Ok(()) => {
                tracing::debug!("autosaved {}", side.display());
                state.autosaved_json = Some(json);
            }
            Err(error) => {
                notifications.error(format!("could not autosave to {}: {error}", side.display()))
            }
        }
    }
}

fn close_requests(
    mut requests: MessageReader<WindowCloseRequested>,
    mut state: ResMut<ProjectState>,
    parts: ViewerParts,
    mut exit: MessageWriter<AppExit>,
) {
    if requests.read().count() == 0 {
        return;
    }
    let dirty = snapshot_json(&parts, state.path.as_deref()) != state.saved_json;
    if dirty {
        state.quit_prompt = true;
    } else {
        exit.write(AppExit::Success);
    }
}

fn quit_prompt_ui(
    mut contexts: EguiContexts,
    mut state: ResMut<ProjectState>,
    mut commands: MessageWriter<ProjectCommand>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    if !state.quit_prompt {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?.clone();
    let name = state.path.as_ref().map_or_else(
        || "this untitled project".into(),
        |p| p.display().to_string(),
    );
    egui::Window::new("Unsaved changes")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(&ctx, |ui| {
            ui.label(format!("Save the changes to {name} before closing?"));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    // Closes once the save succeeds (after the save dialog for an untitled project).
                    state.quit_after_save = true;
                    commands.write(ProjectCommand::Save);
                }
                if ui.button("Don't save").clicked() {
                    exit.write(AppExit::Success);
                }
                if ui.button("Cancel").clicked() {
                    state.quit_prompt = false;
                    state.quit_after_save = false;
                }
            });
        });
    Ok(())
}

/// The project section of the side panel.
pub fn project_ui(
    ui: &mut egui::Ui,
    state: &ProjectState,
    commands: &mut MessageWriter<ProjectCommand>,
) {
    ui.strong("Project");
    let name = state.path.as_ref().map_or_else(
        || "untitled".to_string(),
        |p| {
            p.file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
        },
    );
    ui.label(if state.dirty {
        format!("{name} • unsaved changes")
    } else {
        name
    });
    ui.horizontal(|ui| {
        if ui.button("Open…").on_hover_text("Ctrl+O").clicked() {
            commands.write(ProjectCommand::Open);
        }
        if ui.button("Save").on_hover_text("Ctrl+S").clicked() {
            commands.write(ProjectCommand::Save);
        }
        if ui
            .button("Save as…")
            .on_hover_text("Ctrl+Shift+S")
            .clicked()
        {
            commands.write(ProjectCommand::SaveAs);
        }
    });
    if !state.recent.paths.is_empty() {
        egui::CollapsingHeader::new("recent projects")
            .id_salt("recent_projects")
            .show(ui, |ui| {
                for path in &state.recent.paths {
                    let label = path.file_name().map_or_else(
                        || path.display().to_string(),
                        |n| n.to_string_lossy().into(),
                    );
                    if ui
                        .link(label)
                        .on_hover_text(path.display().to_string())
                        .clicked()
                    {
                        commands.write(ProjectCommand::OpenPath(path.clone()));
                    }
                }
            });
    }
    ui.label(
        egui::RichText::new("autosaves every minute beside the file (.autosave.json)")
            .small()
            .weak(),
    );
}

/// The side panel's project section.
fn project_section(
    InMut(ui): InMut<egui::Ui>,
    project: Res<ProjectState>,
    mut commands: MessageWriter<ProjectCommand>,
) {
    project_ui(ui, &project, &mut commands);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ProjectState {
        ProjectState {
            path: None,
            saved_json: "saved".into(),
            dirty: false,
            last_check: None,
            last_autosave: Instant::now(),
            autosaved_json: None,
            recent: RecentProjects::default(),
            dialog: None,
            quit_prompt: false,
            quit_after_save: false,
            opened: false,
        }
    }

    #[test]
    fn dirty_follows_the_snapshot_and_autosave_waits_a_minute_for_named_projects() {
        let start = Instant::now();
        let mut unnamed = state();
        assert_eq!(unnamed.note_snapshot("saved", start), None);
        assert!(!unnamed.dirty);
        let later = start + AUTOSAVE_EVERY * 2;
        assert_eq!(
            unnamed.note_snapshot("changed", later),
            None,
            "no file to save beside"
        );
        assert!(unnamed.dirty);

        let mut named = state();
        named.path = Some(PathBuf::from("/p/room.json"));
        named.last_autosave = start;
        assert_eq!(
            named.note_snapshot("changed", start + AUTOSAVE_EVERY / 2),
            None
        );
        assert!(named.dirty);
        let due = start + AUTOSAVE_EVERY;
        assert_eq!(
            named.note_snapshot("changed", due),
            Some(PathBuf::from("/p/room.autosave.json"))
        );
        // Written: the same content is not autosaved again, however long it waits.
        named.autosaved_json = Some("changed".into());
        assert_eq!(
            named.note_snapshot("changed", due + AUTOSAVE_EVERY * 3),
            None
        );
        // Back to what was saved: clean, nothing to autosave.
        assert_eq!(named.note_snapshot("saved", due + AUTOSAVE_EVERY * 5), None);
        assert!(!named.dirty);
    }

    #[test]
    fn a_project_just_opened_is_clean_in_the_viewers_own_form() {
        let mut opened = state();
        opened.opened = true;
        // The viewer's snapshot differs from the file's text (resampled path): still clean.
        assert_eq!(opened.note_snapshot("viewer's form", Instant::now()), None);
        assert!(!opened.dirty);
        assert!(opened.note_snapshot("edited", Instant::now()).is_none());
        assert!(opened.dirty);
    }
}
