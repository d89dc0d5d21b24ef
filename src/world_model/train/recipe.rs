//! The stages of the recipe: VAE, inpainting pre-training, DWM fine-tune, and the export of the finished model.

use super::data::{Clip, ClipLatents, Stream, changed_region, object_region, sample_posterior};
use super::optim::{AdamW, AdamWSettings};
use super::{
    LossLog, RunDir, Stage, StepLog, TrainRng, checkpoint_next_step, learning_rate, load_tensors,
    named_vars, restore_vars, save_checkpoint, save_tensors_atomic, seeded_var_builder,
    set_vars_from, start_t5_norm_scales_at_one, tiny, write_text_atomic,
};
use crate::world_model::ConfigFile as _;
use crate::world_model::Result;
use crate::world_model::error::file_error;
use crate::world_model::error::input_error;
use crate::world_model::scheduler::{DdimConfig, alphas_cumprod};
use crate::world_model::t5::{T5Config, T5TextEncoder};
use crate::world_model::tokenizer::T5Tokenizer;
use crate::world_model::transformer::{
    CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid,
};
use crate::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The settings of one stage.
#[derive(Clone, Debug)]
pub struct StageSettings {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub warmup: usize,
    pub checkpoint_every: usize,
    pub seed: u64,
    /// Stop (with a checkpoint) after this many steps of this invocation; `None` runs to `steps`.
    pub max_steps_now: Option<usize>,
    /// The DWM stage's loss weight on latent positions whose pixels changed (hands, moved objects; see
    /// `data::changed_region`) relative to the rest; 1 is DWM's plain MSE. Ignored by the other stages.
    pub changed_weight: f64,
    /// The DWM stage's loss weight on latent positions in the object region (changed pixels away from the hands:
    /// moved drawers, doors, objects; see `data::object_region`), in place of `changed_weight` there. `None`:
    /// `changed_weight`. Ignored by the other stages.
    pub object_weight: Option<f64>,
    /// The DWM stage's starting weights when it has no checkpoint yet: a finished model folder (diffusers layout,
    /// as `model/` of a run or `models/tiny-dwm`) whose transformer and T5 are loaded instead of widening the
    /// inpainting checkpoint. The run's VAE must be that model's (`train` copies it in). Ignored by the other stages.
    pub init_from: Option<std::path::PathBuf>,
    /// Attention heads of the denoiser (its width is heads × `tiny::HEAD_DIM`); `tiny::DEFAULT_HEADS` for the
    /// bundled model's size. A run must keep it across stages and resumes (a checkpoint of another width is
    /// refused with its file named). Ignored by the VAE stages.
    pub heads: usize,
    /// Probability that a denoiser step (inpainting and DWM stages) trains a sample with the empty prompt, for
    /// classifier-free guidance and so that the video conditions, not the words, carry the action.
    /// [`PROMPT_DROPOUT`] by default.
    pub prompt_dropout: f64,
    /// The denoiser stages draw training timesteps uniformly from `min_timestep..num_train_timesteps` (0: all of
    /// them, as CogVideoX and DWM train). One-step sampling — the bundled model's default — uses only the
    /// prediction at t = 999, where the noisy latent says nothing about the clip and the conditions (static video,
    /// hands, prompt) must carry everything; at lower t the noisy latent itself shows where the drawer is, so a
    /// denoiser trained on all timesteps can learn to read it rather than the hands. A high `min_timestep`
    /// trains only what one-step sampling asks for.
    pub min_timestep: usize,
    /// The DWM stage's learning-rate multiplier for the 16 hand input channels of the patch embedding (the ones
    /// that start at zero); 1 trains them at the rate of everything else. Ignored by the other stages.
    pub hand_lr_scale: f64,
    /// The DWM stage's weight on the sibling term; 0 (the default) trains as DWM does. Above 0 each batch is
    /// `batch / 2` pairs of clips from one room (`handtwin synth --variants N`: same room, camera path and
    /// action, another timing), each pair with the same timestep and noise, and the loss adds this weight
    /// times the (region-weighted) mean of ((p_a − p_b) − (v_a − v_b))²: the error in how the prediction
    /// changes between the two clips. Only the hand latents differ between them, so only reading the hands can
    /// lower that term — the plain loss spends nearly all its gradient on what every variant shares.
    pub sibling_weight: f64,
    /// Every step draws the batch, noise and timesteps of step 0: the overfitting check of a new recipe (the
    /// loss must fall towards zero), and what the tests use to see that training learns.
    pub overfit_one_batch: bool,
}

