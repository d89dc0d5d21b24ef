//! PNG folders and GIF through the `image` crate, so they work without ffmpeg.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder as _, Delay, ImageFormat, RgbaImage};

use super::error::VideoError;
use super::frames::Frames;
use super::output::PendingOutput;

/// PNG folders store no frame rate of their own; `write_png_folder` records it in this file.
pub const FPS_FILE: &str = "fps.txt";
/// The frame rate assumed for a PNG folder without `fps.txt`: DWM's 8 fps.
pub const DEFAULT_PNG_FOLDER_FPS: f64 = 8.0;

/// File name of frame `index` in a PNG folder handtwin writes.
pub fn png_frame_name(index: usize) -> String {
    format!("frame_{index:05}.png")
}

/// The frame number at the end of a PNG file's stem ("frame_00012.png" → 12, "0003.png" → 3).
fn frame_number(file_name: &str) -> Option<u64> {
    let stem = file_name.get(..file_name.len().checked_sub(4)?)?;
    let digits_from = stem
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |at| at + 1);
    stem.get(digits_from..)?.parse().ok()
}

fn is_png_name(name: &str) -> bool {
    !name.starts_with('.') && name.to_ascii_lowercase().ends_with(".png")
}

/// The PNG frames of a folder in frame-number order. Every PNG must carry a frame number and the numbers must
/// run without gaps or repeats (from any start: ffmpeg numbers from 1, handtwin from 0), because a missing frame
/// would silently shorten the clip.
pub fn list_png_frames(dir: &Path) -> Result<Vec<PathBuf>, VideoError> {
    let entries = std::fs::read_dir(dir).map_err(|source| VideoError::io(dir, source))?;
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| VideoError::io(dir, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_png_name(&name) {
            continue;
        }
        let Some(number) = frame_number(&name) else {
            return Err(VideoError::FrameNumbering {
                path: entry.path(),
                message: "a PNG frame's name must end in its frame number, e.g. frame_00000.png"
                    .into(),
            });
        };
        numbered.push((number, entry.path()));
    }
    if numbered.is_empty() {
        return Err(VideoError::EmptyFolder {
            path: dir.to_path_buf(),
        });
    }
    numbered.sort();
    for pair in numbered.windows(2) {
        if let [(before, before_path), (after, after_path)] = pair
            && *after != before + 1
        {
            let message = if after == before {
                format!(
                    "frame {after} appears twice ({} and {})",
                    before_path.display(),
                    after_path.display()
                )
            } else {
                format!(
                    "frames {} to {} are missing (after {})",
                    before + 1,
                    after - 1,
                    before_path.display()
                )
            };
            return Err(VideoError::FrameNumbering {
                path: dir.to_path_buf(),
                message,
            });
        }
    }
    Ok(numbered.into_iter().map(|(_, path)| path).collect())
}

/// Reads a folder of PNG frames (alpha, if any, is dropped). The frame rate comes from `fps.txt` when present,
/// else DWM's 8 fps.
pub fn read_png_folder(dir: &Path) -> Result<Frames, VideoError> {
    if !dir.is_dir() {
        return Err(VideoError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let fps = read_fps_file(dir)?;
    let paths = list_png_frames(dir)?;
    let mut data = Vec::new();
    let mut size = None;
    for path in &paths {
        let image = image::open(path)
            .map_err(|source| VideoError::Image {
                path: path.clone(),
                source,
            })?
            .to_rgb8();
        let (width, height) = image.dimensions();
        match size {
            None => {
                size = Some((width, height));
                data.reserve_exact(paths.len() * image.as_raw().len());
            }
            Some((expected_width, expected_height))
                if (expected_width, expected_height) != (width, height) =>
            {
                return Err(VideoError::SizeMismatch {
                    path: path.clone(),
                    got_width: width,
                    got_height: height,
                    width: expected_width,
                    height: expected_height,
                });
            }
            Some(_) => {}
        }
        data.extend_from_slice(image.as_raw());
    }
    let (width, height) = size.unwrap_or((0, 0));
    Frames::new(width, height, fps, data).map_err(|source| VideoError::Frames {
        path: dir.to_path_buf(),
        source,
    })
}

fn read_fps_file(dir: &Path) -> Result<f64, VideoError> {
    let path = dir.join(FPS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "{}: no {FPS_FILE}, assuming {DEFAULT_PNG_FOLDER_FPS} fps",
                dir.display()
            );
            return Ok(DEFAULT_PNG_FOLDER_FPS);
        }
        Err(source) => return Err(VideoError::io(path, source)),
    };
    match text.trim().parse::<f64>() {
        Ok(fps) if fps.is_finite() && fps > 0.0 => Ok(fps),
        _ => Err(VideoError::BadOption {
            path,
            message: format!("expected a positive frame rate, found {:?}", text.trim()),
        }),
    }
}

