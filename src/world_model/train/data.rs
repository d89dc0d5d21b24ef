//! Training data: DWM sample folders (as `handtwin synth` writes them) read into memory once, and the VAE
//! posteriors of every clip cached for the transformer stages.

use super::super::Result;
use super::super::error::file_error;
use super::super::resample::frames_to_cfhw;
use crate::video::{DwmSample, Ffmpeg, Frames, list_stems};
use candle_core::{Device, Tensor};
use std::path::PathBuf;

/// One paired clip, each video [3, F, H, W] in [−1, 1].
pub struct Clip {
    pub stem: String,
    pub source: PathBuf,
    pub prompt: String,
    pub truth: Tensor,
    pub static_video: Tensor,
    pub hands: Tensor,
}

/// The three videos of a clip, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Truth,
    Static,
    Hands,
}

impl Clip {
    pub fn video(&self, stream: Stream) -> &Tensor {
        match stream {
            Stream::Truth => &self.truth,
            Stream::Static => &self.static_video,
            Stream::Hands => &self.hands,
        }
    }
}

/// A video as [3, F, H, W] in [−1, 1].
pub fn video_tensor(frames: &Frames, device: &Device) -> Result<Tensor> {
    let (f, h, w) = (
        frames.frame_count(),
        frames.height() as usize,
        frames.width() as usize,
    );
    let tensor = Tensor::from_vec(frames_to_cfhw(frames), (3, f, h, w), device)?;
    Ok(((tensor * 2.0)? - 1.0)?)
}

/// Reads every sample of the folders. Each must have the ground truth (`videos/`), and all three videos must be
/// `width`×`height` with `frames` frames: the training clips are made at the model's size.
pub fn load_clips(
    dirs: &[PathBuf],
    size: (u32, u32, usize),
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Clip>> {
    let ffmpeg = Ffmpeg::from_env();
    let mut listed = Vec::new();
    for dir in dirs {
        let stems = list_stems(dir).map_err(|e| file_error(dir, e))?;
        if stems.is_empty() {
            return Err(file_error(
                dir,
                "holds no DWM samples (videos_static/<stem>.mp4 + videos_hands/<stem>.mp4); make some with `handtwin synth`",
            ));
        }
        listed.extend(stems.into_iter().map(|stem| (dir.clone(), stem)));
    }
    let total = listed.len();
    let mut clips = Vec::with_capacity(total);
    for (index, (dir, stem)) in listed.into_iter().enumerate() {
        let sample = DwmSample::read(&dir, &stem, &ffmpeg).map_err(|e| file_error(&dir, e))?;
        let where_ = dir.join("videos").join(format!("{stem}.mp4"));
        let Some(truth) = sample.ground_truth.as_ref() else {
            return Err(file_error(
                &where_,
                "is missing: training needs the interaction video of every sample",
            ));
        };
        for (role, frames) in [
            ("videos", truth),
            ("videos_static", &sample.static_video),
            ("videos_hands", &sample.hand_video),
        ] {
            let got = (frames.width(), frames.height(), frames.frame_count());
            if got != size {
                return Err(file_error(
                    &dir.join(role).join(format!("{stem}.mp4")),
                    format!(
                        "is {}x{} with {} frames; this model trains on {}x{} with {} frames (make the data with matching --width/--height/--frames)",
                        got.0, got.1, got.2, size.0, size.1, size.2
                    ),
                ));
            }
        }
        clips.push(Clip {
            stem,
            source: dir.clone(),
            prompt: sample.prompt.clone().unwrap_or_default(),
            truth: video_tensor(truth, device)?,
            static_video: video_tensor(&sample.static_video, device)?,
            hands: video_tensor(&sample.hand_video, device)?,
        });
        progress(index + 1, total);
    }
    Ok(clips)
}

/// The VAE posteriors of one clip, each [F_latent, C, h, w] (the transformer's per-frame layout): mean and
/// log-variance of the interaction, static and hand videos.
pub struct ClipLatents {
    pub truth: (Tensor, Tensor),
    pub static_video: (Tensor, Tensor),
    pub hands: (Tensor, Tensor),
    /// Token ids of the prompt, `TEXT_LENGTH` long.
    pub prompt_ids: Vec<u32>,
}

/// mean + exp(logvar / 2)·ε, the posterior sample DWM trains on.
pub fn sample_posterior(posterior: &(Tensor, Tensor), eps: &Tensor) -> Result<Tensor> {
    let std = (&posterior.1 * 0.5)?.exp()?;
    Ok((&posterior.0 + (std * eps)?)?)
}
