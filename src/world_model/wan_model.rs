//! DWM's second release, Wan2.1-Fun-14B-InP + the DWM-Wan LoRA, loaded from the folders as they ship and run
//! through [`super::wan_pipeline`].
//!
//! The model folder has Wan's own layout (as Wan-AI's and alibaba-pai's Wan 2.1 repositories ship it):
//!
//! ```text
//! config.json                                   the transformer's (`dim`, `num_heads`, `in_dim`, `model_type`)
//! diffusion_pytorch_model.safetensors           or -0000N-of-0000M shards + .safetensors.index.json
//! Wan2.1_VAE.pth                                the VAE (a PyTorch state dict; no config: Wan 2.1's constants)
//! models_t5_umt5-xxl-enc-bf16.pth               the umT5-XXL encoder (Wan's key names; shape read from it)
//! google/umt5-xxl/                              the tokenizer (tokenizer.json or spiece.model)
//! handtwin.json                                 optional: handtwin's sampling defaults and a fixed size
//! ```
//!
//! The LoRA folder (`--lora`) holds `lora_diffusion_pytorch_model.safetensors` (kohya names, rank 64 on every
//! Linear of the transformer, merged at load in float32, then cast) and `non_lora_weights.safetensors` (the
//! patch embedding widened from 36 to 52 input channels). The CLIP image encoder is not read: DWM zeroes its
//! output, so the model needs only `img_emb(0)`.

use super::ConfigFile as _;
use super::checkpoint::{CheckpointBackend, LoraAdapter, SharedBackend, WeightFiles};
use super::error::{Result, file_error, input_error};
use super::flow_match::FlowMatchConfig;
use super::offload::Offload;
use super::pipeline::{
    Held, NormalRng, PromptCache, Sampling, SamplingInputs, check_sizes, clip_tensor, place,
    unit_range, video_to_clip,
};
use super::t5::T5Config;
use super::tokenizer::T5Tokenizer;
use super::umt5::UMT5Encoder;
use super::wan_pipeline::{decode_latents, denoise, encode_conditions};
use super::wan_transformer::{WanKeyLayout, WanTransformer3DModel, WanTransformerConfig};
use super::wan_vae::{AutoencoderKLWan, WanVaeConfig};
use crate::video::Frames;
use candle_core::{DType, Device, Tensor};
use candle_nn::var_builder::SimpleBackend;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub const WAN_VAE_FILE: &str = "Wan2.1_VAE.pth";
pub const WAN_T5_FILE: &str = "models_t5_umt5-xxl-enc-bf16.pth";
pub const WAN_TOKENIZER_DIR: &str = "google/umt5-xxl";
pub const WAN_TRANSFORMER_STEM: &str = "diffusion_pytorch_model";
pub const WAN_LORA_FILE: &str = "lora_diffusion_pytorch_model.safetensors";
pub const NON_LORA_FILE: &str = "non_lora_weights.safetensors";
/// DWM-Wan's negative prompt (`tw/inference.py`).
pub const WAN_NEGATIVE_PROMPT: &str = "bad detailed";
/// DWM-Wan's clip length.
pub const WAN_FRAMES: usize = 49;
/// DWM-Wan's sampler: FlowMatchEulerDiscreteScheduler(1000, shift 5), no dynamic shifting.
pub const WAN_SHIFT: f64 = 5.0;
/// The width the VAE (8×) and the patch (2×) divide.
const SIZE_MULTIPLE: u32 = 16;

/// Whether `dir` holds a Wan-layout model: Wan's VAE file, or a root config.json in Wan's layout.
pub fn is_wan_model_dir(dir: &Path) -> bool {
    if dir.join(WAN_VAE_FILE).is_file() {
        return true;
    }
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|config| config.get("dim").is_some() && config.get("num_heads").is_some())
}

/// Reads every tensor of a PyTorch `.pth` state dict.
fn read_pth(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(file_error(path, "missing"));
    }
    Ok(candle_core::pickle::read_all(path)
        .map_err(|e| file_error(path, format!("not a readable PyTorch state dict: {e}")))?
        .into_iter()
        .collect())
}

/// Tensor name → shape.
pub type Shapes = HashMap<String, Vec<usize>>;

