//! `read_video` / `write_video`: pick the reader or writer from the path.

use std::path::Path;

use super::error::VideoError;
use super::ffmpeg::{Ffmpeg, Mp4Options, lowercase_extension};
use super::frames::Frames;
use super::images::{read_gif, read_png_folder, write_gif, write_png_folder};

/// Containers read through ffmpeg.
pub const FFMPEG_READ_EXTENSIONS: [&str; 6] = ["mp4", "mov", "mkv", "webm", "m4v", "avi"];
/// Containers written through ffmpeg (H.264 fits all three; webm would need VP8/VP9/AV1).
pub const FFMPEG_WRITE_EXTENSIONS: [&str; 3] = ["mp4", "mov", "mkv"];

/// Reads a video with ffmpeg from PATH (or `HANDTWIN_FFMPEG`/`HANDTWIN_FFPROBE`); see [`read_video_with`].
pub fn read_video(path: &Path) -> Result<Frames, VideoError> {
    read_video_with(path, &Ffmpeg::from_env())
}

/// Reads a folder of PNG frames, a `.gif`, or a container ffmpeg reads (.mp4, .mov, .mkv, .webm, .m4v, .avi).
pub fn read_video_with(path: &Path, ffmpeg: &Ffmpeg) -> Result<Frames, VideoError> {
    if path.is_dir() {
        return read_png_folder(path);
    }
    if !path.exists() {
        return Err(VideoError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let extension = lowercase_extension(path);
    match extension.as_deref() {
        Some("gif") => read_gif(path),
        Some(known) if FFMPEG_READ_EXTENSIONS.contains(&known) => ffmpeg.read(path),
        _ => Err(VideoError::UnknownFormat {
            path: path.to_path_buf(),
            extension,
        }),
    }
}

/// Writes a video with ffmpeg from PATH (or `HANDTWIN_FFMPEG`/`HANDTWIN_FFPROBE`); see [`write_video_with`].
pub fn write_video(frames: &Frames, path: &Path, options: &Mp4Options) -> Result<(), VideoError> {
    write_video_with(frames, path, options, &Ffmpeg::from_env())
}

/// Writes `.mp4`/`.mov`/`.mkv` (H.264 with `options`), `.gif`, or — for a path without an extension — a folder
/// of PNG frames. The output appears only once complete.
pub fn write_video_with(
    frames: &Frames,
    path: &Path,
    options: &Mp4Options,
    ffmpeg: &Ffmpeg,
) -> Result<(), VideoError> {
    let extension = lowercase_extension(path);
    match extension.as_deref() {
        None => write_png_folder(frames, path),
        Some("gif") => write_gif(frames, path),
        Some(known) if FFMPEG_WRITE_EXTENSIONS.contains(&known) => {
            ffmpeg.write(frames, path, options)
        }
        _ => Err(VideoError::UnknownFormat {
            path: path.to_path_buf(),
            extension,
        }),
    }
}