impl StageSettings {
    /// Refuses settings no stage can train with, naming the field: a loss weight, dropout probability or
    /// learning-rate multiplier out of range, or a timestep range with nothing in it. The training functions call
    /// it first; `handtwin train` calls it before it spends minutes reading clips.
    pub fn check(&self) -> Result<()> {
        let positive = |what: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(input_error(
                    what,
                    format!("must be a positive number, not {value}"),
                ))
            }
        };
        positive("changed_weight", self.changed_weight)?;
        if let Some(weight) = self.object_weight {
            positive("object_weight", weight)?;
        }
        positive("hand_lr_scale", self.hand_lr_scale)?;
        if !(self.sibling_weight.is_finite() && self.sibling_weight >= 0.0) {
            return Err(input_error(
                "sibling_weight",
                format!("must be 0 or more, not {}", self.sibling_weight),
            ));
        }
        if self.sibling_weight > 0.0 && (self.batch < 2 || !self.batch.is_multiple_of(2)) {
            return Err(input_error(
                "sibling_weight",
                format!(
                    "trains on pairs of clips, so the batch must be even, not {}",
                    self.batch
                ),
            ));
        }
        // 0 is allowed: a step at rate 0 leaves the weights as they are, which the tests use.
        if !(self.learning_rate.is_finite() && self.learning_rate >= 0.0) {
            return Err(input_error(
                "learning_rate",
                format!("must be 0 or more, not {}", self.learning_rate),
            ));
        }
        if !(0.0..=1.0).contains(&self.prompt_dropout) {
            return Err(input_error(
                "prompt_dropout",
                format!(
                    "is a probability between 0 and 1, not {}",
                    self.prompt_dropout
                ),
            ));
        }
        let scheduler = DdimConfig::from_json(&tiny::scheduler_config_json(), "tiny scheduler")?;
        if self.min_timestep >= scheduler.num_train_timesteps {
            return Err(input_error(
                "min_timestep",
                format!(
                    "{} leaves no timestep to train: the schedule has {} (0 to {})",
                    self.min_timestep,
                    scheduler.num_train_timesteps,
                    scheduler.num_train_timesteps - 1
                ),
            ));
        }
        Ok(())
    }
}

/// VAE crops: (frames, height, width). 9 frames = the causal first frame and two 4-frame groups.
pub const VAE_CROP: (usize, usize, usize) = (9, 32, 32);
/// Weight of the KL term (per-element mean) in the VAE loss.
pub const VAE_KL_WEIGHT: f64 = 1e-4;
/// The default probability of training a denoiser sample with the empty prompt (for classifier-free guidance).
pub const PROMPT_DROPOUT: f64 = 0.1;

/// The loop shared by every stage: resume, step, clip, update, log, checkpoint.
fn run_loop(
    run: &RunDir,
    stage: Stage,
    settings: &StageSettings,
    vars: &[(String, Var)],
    lr_scales: &[(&str, Tensor)],
    mut loss_at: impl FnMut(usize, &mut TrainRng) -> Result<Tensor>,
    report: &mut dyn FnMut(&StepLog),
) -> Result<bool> {
    // The rate is set again at every step from the schedule.
    let mut optimizer = AdamW::new(
        vars.to_vec(),
        AdamWSettings {
            learning_rate: settings.learning_rate,
            ..Default::default()
        },
    )?;
    for (name, scale) in lr_scales {
        optimizer.scale_learning_rate(name, scale)?;
    }
    let checkpoint = run.checkpoint(stage);
    let mut start = 0;
    if checkpoint.is_file() {
        let tensors = load_tensors(&checkpoint, &Device::Cpu)?;
        restore_vars(&checkpoint, &tensors, vars)?;
        optimizer.load_state(&tensors)?;
        start = checkpoint_next_step(&checkpoint, &tensors)?;
        tracing::info!(
            "{}: resuming at step {start} from {}",
            stage.name(),
            checkpoint.display()
        );
    }
    let mut log = LossLog::open(&run.log(stage), start)?;
    let end = settings
        .max_steps_now
        .map_or(settings.steps, |n| (start + n).min(settings.steps));
    for step in start..end {
        let began = Instant::now();
        let draw = if settings.overfit_one_batch { 0 } else { step };
        let mut rng = TrainRng::for_step(settings.seed, stage, draw);
        let loss = loss_at(step, &mut rng)?;
        let loss_value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()? as f64;
        optimizer.settings.learning_rate = learning_rate(
            settings.learning_rate,
            step,
            settings.warmup,
            settings.steps,
        );
        let grads = loss.backward()?;
        let stepped = optimizer.step(&grads)?;
        let row = StepLog {
            stage,
            step,
            total: settings.steps,
            loss: loss_value,
            grad_norm: stepped.grad_norm,
            learning_rate: optimizer.settings.learning_rate,
            seconds: began.elapsed().as_secs_f64(),
        };
        log.append(&row)?;
        report(&row);
        let done = step + 1;
        if done % settings.checkpoint_every.max(1) == 0 || done == end {
            save_checkpoint(&checkpoint, vars, &optimizer, done)?;
        }
    }
    Ok(end == settings.steps)
}

fn new_vae(varmap: &VarMap, seed: u64, device: &Device) -> Result<AutoencoderKLCogVideoX> {
    let config = VaeConfig::from_json(&tiny::vae_config_json(1.0), "tiny VAE config")?;
    let vb = seeded_var_builder(varmap, seed, device);
    Ok(AutoencoderKLCogVideoX::new(&config, vb)?)
}