/// The shapes of loaded tensors.
pub fn shapes_of(tensors: &HashMap<String, Tensor>) -> Shapes {
    tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.dims().to_vec()))
        .collect()
}

/// The shapes stored in a `.pth` state dict, read from its header (no tensor loaded).
pub fn pth_shapes(path: &Path) -> Result<Shapes> {
    Ok(candle_core::pickle::read_pth_tensor_info(path, false, None)
        .map_err(|e| file_error(path, format!("not a readable PyTorch state dict: {e}")))?
        .into_iter()
        .map(|info| (info.name, info.layout.shape().dims().to_vec()))
        .collect())
}

fn shape_of<'a>(tensors: &'a Shapes, path: &Path, key: &str) -> Result<&'a [usize]> {
    tensors
        .get(key)
        .map(|shape| shape.as_slice())
        .ok_or_else(|| file_error(path, format!("key `{key}` missing")))
}

/// The umT5 encoder's shape from Wan's state dict (no config ships with it).
pub fn wan_t5_config(tensors: &Shapes, path: &Path) -> Result<T5Config> {
    let &[vocab, d_model] = shape_of(tensors, path, "token_embedding.weight")? else {
        return Err(file_error(path, "`token_embedding.weight` is not a matrix"));
    };
    let layers = (0..)
        .take_while(|i| tensors.contains_key(&format!("blocks.{i}.norm1.weight")))
        .count();
    if layers == 0 {
        return Err(file_error(path, "no `blocks.N` layers"));
    }
    let &[buckets, heads] = shape_of(tensors, path, "blocks.0.pos_embedding.embedding.weight")?
    else {
        return Err(file_error(path, "`blocks.0.pos_embedding` is not a table"));
    };
    let inner = shape_of(tensors, path, "blocks.0.attn.q.weight")?[0];
    let d_ff = shape_of(tensors, path, "blocks.0.ffn.fc1.weight")?[0];
    if heads == 0 || inner % heads != 0 {
        return Err(file_error(
            path,
            format!("{inner} attention features for {heads} heads"),
        ));
    }
    let config = T5Config {
        vocab_size: vocab,
        d_model,
        d_kv: inner / heads,
        d_ff,
        num_layers: layers,
        num_heads: heads,
        relative_attention_num_buckets: buckets,
        relative_attention_max_distance: 128,
        layer_norm_epsilon: 1e-6,
        feed_forward_proj: "gated-gelu".into(),
        dense_act_fn: Some("gelu_new".into()),
        pad_token_id: 0,
        eos_token_id: 1,
    };
    config.validate(&path.display().to_string())?;
    Ok(config)
}

/// Wan's umT5 key of a module named as transformers names it (what [`UMT5Encoder`] asks for).
pub fn wan_t5_key(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["shared", leaf] => format!("token_embedding.{leaf}"),
        ["encoder", "final_layer_norm", leaf] => format!("norm.{leaf}"),
        ["encoder", "block", n, "layer", "0", "layer_norm", leaf] => {
            format!("blocks.{n}.norm1.{leaf}")
        }
        [
            "encoder",
            "block",
            n,
            "layer",
            "0",
            "SelfAttention",
            "relative_attention_bias",
            leaf,
        ] => {
            format!("blocks.{n}.pos_embedding.embedding.{leaf}")
        }
        [
            "encoder",
            "block",
            n,
            "layer",
            "0",
            "SelfAttention",
            module,
            leaf,
        ] => {
            format!("blocks.{n}.attn.{module}.{leaf}")
        }
        ["encoder", "block", n, "layer", "1", "layer_norm", leaf] => {
            format!("blocks.{n}.norm2.{leaf}")
        }
        [
            "encoder",
            "block",
            n,
            "layer",
            "1",
            "DenseReluDense",
            module,
            leaf,
        ] => {
            let module = match *module {
                "wi_0" => "gate.0",
                "wi_1" => "fc1",
                _ => "fc2",
            };
            format!("blocks.{n}.ffn.{module}.{leaf}")
        }
        _ => name.to_string(),
    }
}

