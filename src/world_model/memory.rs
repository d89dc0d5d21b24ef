//! How much device memory a generation needs, per `--offload` choice, and whether the device has it.
//!
//! The estimate follows what handtwin's pipeline keeps alive in each phase (`pipeline::DwmModel::generate`):
//!
//! - **text**: T5's weights and the activations of one encoder layer over the padded prompt;
//! - **VAE**: the VAE's weights and its decode's largest live tensors — four full-resolution activations of the
//!   widest channel count of the decoder's last stage (input, normalised copy, convolution output, the residual
//!   sum) for one frame chunk (2 latent frames, 9 frames for the first) of one tile when tiling is on (from
//!   480p), plus the convolutions' im2col slab (`vae::conv`, at most 64 Mi elements);
//! - **transformer**: its weights (all of them, or with `sequential` its outer layers and one block), one block's
//!   activations for the CFG batch of 2 (residual streams, q, k, v, attention output, feed-forward hidden) and
//!   one attention chunk (one head, 1024 query rows: scores, their f32 softmax and probabilities).
//!
//! Peaks: `none` holds every network's weights plus the largest phase's activations; `model` holds one network
//! at a time (the largest phase); `sequential` the same with the transformer phase reduced to one block. These
//! are estimates from the configs, not measurements; `tools/gpu-check.sh` measures the real peaks on a GPU.

use super::model_dir::ModelDirectory;
use super::offload::Offload;
use super::transformer::DEFAULT_QUERY_CHUNK;

/// Largest im2col slab of a VAE convolution, in elements (`vae::conv`).
const VAE_IM2COL_SLAB: usize = 64 << 20;
/// Output frames of the VAE decode's largest frame chunk (3 latent frames: 1 + 2·4).
const VAE_DECODE_CHUNK_FRAMES: usize = 9;

/// The sizes of a DWM model that set its memory: parameter counts and the shapes of its activations.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelShapes {
    pub text_encoder_parameters: usize,
    pub transformer_parameters: usize,
    /// Parameters of one transformer block.
    pub block_parameters: usize,
    pub num_layers: usize,
    pub vae_parameters: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub ff_inner_dim: usize,
    pub patch_size: usize,
    pub text_tokens: usize,
    pub t5_d_model: usize,
    pub t5_d_ff: usize,
    /// The VAE decoder's widest channel count at full resolution (the output of its last upsampler).
    pub vae_full_res_channels: usize,
    /// The VAE's native sample size (height, width) in pixels; tiles are half of it.
    pub vae_sample_size: (usize, usize),
    pub vae_spatial_compression: usize,
    pub family: super::ModelFamily,
    /// Text tokens inside the transformer's self-attention (CogVideoX's joint attention: the 226 T5 tokens;
    /// Wan attends to the text by cross-attention: 0).
    pub joint_text_tokens: usize,
    /// Context tokens of the cross-attention (Wan: 257 image + 512 text; CogVideoX: none).
    pub cross_attention_tokens: usize,
    /// Whether the VAE tiles from 480p up (CogVideoX's does; Wan's has no tiling).
    pub vae_tiled: bool,
    /// Frames alive at full resolution in the VAE decode's largest step (CogVideoX: its first chunk of 9;
    /// Wan: one latent frame's 4 plus the 2 its causal convolutions carry).
    pub vae_decode_frames: usize,
}

