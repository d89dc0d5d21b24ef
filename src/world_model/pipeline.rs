//! The DWM sampling pipeline (dwm-reference.md §1 and §8): static video + hand video (+ prompt) in, interaction
//! video out.
//!
//! VAE-encode the static video (posterior mode × scaling factor) and the hand video (posterior sample ×
//! scaling factor), build the transformer input `[noisy | mask = scaling factor | static | hand]` on the channel
//! axis of [B, F, C, H, W], classifier-free guidance with the batch [negative, positive], the CogVideoX DDIM
//! loop, decode, `(x/2 + 0.5).clamp(0, 1)`.

use super::checkpoint::{CheckpointBackend, LoraAdapter, SharedBackend, WeightFiles};
use super::error::file_error;
use super::offload::{Offload, ParkedWeights};
use super::resample::{cfhw_to_frames, frames_to_cfhw, resize_frames};
use super::scheduler::{CogVideoXDdimScheduler, DdimConfig};
use super::t5::{T5Config, T5TextEncoder};
use super::tokenizer::T5Tokenizer;
use super::transformer::{CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid};
use super::vae::{AutoencoderKLCogVideoX, Tiling, VaeConfig};
use super::{Result, WorldModelError};
use crate::video::Frames;
use crate::world_model::ConfigFile as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use std::path::Path;
use std::sync::Arc;

/// How [`DwmModel::generate`] samples: DDIM steps, classifier-free guidance scale (1: none) and the seed of the
/// initial noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub steps: usize,
    pub guidance_scale: f64,
    pub seed: u64,
}

/// The tensors one sampling run starts from.
pub struct SamplingInputs<'a> {
    /// [1, 3, F, H, W] in [-1, 1].
    pub static_video: &'a Tensor,
    pub hand_video: &'a Tensor,
    /// [1, L, D].
    pub prompt_embeds: &'a Tensor,
    pub negative_prompt_embeds: &'a Tensor,
    /// The latents before the first step, [1, f, C, h, w] (Wan: [1, C, f, h, w]).
    pub initial_noise: &'a Tensor,
    /// The ε of mean + std·ε when sampling the hand latents, [1, C, f, h, w].
    pub hand_posterior_eps: &'a Tensor,
    pub steps: usize,
    pub guidance_scale: f64,
}

/// The networks of a DWM model.
pub struct DwmNetworks<'a> {
    pub vae: &'a AutoencoderKLCogVideoX,
    pub transformer: &'a CogVideoXTransformer3DModel,
    pub transformer_config: &'a TransformerConfig,
    pub scheduler: &'a DdimConfig,
    pub scaling_factor: f64,
}