/// Stage 1: the CogVideoX VAE on random crops of all three streams. L1 + MSE reconstruction, a small KL term.
/// When the stage completes, the scaling factor (1 / std of the latents, as Stable Diffusion's was chosen) is
/// measured and the VAE is written to `model/vae/`. Returns whether the stage completed.
pub fn train_vae(
    run: &RunDir,
    clips: &[Clip],
    settings: &StageSettings,
    device: &Device,
    report: &mut dyn FnMut(&StepLog),
) -> Result<bool> {
    settings.check()?;
    if clips.is_empty() {
        return Err(input_error("training data", "no clips"));
    }
    let varmap = VarMap::new();
    let vae = new_vae(&varmap, settings.seed, device)?;
    let vars = named_vars(&varmap, "")?;
    let loss_at = |_step: usize, rng: &mut TrainRng| -> Result<Tensor> {
        let x = draw_crops(clips, settings.batch, rng)?;
        let posterior = vae.encode(&x)?;
        let eps = rng.normal(posterior.mean.dims(), device)?;
        let z = posterior.sample_with(&eps)?;
        let recon = vae.decode(&z)?;
        let difference = (recon - &x)?;
        let l1 = difference.abs()?.mean_all()?;
        let mse = difference.sqr()?.mean_all()?;
        let kl = ((posterior.mean.sqr()? + posterior.logvar.exp()?)? - 1.0)?
            .sub(&posterior.logvar)?
            .mean_all()?
            * 0.5;
        Ok(((l1 + mse)? + (kl? * VAE_KL_WEIGHT)?)?)
    };
    let complete = run_loop(run, Stage::Vae, settings, &vars, &[], loss_at, report)?;
    if complete {
        let scaling_factor = measure_scaling_factor(&vae, clips)?;
        let dir = run.model().join("vae");
        write_text_atomic(
            &dir.join("config.json"),
            &tiny::vae_config_json(scaling_factor),
        )?;
        save_named(&vars, "", &dir.join("diffusion_pytorch_model.safetensors"))?;
        tracing::info!(
            "VAE written to {} (scaling factor {scaling_factor:.4})",
            dir.display()
        );
    }
    Ok(complete)
}

/// A batch of random VAE crops (`VAE_CROP`) of the three streams (truth 40%, static 30%, hands 30%), flipped
/// left-right half the time: `[batch, 3, frames, height, width]`.
fn draw_crops(clips: &[Clip], batch: usize, rng: &mut TrainRng) -> Result<Tensor> {
    let (crop_t, crop_h, crop_w) = VAE_CROP;
    let mut crops = Vec::with_capacity(batch);
    for _ in 0..batch {
        let clip = &clips[rng.below(clips.len())];
        let stream = match rng.below(10) {
            0..=3 => Stream::Truth,
            4..=6 => Stream::Static,
            _ => Stream::Hands,
        };
        let video = clip.video(stream);
        let (_, f, h, w) = video.dims4()?;
        let (ct, ch, cw) = (crop_t.min(f), crop_h.min(h), crop_w.min(w));
        let t0 = rng.below(f - ct + 1);
        let y0 = rng.below(h - ch + 1);
        let x0 = rng.below(w - cw + 1);
        let mut crop = video
            .narrow(1, t0, ct)?
            .narrow(2, y0, ch)?
            .narrow(3, x0, cw)?
            .contiguous()?;
        if rng.below(2) == 1 {
            crop = crop.flip(&[3])?;
        }
        crops.push(crop);
    }
    Ok(Tensor::stack(&crops, 0)?)
}

/// Optional stage between the VAE and the denoisers: the VAE's decoder trained further with the encoder frozen
/// (as Stable Diffusion's `ft-MSE` VAE was made). The latent space does not change — the same encoder, the same
/// scaling factor, the same cached latents — so it can run at any time, even after the DWM stage, and the
/// denoisers stay valid; only what the latents decode to gets sharper. L1 + MSE on random crops decoded from
/// posterior samples. When it completes, `model/vae/` is rewritten with the new decoder.
pub fn train_decoder(
    run: &RunDir,
    clips: &[Clip],
    settings: &StageSettings,
    device: &Device,
    report: &mut dyn FnMut(&StepLog),
) -> Result<bool> {
    settings.check()?;
    if clips.is_empty() {
        return Err(input_error("training data", "no clips"));
    }
    let dir = run.model().join("vae");
    let weights_path = dir.join("diffusion_pytorch_model.safetensors");
    if !weights_path.is_file() {
        return Err(file_error(
            &weights_path,
            "is missing: the decoder fine-tune starts from the trained VAE (`handtwin train --stage vae`)",
        ));
    }
    let mut varmap = VarMap::new();
    let vae = new_vae(&varmap, settings.seed, device)?;
    // Every variable from the trained VAE (a missing name or another shape is an error naming the file).
    varmap
        .load(&weights_path)
        .map_err(|e| file_error(&weights_path, e))?;
    let all = named_vars(&varmap, "")?;
    let decoder: Vec<(String, Var)> = all
        .iter()
        .filter(|(name, _)| name.starts_with("decoder."))
        .cloned()
        .collect();
    let loss_at = |_step: usize, rng: &mut TrainRng| -> Result<Tensor> {
        let x = draw_crops(clips, settings.batch, rng)?;
        let posterior = vae.encode(&x)?;
        let eps = rng.normal(posterior.mean.dims(), device)?;
        // Detached: no gradient reaches the encoder, so the latent space stays as the denoisers learned it.
        let z = posterior.sample_with(&eps)?.detach();
        let difference = (vae.decode(&z)? - &x)?;
        Ok((difference.abs()?.mean_all()? + difference.sqr()?.mean_all()?)?)
    };
    let complete = run_loop(
        run,
        Stage::Decoder,
        settings,
        &decoder,
        &[],
        loss_at,
        report,
    )?;
    if complete {
        save_named(&all, "", &weights_path)?;
        tracing::info!("VAE decoder written to {}", weights_path.display());
    }
    Ok(complete)
}