impl ModelShapes {
    /// From a model folder's configs and safetensors headers.
    pub fn from_directory(model: &ModelDirectory) -> Option<Self> {
        let transformer = model.component("transformer")?;
        let number = |key: &str| transformer.config_number(key).map(|v| v as usize);
        let heads = number("num_attention_heads")?;
        let head_dim = number("attention_head_dim")?;
        let num_layers = number("num_layers")?;
        let block_parameters = transformer
            .tensors
            .iter()
            .filter(|(name, _)| name.starts_with("transformer_blocks.0."))
            .map(|(_, t)| t.shape.iter().product::<usize>())
            .sum();
        let text = model.component("text_encoder");
        let t5 = |key: &str| text.and_then(|c| c.config_number(key)).map(|v| v as usize);
        let vae = model.component("vae");
        let vae_number = |key: &str| vae.and_then(|c| c.config_number(key)).map(|v| v as usize);
        let channels: Vec<usize> = vae
            .and_then(|c| {
                c.config
                    .as_ref()?
                    .get("block_out_channels")?
                    .as_array()
                    .cloned()
            })
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_u64().map(|v| v as usize))
                    .collect()
            })
            .unwrap_or_else(|| vec![128, 256, 256, 512]);
        Some(Self {
            text_encoder_parameters: text.map_or(0, |c| c.parameter_count()),
            transformer_parameters: transformer.parameter_count(),
            block_parameters,
            num_layers,
            vae_parameters: vae.map_or(0, |c| c.parameter_count()),
            heads,
            head_dim,
            ff_inner_dim: number("ff_inner_dim").unwrap_or(4 * heads * head_dim),
            patch_size: number("patch_size").unwrap_or(2),
            text_tokens: number("max_text_seq_length").unwrap_or(226),
            t5_d_model: t5("d_model").unwrap_or(4096),
            t5_d_ff: t5("d_ff").unwrap_or(10240),
            vae_full_res_channels: channels.get(1).or(channels.first()).copied().unwrap_or(128),
            vae_sample_size: (
                vae_number("sample_height").unwrap_or(480),
                vae_number("sample_width").unwrap_or(720),
            ),
            vae_spatial_compression: 1 << channels.len().saturating_sub(1),
            family: super::ModelFamily::CogVideoX,
            joint_text_tokens: number("max_text_seq_length").unwrap_or(226),
            cross_attention_tokens: 0,
            vae_tiled: true,
            vae_decode_frames: VAE_DECODE_CHUNK_FRAMES,
        })
    }

    /// DWM's real model: CogVideoX-Fun-V1.1-5B-InP with the DWM LoRA merged (49 input channels), T5-v1.1-XXL's
    /// encoder and the CogVideoX VAE. The VAE's count is that of the network handtwin builds at its shapes
    /// (counted over placeholder weights: no memory).
    pub fn cogvideox_5b_dwm() -> super::Result<Self> {
        let vae_config = super::vae::VaeConfig::default();
        let vae_parameters =
            count_parameters(|vb| Ok(super::vae::AutoencoderKLCogVideoX::new(&vae_config, vb)?))?;
        let transformer = super::transformer::cogvideox_5b_config(49);
        let transformer_parameters = super::transformer::parameter_count(&transformer);
        let mut one_block = transformer.clone();
        one_block.num_layers = 0;
        let block_parameters = (transformer_parameters
            - super::transformer::parameter_count(&one_block))
            / transformer.num_layers;
        Ok(Self {
            text_encoder_parameters: T5_XXL_ENCODER_PARAMETERS,
            transformer_parameters,
            block_parameters,
            num_layers: transformer.num_layers,
            vae_parameters,
            heads: transformer.num_attention_heads,
            head_dim: transformer.attention_head_dim,
            ff_inner_dim: 4 * transformer.inner_dim(),
            patch_size: transformer.patch_size,
            text_tokens: 226,
            t5_d_model: 4096,
            t5_d_ff: 10240,
            vae_full_res_channels: 256,
            vae_sample_size: (480, 720),
            vae_spatial_compression: 8,
            family: super::ModelFamily::CogVideoX,
            joint_text_tokens: 226,
            cross_attention_tokens: 0,
            vae_tiled: true,
            vae_decode_frames: VAE_DECODE_CHUNK_FRAMES,
        })
    }

    /// DWM's Wan model: Wan2.1-Fun-V1.1-14B-InP with the DWM-Wan LoRA merged (52 input channels), the
    /// umT5-XXL encoder and the Wan 2.1 VAE, counted over placeholder weights (no memory).
    pub fn wan_14b_dwm() -> super::Result<Self> {
        use super::wan_transformer::WanTransformerConfig;
        let config = WanTransformerConfig::wan21_i2v_14b(52);
        Self::wan(&config, UMT5_XXL_ENCODER_PARAMETERS, 4096, 10240, None)
    }

    /// The Wan family's shapes from a transformer config, the umT5 encoder's size and (when known) the VAE's
    /// parameter count (else Wan 2.1's VAE, counted).
    pub fn wan(
        config: &super::wan_transformer::WanTransformerConfig,
        text_encoder_parameters: usize,
        t5_d_model: usize,
        t5_d_ff: usize,
        vae_parameters: Option<usize>,
    ) -> super::Result<Self> {
        use super::wan_transformer::WanTransformer3DModel;
        let transformer_parameters = count_parameters(|vb| WanTransformer3DModel::new(config, vb))?;
        let mut no_blocks = config.clone();
        no_blocks.num_layers = 0;
        let outer = count_parameters(|vb| WanTransformer3DModel::new(&no_blocks, vb))?;
        let vae_config = super::wan_vae::WanVaeConfig::wan21();
        let vae_parameters = match vae_parameters {
            Some(count) => count,
            None => count_parameters(|vb| super::wan_vae::AutoencoderKLWan::new(&vae_config, vb))?,
        };
        let image_tokens = if config.image_dim.is_some() {
            super::wan_transformer::WAN_IMAGE_TOKENS
        } else {
            0
        };
        Ok(Self {
            text_encoder_parameters,
            transformer_parameters,
            block_parameters: (transformer_parameters - outer) / config.num_layers.max(1),
            num_layers: config.num_layers,
            vae_parameters,
            heads: config.num_heads,
            head_dim: config.head_dim,
            ff_inner_dim: config.ffn_dim,
            patch_size: config.patch_size[1],
            text_tokens: config.text_len,
            t5_d_model,
            t5_d_ff,
            vae_full_res_channels: vae_config.base_dim * vae_config.dim_mult[0],
            vae_sample_size: (480, 720),
            vae_spatial_compression: vae_config.spatial_compression(),
            family: super::ModelFamily::Wan,
            joint_text_tokens: 0,
            cross_attention_tokens: image_tokens + config.text_len,
            vae_tiled: false,
            vae_decode_frames: 6,
        })
    }

    /// A Wan-layout model folder's shapes: its config.json, the umT5 and VAE sizes read from the `.pth`
    /// headers (nothing loaded), and the LoRA's widened patch embedding when `lora` is given.
    pub fn from_wan_directory(
        dir: &std::path::Path,
        lora: Option<&std::path::Path>,
    ) -> super::Result<Self> {
        use super::ConfigFile as _;
        use super::wan_model::{NON_LORA_FILE, WAN_T5_FILE, WAN_VAE_FILE};
        let mut config =
            super::wan_transformer::WanTransformerConfig::from_file(&dir.join("config.json"))?;
        if let Some(lora) = lora {
            let non_lora = lora.join(NON_LORA_FILE);
            if non_lora.is_file() {
                let header = super::checkpoint::read_header(&non_lora)
                    .map_err(|e| super::error::file_error(&non_lora, e))?;
                if let Some((_, info)) = header.iter().find(|(k, _)| k == "patch_embedding.weight")
                {
                    config.in_channels = info.shape.get(1).copied().unwrap_or(config.in_channels);
                }
            }
        }
        let pth = |name: &str| super::wan_model::pth_shapes(&dir.join(name));
        let count = |shapes: &super::wan_model::Shapes| -> usize {
            shapes
                .values()
                .map(|shape| shape.iter().product::<usize>())
                .sum()
        };
        let t5 = pth(WAN_T5_FILE)?;
        let t5_config = super::wan_model::wan_t5_config(&t5, &dir.join(WAN_T5_FILE))?;
        let (t5_d_model, t5_d_ff) = (t5_config.d_model, t5_config.d_ff);
        let vae = pth(WAN_VAE_FILE)?;
        Self::wan(&config, count(&t5), t5_d_model, t5_d_ff, Some(count(&vae)))
    }
}

