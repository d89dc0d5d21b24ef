//! DWM's sample layout: one folder per dataset, one stem per sample.
//!
//! ```text
//! <dir>/videos/<stem>.mp4            ground truth (optional; yuv420p)
//! <dir>/videos_static/<stem>.mp4     static-scene stream (yuv420p)
//! <dir>/videos_hands/<stem>.mp4      hand-mesh stream (yuv444p, H.264 High 4:4:4)
//! <dir>/prompts_rewrite/<stem>.txt   the prompt DWM's inference reads
//! <dir>/prompts/<stem>.txt           read when prompts_rewrite/ has no file for the stem
//! ```

use std::path::{Path, PathBuf};

use super::error::VideoError;
use super::ffmpeg::{Ffmpeg, Mp4Options};
use super::frames::Frames;
use super::output::PendingOutput;

pub const GROUND_TRUTH_DIR: &str = "videos";
pub const STATIC_DIR: &str = "videos_static";
pub const HANDS_DIR: &str = "videos_hands";
pub const PROMPTS_REWRITE_DIR: &str = "prompts_rewrite";
pub const PROMPTS_DIR: &str = "prompts";

/// One DWM sample: the two conditioning streams, optionally what really happened, and the prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct DwmSample {
    pub stem: String,
    pub static_video: Frames,
    pub hand_video: Frames,
    pub ground_truth: Option<Frames>,
    pub prompt: Option<String>,
}

/// Where each file of a sample lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplePaths {
    pub static_video: PathBuf,
    pub hand_video: PathBuf,
    pub ground_truth: PathBuf,
    pub prompt_rewrite: PathBuf,
    pub prompt: PathBuf,
}

impl SamplePaths {
    pub fn new(dir: &Path, stem: &str) -> Result<Self, VideoError> {
        validate_stem(stem)?;
        let video = |sub: &str| dir.join(sub).join(format!("{stem}.mp4"));
        let text = |sub: &str| dir.join(sub).join(format!("{stem}.txt"));
        Ok(Self {
            static_video: video(STATIC_DIR),
            hand_video: video(HANDS_DIR),
            ground_truth: video(GROUND_TRUTH_DIR),
            prompt_rewrite: text(PROMPTS_REWRITE_DIR),
            prompt: text(PROMPTS_DIR),
        })
    }
}

