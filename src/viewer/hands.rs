//! The hands: a panel to choose left/right/both, presets, finger sliders and the wrist pose; the posed hands
//! drawn in the viewport with a skin-like material; and the hand meshes the hand stream renders.
//!
//! The hands are attached to the camera, as in DWM's egocentric data: to the path camera at the current
//! timeline frame when a path is loaded, else to the viewport camera. Their wrist pose is in that camera's
//! frame (x right, y up, −z forward), at a natural reach in front of the eye by default.

use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::timeline::Timeline;
use crate::action::{HandKeyframe, HandTrack, WristFrame};
use crate::hand::placement;
use crate::hand::{
    Finger, HandControls, HandMesh, HandModelSource, HandModels, ManoPose, Preset, Side,
};
use bevy::prelude::*;
use bevy_egui::egui;
use glam::Affine3A;
use std::sync::Arc;

/// Which hands are posed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandsShown {
    None,
    Left,
    Right,
    Both,
}

impl HandsShown {
    pub fn shows(self, side: Side) -> bool {
        matches!(
            (self, side),
            (HandsShown::Both, _)
                | (HandsShown::Left, Side::Left)
                | (HandsShown::Right, Side::Right)
        )
    }
}

/// One hand's authored state.
#[derive(Clone, Debug, PartialEq)]
pub struct HandState {
    pub controls: HandControls,
    /// The preset the controls came from, until a slider moves.
    pub preset: Option<Preset>,
    /// The wrist joint in the camera frame (metres).
    pub wrist_position: Vec3,
    /// Wrist rotation as yaw, pitch, roll (degrees) on top of the side's rest orientation.
    pub wrist_angles: Vec3,
    /// A finger pose that came from a project file rather than the controls; used until a control changes.
    pub imported_pose: Option<ManoPose>,
}

impl HandState {
    fn new(side: Side) -> Self {
        Self {
            controls: Preset::Relaxed.controls(),
            preset: Some(Preset::Relaxed),
            wrist_position: placement::default_wrist_position(side),
            wrist_angles: placement::DEFAULT_WRIST_ANGLES,
            imported_pose: None,
        }
    }

    /// The state that reproduces a saved hand: its finger pose and `camera_from_hand`.
    pub fn from_saved(side: Side, pose: &ManoPose, camera_from_hand: Affine3A) -> Self {
        let (_, rotation, translation) = camera_from_hand.to_scale_rotation_translation();
        let user = rotation
            * placement::camera_from_hand(side, Vec3::ZERO, Vec3::ZERO)
                .to_scale_rotation_translation()
                .1
                .inverse();
        let (yaw, pitch, roll) = user.to_euler(glam::EulerRot::YXZ);
        let mirror = if side == Side::Left { -1.0 } else { 1.0 };
        Self {
            controls: HandControls::default(),
            preset: None,
            wrist_position: translation,
            wrist_angles: Vec3::new(yaw * mirror, pitch, roll * mirror)
                * (180.0 / std::f32::consts::PI),
            imported_pose: Some(ManoPose {
                global_orient: [0.0; 3],
                hand_pose: pose.hand_pose,
            }),
        }
    }

    /// `camera_from_hand`: fingers forward, palm down, then the user's yaw/pitch/roll, at the wrist position.
    pub fn camera_from_hand(&self, side: Side) -> Affine3A {
        placement::camera_from_hand(side, self.wrist_position, self.wrist_angles)
    }

    /// This state as a hand keyframe at time `t`, the wrist placed by `frame_from_hand` (camera or world).
    pub fn keyframe(&self, side: Side, t: f64, frame_from_hand: Affine3A) -> HandKeyframe {
        HandKeyframe::placed(t, frame_from_hand, &self.pose(side))
    }

    pub fn pose(&self, side: Side) -> ManoPose {
        self.imported_pose
            .unwrap_or_else(|| self.controls.pose_for(side))
    }
}