/// 1 / the standard deviation of the latent means over (up to) 32 clips' interaction and static videos.
fn measure_scaling_factor(vae: &AutoencoderKLCogVideoX, clips: &[Clip]) -> Result<f64> {
    let (mut sum, mut sum_sq, mut count) = (0f64, 0f64, 0f64);
    for clip in clips.iter().take(32) {
        for video in [&clip.truth, &clip.static_video] {
            let mean = vae.encode(&video.unsqueeze(0)?)?.mean.flatten_all()?;
            let values = mean.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            sum += values.iter().sum::<f64>();
            sum_sq += values.iter().map(|v| v * v).sum::<f64>();
            count += values.len() as f64;
        }
    }
    let variance = (sum_sq / count - (sum / count).powi(2)).max(1e-12);
    Ok(1.0 / variance.sqrt())
}

fn save_named(vars: &[(String, Var)], strip: &str, path: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = vars
        .iter()
        .filter_map(|(name, var)| {
            name.strip_prefix(strip)
                .map(|short| (short.to_string(), var.as_tensor().clone()))
        })
        .collect();
    save_tensors_atomic(&tensors, path)
}

/// Loads the trained VAE of a run (`model/vae/`).
pub fn load_run_vae(run: &RunDir, device: &Device) -> Result<AutoencoderKLCogVideoX> {
    let dir = run.model().join("vae");
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| {
        file_error(
            &config_path,
            format!("{e}; train the VAE first (`handtwin train --stage vae`)"),
        )
    })?;
    let config = VaeConfig::from_json(&text, &config_path.display().to_string())?;
    let weights = dir.join("diffusion_pytorch_model.safetensors");
    let tensors = load_tensors(&weights, device)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    Ok(AutoencoderKLCogVideoX::new(&config, vb)?)
}

/// Encodes every clip's three videos (posterior mean and log-variance) and tokenizes its prompt. Cached in
/// `latents.safetensors` keyed by stem, so a resumed run does not encode again.
pub fn encode_clips(
    run: &RunDir,
    clips: &[Clip],
    tokenizer: &T5Tokenizer,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<ClipLatents>, Tensor)> {
    let vae = load_run_vae(run, device)?;
    let cache_path = run.latents();
    let mut cache = if cache_path.is_file() {
        load_tensors(&cache_path, device)?
    } else {
        HashMap::new()
    };
    let mut changed = false;
    let mut encode = |key: String, video: &Tensor| -> Result<(Tensor, Tensor)> {
        let (mean_key, logvar_key) = (format!("{key}.mean"), format!("{key}.logvar"));
        if let (Some(mean), Some(logvar)) = (cache.get(&mean_key), cache.get(&logvar_key)) {
            return Ok((mean.clone(), logvar.clone()));
        }
        let posterior = vae.encode(&video.unsqueeze(0)?)?;
        // [1, C, F, h, w] → [F, C, h, w], the transformer's per-frame layout.
        let mean = posterior
            .mean
            .squeeze(0)?
            .permute((1, 0, 2, 3))?
            .contiguous()?;
        let logvar = posterior
            .logvar
            .squeeze(0)?
            .permute((1, 0, 2, 3))?
            .contiguous()?;
        cache.insert(mean_key, mean.clone());
        cache.insert(logvar_key, logvar.clone());
        changed = true;
        Ok((mean, logvar))
    };
    let mut latents = Vec::with_capacity(clips.len());
    for (index, clip) in clips.iter().enumerate() {
        let key = format!("{}/{}", clip.source.display(), clip.stem);
        let truth = encode(format!("{key}.truth"), &clip.truth)?;
        let static_video = encode(format!("{key}.static"), &clip.static_video)?;
        let hands = encode(format!("{key}.hands"), &clip.hands)?;
        let prompt_ids = tokenizer
            .encode_padded(&clip.prompt, tiny::TEXT_LENGTH)
            .map_err(|e| input_error("prompt", format!("{}: {e}", clip.stem)))?;
        let (latent_frames, _, latent_height, latent_width) = truth.0.dims4()?;
        let grid = (latent_frames, latent_height, latent_width);
        let changed = changed_region(&clip.truth, &clip.static_video, grid)?;
        let object = object_region(&clip.truth, &clip.static_video, &clip.hands, grid)?;
        latents.push(ClipLatents {
            truth,
            static_video,
            hands,
            room: clip.room,
            prompt_ids,
            changed,
            object,
        });
        progress(index + 1, clips.len());
    }
    // The latent of a black clip: what the masked-video channels hold where the inpainting mask is on.
    let (_, f, h, w) = clips
        .first()
        .ok_or_else(|| input_error("training data", "no clips"))?
        .truth
        .dims4()?;
    let black = encode(
        "black".to_string(),
        &Tensor::full(-1f32, (3, f, h, w), device)?,
    )?
    .0;
    if changed {
        save_tensors_atomic(&cache, &cache_path)?;
    }
    Ok((latents, black))
}

/// The transformer and T5 of the denoiser stages, with their variables.
struct Denoiser {
    transformer: CogVideoXTransformer3DModel,
    text_encoder: T5TextEncoder,
    config: TransformerConfig,
    vars: Vec<(String, Var)>,
}

