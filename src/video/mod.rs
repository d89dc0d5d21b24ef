//! `video`: every video that enters or leaves handtwin — `Frames`, mp4 through the `ffmpeg` program, PNG
//! folders, GIF, and DWM sample folders.

mod frames;

pub use frames::{Frames, FramesError};