/// umT5-XXL's encoder (the Wan variant's text encoder): 24 layers of d_model 4096, 64 heads of 64, gated-GELU
/// feed-forward of 10240, vocabulary 256,384, and every layer its own 32-bucket relative bias:
/// 24·(4·4096² + 3·4096·10240 + 2·4096 + 32·64) + 256384·4096 + 4096.
pub const UMT5_XXL_ENCODER_PARAMETERS: usize =
    24 * (4 * 4096 * 4096 + 3 * 4096 * 10240 + 2 * 4096 + 32 * 64) + 256_384 * 4096 + 4096;

/// Parameters a network takes, counted by building it over zero-stride placeholder weights (one value each,
/// broadcast to the asked shape), so even the 5B networks are counted without memory.
pub fn count_parameters<T>(
    build: impl FnOnce(candle_nn::VarBuilder<'static>) -> super::Result<T>,
) -> super::Result<usize> {
    let counter = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        usize,
    >::new()));
    let vb = candle_nn::VarBuilder::from_backend(
        Box::new(Placeholders(counter.clone())),
        candle_core::DType::F32,
        candle_core::Device::Cpu,
    );
    build(vb)?;
    let counted = counter.lock().map(|c| c.values().sum()).unwrap_or(0);
    Ok(counted)
}

