//! Opening files: the native dialog (rfd, asynchronous, so the viewport keeps running) and drag and drop.

use super::messages::OpenCameraPath;
use super::messages::OpenScene;
use super::messages::ShowOpenDialog;
use crate::scene::SceneSource;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy::window::FileDragAndDrop;

#[derive(Resource, Default)]
struct PendingDialog(Option<Task<Option<rfd::FileHandle>>>);

pub struct FileOpenPlugin;

impl Plugin for FileOpenPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PendingDialog>()
            .add_systems(Update, (start_dialog, finish_dialog, dropped_files));
    }
}

fn start_dialog(mut requests: MessageReader<ShowOpenDialog>, mut pending: ResMut<PendingDialog>) {
    if requests.read().last().is_none() || pending.0.is_some() {
        return;
    }
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Open a scene or a camera path")
        .add_filter(
            "Scenes and camera paths",
            &["glb", "gltf", "ply", "splat", "spz", "sog", "json"],
        )
        .add_filter("glTF scene", &["glb", "gltf"])
        .add_filter(
            "Gaussian splats (.ply, .compressed.ply, .splat, .spz, .sog)",
            &crate::scene::splat::SPLAT_EXTENSIONS,
        )
        .add_filter("Camera path", &["json"])
        .add_filter("All files", &["*"]);
    pending.0 = Some(AsyncComputeTaskPool::get().spawn(dialog.pick_file()));
}

fn finish_dialog(
    mut pending: ResMut<PendingDialog>,
    mut open: MessageWriter<OpenScene>,
    mut open_path: MessageWriter<OpenCameraPath>,
) {
    let Some(task) = pending.0.as_mut() else {
        return;
    };
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    pending.0 = None;
    if let Some(file) = picked {
        route(file.path().to_path_buf(), &mut open, &mut open_path);
    }
}

fn dropped_files(
    mut drops: MessageReader<FileDragAndDrop>,
    mut open: MessageWriter<OpenScene>,
    mut open_path: MessageWriter<OpenCameraPath>,
) {
    for drop in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = drop {
            route(path_buf.clone(), &mut open, &mut open_path);
        }
    }
}

/// JSON files are camera paths (except an unbundled SOG's `meta.json`); everything else is offered to the scene
/// loader, which names the formats it reads when it cannot.
fn route(
    path: std::path::PathBuf,
    open: &mut MessageWriter<OpenScene>,
    open_path: &mut MessageWriter<OpenCameraPath>,
) {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json && !crate::scene::splat::is_splat_path(&path) {
        open_path.write(OpenCameraPath(path));
    } else {
        open.write(OpenScene(SceneSource::File(path)));
    }
}
