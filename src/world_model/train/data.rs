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
    /// The clip's room, when its folder's `synth.json` says: (index of the folder in the list read, the
    /// manifest's room seed). Clips of one room (`handtwin synth --variants N`) share the room, camera path and
    /// action and differ only in its timing; `--sibling-weight` trains on such pairs. `None` without a manifest.
    pub room: Option<(usize, u64)>,
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
    let mut rooms = Vec::with_capacity(dirs.len());
    for dir in dirs {
        rooms.push(room_seeds(dir)?);
        let stems = list_stems(dir).map_err(|e| file_error(dir, e))?;
        if stems.is_empty() {
            return Err(file_error(
                dir,
                "holds no DWM samples (videos_static/<stem>.mp4 + videos_hands/<stem>.mp4); make some with `handtwin synth`",
            ));
        }
        let dir_index = rooms.len() - 1;
        listed.extend(stems.into_iter().map(|stem| (dir_index, dir.clone(), stem)));
    }
    let total = listed.len();
    let mut clips = Vec::with_capacity(total);
    for (index, (dir_index, dir, stem)) in listed.into_iter().enumerate() {
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
        let room = rooms[dir_index].get(&stem).map(|&seed| (dir_index, seed));
        clips.push(Clip {
            stem,
            source: dir.clone(),
            room,
            prompt: sample.prompt.clone().unwrap_or_default(),
            truth: video_tensor(truth, device)?,
            static_video: video_tensor(&sample.static_video, device)?,
            hands: video_tensor(&sample.hand_video, device)?,
        });
        progress(index + 1, total);
    }
    Ok(clips)
}

/// The room seed of each clip in `dir`'s `synth.json`, by stem; empty when the folder has no manifest (DWM
/// samples from elsewhere). A manifest that cannot be read or parsed is an error naming it.
pub fn room_seeds(dir: &std::path::Path) -> Result<std::collections::HashMap<String, u64>> {
    let path = dir.join("synth.json");
    if !path.is_file() {
        return Ok(std::collections::HashMap::new());
    }
    let manifest = crate::synth::manifest::Manifest::read(dir).map_err(|e| file_error(&path, e))?;
    Ok(manifest
        .clips
        .into_iter()
        .map(|clip| (clip.stem, clip.seed))
        .collect())
}

/// The VAE posteriors of one clip, each [F_latent, C, h, w] (the transformer's per-frame layout): mean and
/// log-variance of the interaction, static and hand videos.
#[derive(Clone)]
pub struct ClipLatents {
    pub truth: (Tensor, Tensor),
    pub static_video: (Tensor, Tensor),
    pub hands: (Tensor, Tensor),
    /// The clip's room (see [`Clip::room`]).
    pub room: Option<(usize, u64)>,
    /// Token ids of the prompt, `TEXT_LENGTH` long.
    pub prompt_ids: Vec<u32>,
    /// [F', 1, h, w] on the latent grid: 1 where some pixel the latent covers differs between the interaction and
    /// the static video (hands, moved objects), else 0. `--changed-weight` weights the DWM loss there.
    pub changed: Tensor,
    /// [F', 1, h, w] on the latent grid: 1 where some pixel the latent covers is in the object region (changed,
    /// and more than [`HAND_MARGIN`] pixels from any hand pixel: a drawer that moved, a cup that was lifted),
    /// else 0. `--object-weight` weights the DWM loss there.
    pub object: Tensor,
}

/// Pixels count as changed when a channel differs by more than this many levels (of 255), the threshold of the
/// evaluation's interaction region.
pub const CHANGED_LEVELS: f32 = 12.0;
/// A hand-video pixel is a hand pixel when some channel is above this many levels (the evaluation's threshold).
pub const HAND_LEVELS: f32 = 8.0;
/// The object region leaves out pixels within this many pixels of a hand (the evaluation's margin).
pub const HAND_MARGIN: usize = 3;

