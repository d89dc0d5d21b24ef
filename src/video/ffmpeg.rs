//! mp4 (and the other containers ffmpeg reads) through the `ffmpeg` and `ffprobe` programs over pipes: no
//! link-time coupling, and every H.264 profile ffmpeg decodes works, including the High 4:4:4 of DWM's hand
//! videos. Needs ffmpeg 5.1 or newer (for `-fps_mode`).
//!
//! Colour: handtwin converts RGB↔YUV with the **BT.601 matrix, limited ("tv") range** in both directions. DWM's
//! released videos carry no colour tags (ffprobe shows no `color_space`/`color_range`); they were written by
//! imageio-ffmpeg / the ffmpeg CLI, whose untagged RGB→YUV conversion is swscale's default, BT.601 limited, and
//! DWM reads them back with imageio, which decodes untagged video with the same default. The released hand videos
//! confirm it: decoded as BT.601 their most common colours are (162, 255, 162) and (254, 129, 130), the green
//! with equal red and blue as its albedo (0.5, 0.8, 0.5) requires; decoded as BT.709 the same pixels become
//! (156, 240, 160) and (255, 142, 128). We write BT.601 limited explicitly and also *tag* our files with it
//! (`smpte170m`, `tv`), so readers that honour tags and readers that assume the default agree. On reading, the
//! scale filter's `auto` takes the matrix a file declares, BT.601 limited for untagged files such as DWM's and
//! for our own.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::error::VideoError;
use super::frames::Frames;
use super::output::PendingOutput;

/// Overrides the `ffmpeg` program (a path, or a name looked up on PATH).
pub const FFMPEG_ENV: &str = "HANDTWIN_FFMPEG";
/// Overrides the `ffprobe` program.
pub const FFPROBE_ENV: &str = "HANDTWIN_FFPROBE";

/// Scaler flags for RGB→YUV: exact rounding (+0.3 dB on `testsrc2` in yuv420p; yuv444p is unaffected).
const WRITE_SWS_FLAGS: &str = "bicubic+accurate_rnd";
/// Scaler flags for YUV→RGB: ffmpeg's defaults, which make our decoded pixels byte-identical to what
/// imageio-ffmpeg (DWM's reader) gets from the same file. Not `accurate_rnd`: on yuv420p input it sends ffmpeg
/// 5.1's swscale down another path that came out 10 dB worse (30 vs 40.7 dB on `testsrc2`).
const READ_SWS_FLAGS: &str = "bicubic";

/// Pixel format of a written H.264 stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// 4:2:0 chroma, H.264 High: DWM's ground-truth and static-scene videos. Needs an even width and height.
    Yuv420p,
    /// Full-resolution chroma, H.264 High 4:4:4 Predictive: DWM's hand videos, whose thin coloured edges 4:2:0
    /// would smear.
    Yuv444p,
}

impl PixelFormat {
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            Self::Yuv420p => "yuv420p",
            Self::Yuv444p => "yuv444p",
        }
    }
}

/// libx264 speed/size trade-off (`-preset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X264Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

impl X264Preset {
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            Self::Ultrafast => "ultrafast",
            Self::Superfast => "superfast",
            Self::Veryfast => "veryfast",
            Self::Faster => "faster",
            Self::Fast => "fast",
            Self::Medium => "medium",
            Self::Slow => "slow",
            Self::Slower => "slower",
            Self::Veryslow => "veryslow",
        }
    }
}

/// How to encode an mp4 (H.264 through libx264).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mp4Options {
    pub pixel_format: PixelFormat,
    /// Constant rate factor, 0 (lossless for yuv444p) to 51; lower is better quality.
    pub crf: u8,
    pub preset: X264Preset,
}

/// Conditioning videos feed a model, so quality matters more than size: at CRF 12 a 49-frame 720×480 clip is a
/// few MB and round-trips `testsrc2` at about 48 dB in yuv444p.
pub const DEFAULT_CRF: u8 = 12;

impl Mp4Options {
    /// Ordinary videos (static scene, ground truth, generated): yuv420p, as DWM writes them.
    pub fn video() -> Self {
        Self {
            pixel_format: PixelFormat::Yuv420p,
            crf: DEFAULT_CRF,
            preset: X264Preset::Medium,
        }
    }