/// The VAE's shape from `Wan2.1_VAE.pth`: widths, res-blocks per level and temporal downsampling read from the
/// encoder's layers; the latent statistics are Wan 2.1's (defined for z = 16 only).
pub fn wan_vae_config(tensors: &Shapes, path: &Path) -> Result<WanVaeConfig> {
    let base_dim = shape_of(tensors, path, "encoder.conv1.weight")?[0];
    let z_dim = shape_of(tensors, path, "conv2.weight")?[0];
    let mut levels: Vec<(usize, usize)> = vec![(0, 0)]; // (res-blocks, output width) per level
    let mut temporal = Vec::new();
    for index in 0.. {
        let prefix = format!("encoder.downsamples.{index}");
        if let Some(weight) = tensors.get(&format!("{prefix}.residual.2.weight")) {
            let level = levels
                .last_mut()
                .ok_or_else(|| file_error(path, "no levels"))?;
            level.0 += 1;
            level.1 = weight.first().copied().unwrap_or(0);
        } else if tensors.contains_key(&format!("{prefix}.resample.1.weight")) {
            temporal.push(tensors.contains_key(&format!("{prefix}.time_conv.weight")));
            levels.push((0, 0));
        } else {
            break;
        }
    }
    let num_res_blocks = levels[0].0;
    if num_res_blocks == 0 || levels.iter().any(|&(n, _)| n != num_res_blocks) {
        return Err(file_error(
            path,
            "the encoder's levels do not all have the same number of residual blocks",
        ));
    }
    if levels.iter().any(|&(_, width)| width % base_dim != 0) {
        return Err(file_error(
            path,
            "a level's width is not a multiple of the base width",
        ));
    }
    if z_dim != super::wan_vae::WAN21_LATENTS_MEAN.len() {
        return Err(file_error(
            path,
            format!("{z_dim} latent channels; Wan 2.1's latent statistics are for 16"),
        ));
    }
    let config = WanVaeConfig {
        base_dim,
        z_dim,
        dim_mult: levels.iter().map(|&(_, width)| width / base_dim).collect(),
        num_res_blocks,
        temperal_downsample: temporal,
        layout: WanKeyLayout::Wan,
        ..WanVaeConfig::wan21()
    };
    config.check(&path.display().to_string())?;
    Ok(config)
}

/// A size a model folder fixes in `handtwin.json` (`sample_width`, `sample_height`, `sample_frames`); DWM-Wan
/// itself runs at the clip's own size (rounded down to a multiple of 16) and 49 frames.
fn fixed_size(dir: &Path) -> Result<(Option<(u32, u32)>, usize)> {
    let path = dir.join("handtwin.json");
    if !path.is_file() {
        return Ok((None, WAN_FRAMES));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| file_error(&path, format!("not valid JSON: {e}")))?;
    let number = |key: &str| value.get(key).and_then(serde_json::Value::as_u64);
    let size = match (number("sample_width"), number("sample_height")) {
        (Some(w), Some(h)) if w % 16 == 0 && h % 16 == 0 && w > 0 && h > 0 => {
            Some((w as u32, h as u32))
        }
        (None, None) => None,
        _ => {
            return Err(file_error(
                &path,
                "`sample_width` and `sample_height` go together, as positive multiples of 16",
            ));
        }
    };
    let frames = match number("sample_frames") {
        Some(f) if f % 4 == 1 => f as usize,
        Some(_) => return Err(file_error(&path, "`sample_frames` must be 4k + 1")),
        None => WAN_FRAMES,
    };
    Ok((size, frames))
}

/// The size and frame count a Wan folder's model is planned for: its fixed size, else DWM's 720×480, 49 frames.
pub fn run_size(dir: &Path) -> Result<((u32, u32), usize)> {
    let (size, frames) = fixed_size(dir)?;
    Ok((size.unwrap_or((720, 480)), frames))
}

/// What a [`WanDwmModel`] is built from besides its weights.
#[derive(Clone, Debug)]
pub struct WanConfigs {
    pub transformer: WanTransformerConfig,
    pub vae: WanVaeConfig,
    pub t5: T5Config,
    /// A size the folder fixes (`handtwin.json`); `None`: each clip's own.
    pub fixed_size: Option<(u32, u32)>,
    pub model_frames: usize,
}

/// The weight sources of the three networks.
pub struct WanWeights {
    pub transformer: Box<dyn SimpleBackend>,
    pub vae: Box<dyn SimpleBackend>,
    pub text_encoder: Box<dyn SimpleBackend>,
}

