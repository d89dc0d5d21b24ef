//! DWM's Wan sampling loop (`dwm-wan-reference.md` §2–3): static video + hand video (+ prompt) in, interaction
//! video out, with the Wan 2.1 networks.
//!
//! - Static latents: the posterior mode, normalised `(μ − latents_mean)/latents_std`.
//! - Hand latents: `(μ − mean)/std + exp(½·logvar)·ε`. DWM's VAE normalises the mean inside `encode` but leaves
//!   the log-variance raw, so the posterior noise is **not** divided by std (diffusers' pipelines normalise
//!   after sampling, which would scale it).
//! - Transformer input `[noisy z | mask 4 = 1.0 | static z | hand z]` on the channel axis of [B,C,F,H,W]: DWM's
//!   all-ones mask ("keep the whole static video").
//! - The prompt embeddings zero-padded to the model's text length (512); zero CLIP features for the I2V image
//!   branch (DWM encodes a black image and zeroes the result).
//! - Classifier-free guidance only when the scale exceeds 1 (DWM's `do_classifier_free_guidance`), with the
//!   batch [negative, positive].
//! - The flow-matching Euler step from σ_i to σ_{i+1}, t = 1000σ, in float32.
//! - Decode `z·std + mean`, clamp to [−1, 1], then `(x/2 + 0.5).clamp(0, 1)`.

use super::error::{Result, input_error};
use super::flow_match::{FlowMatchConfig, FlowMatchEulerScheduler};
use super::pipeline::{ConditionLatents, SamplingInputs};
use super::wan_transformer::WanTransformer3DModel;
use super::wan_vae::AutoencoderKLWan;
use candle_core::{DType, Tensor};

/// Mask channels of DWM-Wan's transformer input (the first frame repeated 4× and packed like the VAE's 4×
/// temporal compression).
pub const MASK_CHANNELS: usize = 4;

/// The networks of a Wan DWM model.
pub struct WanNetworks<'a> {
    pub vae: &'a AutoencoderKLWan,
    pub transformer: &'a WanTransformer3DModel,
    pub scheduler: &'a FlowMatchConfig,
}