struct Placeholders(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>);

impl candle_nn::var_builder::SimpleBackend for Placeholders {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: candle_core::DType,
        device: &candle_core::Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        if let Ok(mut counted) = self.0.lock() {
            counted.insert(name.to_string(), shape.elem_count());
        }
        candle_core::Tensor::zeros((), dtype, device)?.broadcast_as(shape)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _: candle_core::DType,
        _: &candle_core::Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        candle_core::bail!("placeholder weights: `{name}` was asked for without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// T5-v1.1-XXL's encoder (CogVideoX's text encoder): 24 layers of d_model 4096, 64 heads of 64, gated-GELU
/// feed-forward of 10240, vocabulary 32128: 24·(4·4096² + 3·4096·10240 + 2·4096) + 32128·4096 + 32·64 + 4096.
pub const T5_XXL_ENCODER_PARAMETERS: usize =
    24 * (4 * 4096 * 4096 + 3 * 4096 * 10240 + 2 * 4096) + 32128 * 4096 + 32 * 64 + 4096;

/// Bytes each phase needs at one size and precision (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub bytes_per_value: usize,
    pub text_encoder_weights: usize,
    pub transformer_weights: usize,
    /// The transformer's weights without its blocks, plus one block (what `sequential` holds).
    pub transformer_streamed_weights: usize,
    pub vae_weights: usize,
    pub text_activations: usize,
    pub transformer_tokens: usize,
    /// One block's activations for the CFG batch of 2.
    pub transformer_activations: usize,
    /// One attention chunk (one head, 1024 query rows).
    pub attention_chunk: usize,
    pub vae_activations: usize,
    /// Multiply-adds ×2 of one sampling step's transformer forward for the CFG batch of 2 (the matmuls only).
    pub step_flops: f64,
}

/// FLOPs (2 per multiply-add) of one sampling step: the transformer's blocks for the CFG batch of 2. Per block
/// and sample, with N self-attention tokens of width d: the four projections 8·N·d², the scores and the weighted
/// sum 4·N²·d, the feed-forward 4·N·d·ffn; with cross-attention (Wan) its q and output projections 4·N·d², the
/// context's keys and values 4·M·d² (M context tokens, twice for the image branch's own), and 4·N·M·d.
pub fn transformer_step_flops(shapes: &ModelShapes, video_tokens: usize) -> f64 {
    let n = (shapes.joint_text_tokens + video_tokens) as f64;
    let d = (shapes.heads * shapes.head_dim) as f64;
    let ffn = shapes.ff_inner_dim as f64;
    let m = shapes.cross_attention_tokens as f64;
    let mut block = 8.0 * n * d * d + 4.0 * n * n * d + 4.0 * n * d * ffn;
    if m > 0.0 {
        block += 4.0 * n * d * d + 4.0 * m * d * d + 4.0 * n * m * d;
    }
    2.0 * shapes.num_layers as f64 * block
}

impl MemoryEstimate {
    pub fn new(
        shapes: &ModelShapes,
        width: usize,
        height: usize,
        frames: usize,
        bytes_per_value: usize,
    ) -> Self {
        let b = bytes_per_value;
        let width_inner = shapes.heads * shapes.head_dim;
        let latent_frames = frames.saturating_sub(1) / 4 + 1;
        let compression = shapes.vae_spatial_compression.max(1);
        let patch = shapes.patch_size.max(1);
        let video_tokens =
            latent_frames * (height / compression / patch) * (width / compression / patch);
        let tokens = shapes.joint_text_tokens + video_tokens;
        // Residual streams (video, text), normed input, q, k, v, attention output: 6·d, plus the FF hidden.
        let per_token = (6 * width_inner + shapes.ff_inner_dim) * b;
        let rows = DEFAULT_QUERY_CHUNK.min(tokens);
        // Scores in the compute dtype, their f32 copy and softmax, the probabilities back in the compute dtype.
        let attention_chunk = rows * tokens * (2 * b + 8);
        // Tiled from 480p up, as the pipeline tiles; a tile is half the VAE's native sample size.
        let (tile_h, tile_w) = if shapes.vae_tiled && height >= 480 {
            (
                (shapes.vae_sample_size.0 / 2).min(height),
                (shapes.vae_sample_size.1 / 2).min(width),
            )
        } else {
            (height, width)
        };
        let chunk_frames = shapes.vae_decode_frames.min(frames.max(1));
        let activation = shapes.vae_full_res_channels * chunk_frames * tile_h * tile_w * b;
        let vae_activations = 4 * activation + VAE_IM2COL_SLAB.min(9 * activation / b) * b;
        let outer = shapes
            .transformer_parameters
            .saturating_sub(shapes.num_layers * shapes.block_parameters);
        Self {
            bytes_per_value: b,
            text_encoder_weights: shapes.text_encoder_parameters * b,
            transformer_weights: shapes.transformer_parameters * b,
            transformer_streamed_weights: (outer + shapes.block_parameters) * b,
            vae_weights: shapes.vae_parameters * b,
            // One layer's hidden state, q/k/v/output and the gated FF's two inner projections, batch 2.
            text_activations: 2
                * shapes.text_tokens
                * (5 * shapes.t5_d_model + 2 * shapes.t5_d_ff)
                * b,
            transformer_tokens: tokens,
            transformer_activations: 2 * tokens * per_token,
            attention_chunk,
            vae_activations,
            step_flops: transformer_step_flops(shapes, video_tokens),
        }
    }