impl WanConfigs {
    /// A Wan folder's configs without loading its weights: config.json, the `.pth` headers, `handtwin.json`; the
    /// transformer at DWM's 52 input channels.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut transformer = WanTransformerConfig::from_file(&dir.join("config.json"))?;
        transformer.in_channels = 3 * transformer.out_channels + super::wan_pipeline::MASK_CHANNELS;
        let vae_path = dir.join(WAN_VAE_FILE);
        let t5_path = dir.join(WAN_T5_FILE);
        let (fixed_size, model_frames) = fixed_size(dir)?;
        Ok(Self {
            transformer,
            vae: wan_vae_config(&pth_shapes(&vae_path)?, &vae_path)?,
            t5: wan_t5_config(&pth_shapes(&t5_path)?, &t5_path)?,
            fixed_size,
            model_frames,
        })
    }
}

/// A loaded DWM-Wan model.
pub struct WanDwmModel {
    vae: Held<AutoencoderKLWan>,
    vae_config: WanVaeConfig,
    transformer: Held<WanTransformer3DModel>,
    transformer_config: WanTransformerConfig,
    text_encoder: Held<UMT5Encoder>,
    t5_config: T5Config,
    offload: Offload,
    tokenizer: Option<T5Tokenizer>,
    scheduler: FlowMatchConfig,
    device: Device,
    dtype: DType,
    fixed_size: Option<(u32, u32)>,
    model_frames: usize,
    prompts: PromptCache,
}

impl WanDwmModel {
    /// Loads the model folder and the DWM-Wan LoRA folder (required: without it the transformer takes the base
    /// model's 36 channels, not DWM's 52).
    pub fn load(dir: &Path, lora: Option<&Path>, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(dir, lora, device, dtype, Offload::None)
    }

    /// [`WanDwmModel::load`] with the weights placed as `offload` says (module `offload`): parked in host memory
    /// and built on the device per phase (`model`), the transformer's blocks streamed too (`sequential`).
    pub fn load_with(
        dir: &Path,
        lora: Option<&Path>,
        device: &Device,
        dtype: DType,
        offload: Offload,
    ) -> Result<Self> {
        let config_path = dir.join("config.json");
        let mut config = WanTransformerConfig::from_file(&config_path)?;
        let mut backend = CheckpointBackend::new(
            WeightFiles::open(dir, WAN_TRANSFORMER_STEM).map_err(|e| file_error(dir, e))?,
        );
        if let Some(lora) = lora {
            let lora_path = lora.join(WAN_LORA_FILE);
            if !lora_path.is_file() {
                let other = lora.join("pytorch_lora_weights.safetensors");
                let reason = if other.is_file() {
                    format!(
                        "holds pytorch_lora_weights.safetensors, DWM's CogVideoX LoRA; the model {} is the Wan \
                         family, whose LoRA is {WAN_LORA_FILE}",
                        dir.display()
                    )
                } else {
                    format!("no {WAN_LORA_FILE} (the DWM-Wan LoRA)")
                };
                return Err(file_error(lora, reason));
            }
            let adapter = LoraAdapter::load(&lora_path).map_err(|e| file_error(lora, e))?;
            backend = backend
                .with_lora(adapter)
                .map_err(|e| file_error(lora, e))?;
            let non_lora = lora.join(NON_LORA_FILE);
            if !non_lora.is_file() {
                return Err(file_error(
                    lora,
                    format!("no {NON_LORA_FILE} (DWM-Wan's 52-channel patch embedding)"),
                ));
            }
            let (with, _) = backend
                .with_overrides(&non_lora)
                .map_err(|e| file_error(&non_lora, e))?;
            backend = with;
        }
        if let Some(shape) = backend.shape_of("patch_embedding.weight") {
            config.in_channels = shape.get(1).copied().unwrap_or(0);
        }
        let z = config.out_channels;
        let dwm_channels = 3 * z + super::wan_pipeline::MASK_CHANNELS;
        if config.in_channels != dwm_channels {
            let hint = if lora.is_none() {
                " — pass the DWM-Wan LoRA folder with --lora"
            } else {
                ""
            };
            return Err(file_error(
                &config_path,
                format!(
                    "the transformer takes {} input channels; DWM needs {dwm_channels} ([noisy {z} | mask 4 | \
                     static {z} | hand {z}]){hint}",
                    config.in_channels
                ),
            ));
        }
        let backend = Arc::new(backend);
        let vae_path = dir.join(WAN_VAE_FILE);
        let vae_tensors = read_pth(&vae_path)?;
        let vae_config = wan_vae_config(&shapes_of(&vae_tensors), &vae_path)?;
        let t5_path = dir.join(WAN_T5_FILE);
        let t5_tensors = read_pth(&t5_path)?;
        let t5_config = wan_t5_config(&shapes_of(&t5_tensors), &t5_path)?;
        let tokenizer_dir = dir.join(WAN_TOKENIZER_DIR);
        let tokenizer =
            T5Tokenizer::from_dir(&tokenizer_dir).map_err(|e| file_error(&tokenizer_dir, e))?;
        let (fixed_size, model_frames) = fixed_size(dir)?;
        let model = Self::assemble(
            WanConfigs {
                transformer: config,
                vae: vae_config,
                t5: t5_config,
                fixed_size,
                model_frames,
            },
            WanWeights {
                transformer: Box::new(SharedBackend(backend.clone())),
                vae: Box::new(vae_tensors),
                text_encoder: Box::new(t5_tensors),
            },
            Some(tokenizer),
            device,
            dtype,
            offload,
        )
        .map_err(|e| file_error(dir, e))?;
        super::pipeline::check_unused(&backend, "transformer")?;
        Ok(model)
    }