/// Runs the loop; `inputs.initial_noise` is [1, z, f, h, w] (channels first, as Wan lays latents out).
/// `progress(step, total)` is called after each step; returning false stops the run (`Ok(None)`). Returns the
/// video [1, 3, F, H, W] in [0, 1], f32.
pub fn sample(
    networks: &WanNetworks<'_>,
    inputs: &SamplingInputs<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Tensor>> {
    let conditions = encode_conditions(networks.vae, inputs)?;
    let Some(latents) = denoise(
        networks.transformer,
        networks.scheduler,
        &conditions,
        inputs,
        progress,
    )?
    else {
        return Ok(None);
    };
    decode_latents(networks.vae, &latents).map(Some)
}

/// The static and hand latents, normalised as DWM's VAE returns them, [1, z, f, h, w].
pub fn encode_conditions(
    vae: &AutoencoderKLWan,
    inputs: &SamplingInputs<'_>,
) -> Result<ConditionLatents> {
    let static_latents = vae.normalize(&vae.encode(inputs.static_video)?.mode())?;
    let hand = vae.encode(inputs.hand_video)?;
    if inputs.hand_posterior_eps.dims() != hand.mean.dims() {
        return Err(input_error(
            "hand posterior ε",
            format!(
                "shape {:?}, the hand latents {:?}",
                inputs.hand_posterior_eps.dims(),
                hand.mean.dims()
            ),
        ));
    }
    let noise = (hand.std()? * inputs.hand_posterior_eps.to_dtype(hand.mean.dtype())?)?;
    let hand_latents = (vae.normalize(&hand.mean)? + noise)?;
    Ok(ConditionLatents {
        static_latents,
        hand_latents,
    })
}

/// Normalised latents [1, z, f, h, w] → video [1, 3, F, H, W] in [0, 1], f32.
pub fn decode_latents(vae: &AutoencoderKLWan, latents: &Tensor) -> Result<Tensor> {
    let decoded = vae.decode(&vae.denormalize(latents)?)?;
    super::pipeline::unit_range(&decoded)
}

/// [B, L, D] prompt embeddings zero-padded to `length` tokens (longer ones are refused: the tokenizer truncates
/// at the model's text length).
pub fn pad_text(embeds: &Tensor, length: usize) -> Result<Tensor> {
    let (b, l, d) = embeds.dims3()?;
    if l > length {
        return Err(input_error(
            "prompt embeddings",
            format!("{l} tokens, more than the model's text length {length}"),
        ));
    }
    if l == length {
        return Ok(embeds.clone());
    }
    let zeros = Tensor::zeros((b, length - l, d), embeds.dtype(), embeds.device())?;
    Ok(Tensor::cat(&[embeds, &zeros], 1)?)
}

/// The transformer's loop: denoised (normalised) latents [1, z, f, h, w], or `None` if `progress` stopped it.
pub fn denoise(
    transformer: &WanTransformer3DModel,
    scheduler_config: &FlowMatchConfig,
    conditions: &ConditionLatents,
    inputs: &SamplingInputs<'_>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<Tensor>> {
    let config = transformer.config();
    let dtype = inputs.initial_noise.dtype();
    let static_latents = &conditions.static_latents;
    let (batch, z, frames, height, width) = static_latents.dims5()?;
    if inputs.initial_noise.dims() != static_latents.dims() {
        return Err(input_error(
            "initial noise",
            format!(
                "shape {:?}, the latents {:?}",
                inputs.initial_noise.dims(),
                static_latents.dims()
            ),
        ));
    }
    if config.in_channels != 3 * z + MASK_CHANNELS || config.out_channels != z {
        return Err(input_error(
            "Wan transformer input",
            format!(
                "the transformer takes {} channels and gives {}, but DWM's [noisy {z} | mask {MASK_CHANNELS} | \
                 static {z} | hand {z}] is {} in and {z} out",
                config.in_channels,
                config.out_channels,
                3 * z + MASK_CHANNELS
            ),
        ));
    }
    let mask = Tensor::ones(
        (batch, MASK_CHANNELS, frames, height, width),
        static_latents.dtype(),
        static_latents.device(),
    )?;
    let conditions = Tensor::cat(&[&mask, static_latents, &conditions.hand_latents], 1)?;
    let guided = inputs.guidance_scale > 1.0;
    let cfg_batch = if guided { 2 } else { 1 };
    let conditions = if guided {
        Tensor::cat(&[&conditions, &conditions], 0)?
    } else {
        conditions
    }
    .to_dtype(dtype)?
    .contiguous()?;
    let text = if guided {
        Tensor::cat(
            &[
                &pad_text(inputs.negative_prompt_embeds, config.text_len)?,
                &pad_text(inputs.prompt_embeds, config.text_len)?,
            ],
            0,
        )?
    } else {
        pad_text(inputs.prompt_embeds, config.text_len)?
    }
    .to_dtype(dtype)?;
    let image = transformer.zero_image_features(cfg_batch, dtype)?;
    let scheduler = FlowMatchEulerScheduler::new(scheduler_config, inputs.steps)?;
    let mut latents = inputs.initial_noise.clone();
    let total = scheduler.timesteps().len();
    for (index, &t) in scheduler.timesteps().iter().enumerate() {
        let noisy = if guided {
            Tensor::cat(&[&latents, &latents], 0)?
        } else {
            latents.clone()
        };
        let model_input = Tensor::cat(&[&noisy, &conditions], 1)?;
        let timestep = Tensor::from_vec(vec![t; cfg_batch], cfg_batch, latents.device())?;
        let v = transformer
            .forward(&model_input, &timestep, &text, image.as_ref())?
            .to_dtype(DType::F32)?;
        let v = if guided {
            let uncond = v.narrow(0, 0, 1)?;
            let cond = v.narrow(0, 1, 1)?;
            (&uncond + ((cond - &uncond)? * inputs.guidance_scale)?)?
        } else {
            v
        };
        // The step in f32; the latents are kept in the model's precision between steps.
        latents = scheduler
            .step(&v, index, &latents.to_dtype(DType::F32)?)?
            .to_dtype(dtype)?;
        if !progress(index + 1, total) {
            return Ok(None);
        }
    }
    Ok(Some(latents))
}