fn new_denoiser(in_channels: usize, heads: usize, seed: u64, device: &Device) -> Result<Denoiser> {
    let config = TransformerConfig::from_json(
        &tiny::transformer_config_json(in_channels, heads),
        "tiny transformer config",
    )?;
    let t5_config = T5Config::from_json(&tiny::t5_config_json(), "tiny T5 config")?;
    let transformer_map = VarMap::new();
    let text_map = VarMap::new();
    let transformer = CogVideoXTransformer3DModel::new(
        &config,
        seeded_var_builder(&transformer_map, seed, device),
    )?;
    let text_encoder = T5TextEncoder::new(
        &t5_config,
        seeded_var_builder(&text_map, seed ^ 0x7e57, device),
    )?;
    let mut vars = named_vars(&transformer_map, "transformer.")?;
    // adaLN-Zero (DiT): the modulations start at zero, so every block starts as the identity (gates 0, scales
    // 1 + 0), and so does the output projection. Measured: with the layers' default (Kaiming) start the model
    // had not learned to copy the static latent after 500 steps and sampled noise.
    for (name, var) in &vars {
        let zero = name.contains(".norm1.linear.")
            || name.contains(".norm2.linear.")
            || name.starts_with("transformer.norm_out.linear.")
            || name.starts_with("transformer.proj_out.");
        if zero {
            var.set(&var.as_tensor().zeros_like()?)?;
        }
    }
    let text_vars = named_vars(&text_map, "text_encoder.")?;
    start_t5_norm_scales_at_one(&text_vars)?;
    vars.extend(text_vars);
    Ok(Denoiser {
        transformer,
        text_encoder,
        config,
        vars,
    })
}

/// A random inpainting mask at latent resolution, [F, 1, h, w] with 1 = to generate, drawn as CogVideoX-Fun's
/// training draws them: boxes through all or some frames, all but the first frame, everything, or nothing.
pub fn random_mask(rng: &mut TrainRng, frames: usize, height: usize, width: usize) -> Vec<f32> {
    let mut mask = vec![0f32; frames * height * width];
    let fill =
        |mask: &mut Vec<f32>, f0: usize, f1: usize, y0: usize, y1: usize, x0: usize, x1: usize| {
            for f in f0..f1 {
                for y in y0..y1 {
                    for x in x0..x1 {
                        mask[(f * height + y) * width + x] = 1.0;
                    }
                }
            }
        };
    let random_box = |rng: &mut TrainRng| {
        let bh = (height / 4 + rng.below(height / 2 + 1)).max(1);
        let bw = (width / 4 + rng.below(width / 2 + 1)).max(1);
        let y0 = rng.below(height - bh.min(height) + 1);
        let x0 = rng.below(width - bw.min(width) + 1);
        (y0, (y0 + bh).min(height), x0, (x0 + bw).min(width))
    };
    match rng.below(10) {
        0..=2 => {
            let (y0, y1, x0, x1) = random_box(rng);
            fill(&mut mask, 0, frames, y0, y1, x0, x1);
        }
        3..=4 => {
            let count = 2 + rng.below(3);
            for _ in 0..count {
                let (y0, y1, x0, x1) = random_box(rng);
                fill(&mut mask, 0, frames, y0, y1, x0, x1);
            }
        }
        5..=6 => {
            let f0 = rng.below(frames);
            let f1 = f0 + 1 + rng.below(frames - f0);
            let (y0, y1, x0, x1) = random_box(rng);
            fill(&mut mask, f0, f1, y0, y1, x0, x1);
        }
        7 => fill(&mut mask, 1.min(frames), frames, 0, height, 0, width),
        8 => fill(&mut mask, 0, frames, 0, height, 0, width),
        _ => {}
    }
    mask
}