    /// Hand-mesh videos: yuv444p (High 4:4:4), as DWM's hand videos are.
    pub fn hand_video() -> Self {
        Self {
            pixel_format: PixelFormat::Yuv444p,
            ..Self::video()
        }
    }
}

impl Mp4Options {
    /// Training data: yuv444p at CRF 4, so tiny videos keep their colours (4:2:0 chroma at 96×64 would smear
    /// every edge) and codec noise stays far below what a model learns.
    pub fn near_lossless() -> Self {
        Self {
            pixel_format: PixelFormat::Yuv444p,
            crf: 4,
            preset: X264Preset::Medium,
        }
    }
}

impl Default for Mp4Options {
    fn default() -> Self {
        Self::video()
    }
}

/// What ffprobe says about a file's first video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Frames recorded in the container, when it records them (mp4 and mov do; mkv and webm often do not).
    pub frame_count: Option<usize>,
    pub pix_fmt: String,
    pub codec: String,
    pub profile: Option<String>,
    pub color_space: Option<String>,
    pub color_range: Option<String>,
}

/// Where the `ffmpeg` and `ffprobe` programs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self::from_env()
    }
}

#[derive(Clone, Copy)]
enum Program {
    Ffmpeg,
    Ffprobe,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Self::Ffmpeg => "ffmpeg",
            Self::Ffprobe => "ffprobe",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            Self::Ffmpeg => FFMPEG_ENV,
            Self::Ffprobe => FFPROBE_ENV,
        }
    }
}

#[derive(Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    codec_name: Option<String>,
    profile: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    color_space: Option<String>,
    color_range: Option<String>,
}

impl Ffmpeg {
    /// Explicit program paths (or names looked up on PATH).
    pub fn new(ffmpeg: impl Into<PathBuf>, ffprobe: impl Into<PathBuf>) -> Self {
        Self {
            ffmpeg: ffmpeg.into(),
            ffprobe: ffprobe.into(),
        }
    }