/// The hand model and the hands being puppeteered.
#[derive(Resource)]
pub struct HandRig {
    pub models: Option<Arc<HandModels>>,
    pub source: HandModelSource,
    pub shown: HandsShown,
    pub left: HandState,
    pub right: HandState,
    /// Hand keyframes over the clip (left, right), camera-attached; without a track a hand holds the panel's
    /// pose in every frame.
    pub tracks: [Option<HandTrack>; 2],
    /// Key a hand in the world (it stays put, say on a drawer handle, while the head moves) rather than with
    /// the camera: left, right.
    pub hold_in_world: [bool; 2],
    track_undo: Vec<RigEdit>,
    track_redo: Vec<RigEdit>,
    /// When the last panel edit was recorded: a slider drag is many changes but one undo step.
    last_panel_edit: Option<std::time::Instant>,
    /// The MANO folder typed in the panel.
    mano_dir: String,
}

impl Default for HandRig {
    fn default() -> Self {
        Self {
            models: None,
            source: HandModelSource::discover(),
            shown: HandsShown::Both,
            left: HandState::new(Side::Left),
            right: HandState::new(Side::Right),
            tracks: [None, None],
            hold_in_world: [false, false],
            track_undo: Vec::new(),
            track_redo: Vec::new(),
            last_panel_edit: None,
            mano_dir: crate::hand::default_mano_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        }
    }
}