/// Stages 2 and 3. Inpaint: `[noisy | sf·(1 − mask) | masked video]` (33 channels) on the interaction and
/// static videos. DWM: `[noisy | sf | static | hand]` (49 channels), started from the inpainting weights with
/// the 16 hand channels of the patch embedding set to zero. Both: v-prediction MSE at uniform timesteps
/// (from `min_timestep` up).
/// When the DWM stage stops (complete or at its step limit), the model is exported to `model/`.
#[allow(clippy::too_many_arguments)]
pub fn train_denoiser(
    run: &RunDir,
    stage: Stage,
    latents: &[ClipLatents],
    black: &Tensor,
    tokenizer_dir: &Path,
    settings: &StageSettings,
    device: &Device,
    report: &mut dyn FnMut(&StepLog),
) -> Result<bool> {
    settings.check()?;
    let in_channels = match stage {
        Stage::Inpaint => 33,
        Stage::Dwm => 49,
        Stage::Vae | Stage::Decoder => {
            return Err(input_error("train_denoiser", "the VAE is not a denoiser"));
        }
    };
    if latents.is_empty() {
        return Err(input_error("training data", "no clips"));
    }
    let scheduler = DdimConfig::from_json(&tiny::scheduler_config_json(), "tiny scheduler")?;
    let vae_config_path = run.model().join("vae").join("config.json");
    let vae_config = VaeConfig::from_file(&vae_config_path)?;
    let sf = vae_config.scaling_factor;
    let denoiser = new_denoiser(in_channels, settings.heads, settings.seed, device)?;
    if stage == Stage::Dwm && !run.checkpoint(Stage::Dwm).is_file() {
        match &settings.init_from {
            Some(model) => start_from_model(model, &denoiser.vars)?,
            None => widen_from_inpainting(run, &denoiser.vars)?,
        }
    }
    let alphas = alphas_cumprod(&scheduler);
    let (frames, channels, height, width) = latents[0].truth.0.dims4()?;
    let p = denoiser.config.patch_size;
    let rope = rope_tables_for_grid(&denoiser.config, height / p, width / p, frames, device)?;
    let empty_ids = T5Tokenizer::from_dir(tokenizer_dir)
        .map_err(|e| file_error(tokenizer_dir, e))?
        .encode_padded("", tiny::TEXT_LENGTH)
        .map_err(|e| input_error("prompt", e))?;
    let vars = denoiser.vars.clone();
    let Denoiser {
        transformer,
        mut text_encoder,
        ..
    } = denoiser;
    let pairs = stage == Stage::Dwm && settings.sibling_weight > 0.0;
    let rooms = if pairs {
        let rooms = rooms_with_siblings(latents);
        if rooms.is_empty() {
            return Err(input_error(
                "sibling_weight",
                "needs clips that share a room (make them with `handtwin synth --variants 2` or more; rooms come \
                 from each folder's synth.json)",
            ));
        }
        rooms
    } else {
        Vec::new()
    };
    let object_weight = settings.object_weight.unwrap_or(settings.changed_weight);
    let weighted_loss =
        stage == Stage::Dwm && (settings.changed_weight != 1.0 || object_weight != 1.0);
    let shape = [frames, channels, height, width];
    // One DWM training sample of `clip` at timestep `t`, from the four normal draws (posterior samples of the
    // interaction, static and hand latents; the diffusion noise): (x_t, v target, conditions).
    let dwm_sample =
        |clip: &ClipLatents, t: usize, noise: &[Tensor]| -> Result<(Tensor, Tensor, Tensor)> {
            let a = alphas[t];
            let x0 = (sample_posterior(&clip.truth, &noise[0])? * sf)?;
            let static_latent = (sample_posterior(&clip.static_video, &noise[1])? * sf)?;
            let hand_latent = (sample_posterior(&clip.hands, &noise[2])? * sf)?;
            let mask = Tensor::full(sf as f32, (frames, 1, height, width), device)?;
            let condition = Tensor::cat(&[mask, static_latent, hand_latent], 1)?;
            let eps = &noise[3];
            let x_t = ((&x0 * a.sqrt())? + (eps * (1.0 - a).sqrt())?)?;
            let v = ((eps * a.sqrt())? - (&x0 * (1.0 - a).sqrt())?)?;
            Ok((x_t, v, condition))
        };
    // 1 elsewhere, changed_weight where pixels changed, object_weight where they changed away from the hands (the
    // object region lies inside the changed region on the latent grid too).
    let loss_weights = |clip: &ClipLatents| -> Result<Tensor> {
        let changed = ((&clip.changed * (settings.changed_weight - 1.0))? + 1.0)?;
        Ok((changed + (&clip.object * (object_weight - settings.changed_weight))?)?)
    };
    let loss_at = |_step: usize, rng: &mut TrainRng| -> Result<Tensor> {
        let mut noisy = Vec::new();
        let mut targets = Vec::new();
        let mut conditions = Vec::new();
        let mut ids = Vec::new();
        let mut timesteps = Vec::new();
        let mut weights = Vec::new();
        let push_ids = |ids: &mut Vec<u32>, clip: &ClipLatents, dropped: bool| {
            ids.extend_from_slice(if dropped {
                &empty_ids
            } else {
                &clip.prompt_ids
            });
        };
        if pairs {
            // Pairs of clips of one room, each pair with one timestep, one set of noise and one prompt choice,
            // so that the two samples differ only by their videos.
            for _ in 0..settings.batch / 2 {
                let room = &rooms[rng.below(rooms.len())];
                let first = rng.below(room.len());
                let second = (first + 1 + rng.below(room.len() - 1)) % room.len();
                let t = draw_timestep(rng, settings.min_timestep, alphas.len());
                let noise = (0..4)
                    .map(|_| rng.normal(&shape, device))
                    .collect::<Result<Vec<_>>>()?;
                let dropped = rng.uniform() < settings.prompt_dropout;
                for member in [first, second] {
                    let clip = &latents[room[member]];
                    let (x_t, v, condition) = dwm_sample(clip, t, &noise)?;
                    if weighted_loss {
                        weights.push(loss_weights(clip)?);
                    }
                    noisy.push(x_t);
                    targets.push(v);
                    conditions.push(condition);
                    push_ids(&mut ids, clip, dropped);
                    timesteps.push(t as i64);
                }
            }
        } else {
            // The draws in this order reproduce the runs made before the sibling term existed.
            for _ in 0..settings.batch {
                let clip = &latents[rng.below(latents.len())];
                let t = draw_timestep(rng, settings.min_timestep, alphas.len());
                let (x_t, v, condition) = match stage {
                    Stage::Inpaint => {
                        let a = alphas[t];
                        let source = if rng.below(2) == 0 {
                            &clip.truth
                        } else {
                            &clip.static_video
                        };
                        let x0 = (sample_posterior(source, &rng.normal(&shape, device)?)? * sf)?;
                        let known = (sample_posterior(source, &rng.normal(&shape, device)?)? * sf)?;
                        let mask = Tensor::from_vec(
                            random_mask(rng, frames, height, width),
                            (frames, 1, height, width),
                            device,
                        )?;
                        let keep = (1.0 - &mask)?;
                        let masked =
                            (known.broadcast_mul(&keep)? + (black * sf)?.broadcast_mul(&mask)?)?;
                        let condition = Tensor::cat(&[(keep * sf)?, masked], 1)?;
                        let eps = rng.normal(&shape, device)?;
                        let x_t = ((&x0 * a.sqrt())? + (&eps * (1.0 - a).sqrt())?)?;
                        let v = ((&eps * a.sqrt())? - (&x0 * (1.0 - a).sqrt())?)?;
                        (x_t, v, condition)
                    }
                    _ => {
                        let mut noise = (0..3)
                            .map(|_| rng.normal(&shape, device))
                            .collect::<Result<Vec<_>>>()?;
                        if weighted_loss {
                            weights.push(loss_weights(clip)?);
                        }
                        noise.push(rng.normal(&shape, device)?);
                        dwm_sample(clip, t, &noise)?
                    }
                };
                noisy.push(x_t);
                targets.push(v);
                conditions.push(condition);
                let dropped = rng.uniform() < settings.prompt_dropout;
                push_ids(&mut ids, clip, dropped);
                timesteps.push(t as i64);
            }
        }
        let batch = settings.batch;
        let input = Tensor::cat(
            &[Tensor::stack(&noisy, 0)?, Tensor::stack(&conditions, 0)?],
            2,
        )?;
        let target = Tensor::stack(&targets, 0)?;
        let ids = Tensor::from_vec(ids, (batch, tiny::TEXT_LENGTH), device)?;
        let text = text_encoder.forward(&ids)?;
        let timesteps = Tensor::from_vec(timesteps, batch, device)?;
        let prediction = transformer.forward(&input, &text, &timesteps, Some(&rope))?;
        let error = (prediction - target)?;
        let weights = if weights.is_empty() {
            None
        } else {
            Some(Tensor::stack(&weights, 0)?)
        };
        let loss = weighted_mean(&error.sqr()?, weights.as_ref())?;
        if !pairs {
            return Ok(loss);
        }
        // The sibling term: (p_a − p_b) − (v_a − v_b) = e_a − e_b, weighted where either clip's region is.
        let (b, rest) = (batch / 2, &error.dims()[1..]);
        let paired = error.reshape([&[b, 2][..], rest].concat())?;
        let difference = (paired.narrow(1, 0, 1)? - paired.narrow(1, 1, 1)?)?.squeeze(1)?;
        let pair_weights = match &weights {
            Some(w) => {
                let w = w.reshape([&[b, 2][..], &w.dims()[1..]].concat())?;
                Some(w.max(1)?)
            }
            None => None,
        };
        let sibling = weighted_mean(&difference.sqr()?, pair_weights.as_ref())?;
        Ok((loss + (sibling * settings.sibling_weight)?)?)
    };
    let lr_scales = match stage {
        Stage::Dwm => hand_lr_scales(settings.hand_lr_scale, in_channels, channels, device)?,
        _ => Vec::new(),
    };
    let complete = run_loop(run, stage, settings, &vars, &lr_scales, loss_at, report)?;
    // The DWM stage writes `model/` whenever it stops, at a `--max-steps` limit too, so a checkpoint along the
    // way can be evaluated (and shipped) as it is.
    if stage == Stage::Dwm {
        export_model(
            run,
            &vars,
            settings.heads,
            settings.min_timestep,
            tokenizer_dir,
        )?;
    }
    Ok(complete)
}