    /// `ffmpeg` and `ffprobe` from PATH, unless `HANDTWIN_FFMPEG` / `HANDTWIN_FFPROBE` name other programs.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let pick = |program: Program| {
            lookup(program.env_var())
                .filter(|value| !value.is_empty())
                .map_or_else(|| PathBuf::from(program.name()), PathBuf::from)
        };
        Self::new(pick(Program::Ffmpeg), pick(Program::Ffprobe))
    }

    pub fn ffmpeg_program(&self) -> &Path {
        &self.ffmpeg
    }

    pub fn ffprobe_program(&self) -> &Path {
        &self.ffprobe
    }

    fn command(&self, program: Program) -> Command {
        let mut command = Command::new(match program {
            Program::Ffmpeg => &self.ffmpeg,
            Program::Ffprobe => &self.ffprobe,
        });
        command.arg("-hide_banner").args(["-v", "error"]);
        command
    }

    fn start_error(&self, program: Program, purpose: String, source: std::io::Error) -> VideoError {
        let path = match program {
            Program::Ffmpeg => &self.ffmpeg,
            Program::Ffprobe => &self.ffprobe,
        };
        if source.kind() == std::io::ErrorKind::NotFound {
            VideoError::ProgramNotFound {
                program: path.clone(),
                env_var: program.env_var(),
                purpose,
            }
        } else {
            VideoError::ProgramStart {
                program: path.clone(),
                source,
            }
        }
    }

    /// The first line of `ffmpeg -version`; fails with install instructions when ffmpeg is missing.
    pub fn version(&self) -> Result<String, VideoError> {
        let output = Command::new(&self.ffmpeg)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| self.start_error(Program::Ffmpeg, "video encoding".into(), source))?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.lines().next().unwrap_or_default().to_string())
    }

    fn run_probe(&self, path: &Path, extra: &[&str]) -> Result<ProbeStream, VideoError> {
        if !path.exists() {
            return Err(VideoError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let output = self
            .command(Program::Ffprobe)
            .args(["-select_streams", "v:0", "-of", "json"])
            .args(extra)
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| {
                self.start_error(
                    Program::Ffprobe,
                    format!("reading {}", path.display()),
                    source,
                )
            })?;
        if !output.status.success() {
            return Err(VideoError::Ffmpeg {
                path: path.to_path_buf(),
                program: "ffprobe",
                action: "read it as a video",
                message: program_message(&output.stderr, output.status),
            });
        }
        let parsed: ProbeOutput =
            serde_json::from_slice(&output.stdout).map_err(|error| VideoError::BadProbe {
                path: path.to_path_buf(),
                what: format!("output that is not the expected JSON ({error})"),
            })?;
        parsed
            .streams
            .into_iter()
            .next()
            .ok_or_else(|| VideoError::NoVideoStream {
                path: path.to_path_buf(),
            })
    }

    /// Size, frame rate, frame count and pixel format of the first video stream.
    pub fn probe(&self, path: &Path) -> Result<VideoInfo, VideoError> {
        let stream = self.run_probe(
            path,
            &[
                "-show_entries",
                "stream=width,height,pix_fmt,codec_name,profile,nb_frames,avg_frame_rate,r_frame_rate,\
                 color_space,color_range",
            ],
        )?;
        let bad = |what: String| VideoError::BadProbe {
            path: path.to_path_buf(),
            what,
        };
        let (width, height) = match (stream.width, stream.height) {
            (Some(width), Some(height)) if width > 0 && height > 0 => (width, height),
            (width, height) => return Err(bad(format!("a frame size of {width:?}x{height:?}"))),
        };
        let fps = [&stream.avg_frame_rate, &stream.r_frame_rate]
            .into_iter()
            .flatten()
            .find_map(|rate| parse_rate(rate))
            .ok_or_else(|| {
                bad(format!(
                    "no usable frame rate (avg {:?}, r {:?})",
                    stream.avg_frame_rate, stream.r_frame_rate
                ))
            })?;
        let frame_count = match stream.nb_frames.as_deref() {
            None | Some("N/A") => None,
            Some(text) => Some(
                text.parse::<usize>()
                    .map_err(|_| bad(format!("a frame count of {text:?}")))?,
            ),
        };
        Ok(VideoInfo {
            width,
            height,
            fps,
            frame_count,
            pix_fmt: stream.pix_fmt.unwrap_or_default(),
            codec: stream.codec_name.unwrap_or_default(),
            profile: stream.profile,
            color_space: stream.color_space,
            color_range: stream.color_range,
        })
    }

    /// Counts the packets of the first video stream (one per frame for H.264 in mp4) without decoding.
    pub fn count_packets(&self, path: &Path) -> Result<usize, VideoError> {
        let stream = self.run_probe(
            path,
            &["-count_packets", "-show_entries", "stream=nb_read_packets"],
        )?;
        stream
            .nb_read_packets
            .as_deref()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| VideoError::BadProbe {
                path: path.to_path_buf(),
                what: format!("a packet count of {:?}", stream.nb_read_packets),
            })
    }

    /// Decodes every frame of the first video stream to RGB.
    pub fn read(&self, path: &Path) -> Result<Frames, VideoError> {
        let info = self.probe(path)?;
        let output = self
            .command(Program::Ffmpeg)
            .arg("-nostdin")
            // ffprobe reports the stored size; autorotation would swap it for rotated phone videos.
            .arg("-noautorotate")
            .arg("-i")
            .arg(path)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn"])
            .args([
                "-vf",
                &format!(
                    "scale=in_color_matrix=auto:in_range=auto:flags={READ_SWS_FLAGS},format=rgb24"
                ),
            ])
            // Every decoded frame exactly once: by default ffmpeg would duplicate or drop frames of a
            // variable-rate file to fit a constant rate (10 frames came out as 39 in a test). `-fps_mode` needs
            // ffmpeg 5.1 or newer.
            .args(["-fps_mode", "passthrough"])
            .args(["-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| {
                self.start_error(
                    Program::Ffmpeg,
                    format!("reading {}", path.display()),
                    source,
                )
            })?;
        let said = stderr_summary(&output.stderr);
        if !output.status.success() {
            return Err(VideoError::Ffmpeg {
                path: path.to_path_buf(),
                program: "ffmpeg",
                action: "decode it",
                message: program_message(&output.stderr, output.status),
            });
        }
        let frame_len = info.width as usize * info.height as usize * 3;
        let data = output.stdout;
        let got = data.len() / frame_len;
        if data.len() % frame_len != 0 {
            return Err(VideoError::PartialFrame {
                path: path.to_path_buf(),
                frames_read: got,
                extra_bytes: data.len() % frame_len,
                frame_len,
                ffmpeg_said: said,
            });
        }
        if let Some(expected) = info.frame_count
            && expected != got
        {
            return Err(VideoError::FrameCountMismatch {
                path: path.to_path_buf(),
                expected,
                got,
                ffmpeg_said: said,
            });
        }
        if got == 0 {
            return Err(VideoError::Ffmpeg {
                path: path.to_path_buf(),
                program: "ffmpeg",
                action: "decode any frame",
                message: if said.is_empty() {
                    "the stream holds no frames".into()
                } else {
                    said
                },
            });
        }
        // ffmpeg exits with success even when it had to skip damaged data (a file cut short by a few bytes
        // still yields every frame, the last one garbled), so any error it printed makes the read fail.
        if !said.is_empty() {
            return Err(VideoError::Ffmpeg {
                path: path.to_path_buf(),
                program: "ffmpeg",
                action: "decode it without errors (the file is damaged or truncated)",
                message: said,
            });
        }
        Frames::new(info.width, info.height, info.fps, data).map_err(|source| VideoError::Frames {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Encodes `frames` as H.264 into `path` (.mp4, .mov or .mkv): exactly `frames.frame_count()` frames at
    /// `frames.fps()`. The file appears only once complete and checked.
    pub fn write(
        &self,
        frames: &Frames,
        path: &Path,
        options: &Mp4Options,
    ) -> Result<(), VideoError> {
        let extension = lowercase_extension(path);
        let (container, faststart) = match extension.as_deref() {
            Some("mp4") => ("mp4", true),
            Some("mov") => ("mov", true),
            Some("mkv") => ("matroska", false),
            _ => {
                return Err(VideoError::UnknownFormat {
                    path: path.to_path_buf(),
                    extension,
                });
            }
        };
        if options.pixel_format == PixelFormat::Yuv420p
            && (!frames.width().is_multiple_of(2) || !frames.height().is_multiple_of(2))
        {
            return Err(VideoError::OddSize {
                path: path.to_path_buf(),
                width: frames.width(),
                height: frames.height(),
            });
        }
        if options.crf > 51 {
            return Err(VideoError::BadOption {
                path: path.to_path_buf(),
                message: format!("CRF must be 0 to 51, got {}", options.crf),
            });
        }
        if frames.frame_count() == 0 {
            return Err(VideoError::BadOption {
                path: path.to_path_buf(),
                message: "no frames to write".into(),
            });
        }
        let (rate_num, rate_den) = fps_as_fraction(frames.fps());
        if rate_num == 0 {
            return Err(VideoError::BadOption {
                path: path.to_path_buf(),
                message: format!("frame rate {} is too small to encode", frames.fps()),
            });
        }

        let pending = PendingOutput::next_to(path, &format!(".{}", extension.unwrap_or_default()))?;
        let pixel_format = options.pixel_format.ffmpeg_name();
        let mut command = self.command(Program::Ffmpeg);
        command
            .args(["-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{}x{}", frames.width(), frames.height())])
            // Each input frame gets a 1/fps duration, which the muxer keeps on every packet, so the last frame
            // is not dropped.
            .args(["-framerate", &format!("{rate_num}/{rate_den}")])
            .args(["-i", "pipe:0"])
            .args([
                "-vf",
                &format!(
                    "scale=out_color_matrix=bt601:out_range=tv:flags={WRITE_SWS_FLAGS},format={pixel_format}"
                ),
            ])
            .args(["-c:v", "libx264", "-pix_fmt", pixel_format])
            .args(["-preset", options.preset.ffmpeg_name()])
            .args(["-crf", &options.crf.to_string()])
            .args(["-colorspace", "smpte170m", "-color_range", "tv"]);
        if faststart {
            command.args(["-movflags", "+faststart"]);
        }
        command.args(["-f", container]).arg(pending.temp());

        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                self.start_error(
                    Program::Ffmpeg,
                    format!("writing {}", path.display()),
                    source,
                )
            })?;
        // Drain stderr on its own thread so a chatty ffmpeg cannot block while we fill its stdin.
        let stderr_reader = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = stderr.read_to_end(&mut text);
                text
            })
        });
        // A write error here means ffmpeg exited early; its exit status and stderr below say why.
        let write_result = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(frames.as_bytes()),
            None => Ok(()),
        };
        let status = child
            .wait()
            .map_err(|source| VideoError::io(path, source))?;
        let stderr = stderr_reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        if !status.success() || write_result.is_err() {
            let mut message = program_message(&stderr, status);
            if let Err(error) = write_result {
                message.push_str(&format!(" (sending frames failed: {error})"));
            }
            return Err(VideoError::Ffmpeg {
                path: path.to_path_buf(),
                program: "ffmpeg",
                action: "encode it",
                message,
            });
        }

        let packets = self.count_packets(pending.temp())?;
        if packets != frames.frame_count() {
            return Err(VideoError::FrameCountMismatch {
                path: path.to_path_buf(),
                expected: frames.frame_count(),
                got: packets,
                ffmpeg_said: stderr_summary(&stderr),
            });
        }
        pending.commit()
    }
}