impl HandRig {
    pub fn state(&self, side: Side) -> &HandState {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    pub fn state_mut(&mut self, side: Side) -> &mut HandState {
        match side {
            Side::Left => &mut self.left,
            Side::Right => &mut self.right,
        }
    }

    pub fn track(&self, side: Side) -> Option<&HandTrack> {
        self.tracks[side_index(side)].as_ref()
    }

    /// A hand at clip time `t`: its finger pose and `camera_from_hand`, from its track when it has one (a
    /// world-frame track needs that frame's camera; without one the hand is placed as if camera-attached).
    pub fn hand_at(
        &self,
        side: Side,
        t: f64,
        camera: Option<&crate::action::CameraFrame>,
    ) -> (ManoPose, Affine3A) {
        match self.track(side) {
            Some(track) => {
                let sample = track.sample(t);
                let finger_pose = ManoPose {
                    global_orient: [0.0; 3],
                    hand_pose: sample.pose.hand_pose,
                };
                let camera_from_hand = match camera {
                    Some(camera) => sample.camera_from_hand(camera),
                    None => sample.frame_from_hand,
                };
                (finger_pose, camera_from_hand)
            }
            None => {
                let state = self.state(side);
                (state.pose(side), state.camera_from_hand(side))
            }
        }
    }

    /// The shown hands posed in camera space at clip time `t` (what the hand stream draws for that frame).
    pub fn meshes_in_camera_at(
        &self,
        t: f64,
        camera: Option<&crate::action::CameraFrame>,
    ) -> Vec<HandMesh> {
        let Some(models) = &self.models else {
            return Vec::new();
        };
        [Side::Left, Side::Right]
            .into_iter()
            .filter(|&side| self.shown.shows(side))
            .filter_map(|side| {
                let (pose, camera_from_hand) = self.hand_at(side, t, camera);
                let mesh = models.get(side).pose_mesh(&pose, &[]).ok()?;
                Some(mesh.transformed(|v| camera_from_hand.transform_point3(v)))
            })
            .collect()
    }

    fn edit_state(&self) -> RigEdit {
        RigEdit {
            left: self.left.clone(),
            right: self.right.clone(),
            tracks: self.tracks.clone(),
            shown: self.shown,
            hold_in_world: self.hold_in_world,
        }
    }

    fn restore(&mut self, edit: RigEdit) {
        self.left = edit.left;
        self.right = edit.right;
        self.tracks = edit.tracks;
        self.shown = edit.shown;
        self.hold_in_world = edit.hold_in_world;
    }

    fn push_track_undo(&mut self) {
        let state = self.edit_state();
        self.track_undo.push(state);
        self.track_redo.clear();
        self.last_panel_edit = None;
    }

    /// Replaces the hand tracks as an edit (one undo step per drag of a control, as panel edits are); shows the
    /// hands that have a track.
    pub fn replace_tracks(&mut self, tracks: [Option<HandTrack>; 2]) {
        let before = self.edit_state();
        self.shown = match (tracks[0].is_some(), tracks[1].is_some()) {
            (true, true) => HandsShown::Both,
            (true, false) => HandsShown::Left,
            (false, true) => HandsShown::Right,
            (false, false) => HandsShown::None,
        };
        self.tracks = tracks;
        self.record_panel_edit(before);
    }

    /// Records a panel edit (preset, slider, wrist, switches) made from `before`, coalescing the stream of
    /// changes of one slider drag into one undo step.
    fn record_panel_edit(&mut self, before: RigEdit) {
        let now = std::time::Instant::now();
        let continuing = self
            .last_panel_edit
            .is_some_and(|t| now.duration_since(t) < std::time::Duration::from_millis(600));
        if !continuing {
            self.track_undo.push(before);
            self.track_redo.clear();
        }
        self.last_panel_edit = Some(now);
    }

    /// Keyframes every shown hand's panel pose at clip time `t` (replacing a keyframe within half a frame),
    /// with the camera or, for a hand held in the world, in the world through that frame's `camera`.
    pub fn key_hands(
        &mut self,
        t: f64,
        fps: f64,
        camera: Option<&crate::action::CameraFrame>,
    ) -> Result<(), String> {
        let mut tracks = self.tracks.clone();
        for side in [Side::Left, Side::Right] {
            if !self.shown.shows(side) {
                continue;
            }
            let state = self.state(side);
            let in_world = self.hold_in_world[side_index(side)];
            let wrist_frame = if in_world {
                WristFrame::World
            } else {
                WristFrame::Camera
            };
            let frame_from_hand = match (in_world, camera) {
                (false, _) => state.camera_from_hand(side),
                (true, Some(camera)) => camera.world_from_camera * state.camera_from_hand(side),
                (true, None) => {
                    return Err(
                        "load or draw a camera path before keying a hand in the world".into(),
                    );
                }
            };
            if let Some(track) = &tracks[side_index(side)]
                && track.wrist_frame() != wrist_frame
            {
                return Err(format!(
                    "the {} hand's keyframes are {}; delete them before keying it {}",
                    if side == Side::Left { "left" } else { "right" },
                    if in_world {
                        "with the camera"
                    } else {
                        "in the world"
                    },
                    if in_world {
                        "in the world"
                    } else {
                        "with the camera"
                    },
                ));
            }
            let keyframe = state.keyframe(side, t, frame_from_hand);
            let slot = &mut tracks[side_index(side)];
            match slot {
                Some(track) => {
                    let existing = track
                        .keyframes()
                        .iter()
                        .position(|k| (k.time - t).abs() < 0.5 / fps);
                    match existing {
                        Some(i) => track.replace(i, keyframe),
                        None => track.insert(keyframe),
                    }
                    .map_err(|e| e.to_string())?;
                }
                None => {
                    *slot = Some(
                        HandTrack::new(side, vec![], wrist_frame, vec![keyframe])
                            .map_err(|e| e.to_string())?,
                    );
                }
            }
        }
        self.push_track_undo();
        self.tracks = tracks;
        Ok(())
    }

    /// Removes the hand keyframes within half a frame of `t`; a track that loses its last keyframe goes.
    pub fn delete_hand_keys_at(&mut self, t: f64, fps: f64) {
        let mut tracks = self.tracks.clone();
        let mut changed = false;
        for slot in &mut tracks {
            let Some(track) = slot else { continue };
            let Some(index) = track
                .keyframes()
                .iter()
                .position(|k| (k.time - t).abs() < 0.5 / fps)
            else {
                continue;
            };
            changed = true;
            if track.keyframes().len() == 1 {
                *slot = None;
            } else {
                track.remove(index).ok();
            }
        }
        if changed {
            self.push_track_undo();
            self.tracks = tracks;
        }
    }

    pub fn undo_hands(&mut self) {
        if let Some(previous) = self.track_undo.pop() {
            let current = self.edit_state();
            self.track_redo.push(current);
            self.restore(previous);
            self.last_panel_edit = None;
        }
    }

    pub fn redo_hands(&mut self) {
        if let Some(next) = self.track_redo.pop() {
            let current = self.edit_state();
            self.track_undo.push(current);
            self.restore(next);
            self.last_panel_edit = None;
        }
    }

    /// A fingerprint of everything that changes the hand stream, so captured streams go stale when it changes.
    pub fn key(&self) -> String {
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}",
            self.source, self.shown, self.left, self.right, self.tracks
        )
    }
}