/// Σ w·e² / Σ w over the same elements (`weights` broadcast over `squared`), so a weighted loss keeps its scale;
/// the plain mean without weights.
fn weighted_mean(squared: &Tensor, weights: Option<&Tensor>) -> Result<Tensor> {
    match weights {
        None => Ok(squared.mean_all()?),
        Some(weights) => {
            let weighted = squared.broadcast_mul(weights)?.mean_all()?;
            Ok((weighted / weights.mean_all()?.to_scalar::<f32>()? as f64)?)
        }
    }
}

/// The clips of each room that has more than one (indices into `latents`), rooms in the order of their first
/// clip, so that a seed draws the same pairs.
pub fn rooms_with_siblings(latents: &[ClipLatents]) -> Vec<Vec<usize>> {
    let mut order: Vec<(usize, u64)> = Vec::new();
    let mut members: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (index, clip) in latents.iter().enumerate() {
        if let Some(room) = clip.room {
            let entry = members.entry(room).or_default();
            if entry.is_empty() {
                order.push(room);
            }
            entry.push(index);
        }
    }
    order
        .into_iter()
        .filter_map(|room| members.remove(&room))
        .filter(|clips| clips.len() > 1)
        .collect()
}

/// The DWM stage's hand input channels (the last `hand_channels` of the patch embedding) trained at `scale` times the rate;
/// none at 1, so runs without the option step exactly as before.
fn hand_lr_scales(
    scale: f64,
    in_channels: usize,
    hand_channels: usize,
    device: &Device,
) -> Result<Vec<(&'static str, Tensor)>> {
    if scale == 1.0 {
        return Ok(Vec::new());
    }
    let hand_from = in_channels - hand_channels;
    let per_channel: Vec<f32> = (0..in_channels)
        .map(|c| if c >= hand_from { scale as f32 } else { 1.0 })
        .collect();
    let tensor = Tensor::from_vec(per_channel, (1, in_channels, 1, 1), device)?;
    Ok(vec![("transformer.patch_embed.proj.weight", tensor)])
}

