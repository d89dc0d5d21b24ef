//! Opening files: the native dialog (rfd, asynchronous, so the viewport keeps running) and drag and drop.

use super::scene_view::OpenScene;
use crate::scene::SceneSource;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy::window::FileDragAndDrop;

/// Ask for the "open scene" dialog.
#[derive(Message, Clone, Copy, Debug)]
pub struct ShowOpenDialog;

#[derive(Resource, Default)]
struct PendingDialog(Option<Task<Option<rfd::FileHandle>>>);

pub struct FileOpenPlugin;

impl Plugin for FileOpenPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ShowOpenDialog>()
            .init_resource::<PendingDialog>()
            .add_systems(Update, (start_dialog, finish_dialog, dropped_files));
    }
}

fn start_dialog(mut requests: MessageReader<ShowOpenDialog>, mut pending: ResMut<PendingDialog>) {
    if requests.read().last().is_none() || pending.0.is_some() {
        return;
    }
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Open a scene")
        .add_filter("glTF scene", &["glb", "gltf"])
        .add_filter("All files", &["*"]);
    pending.0 = Some(AsyncComputeTaskPool::get().spawn(dialog.pick_file()));
}

fn finish_dialog(mut pending: ResMut<PendingDialog>, mut open: MessageWriter<OpenScene>) {
    let Some(task) = pending.0.as_mut() else {
        return;
    };
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    pending.0 = None;
    if let Some(file) = picked {
        open.write(OpenScene(SceneSource::Gltf(file.path().to_path_buf())));
    }
}

fn dropped_files(mut drops: MessageReader<FileDragAndDrop>, mut open: MessageWriter<OpenScene>) {
    for drop in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = drop {
            open.write(OpenScene(SceneSource::Gltf(path_buf.clone())));
        }
    }
}
