//! `action`: what the user authors — camera paths, hand tracks, keyframes, interpolation, importers and
//! exporters, project files.

mod camera;
mod path_file;

pub use camera::{CameraFrame, Intrinsics};
pub use path_file::{CAMERA_PATH_FORMAT, DenseCameraPath, PathFileError};