/// A training timestep, uniform over `min..total` (`min` below `total`). At `min` = 0 it is the draw the recipe
/// has always made, so runs from before the option reproduce.
pub fn draw_timestep(rng: &mut TrainRng, min: usize, total: usize) -> usize {
    min + rng.below(total - min)
}

/// The DWM stage starts from the inpainting weights; `patch_embed.proj.weight` grows from 33 to 49 input
/// channels with zeros for the hand channels, so the first DWM step computes what the inpainting model did.
fn widen_from_inpainting(run: &RunDir, vars: &[(String, Var)]) -> Result<()> {
    let path = run.checkpoint(Stage::Inpaint);
    if !path.is_file() {
        return Err(file_error(
            &path,
            "is missing: the DWM fine-tune starts from the inpainting pre-training (`handtwin train --stage inpaint`)",
        ));
    }
    let tensors = load_tensors(&path, &Device::Cpu)?;
    for (name, var) in vars {
        let tensor = tensors
            .get(&format!("param.{name}"))
            .ok_or_else(|| file_error(&path, format!("has no weights for `{name}`")))?;
        let tensor = if name == "transformer.patch_embed.proj.weight" && tensor.dims() != var.dims()
        {
            let (out, old, kh, kw) = tensor.dims4()?;
            let new = var.dim(1)?;
            if new < old {
                return Err(file_error(
                    &path,
                    format!("`{name}` has more input channels ({old}) than {new}"),
                ));
            }
            let zeros = Tensor::zeros((out, new - old, kh, kw), tensor.dtype(), tensor.device())?;
            Tensor::cat(&[tensor, &zeros], 1)?
        } else {
            tensor.clone()
        };
        if tensor.dims() != var.dims() {
            return Err(file_error(
                &path,
                format!(
                    "`{name}` has shape {:?}, the model {:?}",
                    tensor.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(&tensor.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// The DWM stage starts from a finished model's transformer and T5 (`--init-from`): fine-tuning a shipped model
/// further. Every variable must be there with the model's shape (a model of another width is refused, naming the
/// file).
fn start_from_model(model: &Path, vars: &[(String, Var)]) -> Result<()> {
    let files = [
        (
            "transformer.",
            model
                .join("transformer")
                .join("diffusion_pytorch_model.safetensors"),
        ),
        (
            "text_encoder.",
            model.join("text_encoder").join("model.safetensors"),
        ),
    ];
    for (prefix, path) in &files {
        if !path.is_file() {
            return Err(file_error(
                path,
                "is missing: --init-from needs a finished model folder (transformer/, text_encoder/)",
            ));
        }
        let tensors = load_tensors(path, &Device::Cpu)?;
        let selected: Vec<(String, Var)> = vars
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .cloned()
            .collect();
        set_vars_from(
            path,
            &selected,
            |name| {
                name.strip_prefix(prefix)
                    .and_then(|key| tensors.get(key))
                    .cloned()
            },
            "is --heads the same as the model's?",
        )?;
    }
    tracing::info!("dwm: starting from the model in {}", model.display());
    Ok(())
}

/// Writes the finished model in diffusers' layout (what `DwmModel::load` reads) under `model/`.
/// `min_timestep` is the DWM stage's (`--min-timestep`); above 0 it goes into `handtwin.json` so that sampling with
/// more steps than the model was trained for is warned about.
fn export_model(
    run: &RunDir,
    vars: &[(String, Var)],
    heads: usize,
    min_timestep: usize,
    tokenizer_dir: &Path,
) -> Result<()> {
    let model = run.model();
    write_text_atomic(&model.join("model_index.json"), &tiny::model_index_json())?;
    write_text_atomic(
        &model.join("scheduler").join("scheduler_config.json"),
        &tiny::scheduler_config_json(),
    )?;
    write_text_atomic(
        &model.join("transformer").join("config.json"),
        &tiny::transformer_config_json(49, heads),
    )?;
    save_named(
        vars,
        "transformer.",
        &model
            .join("transformer")
            .join("diffusion_pytorch_model.safetensors"),
    )?;
    write_text_atomic(
        &model.join("text_encoder").join("config.json"),
        &tiny::t5_config_json(),
    )?;
    save_named(
        vars,
        "text_encoder.",
        &model.join("text_encoder").join("model.safetensors"),
    )?;
    let tokenizer = model.join("tokenizer");
    std::fs::create_dir_all(&tokenizer).map_err(|e| file_error(&tokenizer, e))?;
    let source = tokenizer_dir.join("spiece.model");
    std::fs::copy(&source, tokenizer.join("spiece.model")).map_err(|e| file_error(&source, e))?;
    write_text_atomic(
        &tokenizer.join("tokenizer_config.json"),
        &tiny::tokenizer_config_json(),
    )?;
    write_text_atomic(
        &model.join("handtwin.json"),
        &tiny::sampling_defaults_json(tiny::DEFAULT_STEPS, 1.0, min_timestep),
    )?;
    tracing::info!("model written to {}", model.display());
    Ok(())
}
