//! `action`: what the user authors — camera paths, hand tracks, keyframes, interpolation, importers and
//! exporters, project files.

mod camera;

pub use camera::{CameraFrame, Intrinsics};