/// What an undo step of the hand panel restores.
#[derive(Clone, Debug, PartialEq)]
pub struct RigEdit {
    left: HandState,
    right: HandState,
    tracks: [Option<HandTrack>; 2],
    shown: HandsShown,
    hold_in_world: [bool; 2],
}

pub struct HandsPlugin;

impl Plugin for HandsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<HandRig>()
            .add_systems(Startup, (load_models, spawn_hands).chain())
            .add_systems(Update, (update_hand_meshes, place_hands).chain())
            .add_side_panel_section(30, hands_section);
    }
}

/// One drawn hand.
#[derive(Component)]
struct HandView(Side);

pub(super) fn side_index(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

fn load_models(mut rig: ResMut<HandRig>, mut notifications: ResMut<Notifications>) {
    let source = rig.source.clone();
    load_into(&mut rig, source, &mut notifications);
}

fn load_into(rig: &mut HandRig, source: HandModelSource, notifications: &mut Notifications) {
    match HandModels::load(&source) {
        Ok(models) => {
            tracing::info!("hand model: {source}");
            rig.models = Some(Arc::new(models));
            rig.source = source;
        }
        Err(error) => {
            notifications.error(format!("could not load the hand model ({source}): {error}"));
            if rig.models.is_none() {
                // Fall back to the bundled hand, saying so: the app must still have hands.
                if let Ok(models) = HandModels::bundled() {
                    notifications.info("using the bundled hand".into());
                    rig.models = Some(Arc::new(models));
                    rig.source = HandModelSource::Bundled;
                }
            }
        }
    }
}

fn spawn_hands(mut commands: Commands, mut materials: ResMut<Assets<StandardMaterial>>) {
    let skin = materials.add(StandardMaterial {
        base_color: Color::srgb(0.87, 0.66, 0.55),
        perceptual_roughness: 0.55,
        reflectance: 0.35,
        ..default()
    });
    for side in [Side::Left, Side::Right] {
        commands.spawn((
            Name::new(match side {
                Side::Left => "left hand",
                Side::Right => "right hand",
            }),
            HandView(side),
            MeshMaterial3d(skin.clone()),
            Transform::default(),
            Visibility::Hidden,
        ));
    }
}

fn update_hand_meshes(
    mut commands: Commands,
    rig: Res<HandRig>,
    timeline: Res<Timeline>,
    settings: Res<crate::streams::StreamSettings>,
    views: Query<(Entity, &HandView)>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut shown_frame: Local<Option<usize>>,
) {
    // Re-pose when the rig changes, or when the frame changes and a hand follows a track.
    let tracked = rig.tracks.iter().any(Option::is_some);
    let frame_moved = tracked && *shown_frame != Some(timeline.current);
    if !rig.is_changed() && !frame_moved {
        return;
    }
    *shown_frame = Some(timeline.current);
    let Some(models) = &rig.models else {
        return;
    };
    let t = timeline.current as f64 / settings.fps;
    for (entity, view) in &views {
        let side = view.0;
        let (pose, camera_from_hand) = rig.hand_at(side, t, timeline.current_frame());
        let Ok(mesh) = models.get(side).pose_mesh(&pose, &[]) else {
            continue;
        };
        let mesh = mesh.transformed(|v| camera_from_hand.transform_point3(v));
        commands.entity(entity).insert(Mesh3d(
            meshes.add(crate::streams::hand_mesh_asset(Some(&mesh))),
        ));
    }
}

fn place_hands(
    rig: Res<HandRig>,
    timeline: Res<Timeline>,
    viewport: Query<&GlobalTransform, With<super::camera_control::ViewerCamera>>,
    mut views: Query<(&HandView, &mut Transform, &mut Visibility)>,
    mut gizmos: Gizmos,
    settings: Res<crate::streams::StreamSettings>,
) {
    let world_from_camera = match timeline.current_frame() {
        Some(frame) => Transform::from_matrix(Mat4::from(frame.world_from_camera)),
        None => match viewport.single() {
            Ok(camera) => camera.compute_transform(),
            Err(_) => return,
        },
    };
    // The wrist gizmo: the hand's own axes at the wrist joint (red x, green y, blue z), for the wrist sliders.
    for side in [Side::Left, Side::Right] {
        if rig.shown.shows(side) && rig.models.is_some() {
            let t = timeline.current as f64 / settings.fps;
            let (_, camera_from_hand) = rig.hand_at(side, t, timeline.current_frame());
            let wrist = world_from_camera * Transform::from_matrix(Mat4::from(camera_from_hand));
            gizmos.axes(wrist, 0.06);
        }
    }
    for (view, mut transform, mut visibility) in &mut views {
        *transform = world_from_camera;
        *visibility = if rig.shown.shows(view.0) && rig.models.is_some() {
            Visibility::Visible
        } else {
            Visibility::Hidden
        };
    }
}

/// The hand panel.
pub fn hands_ui(
    ui: &mut egui::Ui,
    rig: &mut HandRig,
    notifications: &mut Notifications,
    time: Option<(f64, f64)>,
    camera: Option<&crate::action::CameraFrame>,
) {
    let before = rig.edit_state();
    let undo_depth = rig.track_undo.len();
    hands_panel_ui(ui, rig, notifications, time, camera);
    // Panel edits (not keyframe edits or undo/redo, which record themselves) become undo steps.
    let after = rig.edit_state();
    if after != before && rig.track_undo.len() == undo_depth {
        rig.record_panel_edit(before);
    }
}

fn hands_panel_ui(
    ui: &mut egui::Ui,
    rig: &mut HandRig,
    notifications: &mut Notifications,
    time: Option<(f64, f64)>,
    camera: Option<&crate::action::CameraFrame>,
) {
    ui.heading("Hands");
    if let Some((t, fps)) = time {
        ui.horizontal(|ui| {
            if ui
                .button("Key hands")
                .on_hover_text("keyframe the shown hands' pose and wrist at the current frame")
                .clicked()
                && let Err(e) = rig.key_hands(t, fps, camera)
            {
                notifications.error(e);
            }
            if ui
                .button("Delete hand keys here")
                .on_hover_text("remove the hand keyframes at the current frame")
                .clicked()
            {
                rig.delete_hand_keys_at(t, fps);
            }
            undo_redo_ui(ui, rig);
        });
        let counts: Vec<String> = [Side::Left, Side::Right]
            .into_iter()
            .filter_map(|side| {
                rig.track(side).map(|track| {
                    format!(
                        "{}: {} keys",
                        if side == Side::Left { "left" } else { "right" },
                        track.keyframes().len()
                    )
                })
            })
            .collect();
        ui.label(
            egui::RichText::new(if counts.is_empty() {
                "no hand keyframes: the panel pose holds for the whole clip".to_string()
            } else {
                format!("{} (tracks play with the timeline)", counts.join(", "))
            })
            .small()
            .weak(),
        );
    }
    if time.is_none() {
        ui.horizontal(|ui| undo_redo_ui(ui, rig));
    }
    ui.horizontal(|ui| {
        ui.label("show");
        for (value, label) in [
            (HandsShown::Left, "left"),
            (HandsShown::Right, "right"),
            (HandsShown::Both, "both"),
            (HandsShown::None, "none"),
        ] {
            if ui.selectable_label(rig.shown == value, label).clicked() && rig.shown != value {
                rig.shown = value;
            }
        }
    });
    ui.label(
        egui::RichText::new(format!("model: {}", rig.source))
            .weak()
            .small(),
    );
    egui::CollapsingHeader::new("hand model")
        .id_salt("hand_model")
        .show(ui, |ui| {
            ui.label("MANO folder (MANO_RIGHT.npz, MANO_LEFT.npz from tools/convert_mano.py):");
            ui.text_edit_singleline(&mut rig.mano_dir);
            ui.horizontal(|ui| {
                if ui.button("use MANO").clicked() {
                    let source = HandModelSource::ManoDir(rig.mano_dir.clone().into());
                    load_into(rig, source, notifications);
                }
                if ui.button("use bundled hand").clicked() {
                    load_into(rig, HandModelSource::Bundled, notifications);
                }
            });
        });
    for side in [Side::Left, Side::Right] {
        if !rig.shown.shows(side) {
            continue;
        }
        let title = match side {
            Side::Left => "left hand",
            Side::Right => "right hand",
        };
        egui::CollapsingHeader::new(title)
            .id_salt(title)
            .default_open(side == Side::Right)
            .show(ui, |ui| hand_state_ui(ui, rig, side));
    }
}

fn undo_redo_ui(ui: &mut egui::Ui, rig: &mut HandRig) {
    if ui
        .add_enabled(!rig.track_undo.is_empty(), egui::Button::new("Undo"))
        .on_hover_text("undo the last hand edit (presets, sliders, wrist, keyframes)")
        .clicked()
    {
        rig.undo_hands();
    }
    if ui
        .add_enabled(!rig.track_redo.is_empty(), egui::Button::new("Redo"))
        .clicked()
    {
        rig.redo_hands();
    }
}

fn hand_state_ui(ui: &mut egui::Ui, rig: &mut HandRig, side: Side) {
    let mut state = rig.state(side).clone();
    ui.horizontal_wrapped(|ui| {
        for preset in Preset::ALL {
            if ui
                .selectable_label(state.preset == Some(preset), preset.name())
                .clicked()
            {
                state.controls = preset.controls();
                state.preset = Some(preset);
                state.imported_pose = None;
            }
        }
    });
    egui::Grid::new(("fingers", side as u8))
        .num_columns(3)
        .show(ui, |ui| {
            ui.label("");
            ui.label("curl");
            ui.label("spread");
            ui.end_row();
            for finger in Finger::ALL {
                let mut control = state.controls.finger(finger);
                ui.label(finger.name());
                let curl =
                    ui.add(egui::Slider::new(&mut control.curl, -0.3..=1.2).fixed_decimals(2));
                let spread =
                    ui.add(egui::Slider::new(&mut control.spread, -1.0..=1.0).fixed_decimals(2));
                if curl.changed() || spread.changed() {
                    state.controls.set(finger, control);
                    state.preset = None;
                    state.imported_pose = None;
                }
                ui.end_row();
            }
        });
    ui.label("wrist (camera frame: x right, y up, −z forward)");
    egui::Grid::new(("wrist", side as u8))
        .num_columns(2)
        .show(ui, |ui| {
            for (label, value, range) in [
                ("x (m)", &mut state.wrist_position.x, -0.5..=0.5),
                ("y (m)", &mut state.wrist_position.y, -0.6..=0.3),
                ("z (m)", &mut state.wrist_position.z, -0.9..=-0.05),
            ] {
                ui.label(label);
                ui.add(egui::Slider::new(value, range).fixed_decimals(3));
                ui.end_row();
            }
            for (label, value) in [
                ("yaw (°)", &mut state.wrist_angles.x),
                ("pitch (°)", &mut state.wrist_angles.y),
                ("roll (°)", &mut state.wrist_angles.z),
            ] {
                ui.label(label);
                ui.add(egui::Slider::new(value, -180.0..=180.0).fixed_decimals(0));
                ui.end_row();
            }
        });
    let mut in_world = rig.hold_in_world[side_index(side)];
    if ui
        .checkbox(&mut in_world, "hold in the world when keyed")
        .on_hover_text(
            "keyframes of this hand stay put in the world (a hand on a drawer handle) while the head moves",
        )
        .changed()
    {
        rig.hold_in_world[side_index(side)] = in_world;
    }
    if ui.button("reset wrist").clicked() {
        let fresh = HandState::new(side);
        state.wrist_position = fresh.wrist_position;
        state.wrist_angles = fresh.wrist_angles;
    }
    if &state != rig.state(side) {
        *rig.state_mut(side) = state;
    }
}

/// The side panel's hands section.
fn hands_section(
    InMut(ui): InMut<egui::Ui>,
    mut rig: ResMut<HandRig>,
    mut notifications: ResMut<Notifications>,
    timeline: Res<Timeline>,
    settings: Res<crate::streams::StreamSettings>,
) {
    let time = (!timeline.frames.is_empty())
        .then(|| (timeline.current as f64 / settings.fps, settings.fps));
    hands_ui(
        ui,
        &mut rig,
        &mut notifications,
        time,
        timeline.current_frame(),
    );
}