    pub fn weights(&self) -> usize {
        self.text_encoder_weights + self.transformer_weights + self.vae_weights
    }

    /// The peak of each phase (text, transformer, VAE) with `offload`: its network's weights, what else stays
    /// on the device, and its activations.
    pub fn phases(&self, offload: Offload) -> [(&'static str, usize); 3] {
        let transformer_run = self.transformer_activations + self.attention_chunk;
        match offload {
            Offload::None => {
                let all = self.weights();
                [
                    ("text encoder", all + self.text_activations),
                    ("transformer", all + transformer_run),
                    ("VAE", all + self.vae_activations),
                ]
            }
            Offload::Model => [
                (
                    "text encoder",
                    self.text_encoder_weights + self.text_activations,
                ),
                ("transformer", self.transformer_weights + transformer_run),
                ("VAE", self.vae_weights + self.vae_activations),
            ],
            Offload::Sequential => [
                (
                    "text encoder",
                    self.text_encoder_weights + self.text_activations,
                ),
                (
                    "transformer",
                    self.transformer_streamed_weights + transformer_run,
                ),
                ("VAE", self.vae_weights + self.vae_activations),
            ],
        }
    }

    /// The largest phase with `offload`, and its name.
    pub fn peak(&self, offload: Offload) -> (usize, &'static str) {
        self.phases(offload)
            .into_iter()
            .map(|(name, bytes)| (bytes, name))
            .max()
            .unwrap_or((0, "none"))
    }

    /// `Err(message)` when the peak with `offload` exceeds `available` bytes; the message gives the number and
    /// the offload choices that would fit.
    pub fn check_fits(
        &self,
        offload: Offload,
        available: usize,
        device: &str,
    ) -> Result<(), String> {
        let (peak, phase) = self.peak(offload);
        if peak <= available {
            return Ok(());
        }
        let fitting: Vec<String> = Offload::ALL
            .into_iter()
            .filter(|&other| other != offload && self.peak(other).0 <= available)
            .map(|other| format!("--offload {other} (about {})", gib(self.peak(other).0)))
            .collect();
        let advice = if fitting.is_empty() {
            "no offload setting fits; use a smaller --size or fewer frames, or a device with more memory".to_string()
        } else {
            format!("{} would fit", fitting.join(" or "))
        };
        Err(format!(
            "this generation needs about {} of {device} memory with --offload {offload} (its peak is the {phase}), \
             but the device has {} available; {advice}",
            gib(peak),
            gib(available)
        ))
    }
}

/// The estimate for a model folder at its own size and frame count (what `generate` runs it at: clips are
/// resized to the model's native size), or `None` when the folder has no transformer config to read.
pub fn estimate_for_directory(
    dir: &std::path::Path,
    lora: Option<&std::path::Path>,
    bytes_per_value: usize,
) -> Result<Option<MemoryEstimate>, super::model_dir::ModelDirError> {
    if super::ModelFamily::of_dir(dir) == super::ModelFamily::Wan {
        // Wan runs at the clip's own size (DWM: 720×480, 49 frames) unless the folder fixes one.
        let as_dir_error = |error: super::WorldModelError| super::model_dir::ModelDirError::File {
            path: dir.to_path_buf(),
            reason: error.to_string(),
        };
        let shapes = ModelShapes::from_wan_directory(dir, lora).map_err(as_dir_error)?;
        let ((width, height), frames) = super::wan_model::run_size(dir).map_err(as_dir_error)?;
        return Ok(Some(MemoryEstimate::new(
            &shapes,
            width as usize,
            height as usize,
            frames,
            bytes_per_value,
        )));
    }
    let model = ModelDirectory::inspect(dir, lora)?;
    let Some(shapes) = ModelShapes::from_directory(&model) else {
        return Ok(None);
    };
    let Some(transformer) = model.component("transformer") else {
        return Ok(None);
    };
    let number = |key: &str, default: usize| {
        transformer
            .config_number(key)
            .map_or(default, |v| v as usize)
    };
    let width = number("sample_width", 90) * shapes.vae_spatial_compression;
    let height = number("sample_height", 60) * shapes.vae_spatial_compression;
    let frames = number("sample_frames", 49);
    Ok(Some(MemoryEstimate::new(
        &shapes,
        width,
        height,
        frames,
        bytes_per_value,
    )))
}

/// Bytes as GiB with two decimals (MiB under one GiB).
pub fn gib(bytes: usize) -> String {
    let bytes = bytes as f64;
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
    } else {
        format!("{:.2} MiB", bytes / (1u64 << 20) as f64)
    }
}

/// A GPU device's (free, total) memory in bytes, from the driver (`None` for the CPU, where the estimate is not
/// enforced, and for devices this build cannot ask).
pub fn device_memory(device: &candle_core::Device) -> Option<(usize, usize)> {
    match device {
        #[cfg(feature = "cuda")]
        candle_core::Device::Cuda(cuda) => cuda.cuda_stream().context().mem_get_info().ok(),
        _ => None,
    }
}

/// Free memory of a GPU device in bytes ([`device_memory`]).
pub fn device_free_bytes(device: &candle_core::Device) -> Option<usize> {
    device_memory(device).map(|(free, _)| free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_model_counts_match_the_published_sizes() {
        let shapes = ModelShapes::cogvideox_5b_dwm().unwrap();
        // T5-v1.1-XXL's encoder is 4.76 B parameters; CogVideoX-5B's transformer 5.57 B with the 49-channel
        // patch embedding (dwm-reference.md).
        assert_eq!(shapes.text_encoder_parameters, 4_762_310_656);
        assert!(
            (5.50e9..5.65e9).contains(&(shapes.transformer_parameters as f64)),
            "{}",
            shapes.transformer_parameters
        );
        let estimate = MemoryEstimate::new(&shapes, 720, 480, 49, 2);
        assert_eq!(estimate.transformer_tokens, 226 + 13 * 30 * 45);
        // none > model > sequential, and sequential is bound by T5 (the only network not streamed).
        let (none, _) = estimate.peak(Offload::None);
        let (model, _) = estimate.peak(Offload::Model);
        let (sequential, phase) = estimate.peak(Offload::Sequential);
        assert!(
            none > model && model > sequential,
            "{none} {model} {sequential}"
        );
        assert_eq!(phase, "text encoder");
    }

    #[test]
    fn the_wan_14b_counts_match_the_spec() {
        let shapes = ModelShapes::wan_14b_dwm().unwrap();
        // dwm-wan-reference.md §5: 403.84 M per block, about 16.39 B in all (with DWM's 52-channel patch
        // embedding, 1.07 M of it).
        assert!(
            (403.0e6..404.5e6).contains(&(shapes.block_parameters as f64)),
            "{}",
            shapes.block_parameters
        );
        assert!(
            (16.35e9..16.45e9).contains(&(shapes.transformer_parameters as f64)),
            "{}",
            shapes.transformer_parameters
        );
        use crate::world_model::ConfigFile as _;
        let xxl = crate::world_model::t5::T5Config::from_json(
            r#"{"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
                "num_heads": 64, "feed_forward_proj": "gated-gelu"}"#,
            "umT5-XXL",
        )
        .unwrap();
        let counted =
            count_parameters(|vb| crate::world_model::umt5::UMT5Encoder::new(&xxl, vb)).unwrap();
        assert_eq!(counted, UMT5_XXL_ENCODER_PARAMETERS);
        let estimate = MemoryEstimate::new(&shapes, 720, 480, 49, 2);
        assert_eq!(estimate.transformer_tokens, 13 * 30 * 45);
        // §5: ≈ 17.2 TFLOP per block per sample, so ≈ 1.37 PFLOP per guided step of 40 blocks.
        let per_block_sample = estimate.step_flops / (2.0 * 40.0);
        assert!(
            (16.8e12..17.6e12).contains(&per_block_sample),
            "{per_block_sample:e}"
        );
    }

    #[test]
    fn counted_parameters_match_the_formulas() {
        let config = crate::world_model::transformer::cogvideox_5b_config(49);
        let mut small = config.clone();
        small.num_layers = 2;
        let counted = count_parameters(|vb| {
            crate::world_model::transformer::CogVideoXTransformer3DModel::new(&small, vb)
        })
        .unwrap();
        assert_eq!(
            counted,
            crate::world_model::transformer::parameter_count(&small)
        );
        use crate::world_model::ConfigFile as _;
        let xxl = crate::world_model::t5::T5Config::from_json(
            r#"{"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
                "num_heads": 64, "feed_forward_proj": "gated-gelu"}"#,
            "T5-v1.1-XXL",
        )
        .unwrap();
        let t5 =
            count_parameters(|vb| crate::world_model::t5::T5TextEncoder::new(&xxl, vb)).unwrap();
        assert_eq!(t5, T5_XXL_ENCODER_PARAMETERS);
        let shapes = ModelShapes::cogvideox_5b_dwm().unwrap();
        // The CogVideoX VAE is about 215 M parameters (diffusers' AutoencoderKLCogVideoX).
        assert!(
            (2.0e8..2.3e8).contains(&(shapes.vae_parameters as f64)),
            "{}",
            shapes.vae_parameters
        );
    }

    #[test]
    fn a_small_device_is_refused_with_the_options_that_fit() {
        let estimate =
            MemoryEstimate::new(&ModelShapes::cogvideox_5b_dwm().unwrap(), 720, 480, 49, 2);
        let (model, _) = estimate.peak(Offload::Model);
        let (sequential, _) = estimate.peak(Offload::Sequential);
        let available = (model + sequential) / 2;
        let message = estimate
            .check_fits(Offload::None, available, "cuda:0")
            .unwrap_err();
        assert!(message.contains("--offload none"), "{message}");
        assert!(message.contains("--offload sequential (about"), "{message}");
        assert!(!message.contains("--offload model"), "{message}");
        assert!(
            estimate
                .check_fits(Offload::Sequential, available, "cuda:0")
                .is_ok()
        );
        let nothing = estimate
            .check_fits(Offload::Sequential, 1 << 30, "cuda:0")
            .unwrap_err();
        assert!(nothing.contains("no offload setting fits"), "{nothing}");
    }
}
