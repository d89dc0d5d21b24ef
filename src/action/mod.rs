//! `action`: what the user authors — camera paths, hand tracks, keyframes, interpolation, importers and
//! exporters, project files.

mod action_file;
mod camera;
pub mod import;
pub mod interpolate;
mod params;
mod path_file;
mod placement;
mod project;
mod track;

pub use crate::atomic::write_atomically;
pub use action_file::{
    ACTION_FORMAT, ActionFileError, MAX_FRAME_COUNT, load_action, load_camera_path,
};
pub use camera::{CameraFrame, Intrinsics};
pub use params::{ActionParams, FitTimes, ParamMotion, ParamsError, search_parameter_names};
pub use path_file::{CAMERA_PATH_FORMAT, DenseCameraPath, PathFileError};
pub use placement::{ScenePlacement, UpAxis};
pub use project::{
    NamedAction, PROJECT_FORMAT, Project, ProjectError, RecentProjects, SceneReference,
    autosave_path, recent_projects_path,
};
pub use track::{
    Action, CameraKeyframe, CameraPath, DEFAULT_FPS, DEFAULT_FRAME_COUNT, HandInCamera,
    HandKeyframe, HandSample, HandTrack, MAX_ANGLE, MAX_COORDINATE, MAX_PIXELS, MAX_TIME, ManoPose,
    TimeWindow, TrackError, UNIT_QUATERNION_TOLERANCE, WristFrame,
};