/// Where the interaction video differs from the static one, pooled (max) onto a latent grid of `frames` × `height`
/// × `width`: latent frame 0 covers pixel frame 0 and latent frame k the `temporal` frames before and at
/// k·`temporal` (CogVideoX's causal grouping); each latent pixel covers a block of pixels. `truth` and
/// `static_video` are [3, F, H, W] in [-1, 1]. Returns [frames, 1, height, width] of 0/1.
pub fn changed_region(
    truth: &Tensor,
    static_video: &Tensor,
    grid: (usize, usize, usize),
) -> Result<Tensor> {
    pool_onto_latent_grid(&changed_pixels(truth, static_video)?, grid)
}

/// The object region (as the evaluation defines it: changed pixels more than [`HAND_MARGIN`] pixels from a hand
/// pixel of `hands`) pooled onto the latent grid as [`changed_region`] pools. All three videos are [3, F, H, W] in
/// [-1, 1]. Returns [frames, 1, height, width] of 0/1.
pub fn object_region(
    truth: &Tensor,
    static_video: &Tensor,
    hands: &Tensor,
    grid: (usize, usize, usize),
) -> Result<Tensor> {
    let changed = changed_pixels(truth, static_video)?;
    let hand_threshold = (HAND_LEVELS / 127.5 - 1.0) as f64;
    // [F, 1, H, W] of 0/1, grown by HAND_MARGIN pixels (a max filter over a zero-padded square window).
    let hand = hands
        .max(0)?
        .gt(hand_threshold)?
        .to_dtype(candle_core::DType::F32)?
        .unsqueeze(1)?;
    let size = 2 * HAND_MARGIN + 1;
    let near_hand = hand
        .pad_with_zeros(2, HAND_MARGIN, HAND_MARGIN)?
        .pad_with_zeros(3, HAND_MARGIN, HAND_MARGIN)?
        .max_pool2d_with_stride((size, size), (1, 1))?
        .squeeze(1)?;
    if near_hand.dims() != changed.dims() {
        return Err(super::super::error::input_error(
            "object region",
            format!(
                "the hand video is {:?}, the interaction video {:?}",
                near_hand.dims(),
                changed.dims()
            ),
        ));
    }
    let object = (changed * (1.0 - near_hand)?)?;
    pool_onto_latent_grid(&object, grid)
}

/// [F, H, W] of 0/1: where some channel of `truth` differs from `static_video` by more than [`CHANGED_LEVELS`].
fn changed_pixels(truth: &Tensor, static_video: &Tensor) -> Result<Tensor> {
    let threshold = (CHANGED_LEVELS / 127.5) as f64;
    Ok((truth - static_video)?
        .abs()?
        .max(0)?
        .gt(threshold)?
        .to_dtype(candle_core::DType::F32)?)
}

/// Max-pools a pixel mask [F, H, W] onto the latent grid with CogVideoX's causal frame grouping (see
/// [`changed_region`]). Returns [frames, 1, height, width].
fn pool_onto_latent_grid(
    mask: &Tensor,
    (frames, height, width): (usize, usize, usize),
) -> Result<Tensor> {
    let (f, h, w) = mask.dims3()?;
    let temporal = if frames > 1 {
        (f - 1) / (frames - 1)
    } else {
        1
    };
    let (sy, sx) = (h / height.max(1), w / width.max(1));
    if temporal == 0
        || sy == 0
        || sx == 0
        || 1 + (frames - 1) * temporal != f
        || sy * height != h
        || sx * width != w
    {
        return Err(super::super::error::input_error(
            "changed region",
            format!("a {f}×{h}×{w} clip does not map onto a {frames}×{height}×{width} latent grid"),
        ));
    }
    let mut groups = vec![mask.narrow(0, 0, 1)?];
    for k in 1..frames {
        groups.push(
            mask.narrow(0, 1 + (k - 1) * temporal, temporal)?
                .max_keepdim(0)?,
        );
    }
    let grouped = Tensor::cat(&groups, 0)?;
    let pooled = grouped
        .reshape((frames, height, sy, width, sx))?
        .max(4)?
        .max(2)?;
    Ok(pooled.unsqueeze(1)?)
}

/// mean + exp(logvar / 2)·ε, the posterior sample DWM trains on.
pub fn sample_posterior(posterior: &(Tensor, Tensor), eps: &Tensor) -> Result<Tensor> {
    let std = (&posterior.1 * 0.5)?.exp()?;
    Ok((&posterior.0 + (std * eps)?)?)
}
