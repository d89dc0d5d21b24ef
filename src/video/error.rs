//! `VideoError`: everything that can go wrong reading or writing a video, each naming the file involved.

use std::path::PathBuf;

use thiserror::Error;

use super::frames::FramesError;

/// How to get ffmpeg, appended to every "not installed" message.
const INSTALL_HINT: &str = "install ffmpeg (Debian/Ubuntu: `sudo apt install ffmpeg`, Fedora: `sudo dnf install \
                            ffmpeg`, macOS: `brew install ffmpeg`, Windows: `winget install ffmpeg`)";

#[derive(Debug, Error)]
pub enum VideoError {
    #[error(
        "cannot run `{program}`, so {purpose} is not possible: {INSTALL_HINT}, or set {env_var} to the program's \
         path. PNG folders and GIF work without it."
    )]
    ProgramNotFound {
        program: PathBuf,
        /// The environment variable that overrides the program path.
        env_var: &'static str,
        /// What was being attempted, e.g. "reading video.mp4".
        purpose: String,
    },
    #[error("cannot start `{program}`: {source}")]
    ProgramStart {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: {program} could not {action}: {message}")]
    Ffmpeg {
        path: PathBuf,
        program: &'static str,
        /// "read it as a video", "write it", ...
        action: &'static str,
        /// What the program printed on stderr (trimmed), or its exit status when it printed nothing.
        message: String,
    },
    #[error("{path}: the file holds no video stream")]
    NoVideoStream { path: PathBuf },
    #[error("{path}: ffprobe reported {what}, which handtwin cannot use")]
    BadProbe { path: PathBuf, what: String },
    #[error(
        "{path}: the decoded video ended in the middle of frame {frames_read} ({extra_bytes} of {frame_len} bytes) — \
         the file is probably truncated{}",
        ffmpeg_note(ffmpeg_said)
    )]
    PartialFrame {
        path: PathBuf,
        frames_read: usize,
        extra_bytes: usize,
        frame_len: usize,
        ffmpeg_said: String,
    },
    #[error(
        "{path}: expected {expected} frames but got {got} — the file is probably truncated or damaged{}",
        ffmpeg_note(ffmpeg_said)
    )]
    FrameCountMismatch {
        path: PathBuf,
        expected: usize,
        got: usize,
        /// ffmpeg's stderr while decoding, often the reason ("partial file", "Invalid NAL unit size").
        ffmpeg_said: String,
    },
    #[error("{path}: frame size is {got_width}x{got_height}, expected {width}x{height}")]
    SizeMismatch {
        path: PathBuf,
        got_width: u32,
        got_height: u32,
        width: u32,
        height: u32,
    },
    #[error(
        "{path}: unknown video format {}; handtwin reads and writes .mp4, .mov, .mkv (plus .webm for reading) \
         through ffmpeg, .gif, and folders of PNG frames", extension.as_deref().map_or("(no extension)".to_string(), |e| format!("`.{e}`"))
    )]
    UnknownFormat {
        path: PathBuf,
        extension: Option<String>,
    },
    #[error(
        "{path}: yuv420p halves the chroma resolution, so width and height must be even, got {width}x{height}; \
         write yuv444p or crop the frames to an even size"
    )]
    OddSize {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{path}: {message}")]
    BadOption { path: PathBuf, message: String },
    #[error("{path}: the file holds no frames")]
    NoFrames { path: PathBuf },
    #[error("{path}: no PNG frames in this folder")]
    EmptyFolder { path: PathBuf },
    #[error("{path}: {message}")]
    FrameNumbering { path: PathBuf, message: String },
    #[error("refusing to overwrite {path}: it holds {entry}, which is not a frame handtwin writes")]
    WouldOverwrite { path: PathBuf, entry: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{path}: {source}")]
    Frames { path: PathBuf, source: FramesError },
    #[error("clips differ in shape: {a} vs {b}")]
    ShapeMismatch { a: String, b: String },
    #[error("invalid sample stem {stem:?}: {reason}")]
    BadStem { stem: String, reason: &'static str },
    #[error("{dir}: sample {stem}: {message}")]
    Sample {
        dir: PathBuf,
        stem: String,
        message: String,
    },
}

fn ffmpeg_note(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!("; ffmpeg said: {said}")
    }
}

impl VideoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
