//! Recording a camera path: fly the viewport camera and record its pose in real time for the clip's duration;
//! the recording is resampled to the clip's frame rate and becomes the timeline's path (undoable).

use super::camera_control::ViewerCamera;
use super::messages::{SavePath, ToggleRecording};
use super::notifications::Notifications;
use super::timeline::Timeline;
use crate::action::{CameraFrame, DenseCameraPath};
use crate::streams::StreamSettings;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};

#[derive(Resource, Default)]
pub struct Recorder {
    /// Seconds since the recording started, and the camera pose then.
    samples: Vec<(f64, Transform)>,
    started: Option<f64>,
}

impl Recorder {
    pub fn is_recording(&self) -> bool {
        self.started.is_some()
    }

    /// Seconds recorded so far.
    pub fn elapsed(&self) -> f64 {
        self.samples.last().map_or(0.0, |(t, _)| *t)
    }
}

#[derive(Resource, Default)]
struct PendingSave(Option<(Task<Option<rfd::FileHandle>>, DenseCameraPath)>);

pub struct RecordingPlugin;

impl Plugin for RecordingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Recorder>()
            .init_resource::<PendingSave>()
            .add_systems(
                Update,
                (toggle_recording, record_pose, start_save, finish_save),
            );
    }
}

#[allow(clippy::too_many_arguments)] // a Bevy system takes its resources as arguments
fn toggle_recording(
    mut requests: MessageReader<ToggleRecording>,
    keys: Res<ButtonInput<KeyCode>>,
    mut recorder: ResMut<Recorder>,
    mut timeline: ResMut<Timeline>,
    time: Res<Time<Real>>,
    settings: Res<StreamSettings>,
    mut notifications: ResMut<Notifications>,
    mut egui: bevy_egui::EguiContexts,
) {
    let typing = egui
        .ctx_mut()
        .is_ok_and(|ctx| ctx.egui_wants_keyboard_input());
    let pressed = !typing && keys.just_pressed(KeyCode::KeyR);
    if requests.read().count() == 0 && !pressed {
        return;
    }
    if recorder.is_recording() {
        finish(&mut recorder, &mut timeline, &settings, &mut notifications);
    } else {
        timeline.ego_view = false;
        timeline.playing = false;
        recorder.samples.clear();
        recorder.started = Some(time.elapsed_secs_f64());
        notifications.info(format!(
            "recording the camera for {:.1} s (R stops early)",
            settings.duration_seconds()
        ));
    }
}

fn record_pose(
    mut recorder: ResMut<Recorder>,
    mut timeline: ResMut<Timeline>,
    cameras: Query<&Transform, With<ViewerCamera>>,
    time: Res<Time<Real>>,
    settings: Res<StreamSettings>,
    mut notifications: ResMut<Notifications>,
) {
    let Some(started) = recorder.started else {
        return;
    };
    let Ok(transform) = cameras.single() else {
        return;
    };
    let elapsed = time.elapsed_secs_f64() - started;
    recorder.samples.push((elapsed, *transform));
    if elapsed >= settings.duration_seconds() {
        finish(&mut recorder, &mut timeline, &settings, &mut notifications);
    }
}

/// Turns the samples into a path at the clip's frame rate: the pose at each frame time, interpolated between
/// the recorded samples around it.
fn finish(
    recorder: &mut Recorder,
    timeline: &mut Timeline,
    settings: &StreamSettings,
    notifications: &mut Notifications,
) {
    recorder.started = None;
    let samples = std::mem::take(&mut recorder.samples);
    let duration = samples.last().map_or(0.0, |(t, _)| *t);
    // A full-length recording gives exactly the clip's frames (the last sample lands a little after the end).
    let count = ((duration * settings.fps).floor() as usize + 1).min(settings.frame_count);
    if count < 2 {
        notifications
            .error("the recording is too short: record for at least one frame interval".into());
        return;
    }
    let intrinsics = settings.intrinsics();
    let frames = (0..count)
        .map(|i| {
            let t = i as f64 / settings.fps;
            let after = samples
                .partition_point(|(time, _)| *time < t)
                .min(samples.len() - 1);
            let before = after.saturating_sub(1);
            let ((t0, a), (t1, b)) = (samples[before], samples[after]);
            let s = if t1 > t0 {
                ((t - t0) / (t1 - t0)).clamp(0.0, 1.0) as f32
            } else {
                0.0
            };
            let rotation = a.rotation.slerp(b.rotation, s).normalize();
            let translation = a.translation.lerp(b.translation, s);
            CameraFrame {
                world_from_camera: bevy::math::Affine3A::from_rotation_translation(
                    rotation,
                    translation,
                ),
                intrinsics,
            }
        })
        .collect();
    timeline.replace_path(
        Some(DenseCameraPath {
            fps: settings.fps,
            frames,
        }),
        None,
        settings,
    );
    notifications.info(format!("recorded {count} frames ({duration:.1} s)"));
}

fn start_save(
    mut requests: MessageReader<SavePath>,
    timeline: Res<Timeline>,
    mut pending: ResMut<PendingSave>,
) {
    if requests.read().count() == 0 || pending.0.is_some() {
        return;
    }
    let Some(path) = timeline.path.clone() else {
        return;
    };
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Save the camera path")
        .add_filter("Camera path", &["json"])
        .set_file_name("camera_path.json");
    pending.0 = Some((AsyncComputeTaskPool::get().spawn(dialog.save_file()), path));
}

fn finish_save(
    mut pending: ResMut<PendingSave>,
    mut timeline: ResMut<Timeline>,
    mut notifications: ResMut<Notifications>,
) {
    let Some((task, _)) = pending.0.as_mut() else {
        return;
    };
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    let Some((_, path)) = pending.0.take() else {
        return;
    };
    let Some(file) = picked.map(|f| f.path().to_path_buf()) else {
        return;
    };
    match path.save(&file) {
        Ok(()) => {
            notifications.info(format!("saved {}", file.display()));
            timeline.source = Some(file);
        }
        Err(error) => notifications.error(error.to_string()),
    }
}