/// ffmpeg's stderr, cut to its first lines: a damaged file can make it repeat one complaint per packet.
fn stderr_summary(stderr: &[u8]) -> String {
    const MAX_LINES: usize = 8;
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.trim().lines().collect();
    match lines.split_at_checked(MAX_LINES) {
        Some((head, rest)) if !rest.is_empty() => {
            format!("{}\n… ({} more lines)", head.join("\n"), rest.len())
        }
        _ => lines.join("\n"),
    }
}

/// A program's stderr, or its exit status when it printed nothing.
fn program_message(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = stderr_summary(stderr);
    if text.is_empty() {
        format!("it exited with {status} and printed nothing")
    } else {
        text
    }
}

pub(crate) fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|extension| extension.to_string_lossy().to_lowercase())
}

/// Parses ffprobe's "num/den" rate; `None` for "0/0" and other non-rates.
fn parse_rate(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/').unwrap_or((text, "1"));
    let rate = num.trim().parse::<f64>().ok()? / den.trim().parse::<f64>().ok()?;
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

/// The best fraction with a denominator up to 100 000 (continued fractions), so 8 → 8/1 and an NTSC rate read as
/// 30000/1001 is written back exactly.
pub(crate) fn fps_as_fraction(fps: f64) -> (u64, u64) {
    const MAX_DENOMINATOR: u64 = 100_000;
    let (mut num_prev, mut num) = (0u64, 1u64);
    let (mut den_prev, mut den) = (1u64, 0u64);
    let mut rest = fps;
    for _ in 0..64 {
        let whole = rest.floor();
        if !(0.0..=u32::MAX as f64).contains(&whole) {
            break;
        }
        let whole_int = whole as u64;
        let (Some(next_num), Some(next_den)) = (
            whole_int
                .checked_mul(num)
                .and_then(|n| n.checked_add(num_prev)),
            whole_int
                .checked_mul(den)
                .and_then(|d| d.checked_add(den_prev)),
        ) else {
            break;
        };
        if next_den > MAX_DENOMINATOR {
            break;
        }
        (num_prev, num, den_prev, den) = (num, next_num, den, next_den);
        let fraction = rest - whole;
        if fraction < 1e-12 || (num as f64 / den as f64 - fps).abs() <= 1e-12 * fps {
            break;
        }
        rest = 1.0 / fraction;
    }
    if den == 0 { (0, 1) } else { (num, den) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_become_exact_fractions() {
        assert_eq!(fps_as_fraction(8.0), (8, 1));
        assert_eq!(fps_as_fraction(30000.0 / 1001.0), (30000, 1001));
        assert_eq!(fps_as_fraction(12.5), (25, 2));
        assert_eq!(fps_as_fraction(1e-9).0, 0);
        assert_eq!(parse_rate("8/1"), Some(8.0));
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("25"), Some(25.0));
    }

    #[test]
    fn program_paths_come_from_the_environment_or_path() {
        let plain = Ffmpeg::from_lookup(|_| None);
        assert_eq!(plain.ffmpeg_program(), Path::new("ffmpeg"));
        assert_eq!(plain.ffprobe_program(), Path::new("ffprobe"));
        let overridden = Ffmpeg::from_lookup(|name| match name {
            FFMPEG_ENV => Some("/opt/ff/bin/ffmpeg".into()),
            FFPROBE_ENV => Some("".into()),
            _ => None,
        });
        assert_eq!(overridden.ffmpeg_program(), Path::new("/opt/ff/bin/ffmpeg"));
        assert_eq!(overridden.ffprobe_program(), Path::new("ffprobe"));
    }
}
