//! The messages plugins send each other (a feature asks, the plugin that owns the work reads), registered in
//! one place so that any plugin can write any of them whatever order the plugins are added in.

use crate::scene::SceneSource;
use bevy::prelude::*;
use std::path::PathBuf;

/// Ask for the "open scene" dialog.
#[derive(Message, Clone, Copy, Debug)]
pub struct ShowOpenDialog;

/// Ask to generate.
#[derive(Message, Clone, Copy, Debug)]
pub struct Generate;

/// What the user asked of the project.
#[derive(Message, Clone, Debug)]
pub enum ProjectCommand {
    Open,
    OpenPath(PathBuf),
    Save,
    SaveAs,
}

/// Start or stop recording.
#[derive(Message, Clone, Copy, Debug)]
pub struct ToggleRecording;

/// Save the timeline's path to a file (a dialog follows).
#[derive(Message, Clone, Copy, Debug)]
pub struct SavePath;

/// Ask for a capture of both streams along the timeline's path.
#[derive(Message, Clone, Copy, Debug)]
pub struct CaptureStreams;

/// Ask to export the captured sample (a folder dialog follows).
#[derive(Message, Clone, Copy, Debug)]
pub struct ExportSample;

/// Ask the viewer to replace the scene.
#[derive(Message, Clone, Debug)]
pub struct OpenScene(pub SceneSource);

/// Ask the viewer to show a splat file together with the current mesh scene.
#[derive(Message, Clone, Debug)]
pub struct AddSplats(pub PathBuf);

/// Starts the "Add splats…" dialog.
#[derive(Message, Clone, Debug)]
pub struct PickSplats;

/// Ask the viewer to load a camera path.
#[derive(Message, Clone, Debug)]
pub struct OpenCameraPath(pub PathBuf);

/// Registers every message above.
pub struct MessagesPlugin;

impl Plugin for MessagesPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ShowOpenDialog>();
        app.add_message::<Generate>();
        app.add_message::<ProjectCommand>();
        app.add_message::<ToggleRecording>();
        app.add_message::<SavePath>();
        app.add_message::<CaptureStreams>();
        app.add_message::<ExportSample>();
        app.add_message::<OpenScene>();
        app.add_message::<AddSplats>();
        app.add_message::<PickSplats>();
        app.add_message::<OpenCameraPath>();
    }
}