    /// Builds the model from its configs and weight sources, placing the weights as `offload` says: `load_with`
    /// reads them from a folder, `handtwin bench` gives random weights at the real shapes. Without a tokenizer,
    /// prompts are given as embeddings ([`WanDwmModel::generate_with_embeds`]). The text encoder's weights are
    /// named as Wan names them (`blocks.N.attn.q.weight`).
    pub fn assemble(
        configs: WanConfigs,
        weights: WanWeights,
        tokenizer: Option<T5Tokenizer>,
        device: &Device,
        dtype: DType,
        offload: Offload,
    ) -> Result<Self> {
        let park = offload.parks_weights();
        let WanConfigs {
            transformer: config,
            vae: vae_config,
            t5: t5_config,
            fixed_size,
            model_frames,
        } = configs;
        let held = place(weights.transformer, dtype, device, park, |vb| {
            WanTransformer3DModel::new(&config, vb)
        })?;
        let transformer = match (offload, held) {
            // Outer layers on the device, blocks streamed from the parked weights.
            (Offload::Sequential, Held::Parked(parked)) => {
                Held::Resident(WanTransformer3DModel::new_streamed(
                    &config,
                    parked.var_builder(device),
                    parked.var_builder(device),
                )?)
            }
            (_, held) => held,
        };
        let vae = place(weights.vae, dtype, device, park, |vb| {
            AutoencoderKLWan::new(&vae_config, vb)
        })?;
        let text_encoder = place(weights.text_encoder, dtype, device, park, |vb| {
            UMT5Encoder::new(&t5_config, vb.rename_f(wan_t5_key))
        })?;
        Ok(Self {
            vae,
            vae_config,
            transformer,
            transformer_config: config,
            text_encoder,
            t5_config,
            offload,
            tokenizer,
            scheduler: FlowMatchConfig {
                num_train_timesteps: 1000,
                shift: WAN_SHIFT,
                extra: Default::default(),
            },
            device: device.clone(),
            dtype,
            fixed_size,
            model_frames,
            prompts: PromptCache::default(),
        })
    }

    pub fn transformer_config(&self) -> &WanTransformerConfig {
        &self.transformer_config
    }

    /// Where the weights live between uses.
    pub fn offload(&self) -> Offload {
        self.offload
    }

    /// The loaded networks (transformer with the LoRA merged, VAE, umT5), for checks against a reference. Only
    /// for a model loaded without offload (its networks are built per use otherwise).
    pub fn networks(&self) -> Result<(&WanTransformer3DModel, &AutoencoderKLWan, &UMT5Encoder)> {
        match (&self.transformer, &self.vae, &self.text_encoder) {
            (Held::Resident(t), Held::Resident(v), Held::Resident(e))
                if self.offload == Offload::None =>
            {
                Ok((t, v, e))
            }
            _ => Err(input_error(
                "networks",
                format!(
                    "the model was loaded with --offload {}; its networks are built per use",
                    self.offload
                ),
            )),
        }
    }