/// Writes `frame_00000.png`, `frame_00001.png`, … and `fps.txt` into `dir`. The folder is built beside `dir` and
/// swapped in when complete. An existing `dir` is replaced only if it holds nothing but such files.
pub fn write_png_folder(frames: &Frames, dir: &Path) -> Result<(), VideoError> {
    if dir.exists() {
        check_replaceable_folder(dir)?;
    }
    let pending = PendingOutput::next_to(dir, "")?;
    std::fs::create_dir(pending.temp()).map_err(|source| VideoError::io(pending.temp(), source))?;
    for index in 0..frames.frame_count() {
        let path = pending.temp().join(png_frame_name(index));
        // frame_image is None only past the end, and index < frame_count.
        let Some(image) = frames.frame_image(index) else {
            continue;
        };
        image
            .save_with_format(&path, ImageFormat::Png)
            .map_err(|source| VideoError::Image {
                path: pending.target().join(png_frame_name(index)),
                source,
            })?;
    }
    // `{}` on f64 prints the shortest text that parses back to the same value.
    std::fs::write(pending.temp().join(FPS_FILE), format!("{}\n", frames.fps()))
        .map_err(|source| VideoError::io(pending.target().join(FPS_FILE), source))?;
    pending.commit_folder()
}

/// Accepts an existing output folder only when everything in it is a frame or `fps.txt` we would write, so a
/// mistyped path can never wipe an unrelated folder.
fn check_replaceable_folder(dir: &Path) -> Result<(), VideoError> {
    if !dir.is_dir() {
        return Err(VideoError::WouldOverwrite {
            path: dir.to_path_buf(),
            entry: "a file in its place".into(),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|source| VideoError::io(dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| VideoError::io(dir, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = entry.path().is_file()
            && (name == FPS_FILE
                || (name.starts_with("frame_")
                    && is_png_name(&name)
                    && frame_number(&name).is_some()));
        if !ours {
            return Err(VideoError::WouldOverwrite {
                path: dir.to_path_buf(),
                entry: format!("`{name}`"),
            });
        }
    }
    Ok(())
}

/// Reads an animated GIF. Transparent pixels are composited over black. The frame rate is the mean of the frame
/// delays; delays of 0 or 10 ms count as 100 ms, as browsers play them.
pub fn read_gif(path: &Path) -> Result<Frames, VideoError> {
    let image_error = |source| VideoError::Image {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VideoError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            VideoError::io(path, source)
        }
    })?;
    let decoded = GifDecoder::new(BufReader::new(file))
        .map_err(image_error)?
        .into_frames()
        .collect_frames()
        .map_err(image_error)?;
    let Some(first) = decoded.first() else {
        return Err(VideoError::NoFrames {
            path: path.to_path_buf(),
        });
    };
    let (width, height) = first.buffer().dimensions();
    let mut data = Vec::with_capacity(decoded.len() * width as usize * height as usize * 3);
    let mut total_ms = 0.0;
    for frame in &decoded {
        let (numer, denom) = frame.delay().numer_denom_ms();
        let delay_ms = f64::from(numer) / f64::from(denom.max(1));
        total_ms += if delay_ms <= 10.0 { 100.0 } else { delay_ms };
        let buffer = frame.buffer();
        if buffer.dimensions() != (width, height) {
            return Err(VideoError::SizeMismatch {
                path: path.to_path_buf(),
                got_width: buffer.width(),
                got_height: buffer.height(),
                width,
                height,
            });
        }
        for pixel in buffer.pixels() {
            let [r, g, b, a] = pixel.0;
            let over_black = |c: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
            data.extend_from_slice(&[over_black(r), over_black(g), over_black(b)]);
        }
    }
    let fps = 1000.0 * decoded.len() as f64 / total_ms;
    Frames::new(width, height, fps, data).map_err(|source| VideoError::Frames {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a looping GIF. GIF is limited to 256 colours per frame (quantised with NeuQuant) and to delays in
/// whole centiseconds, so the frame rate is rounded (8 fps becomes 13 cs per frame, read back as ~7.7 fps).
pub fn write_gif(frames: &Frames, path: &Path) -> Result<(), VideoError> {
    if frames.width() > u32::from(u16::MAX) || frames.height() > u32::from(u16::MAX) {
        return Err(VideoError::BadOption {
            path: path.to_path_buf(),
            message: format!(
                "GIF frames are at most 65535 pixels a side, got {}x{}",
                frames.width(),
                frames.height()
            ),
        });
    }
    let image_error = |source| VideoError::Image {
        path: path.to_path_buf(),
        source,
    };
    let pending = PendingOutput::next_to(path, ".gif")?;
    let centiseconds = (100.0 / frames.fps())
        .round()
        .clamp(2.0, f64::from(u16::MAX)) as u32;
    // Encoded in memory, so every write error surfaces here (a dropped encoder would swallow the last one).
    let mut bytes = Vec::new();
    {
        // Speed 10 is the gif crate's default balance of palette quality and time.
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(image_error)?;
        for index in 0..frames.frame_count() {
            let Some(rgb) = frames.frame_image(index) else {
                continue;
            };
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(rgb).into_rgba8();
            encoder
                .encode_frame(image::Frame::from_parts(
                    rgba,
                    0,
                    0,
                    Delay::from_numer_denom_ms(centiseconds * 10, 1),
                ))
                .map_err(image_error)?;
        }
        // Dropping the encoder writes the GIF trailer.
    }
    std::fs::write(pending.temp(), &bytes).map_err(|source| VideoError::io(path, source))?;
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_numbers_come_from_the_end_of_the_name() {
        assert_eq!(frame_number("frame_00012.png"), Some(12));
        assert_eq!(frame_number("0003.png"), Some(3));
        assert_eq!(frame_number("cover.png"), None);
        assert_eq!(frame_number("a.png"), None);
    }
}