/// Runs the DWM loop. `progress(step, total)` is called after each step; returning false stops the run
/// (`Ok(None)`). Returns the video [1, 3, F, H, W] in [0, 1], in f32.
pub fn sample(
    networks: &DwmNetworks<'_>,
    inputs: &SamplingInputs<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Tensor>> {
    let Some(latents) = sample_latents(networks, inputs, progress)? else {
        return Ok(None);
    };
    decode_latents(networks.vae, networks.scaling_factor, &latents).map(Some)
}

/// The DWM loop of [`sample`] without the final decode: the denoised latents [1, f, C, h, w] (scaled by the
/// scaling factor, in the model's precision), for diagnostics that compare latents.
pub fn sample_latents(
    networks: &DwmNetworks<'_>,
    inputs: &SamplingInputs<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Tensor>> {
    let conditions = encode_conditions(networks.vae, networks.scaling_factor, inputs)?;
    denoise(
        networks.transformer,
        networks.scheduler,
        networks.scaling_factor,
        &conditions,
        inputs,
        progress,
    )
}

/// The VAE's half before the loop: the static video's latents (posterior mode) and the hand video's (posterior
/// sample with `hand_posterior_eps`), both × the scaling factor, as [1, f, C, h, w]. (The Wan loop,
/// `wan_pipeline`, keeps its normalised latents channels first, [1, C, f, h, w].)
pub struct ConditionLatents {
    pub static_latents: Tensor,
    pub hand_latents: Tensor,
}

/// Encodes the two conditioning videos of `inputs` (the first phase of [`sample`]).
pub fn encode_conditions(
    vae: &AutoencoderKLCogVideoX,
    scaling_factor: f64,
    inputs: &SamplingInputs<'_>,
) -> Result<ConditionLatents> {
    let sf = scaling_factor;
    let static_latents =
        (vae.encode(inputs.static_video)?.mode() * sf)?.permute((0, 2, 1, 3, 4))?;
    let hand_posterior = vae.encode(inputs.hand_video)?;
    let hand_latents =
        (hand_posterior.sample_with(inputs.hand_posterior_eps)? * sf)?.permute((0, 2, 1, 3, 4))?;
    Ok(ConditionLatents {
        static_latents,
        hand_latents,
    })
}

/// Latents [1, f, C, h, w] (× the scaling factor) → video [1, 3, F, H, W] in [0, 1], f32 (the last phase).
pub fn decode_latents(
    vae: &AutoencoderKLCogVideoX,
    scaling_factor: f64,
    latents: &Tensor,
) -> Result<Tensor> {
    let decoded =
        vae.decode(&(latents.permute((0, 2, 1, 3, 4))?.contiguous()? / scaling_factor)?)?;
    unit_range(&decoded)
}

/// A VAE's output in [−1, 1] as a video in [0, 1], f32: `(x/2 + 0.5).clamp(0, 1)`.
pub fn unit_range(decoded: &Tensor) -> Result<Tensor> {
    Ok(((decoded.to_dtype(DType::F32)? / 2.0)? + 0.5)?.clamp(0f32, 1f32)?)
}

/// A clip resampled to the model's `frames` × `width` × `height`, as the networks take it: [1, 3, F, H, W] in
/// [−1, 1], in `dtype` on `device`.
pub fn clip_tensor(
    clip: &Frames,
    frames: usize,
    (width, height): (u32, u32),
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let resized =
        resize_frames(clip, frames, width, height).map_err(|e| WorldModelError::Input {
            what: "video".into(),
            reason: e.to_string(),
        })?;
    let data = frames_to_cfhw(&resized);
    let tensor = Tensor::from_vec(
        data,
        (1, 3, frames, height as usize, width as usize),
        device,
    )?;
    Ok(((tensor * 2.0)? - 1.0)?.to_dtype(dtype)?)
}

/// A generated or reconstructed video [1, 3, F, H, W] in [0, 1] back to a clip of `like`'s size, frame count and
/// rate (DWM's floor(255·x) quantisation, then resampled).
pub fn video_to_clip(video: &Tensor, like: &Frames) -> Result<Frames> {
    let (_, _, f, h, w) = video.dims5()?;
    let data: Vec<f32> = video
        .to_dtype(DType::F32)?
        .squeeze(0)?
        .flatten_all()?
        .to_vec1()?;
    let decoded_error = |e: crate::video::FramesError| WorldModelError::Input {
        what: "decoded video".into(),
        reason: e.to_string(),
    };
    let frames = cfhw_to_frames(&data, f, w as u32, h as u32, like.fps()).map_err(decoded_error)?;
    resize_frames(&frames, like.frame_count(), like.width(), like.height()).map_err(decoded_error)
}

/// The transformer's loop (the middle phase of [`sample`]): `[noisy | mask | static | hand]` in, denoised
/// latents out; `None` if `progress` stopped it.
pub fn denoise(
    transformer: &CogVideoXTransformer3DModel,
    scheduler_config: &DdimConfig,
    scaling_factor: f64,
    conditions: &ConditionLatents,
    inputs: &SamplingInputs<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Tensor>> {
    let sf = scaling_factor;
    let transformer_config = transformer.config();
    let dtype = inputs.initial_noise.dtype();
    let static_latents = &conditions.static_latents;
    let hand_latents = &conditions.hand_latents;
    let (batch, frames, _, height, width) = static_latents.dims5()?;
    let mask = Tensor::full(
        sf as f32,
        (batch, frames, 1, height, width),
        static_latents.device(),
    )?
    .to_dtype(static_latents.dtype())?;
    let conditions = Tensor::cat(&[&mask, static_latents, hand_latents], 2)?;
    // With guidance 1 the guided prediction is the conditional one: run that branch alone (half the work).
    let guided_batch = inputs.guidance_scale != 1.0;
    let conditions = if guided_batch {
        Tensor::cat(&[&conditions, &conditions], 0)?
    } else {
        conditions
    }
    .to_dtype(dtype)?
    .contiguous()?;
    let text = if guided_batch {
        Tensor::cat(&[inputs.negative_prompt_embeds, inputs.prompt_embeds], 0)?
    } else {
        inputs.prompt_embeds.clone()
    }
    .to_dtype(dtype)?;
    let expected_channels = transformer_config.in_channels;
    let got = inputs.initial_noise.dims().get(2).copied().unwrap_or(0) + conditions.dims()[2];
    if got != expected_channels {
        return Err(WorldModelError::Input {
            what: "transformer input".into(),
            reason: format!(
                "{got} channels ([noisy | mask | static | hand]) but the transformer takes {expected_channels}"
            ),
        });
    }
    let scheduler = CogVideoXDdimScheduler::new(scheduler_config, inputs.steps)?;
    let p = transformer_config.patch_size;
    let rope = rope_tables_for_grid(
        transformer_config,
        height / p,
        width / p,
        frames,
        inputs.initial_noise.device(),
    )?;
    let mut latents = inputs.initial_noise.clone();
    let total = scheduler.timesteps().len();
    for (index, &t) in scheduler.timesteps().iter().enumerate() {
        let guided = if guided_batch {
            let doubled = Tensor::cat(&[&latents, &latents], 0)?;
            let model_input = Tensor::cat(&[&doubled, &conditions], 2)?;
            let timestep = Tensor::new(&[t, t], latents.device())?;
            let v = transformer
                .forward(&model_input, &text, &timestep, Some(&rope))?
                .to_dtype(DType::F32)?;
            let uncond = v.narrow(0, 0, 1)?;
            let cond = v.narrow(0, 1, 1)?;
            (&uncond + ((cond - &uncond)? * inputs.guidance_scale)?)?
        } else {
            let model_input = Tensor::cat(&[&latents, &conditions], 2)?;
            let timestep = Tensor::new(&[t], latents.device())?;
            transformer
                .forward(&model_input, &text, &timestep, Some(&rope))?
                .to_dtype(DType::F32)?
        };
        // The step is computed in f32; latents are stored in the model's precision between steps.
        latents = scheduler
            .step(&guided, t, &latents.to_dtype(DType::F32)?)?
            .to_dtype(dtype)?;
        if !progress(index + 1, total) {
            return Ok(None);
        }
    }
    Ok(Some(latents))
}

/// A deterministic standard-normal generator (SplitMix64 + Box–Muller), so a seed repeats a run exactly on any
/// device. (PyTorch's Philox stream cannot be reproduced bit for bit anyway; dwm-reference.md §8.)
pub struct NormalRng(crate::rng::SplitMix64);

impl NormalRng {
    pub fn new(seed: u64) -> Self {
        Self(crate::rng::SplitMix64::new(seed ^ crate::rng::GOLDEN_GAMMA))
    }

    pub fn tensor(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let count: usize = shape.iter().product();
        let rng = &mut self.0;
        let values = crate::rng::box_muller(count, || (rng.open_unit_f64(), rng.open_unit_f64()));
        Ok(Tensor::from_vec(values, shape, device)?)
    }
}

/// A network held by a [`DwmModel`]: built on the compute device, or parked in host memory and built there only
/// while it runs (`--offload model|sequential`).
pub(crate) enum Held<T> {
    Resident(T),
    Parked(ParkedWeights),
}

/// A loaded DWM model: diffusers-format CogVideoX(-Fun) directory plus the DWM LoRA folder.
pub struct DwmModel {
    vae: Held<AutoencoderKLCogVideoX>,
    vae_config: VaeConfig,
    /// The tiling set on the VAE whenever it runs (built or resident).
    tiling: Option<Tiling>,
    transformer: Held<CogVideoXTransformer3DModel>,
    transformer_config: TransformerConfig,
    scheduler: DdimConfig,
    text_encoder: Held<T5TextEncoder>,
    t5_config: T5Config,
    tokenizer: Option<T5Tokenizer>,
    scaling_factor: f64,
    /// The frame count the model was trained on (the pipeline resamples other clips to it and back).
    model_frames: usize,
    /// The frame size the model was trained on (`sample_width/height` of the transformer × the VAE's spatial
    /// compression); other clips are resized to it and the result back, as DWM's pipeline does.
    native_size: (u32, u32),
    max_text_length: usize,
    /// The negative prompt's and the last prompt's embeddings.
    prompts: PromptCache,
    device: Device,
    dtype: DType,
    offload: Offload,
}

/// Checks that a network used every key of its checkpoint.
pub(crate) fn check_unused(backend: &CheckpointBackend, what: &str) -> Result<()> {
    let unused = backend.unused_keys();
    if unused.is_empty() {
        return Ok(());
    }
    let dir = backend.weight_files().dir.clone();
    let shown: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
    Err(file_error(
        &dir,
        format!(
            "{what}: {} checkpoint keys are not used by the network (e.g. {}); wrong model?",
            unused.len(),
            shown.join(", ")
        ),
    ))
}

/// Builds a network on `device` from `backend`, or with `park`, parks its weights in host memory (the network
/// is built once on the CPU while the weights it asks for are recorded, merged and cast as it receives them).
pub(crate) fn place<T>(
    backend: Box<dyn SimpleBackend>,
    dtype: DType,
    device: &Device,
    park: bool,
    make: impl Fn(VarBuilder<'static>) -> Result<T>,
) -> Result<Held<T>> {
    if park {
        let (parked, _) = ParkedWeights::record(backend, dtype, |vb| make(vb).map(drop))?;
        Ok(Held::Parked(parked))
    } else {
        Ok(Held::Resident(make(VarBuilder::from_backend(
            backend,
            dtype,
            device.clone(),
        ))?))
    }
}

/// The embeddings a model keeps between generations: its negative prompt's, encoded once (the text encoder is
/// among the largest networks of the model), and the last prompt's (ranking and search generate many actions
/// under one prompt, and with offload each encoding would move the text encoder to the device again).
#[derive(Default)]
pub(crate) struct PromptCache {
    negative: Option<Tensor>,
    last: Option<(String, Tensor)>,
}

impl PromptCache {
    /// The cached embedding of `prompt` (`negative_prompt` being the model's negative prompt), if any.
    pub(crate) fn get(&self, prompt: &str, negative_prompt: &str) -> Option<Tensor> {
        if prompt == negative_prompt {
            self.negative.clone()
        } else {
            self.last
                .as_ref()
                .filter(|(text, _)| text == prompt)
                .map(|(_, embeds)| embeds.clone())
        }
    }

    pub(crate) fn keep(&mut self, prompt: &str, negative_prompt: &str, embeds: &Tensor) {
        if prompt == negative_prompt {
            self.negative = Some(embeds.clone());
        } else {
            self.last = Some((prompt.to_string(), embeds.clone()));
        }
    }
}

/// The two conditioning videos must have one size.
pub(crate) fn check_sizes(static_video: &Frames, hand_video: &Frames) -> Result<()> {
    let (input_width, input_height) = (static_video.width(), static_video.height());
    if (hand_video.width(), hand_video.height()) != (input_width, input_height) {
        return Err(WorldModelError::Input {
            what: "video size".into(),
            reason: format!(
                "the static video is {input_width}x{input_height} but the hand video {}x{}",
                hand_video.width(),
                hand_video.height()
            ),
        });
    }
    Ok(())
}

/// What a [`DwmModel`] is built from besides its weights.
#[derive(Clone, Debug)]
pub struct DwmConfigs {
    pub transformer: TransformerConfig,
    pub vae: VaeConfig,
    pub t5: T5Config,
    pub scheduler: DdimConfig,
    /// The frame count the model was trained on.
    pub model_frames: usize,
    pub max_text_length: usize,
}

/// One weight source per network.
pub struct DwmWeights {
    pub transformer: Box<dyn SimpleBackend>,
    pub vae: Box<dyn SimpleBackend>,
    pub text_encoder: Box<dyn SimpleBackend>,
}

impl DwmModel {
    /// Loads the model. `lora`: the DWM folder with `pytorch_lora_weights.safetensors` (merged at load, in
    /// f32, then cast) and `non_lora_weights.safetensors` (the widened patch embedding).
    pub fn load(dir: &Path, lora: Option<&Path>, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(dir, lora, device, dtype, Offload::None)
    }

    /// [`DwmModel::load`] with the networks' weights placed as `offload` says (module `offload`).
    pub fn load_with(
        dir: &Path,
        lora: Option<&Path>,
        device: &Device,
        dtype: DType,
        offload: Offload,
    ) -> Result<Self> {
        let index_path = dir.join("model_index.json");
        let index: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&index_path).map_err(|e| file_error(&index_path, e))?,
        )
        .map_err(|e| file_error(&index_path, format!("not valid JSON: {e}")))?;
        if let Some(scheduler) = index
            .get("scheduler")
            .and_then(|s| s.get(1))
            .and_then(|s| s.as_str())
            && scheduler != "CogVideoXDDIMScheduler"
        {
            return Err(file_error(
                &index_path,
                format!(
                    "scheduler {scheduler} is not supported (handtwin runs CogVideoXDDIMScheduler, as DWM does)"
                ),
            ));
        }

        // Transformer: base weights, DWM LoRA merged, widened patch embedding.
        let transformer_dir = dir.join("transformer");
        let config_path = transformer_dir.join("config.json");
        let mut transformer_config = TransformerConfig::from_file(&config_path)?;
        let raw: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?,
        )
        .map_err(|e| file_error(&config_path, e))?;
        let model_frames = raw
            .get("sample_frames")
            .and_then(|v| v.as_u64())
            .unwrap_or(49) as usize;
        let max_text_length = raw
            .get("max_text_seq_length")
            .and_then(|v| v.as_u64())
            .unwrap_or(226) as usize;
        let mut backend = CheckpointBackend::new(
            WeightFiles::open(&transformer_dir, "diffusion_pytorch_model")
                .map_err(|e| file_error(&transformer_dir, e))?,
        );
        if let Some(lora) = lora {
            let peft = lora.join("pytorch_lora_weights.safetensors");
            let wan = lora.join(super::wan_model::WAN_LORA_FILE);
            if !peft.is_file() && wan.is_file() {
                return Err(file_error(
                    lora,
                    format!(
                        "holds {}, DWM-Wan's LoRA; the model {} is the CogVideoX family, whose LoRA is \
                         pytorch_lora_weights.safetensors",
                        super::wan_model::WAN_LORA_FILE,
                        dir.display()
                    ),
                ));
            }
            let adapter = LoraAdapter::load(&peft).map_err(|e| file_error(lora, e))?;
            backend = backend
                .with_lora(adapter)
                .map_err(|e| file_error(lora, e))?;
            let non_lora = lora.join("non_lora_weights.safetensors");
            if non_lora.is_file() {
                let (with, _) = backend
                    .with_overrides(&non_lora)
                    .map_err(|e| file_error(&non_lora, e))?;
                backend = with;
            }
        }
        if let Some(shape) = backend.shape_of("patch_embed.proj.weight") {
            let channels = shape.get(1).copied().unwrap_or(0);
            if channels != transformer_config.in_channels {
                // DWM widens the 33-channel CogVideoX-Fun input to 49 (16 hand channels); anything else is a mismatch.
                if transformer_config.in_channels == 33 && channels == 49 {
                    transformer_config.in_channels = 49;
                } else {
                    return Err(file_error(
                        &config_path,
                        format!(
                            "in_channels is {} but patch_embed.proj.weight takes {channels} channels",
                            transformer_config.in_channels
                        ),
                    ));
                }
            }
        }
        if transformer_config.in_channels != 49 {
            return Err(file_error(
                &config_path,
                format!(
                    "the transformer takes {} input channels; DWM needs 49 ([noisy 16 | mask 1 | static 16 | hand 16]) — pass the DWM LoRA folder with --lora",
                    transformer_config.in_channels
                ),
            ));
        }
        // VAE, tiled by default from 480p up (as the reference enables tiling).
        let vae_dir = dir.join("vae");
        let vae_config_path = vae_dir.join("config.json");
        let vae_config = VaeConfig::from_file(&vae_config_path)?;
        let vae_backend = Arc::new(CheckpointBackend::new(
            WeightFiles::open(&vae_dir, "diffusion_pytorch_model")
                .map_err(|e| file_error(&vae_dir, e))?,
        ));

        // Text encoder and tokenizer. (T5's shared embedding is stored under two names; the encoder reads one
        // of them, so its unused keys are not checked.)
        let text_dir = dir.join("text_encoder");
        let t5_config = T5Config::from_file(&text_dir.join("config.json"))?;
        let t5_backend = CheckpointBackend::new(
            WeightFiles::open(&text_dir, "model").map_err(|e| file_error(&text_dir, e))?,
        );
        let tokenizer = T5Tokenizer::from_dir(&dir.join("tokenizer"))
            .map_err(|e| file_error(&dir.join("tokenizer"), e))?;
        let scheduler =
            DdimConfig::from_file(&dir.join("scheduler").join("scheduler_config.json"))?;
        let transformer_backend = Arc::new(backend);
        let model = Self::assemble(
            DwmConfigs {
                transformer: transformer_config,
                vae: vae_config,
                t5: t5_config,
                scheduler,
                model_frames,
                max_text_length,
            },
            DwmWeights {
                transformer: Box::new(SharedBackend(transformer_backend.clone())),
                vae: Box::new(SharedBackend(vae_backend.clone())),
                text_encoder: Box::new(SharedBackend(Arc::new(t5_backend))),
            },
            Some(tokenizer),
            device,
            dtype,
            offload,
        )?;
        check_unused(&transformer_backend, "transformer")?;
        check_unused(&vae_backend, "vae")?;
        Ok(model)
    }

    /// Builds the model from its configs and weight sources, placing the weights as `offload` says. `load_with`
    /// reads them from a folder; benchmarks give random weights at the real shapes (`world_model::bench`).
    /// Without a tokenizer, prompts are given as embeddings ([`DwmModel::generate_with_embeds`]).
    pub fn assemble(
        configs: DwmConfigs,
        weights: DwmWeights,
        tokenizer: Option<T5Tokenizer>,
        device: &Device,
        dtype: DType,
        offload: Offload,
    ) -> Result<Self> {
        let DwmConfigs {
            transformer: transformer_config,
            vae: vae_config,
            t5: t5_config,
            scheduler,
            model_frames,
            max_text_length,
        } = configs;
        let park = offload.parks_weights();
        let held = place(weights.transformer, dtype, device, park, |vb| {
            CogVideoXTransformer3DModel::new(&transformer_config, vb)
        })?;
        let transformer = match (offload, held) {
            // Outer layers on the device, blocks streamed from the parked weights.
            (Offload::Sequential, Held::Parked(parked)) => {
                Held::Resident(CogVideoXTransformer3DModel::new_streamed(
                    &transformer_config,
                    parked.var_builder(device),
                    parked.var_builder(device),
                )?)
            }
            (_, held) => held,
        };
        let vae = place(weights.vae, dtype, device, park, |vb| {
            Ok(AutoencoderKLCogVideoX::new(&vae_config, vb)?)
        })?;
        let text_encoder = place(weights.text_encoder, dtype, device, park, |vb| {
            T5TextEncoder::new(&t5_config, vb)
        })?;
        let scaling_factor = vae_config.scaling_factor;
        let compression = vae_config.spatial_compression();
        let native_size = (
            (transformer_config.sample_width * compression) as u32,
            (transformer_config.sample_height * compression) as u32,
        );
        Ok(Self {
            vae,
            vae_config,
            tiling: None,
            transformer,
            transformer_config,
            scheduler,
            text_encoder,
            t5_config,
            tokenizer,
            scaling_factor,
            model_frames,
            native_size,
            max_text_length,
            prompts: PromptCache::default(),
            device: device.clone(),
            dtype,
            offload,
        })
    }

    /// Where the weights live between uses.
    pub fn offload(&self) -> Offload {
        self.offload
    }

    /// Runs `run` with the VAE on the device (built from parked weights for the call if need be), tiled as
    /// the model's tiling says.
    fn with_vae<R>(&mut self, run: impl FnOnce(&AutoencoderKLCogVideoX) -> Result<R>) -> Result<R> {
        match &mut self.vae {
            Held::Resident(vae) => {
                vae.set_tiling(self.tiling);
                run(vae)
            }
            Held::Parked(weights) => {
                let mut vae = AutoencoderKLCogVideoX::new(
                    &self.vae_config,
                    weights.var_builder(&self.device),
                )?;
                vae.set_tiling(self.tiling);
                run(&vae)
            }
        }
    }

    /// Runs `run` with the transformer on the device (see [`DwmModel::with_vae`]).
    fn with_transformer<R>(
        &self,
        run: impl FnOnce(&CogVideoXTransformer3DModel) -> Result<R>,
    ) -> Result<R> {
        match &self.transformer {
            Held::Resident(transformer) => run(transformer),
            Held::Parked(weights) => run(&CogVideoXTransformer3DModel::new(
                &self.transformer_config,
                weights.var_builder(&self.device),
            )?),
        }
    }

    /// Runs `run` with the text encoder on the device (see [`DwmModel::with_vae`]).
    fn with_text_encoder<R>(
        &mut self,
        run: impl FnOnce(&mut T5TextEncoder) -> Result<R>,
    ) -> Result<R> {
        match &mut self.text_encoder {
            Held::Resident(encoder) => run(encoder),
            Held::Parked(weights) => run(&mut T5TextEncoder::new(
                &self.t5_config,
                weights.var_builder(&self.device),
            )?),
        }
    }

    /// The loaded networks, for diagnostics that drive them step by step (`examples/probe_denoiser.rs`).
    /// Only for a model loaded without offload (`Err` otherwise: its networks are not built).
    pub fn networks(&self) -> Result<DwmNetworks<'_>> {
        let (Held::Resident(vae), Held::Resident(transformer)) = (&self.vae, &self.transformer)
        else {
            return Err(WorldModelError::Input {
                what: "networks".into(),
                reason: format!(
                    "the model was loaded with --offload {}; its networks are built per use",
                    self.offload
                ),
            });
        };
        Ok(DwmNetworks {
            vae,
            transformer,
            transformer_config: &self.transformer_config,
            scheduler: &self.scheduler,
            scaling_factor: self.scaling_factor,
        })
    }

    /// The T5 embedding of a prompt, padded to the model's text length, as the sampler receives it.
    pub fn encode_prompt(&mut self, prompt: &str) -> Result<Tensor> {
        let Some(tokenizer) = &self.tokenizer else {
            return Err(WorldModelError::Input {
                what: "prompt".into(),
                reason: "this model has no tokenizer; give prompt embeddings".into(),
            });
        };
        let ids = tokenizer
            .encode_padded(prompt, self.max_text_length)
            .map_err(|e| WorldModelError::Input {
                what: "prompt".into(),
                reason: e.to_string(),
            })?;
        self.encode_token_ids(&ids)
    }

    /// The T5 embedding [1, L, D] of token ids (already padded).
    pub fn encode_token_ids(&mut self, ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        self.with_text_encoder(|encoder| encoder.forward(&ids))
    }

    /// The padded prompt length the text encoder takes.
    pub fn max_text_length(&self) -> usize {
        self.max_text_length
    }

    /// The device the networks run on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The VAE round trip of a clip at the model's size (posterior mode, decoded), resized back: the best any
    /// generation through this VAE could do, reported beside evaluations; of the static video, the model's
    /// no-action output, which the residual composite subtracts (`world_model::composite`).
    pub fn reconstruct(&mut self, video: &Frames) -> Result<Frames> {
        let (_, height) = self.native_size;
        let tensor = clip_tensor(
            video,
            self.model_frames,
            self.native_size,
            &self.device,
            self.dtype,
        )?;
        // Tiled exactly as `generate` tiles, so the round trip has the generation's seams and blur.
        self.tiling = (height >= 480).then(|| Tiling::from_config(&self.vae_config));
        let decoded = self.with_vae(|vae| {
            let latents = vae.encode(&tensor)?.mode();
            Ok(vae.decode(&latents)?)
        })?;
        video_to_clip(&unit_range(&decoded)?, video)
    }

    /// A prompt's embedding, from the cache when it is the (empty) negative prompt or the last prompt.
    fn prompt_embeddings(&mut self, prompt: &str) -> Result<Tensor> {
        if let Some(embeds) = self.prompts.get(prompt, "") {
            return Ok(embeds);
        }
        let embeds = self.encode_prompt(prompt)?;
        self.prompts.keep(prompt, "", &embeds);
        Ok(embeds)
    }

    /// Generates the interaction video for a static and a hand video (same size, multiple of 16).
    pub fn generate(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &str,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        check_sizes(static_video, hand_video)?;
        let prompt_embeds = self.prompt_embeddings(prompt)?;
        let negative_prompt_embeds = self.prompt_embeddings("")?;
        self.generate_with_embeds(
            static_video,
            hand_video,
            &prompt_embeds,
            &negative_prompt_embeds,
            sampling,
            progress,
        )
    }

    /// [`DwmModel::generate`] with the prompt and the negative prompt given as T5 embeddings [1, L, D].
    pub fn generate_with_embeds(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt_embeds: &Tensor,
        negative_prompt_embeds: &Tensor,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        check_sizes(static_video, hand_video)?;
        let (width, height) = self.native_size;
        let clip = |frames: &Frames| {
            clip_tensor(
                frames,
                self.model_frames,
                self.native_size,
                &self.device,
                self.dtype,
            )
        };
        let static_tensor = clip(static_video)?;
        let hand_tensor = clip(hand_video)?;
        let use_tiling = height >= 480;
        self.tiling = use_tiling.then(|| Tiling::from_config(&self.vae_config));
        let latent_channels = self.vae_config.latent_channels;
        let latent_frames = (self.model_frames - 1) / 4 + 1;
        let compression = self.vae_config.spatial_compression();
        let (h, w) = (height as usize / compression, width as usize / compression);
        let Sampling {
            steps,
            guidance_scale,
            seed,
        } = sampling;
        let mut rng = NormalRng::new(seed);
        let initial_noise = rng
            .tensor(&[1, latent_frames, latent_channels, h, w], &self.device)?
            .to_dtype(self.dtype)?;
        let hand_posterior_eps = rng
            .tensor(&[1, latent_channels, latent_frames, h, w], &self.device)?
            .to_dtype(self.dtype)?;
        let inputs = SamplingInputs {
            static_video: &static_tensor,
            hand_video: &hand_tensor,
            prompt_embeds,
            negative_prompt_embeds,
            initial_noise: &initial_noise,
            hand_posterior_eps: &hand_posterior_eps,
            steps,
            guidance_scale,
        };
        // The phases of `sample`, each with only its network on the device when weights are offloaded.
        let scaling_factor = self.scaling_factor;
        let conditions = self.with_vae(|vae| encode_conditions(vae, scaling_factor, &inputs))?;
        let latents = self.with_transformer(|transformer| {
            denoise(
                transformer,
                &self.scheduler,
                scaling_factor,
                &conditions,
                &inputs,
                progress,
            )
        })?;
        let Some(latents) = latents else {
            return Ok(None);
        };
        drop(conditions);
        let video = self.with_vae(|vae| decode_latents(vae, scaling_factor, &latents))?;
        video_to_clip(&video, static_video).map(Some)
    }
}