    /// Runs `run` with the VAE on the device (built from parked weights for the call if need be).
    fn with_vae<R>(&self, run: impl FnOnce(&AutoencoderKLWan) -> Result<R>) -> Result<R> {
        match &self.vae {
            Held::Resident(vae) => run(vae),
            Held::Parked(weights) => run(&AutoencoderKLWan::new(
                &self.vae_config,
                weights.var_builder(&self.device),
            )?),
        }
    }

    /// Runs `run` with the transformer on the device (see [`WanDwmModel::with_vae`]).
    fn with_transformer<R>(
        &self,
        run: impl FnOnce(&WanTransformer3DModel) -> Result<R>,
    ) -> Result<R> {
        match &self.transformer {
            Held::Resident(transformer) => run(transformer),
            Held::Parked(weights) => run(&WanTransformer3DModel::new(
                &self.transformer_config,
                weights.var_builder(&self.device),
            )?),
        }
    }

    /// Runs `run` with umT5 on the device (see [`WanDwmModel::with_vae`]).
    fn with_text_encoder<R>(&self, run: impl FnOnce(&UMT5Encoder) -> Result<R>) -> Result<R> {
        match &self.text_encoder {
            Held::Resident(encoder) => run(encoder),
            Held::Parked(weights) => run(&UMT5Encoder::new(
                &self.t5_config,
                weights.var_builder(&self.device).rename_f(wan_t5_key),
            )?),
        }
    }

    /// The umT5 embedding of a prompt, trimmed to its tokens (with EOS), [1, L, D]: the pipeline pads it to 512
    /// with zeros, as DWM's does.
    pub fn encode_prompt(&mut self, prompt: &str) -> Result<Tensor> {
        let length = self.transformer_config.text_len;
        let Some(tokenizer) = &self.tokenizer else {
            return Err(input_error(
                "prompt",
                "this model has no tokenizer; give prompt embeddings",
            ));
        };
        let ids = tokenizer
            .encode_padded(prompt, length)
            .map_err(|e| input_error("prompt", e))?;
        let used = ids.len() - ids.iter().rev().take_while(|&&id| id == 0).count();
        self.encode_token_ids(&ids, used)
    }

    /// The umT5 embedding [1, used, D] of token ids padded to the text length, of which the first `used` are the
    /// prompt's (the rest masked out).
    pub fn encode_token_ids(&mut self, ids: &[u32], used: usize) -> Result<Tensor> {
        let mask: Vec<u32> = (0..ids.len()).map(|i| u32::from(i < used)).collect();
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let mask = Tensor::new(mask.as_slice(), &self.device)?.unsqueeze(0)?;
        let hidden = self.with_text_encoder(|encoder| encoder.forward(&ids, &mask))?;
        Ok(hidden.narrow(1, 0, used.max(1))?)
    }

    /// A prompt's embedding, from the cache when it is DWM-Wan's negative prompt or the last prompt.
    fn prompt_embeddings(&mut self, prompt: &str) -> Result<Tensor> {
        if let Some(embeds) = self.prompts.get(prompt, WAN_NEGATIVE_PROMPT) {
            return Ok(embeds);
        }
        let embeds = self.encode_prompt(prompt)?;
        self.prompts.keep(prompt, WAN_NEGATIVE_PROMPT, &embeds);
        Ok(embeds)
    }

    /// The size the model runs a clip of `width`×`height` at: the folder's fixed size, else the clip's own,
    /// rounded down to a multiple of 16.
    pub fn model_size(&self, width: u32, height: u32) -> Result<(u32, u32)> {
        if let Some(size) = self.fixed_size {
            return Ok(size);
        }
        let (w, h) = (
            width / SIZE_MULTIPLE * SIZE_MULTIPLE,
            height / SIZE_MULTIPLE * SIZE_MULTIPLE,
        );
        if w == 0 || h == 0 {
            return Err(input_error(
                "video",
                format!("{width}x{height} is smaller than the 16-pixel grid the model works on"),
            ));
        }
        Ok((w, h))
    }

    fn to_tensor(&self, frames: &Frames, size: (u32, u32)) -> Result<Tensor> {
        clip_tensor(frames, self.model_frames, size, &self.device, self.dtype)
    }