/// A stem names files in several folders, so it must be a plain file name: no separators, no `.`/`..`, not
/// hidden, no control characters.
pub fn validate_stem(stem: &str) -> Result<(), VideoError> {
    let reason = if stem.is_empty() {
        Some("it is empty")
    } else if stem.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if stem.starts_with('.') {
        Some("it starts with a dot")
    } else if stem.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if stem.trim() != stem {
        Some("it starts or ends with white space")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(VideoError::BadStem {
            stem: stem.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The stems of the complete samples in `dir` (a static and a hand video both present), sorted. Stems with only
/// one of the two are skipped with a warning.
pub fn list_stems(dir: &Path) -> Result<Vec<String>, VideoError> {
    if !dir.is_dir() {
        return Err(VideoError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let static_stems = mp4_stems(&dir.join(STATIC_DIR))?;
    let hand_stems = mp4_stems(&dir.join(HANDS_DIR))?;
    for stem in static_stems.symmetric_difference(&hand_stems) {
        tracing::warn!(
            "{}: sample {stem} lacks its {} video, skipped",
            dir.display(),
            if static_stems.contains(stem) {
                HANDS_DIR
            } else {
                STATIC_DIR
            }
        );
    }
    Ok(static_stems.intersection(&hand_stems).cloned().collect())
}

fn mp4_stems(dir: &Path) -> Result<std::collections::BTreeSet<String>, VideoError> {
    let mut stems = std::collections::BTreeSet::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(stems),
        Err(source) => return Err(VideoError::io(dir, source)),
    };
    for entry in entries {
        let path = entry.map_err(|source| VideoError::io(dir, source))?.path();
        let is_mp4 = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("mp4"));
        if let (true, Some(stem)) = (is_mp4, path.file_stem().and_then(|stem| stem.to_str()))
            && validate_stem(stem).is_ok()
        {
            stems.insert(stem.to_string());
        }
    }
    Ok(stems)
}

/// Encoding settings for a sample's videos.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleWriteOptions {
    /// Static and ground-truth videos (yuv420p by default, like DWM's).
    pub video: Mp4Options,
    /// Hand video (yuv444p by default, like DWM's).
    pub hands: Mp4Options,
}

impl Default for SampleWriteOptions {
    fn default() -> Self {
        Self {
            video: Mp4Options::video(),
            hands: Mp4Options::hand_video(),
        }
    }
}

impl DwmSample {
    /// Reads sample `stem` from `dir`. The static and hand videos are required, the ground truth and the prompt
    /// are optional. The prompt comes from `prompts_rewrite/` (what DWM's inference reads), else `prompts/`, with
    /// surrounding white space stripped as DWM does.
    pub fn read(dir: &Path, stem: &str, ffmpeg: &Ffmpeg) -> Result<Self, VideoError> {
        let paths = SamplePaths::new(dir, stem)?;
        let static_video = ffmpeg.read(&paths.static_video)?;
        let hand_video = ffmpeg.read(&paths.hand_video)?;
        let ground_truth = if paths.ground_truth.exists() {
            Some(ffmpeg.read(&paths.ground_truth)?)
        } else {
            None
        };
        let prompt = [&paths.prompt_rewrite, &paths.prompt]
            .into_iter()
            .find(|path| path.exists())
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|text| text.trim().to_string())
                    .map_err(|source| VideoError::io(path, source))
            })
            .transpose()?;
        let sample = Self {
            stem: stem.to_string(),
            static_video,
            hand_video,
            ground_truth,
            prompt,
        };
        sample.check_consistent(dir)?;
        Ok(sample)
    }

    /// Writes the sample into `dir` (creating the subfolders): static and ground truth with `options.video`,
    /// hands with `options.hands`, the prompt to `prompts_rewrite/<stem>.txt` only — that is the file DWM's
    /// inference reads, and a second copy in `prompts/` could later disagree with it. Existing files of the same
    /// stem are replaced; files this sample lacks (ground truth, prompt) are left as they are.
    pub fn write(
        &self,
        dir: &Path,
        options: &SampleWriteOptions,
        ffmpeg: &Ffmpeg,
    ) -> Result<SamplePaths, VideoError> {
        let paths = SamplePaths::new(dir, &self.stem)?;
        self.check_consistent(dir)?;
        let mut jobs = vec![
            (&self.static_video, &paths.static_video, &options.video),
            (&self.hand_video, &paths.hand_video, &options.hands),
        ];
        if let Some(ground_truth) = &self.ground_truth {
            jobs.push((ground_truth, &paths.ground_truth, &options.video));
        }
        for (frames, path, mp4_options) in jobs {
            create_parent(path)?;
            ffmpeg.write(frames, path, mp4_options)?;
        }
        if let Some(prompt) = &self.prompt {
            create_parent(&paths.prompt_rewrite)?;
            let pending = PendingOutput::next_to(&paths.prompt_rewrite, ".txt")?;
            std::fs::write(pending.temp(), format!("{prompt}\n"))
                .map_err(|source| VideoError::io(&paths.prompt_rewrite, source))?;
            pending.commit()?;
        }
        Ok(paths)
    }

    /// DWM conditions frame by frame, so every video of a sample must share size, length and rate.
    fn check_consistent(&self, dir: &Path) -> Result<(), VideoError> {
        let reference = &self.static_video;
        let others = [
            (HANDS_DIR, Some(&self.hand_video)),
            (GROUND_TRUTH_DIR, self.ground_truth.as_ref()),
        ];
        for (name, other) in others {
            let Some(other) = other else { continue };
            let same = other.width() == reference.width()
                && other.height() == reference.height()
                && other.frame_count() == reference.frame_count()
                && (other.fps() - reference.fps()).abs() <= 1e-6 * reference.fps();
            if !same {
                return Err(VideoError::Sample {
                    dir: dir.to_path_buf(),
                    stem: self.stem.clone(),
                    message: format!(
                        "the {name} video is {:?} but the static video is {:?}; they must match",
                        other, reference
                    ),
                });
            }
        }
        Ok(())
    }
}

fn create_parent(path: &Path) -> Result<(), VideoError> {
    match path.parent() {
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(|source| VideoError::io(parent, source))
        }
        None => Ok(()),
    }
}
