//! `video`: every video that enters or leaves handtwin — `Frames`, mp4 through the `ffmpeg` program, PNG
//! folders, GIF, and DWM sample folders.

mod compose;
mod error;
mod ffmpeg;
mod frames;
mod images;
mod io;
mod output;
mod psnr;
mod sample;
#[cfg(test)]
mod tests;

pub use compose::side_by_side;
pub use error::VideoError;
pub use ffmpeg::{
    DEFAULT_CRF, FFMPEG_ENV, FFPROBE_ENV, Ffmpeg, Mp4Options, PixelFormat, VideoInfo, X264Preset,
};
pub use frames::{Frames, FramesError};
pub use images::{
    DEFAULT_PNG_FOLDER_FPS, FPS_FILE, list_png_frames, png_frame_name, read_gif, read_png_folder,
    write_gif, write_png_folder,
};
pub use io::{
    FFMPEG_READ_EXTENSIONS, FFMPEG_WRITE_EXTENSIONS, read_video, read_video_with, write_video,
    write_video_with,
};
pub use psnr::psnr;
pub use sample::{
    DwmSample, GROUND_TRUTH_DIR, HANDS_DIR, PROMPTS_DIR, PROMPTS_REWRITE_DIR, STATIC_DIR,
    SamplePaths, SampleWriteOptions, list_stems, validate_stem,
};