    /// The VAE round trip of a clip at the model's size (posterior mode, decoded), resized back: the model's
    /// no-action output, which the residual composite subtracts.
    pub fn reconstruct(&mut self, video: &Frames) -> Result<Frames> {
        let size = self.model_size(video.width(), video.height())?;
        let tensor = self.to_tensor(video, size)?;
        let decoded = self.with_vae(|vae| vae.decode(&vae.encode(&tensor)?.mode()))?;
        video_to_clip(&unit_range(&decoded)?, video)
    }

    /// Generates the interaction video for a static and a hand video of the same size.
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
        let negative_prompt_embeds = self.prompt_embeddings(WAN_NEGATIVE_PROMPT)?;
        self.generate_with_embeds(
            static_video,
            hand_video,
            &prompt_embeds,
            &negative_prompt_embeds,
            sampling,
            progress,
        )
    }

    /// [`WanDwmModel::generate`] with the prompt and the negative prompt given as umT5 embeddings [1, L, D]
    /// (L ≤ the text length; the pipeline pads them with zeros).
    pub fn generate_with_embeds(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt_embeds: &Tensor,
        negative_prompt_embeds: &Tensor,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        let size = self.model_size(static_video.width(), static_video.height())?;
        let (width, height) = size;
        let static_tensor = self.to_tensor(static_video, size)?;
        let hand_tensor = self.to_tensor(hand_video, size)?;
        let z = self.vae_config.z_dim;
        let spatial = self.vae_config.spatial_compression();
        let latent_shape = [
            1,
            z,
            self.vae_config.latent_frames(self.model_frames),
            height as usize / spatial,
            width as usize / spatial,
        ];
        // As DWM draws them: the initial noise, then the hand posterior's ε, from one generator.
        let mut rng = NormalRng::new(sampling.seed);
        let initial_noise = rng
            .tensor(&latent_shape, &self.device)?
            .to_dtype(self.dtype)?;
        let hand_posterior_eps = rng
            .tensor(&latent_shape, &self.device)?
            .to_dtype(self.dtype)?;
        let inputs = SamplingInputs {
            static_video: &static_tensor,
            hand_video: &hand_tensor,
            prompt_embeds,
            negative_prompt_embeds,
            initial_noise: &initial_noise,
            hand_posterior_eps: &hand_posterior_eps,
            steps: sampling.steps,
            guidance_scale: sampling.guidance_scale,
        };
        // The phases of the loop, each with only its network on the device when weights are offloaded.
        let conditions = self.with_vae(|vae| encode_conditions(vae, &inputs))?;
        let latents = self.with_transformer(|transformer| {
            denoise(transformer, &self.scheduler, &conditions, &inputs, progress)
        })?;
        let Some(latents) = latents else {
            return Ok(None);
        };
        drop(conditions);
        let video = self.with_vae(|vae| decode_latents(vae, &latents))?;
        video_to_clip(&video, static_video).map(Some)
    }
}

impl std::fmt::Debug for WanDwmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WanDwmModel")
            .field("transformer", &self.transformer_config)
            .field("offload", &self.offload)
            .field("device", &self.device)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t5_keys_map_to_wans_names() {
        for (transformers, wan) in [
            ("shared.weight", "token_embedding.weight"),
            ("encoder.final_layer_norm.weight", "norm.weight"),
            (
                "encoder.block.3.layer.0.layer_norm.weight",
                "blocks.3.norm1.weight",
            ),
            (
                "encoder.block.3.layer.0.SelfAttention.q.weight",
                "blocks.3.attn.q.weight",
            ),
            (
                "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                "blocks.0.pos_embedding.embedding.weight",
            ),
            (
                "encoder.block.1.layer.1.layer_norm.weight",
                "blocks.1.norm2.weight",
            ),
            (
                "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
                "blocks.1.ffn.gate.0.weight",
            ),
            (
                "encoder.block.1.layer.1.DenseReluDense.wi_1.weight",
                "blocks.1.ffn.fc1.weight",
            ),
            (
                "encoder.block.1.layer.1.DenseReluDense.wo.weight",
                "blocks.1.ffn.fc2.weight",
            ),
        ] {
            assert_eq!(wan_t5_key(transformers), wan, "{transformers}");
        }
    }
}
