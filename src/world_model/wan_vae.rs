//! The Wan 2.1 VAE (`WanVAE` in Wan, `AutoencoderKLWan` in diffusers): causal 3-D convolutions with zero
//! padding in front and per-layer frame caches, RMS norms, 4× time / 8× space, z 16.
//!
//! Like the reference, it **encodes in chunks of 1, 4, 4, … frames and decodes one latent frame at a time**,
//! each causal convolution carrying its last two input frames into the next chunk. This keeps the largest tensor
//! at a few frames of full resolution (the spec's 0.27 GB at 480×720) instead of the whole clip, and reproduces
//! the reference's two places where the chunking is not a plain causal convolution over the whole clip: the
//! temporal downsampler passes the first frame through and then takes stride-2 windows that start at it, and the
//! temporal upsampler passes the first latent frame through ('Rep') and runs its time convolution over the frames
//! after it only, each giving two frames. A clip of T frames uses 1 + 4⌊(T−1)/4⌋ of them, as the reference does.
//!
//! Modules are named as the released `Wan2.1_VAE.pth` names them (`encoder.downsamples.3.residual.2.weight`,
//! `conv1` = quant_conv); diffusers folders (the parity cases) are read through [`diffusers_vae_key`].
//! [`AutoencoderKLWan::encode`] returns the raw posterior and [`AutoencoderKLWan::decode`] takes raw latents;
//! DWM's normalisation `(μ − mean)/std` is [`AutoencoderKLWan::normalize`] and its inverse
//! [`AutoencoderKLWan::denormalize`], with the config's `latents_mean` / `latents_std`.

use super::error::{Result, config_error, input_error};
use super::transformer::chunked_attention;
use super::vae::DiagonalGaussian;
use super::vae::conv::{DEFAULT_TIME_TAPS, PointwiseConv3d, conv3d_over_frames};
use super::wan_transformer::WanKeyLayout;
use candle_core::{DType, Module as _, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// Wan 2.1's latent statistics (`Wan2.1_VAE.pth` has no config; these are its constants).
pub const WAN21_LATENTS_MEAN: [f64; 16] = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
    -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
];
pub const WAN21_LATENTS_STD: [f64; 16] = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
    1.6382, 1.1253, 2.8251, 1.9160,
];

/// The VAE's shape: diffusers' `AutoencoderKLWan` config.json, or Wan 2.1's constants for a `.pth`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WanVaeConfig {
    #[serde(default = "default_base_dim")]
    pub base_dim: usize,
    #[serde(default = "default_z_dim")]
    pub z_dim: usize,
    #[serde(default = "default_dim_mult")]
    pub dim_mult: Vec<usize>,
    #[serde(default = "default_res_blocks")]
    pub num_res_blocks: usize,
    #[serde(default)]
    pub attn_scales: Vec<f64>,
    #[serde(default = "default_temporal_downsample")]
    pub temperal_downsample: Vec<bool>,
    #[serde(default = "default_latents_mean")]
    pub latents_mean: Vec<f64>,
    #[serde(default = "default_latents_std")]
    pub latents_std: Vec<f64>,
    #[serde(default)]
    pub is_residual: bool,
    #[serde(default)]
    pub decoder_base_dim: Option<usize>,
    #[serde(default)]
    pub patch_size: Option<usize>,
    #[serde(default = "default_rgb")]
    pub in_channels: usize,
    #[serde(default = "default_rgb")]
    pub out_channels: usize,
    /// Which key names the weights use (not a config.json key: set by the loader).
    #[serde(skip, default = "diffusers_layout")]
    pub layout: WanKeyLayout,
}

fn default_base_dim() -> usize {
    96
}
fn default_z_dim() -> usize {
    16
}
fn default_dim_mult() -> Vec<usize> {
    vec![1, 2, 4, 4]
}
fn default_res_blocks() -> usize {
    2
}
fn default_temporal_downsample() -> Vec<bool> {
    vec![false, true, true]
}
fn default_latents_mean() -> Vec<f64> {
    WAN21_LATENTS_MEAN.to_vec()
}
fn default_latents_std() -> Vec<f64> {
    WAN21_LATENTS_STD.to_vec()
}
fn default_rgb() -> usize {
    3
}
fn diffusers_layout() -> WanKeyLayout {
    WanKeyLayout::Diffusers
}

impl super::ConfigFile for WanVaeConfig {
    fn check(&self, source_name: &str) -> Result<()> {
        let refuse = |key: &str, reason: String| Err(config_error(source_name, key, reason));
        if self.is_residual {
            return refuse(
                "is_residual",
                "the residual (Wan 2.2) VAE is not implemented".into(),
            );
        }
        if self.patch_size.is_some_and(|p| p != 1) {
            return refuse(
                "patch_size",
                "the patchified (Wan 2.2) VAE is not implemented".into(),
            );
        }
        if self.decoder_base_dim.is_some_and(|d| d != self.base_dim) {
            return refuse(
                "decoder_base_dim",
                "a decoder width other than base_dim is not implemented".into(),
            );
        }
        if !self.attn_scales.is_empty() {
            return refuse(
                "attn_scales",
                "attention outside the middle blocks is not implemented (Wan 2.1 has none)".into(),
            );
        }
        if self.in_channels != 3 || self.out_channels != 3 {
            return refuse("in_channels", "the VAE encodes RGB (3 channels)".into());
        }
        if self.dim_mult.len() < 2 || self.dim_mult.contains(&0) || self.base_dim == 0 {
            return refuse(
                "dim_mult",
                format!("{:?}: at least two positive levels", self.dim_mult),
            );
        }
        if self.temperal_downsample.len() != self.dim_mult.len() - 1 {
            return refuse(
                "temperal_downsample",
                format!(
                    "{} entries for {} levels (one per downsampling)",
                    self.temperal_downsample.len(),
                    self.dim_mult.len()
                ),
            );
        }
        if self.num_res_blocks == 0 || self.z_dim == 0 {
            return refuse(
                "num_res_blocks",
                "num_res_blocks and z_dim must be positive".into(),
            );
        }
        for (key, values) in [
            ("latents_mean", &self.latents_mean),
            ("latents_std", &self.latents_std),
        ] {
            if values.len() != self.z_dim {
                return refuse(
                    key,
                    format!("{} values for z_dim {}", values.len(), self.z_dim),
                );
            }
        }
        if self.latents_std.iter().any(|&s| s <= 0.0) {
            return refuse("latents_std", "values must be positive".into());
        }
        Ok(())
    }
}

impl WanVaeConfig {
    /// Wan 2.1's VAE as `Wan2.1_VAE.pth` holds it (no config file ships with it).
    pub fn wan21() -> Self {
        Self {
            base_dim: 96,
            z_dim: 16,
            dim_mult: default_dim_mult(),
            num_res_blocks: 2,
            attn_scales: Vec::new(),
            temperal_downsample: default_temporal_downsample(),
            latents_mean: default_latents_mean(),
            latents_std: default_latents_std(),
            is_residual: false,
            decoder_base_dim: None,
            patch_size: None,
            in_channels: 3,
            out_channels: 3,
            layout: WanKeyLayout::Wan,
        }
    }

    /// Spatial compression (2 per level but the last).
    pub fn spatial_compression(&self) -> usize {
        1 << (self.dim_mult.len() - 1)
    }

    /// Temporal compression (2 per temporal downsampling).
    pub fn temporal_compression(&self) -> usize {
        1 << self.temperal_downsample.iter().filter(|&&t| t).count()
    }

    /// Latent frames of a T-frame clip: 1 + ⌊(T−1)/r⌋.
    pub fn latent_frames(&self, frames: usize) -> usize {
        1 + frames.saturating_sub(1) / self.temporal_compression()
    }
}

/// The diffusers key of a module named as in `Wan2.1_VAE.pth` (`num_res_blocks` places the decoder's flat
/// `upsamples.K` in diffusers' `up_blocks.i.{resnets.j, upsamplers.0}`).
pub fn diffusers_vae_key(wan: &str, num_res_blocks: usize) -> String {
    let parts: Vec<&str> = wan.split('.').collect();
    let tail = |rest: &[&str]| -> String {
        // Inside a residual block.
        match rest {
            ["residual", "0", leaf] => format!("norm1.{leaf}"),
            ["residual", "2", leaf] => format!("conv1.{leaf}"),
            ["residual", "3", leaf] => format!("norm2.{leaf}"),
            ["residual", "6", leaf] => format!("conv2.{leaf}"),
            ["shortcut", leaf] => format!("conv_shortcut.{leaf}"),
            other => other.join("."),
        }
    };
    let middle = |index: &str, rest: &[&str]| -> String {
        match index {
            "0" => format!("mid_block.resnets.0.{}", tail(rest)),
            "1" => format!("mid_block.attentions.0.{}", rest.join(".")),
            _ => format!("mid_block.resnets.1.{}", tail(rest)),
        }
    };
    let head = |rest: &[&str]| -> String {
        match rest {
            ["0", leaf] => format!("norm_out.{leaf}"),
            ["2", leaf] => format!("conv_out.{leaf}"),
            other => other.join("."),
        }
    };
    match parts.as_slice() {
        ["conv1", leaf] => format!("quant_conv.{leaf}"),
        ["conv2", leaf] => format!("post_quant_conv.{leaf}"),
        [side @ ("encoder" | "decoder"), "conv1", leaf] => format!("{side}.conv_in.{leaf}"),
        [side @ ("encoder" | "decoder"), "middle", index, rest @ ..] => {
            format!("{side}.{}", middle(index, rest))
        }
        [side @ ("encoder" | "decoder"), "head", rest @ ..] => format!("{side}.{}", head(rest)),
        ["encoder", "downsamples", index, rest @ ..] => {
            format!("encoder.down_blocks.{index}.{}", tail(rest))
        }
        ["decoder", "upsamples", index, rest @ ..] => {
            let Ok(flat) = index.parse::<usize>() else {
                return wan.to_string();
            };
            let per_level = num_res_blocks + 2;
            let (level, within) = (flat / per_level, flat % per_level);
            if within <= num_res_blocks {
                format!("decoder.up_blocks.{level}.resnets.{within}.{}", tail(rest))
            } else {
                format!("decoder.up_blocks.{level}.upsamplers.0.{}", rest.join("."))
            }
        }
        _ => wan.to_string(),
    }
}

/// A cache slot of one causal layer: the frames it carries into the next chunk, or the upsampler's mark that the
/// first chunk passed through ('Rep').
#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    Rep,
    Frames(Tensor),
}

/// The caches of one encode or decode pass; layers take slots in call order, the same in every chunk.
#[derive(Debug, Default)]
struct Cache {
    slots: Vec<Slot>,
    next: usize,
}

impl Cache {
    fn start_chunk(&mut self) {
        self.next = 0;
    }

    fn slot(&mut self) -> &mut Slot {
        if self.next == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        self.next += 1;
        &mut self.slots[self.next - 1]
    }
}

/// The last `n` frames of x (fewer if it has fewer).
fn last_frames(x: &Tensor, n: usize) -> Result<Tensor> {
    let t = x.dim(2)?;
    Ok(x.narrow(2, t - n.min(t), n.min(t))?.contiguous()?)
}

/// The frames a causal layer keeps for the next chunk: its input's last two, preceded by the previous chunk's
/// last frame when the input has only one.
fn frames_to_keep(x: &Tensor, previous: Option<&Tensor>) -> Result<Tensor> {
    let keep = last_frames(x, 2)?;
    Ok(match previous {
        Some(previous) if keep.dim(2)? < 2 => Tensor::cat(&[&last_frames(previous, 1)?, &keep], 2)?,
        _ => keep,
    })
}

/// `CausalConv3d` with kernel k_t×k×k, padding (k_t−1)/2 in time (doubled, in front) and (k−1)/2 in space.
#[derive(Clone, Debug)]
struct CausalConv {
    weight: Tensor,
    bias: Tensor,
    time_pad: usize,
    space_pad: usize,
}

impl CausalConv {
    fn new(
        in_channels: usize,
        out_channels: usize,
        (kt, k): (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            weight: vb.get((out_channels, in_channels, kt, k, k), "weight")?,
            bias: vb.get(out_channels, "bias")?,
            time_pad: kt - 1,
            space_pad: (k - 1) / 2,
        })
    }

    /// The convolution of x after `prefix` frames (from the cache) and enough zero frames to make up the pad.
    fn with_prefix(&self, x: &Tensor, prefix: Option<&Tensor>) -> Result<Tensor> {
        let mut parts = Vec::with_capacity(3);
        let carried = prefix.map_or(Ok(0), |p| p.dim(2))?;
        let zeros = self.time_pad.saturating_sub(carried);
        if zeros > 0 {
            let (b, c, _, h, w) = x.dims5()?;
            parts.push(Tensor::zeros((b, c, zeros, h, w), x.dtype(), x.device())?);
        }
        if let Some(prefix) = prefix {
            parts.push(prefix.clone());
        }
        parts.push(x.clone());
        let padded = if parts.len() == 1 {
            x.clone()
        } else {
            Tensor::cat(&parts, 2)?
        };
        Ok(conv3d_over_frames(
            &padded,
            &self.weight,
            Some(&self.bias),
            self.space_pad,
            DEFAULT_TIME_TAPS,
        )?)
    }

    /// The convolution of one chunk, continuing the previous chunk's frames held in the next cache slot.
    fn forward(&self, x: &Tensor, cache: &mut Cache) -> Result<Tensor> {
        let slot = cache.slot();
        let previous = match std::mem::take(slot) {
            Slot::Frames(frames) => Some(frames),
            _ => None,
        };
        *slot = Slot::Frames(frames_to_keep(x, previous.as_ref())?);
        self.with_prefix(x, previous.as_ref())
    }
}

/// `RMS_norm`: x / ‖x‖₂ over channels · √C · γ (no bias), for [B,C,…] tensors.
#[derive(Clone, Debug)]
struct ChannelRmsNorm {
    gamma: Tensor,
    scale: f64,
}

impl ChannelRmsNorm {
    /// `images`: γ stored as [C,1,1] (per-frame 2-D input) rather than [C,1,1,1].
    fn new(channels: usize, images: bool, vb: VarBuilder) -> Result<Self> {
        let gamma = if images {
            vb.get((channels, 1, 1), "gamma")?
        } else {
            vb.get((channels, 1, 1, 1), "gamma")?
        };
        Ok(Self {
            gamma: gamma.flatten_all()?,
            scale: (channels as f64).sqrt(),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let norm = xf
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let mut shape = vec![1; x.rank()];
        shape[1] = self.gamma.dim(0)?;
        let gamma = self.gamma.to_dtype(DType::F32)?.reshape(shape)?;
        Ok(xf
            .broadcast_div(&norm)?
            .affine(self.scale, 0.0)?
            .broadcast_mul(&gamma)?
            .to_dtype(dtype)?)
    }
}

#[derive(Clone, Debug)]
struct ResidualBlock {
    norm1: ChannelRmsNorm,
    conv1: CausalConv,
    norm2: ChannelRmsNorm,
    conv2: CausalConv,
    shortcut: Option<PointwiseConv3d>,
}

impl ResidualBlock {
    fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let residual = vb.pp("residual");
        Ok(Self {
            norm1: ChannelRmsNorm::new(in_dim, false, residual.pp("0"))?,
            conv1: CausalConv::new(in_dim, out_dim, (3, 3), residual.pp("2"))?,
            norm2: ChannelRmsNorm::new(out_dim, false, residual.pp("3"))?,
            conv2: CausalConv::new(out_dim, out_dim, (3, 3), residual.pp("6"))?,
            shortcut: if in_dim != out_dim {
                Some(PointwiseConv3d::new(in_dim, out_dim, vb.pp("shortcut"))?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut Cache) -> Result<Tensor> {
        let h = match &self.shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        let y = self.conv1.forward(&self.norm1.forward(x)?.silu()?, cache)?;
        let y = self
            .conv2
            .forward(&self.norm2.forward(&y)?.silu()?, cache)?;
        Ok((y + h)?)
    }
}

/// Single-head self-attention over each frame's pixels (the middle blocks).
#[derive(Clone, Debug)]
struct AttentionBlock {
    norm: ChannelRmsNorm,
    qkv_weight: Tensor,
    qkv_bias: Tensor,
    proj_weight: Tensor,
    proj_bias: Tensor,
}

impl AttentionBlock {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: ChannelRmsNorm::new(dim, true, vb.pp("norm"))?,
            qkv_weight: vb
                .get((3 * dim, dim, 1, 1), "to_qkv.weight")?
                .reshape((3 * dim, dim))?,
            qkv_bias: vb.get(3 * dim, "to_qkv.bias")?,
            proj_weight: vb
                .get((dim, dim, 1, 1), "proj.weight")?
                .reshape((dim, dim))?,
            proj_bias: vb.get(dim, "proj.bias")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        // [B·T, H·W, C] tokens of each frame.
        let frames = x
            .permute((0, 2, 1, 3, 4))?
            .reshape((b * t, c, h, w))?
            .contiguous()?;
        let tokens = self
            .norm
            .forward(&frames)?
            .reshape((b * t, c, h * w))?
            .transpose(1, 2)?;
        let qkv = tokens
            .broadcast_matmul(&self.qkv_weight.t()?)?
            .broadcast_add(&self.qkv_bias)?;
        let q = (qkv.narrow(2, 0, c)? * (1.0 / (c as f64).sqrt()))?.contiguous()?;
        let k = qkv.narrow(2, c, c)?.contiguous()?;
        let v = qkv.narrow(2, 2 * c, c)?.contiguous()?;
        let attended = chunked_attention(&q, &k, &v, super::transformer::DEFAULT_QUERY_CHUNK)?;
        let out = attended
            .broadcast_matmul(&self.proj_weight.t()?)?
            .broadcast_add(&self.proj_bias)?;
        let out = out
            .transpose(1, 2)?
            .reshape((b, t, c, h, w))?
            .permute((0, 2, 1, 3, 4))?;
        Ok((out + x)?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResampleMode {
    Up2d,
    Up3d,
    Down2d,
    Down3d,
}

/// `Resample`: the spatial 2× (nearest + 3×3 conv up, zero-pad right/bottom + stride-2 3×3 conv down), and for
/// the 3-D modes the causal time convolution with its chunk logic.
#[derive(Clone, Debug)]
struct Resample {
    mode: ResampleMode,
    conv: candle_nn::Conv2d,
    time_conv: Option<CausalConv>,
}

impl Resample {
    fn new(dim: usize, mode: ResampleMode, vb: VarBuilder) -> Result<Self> {
        let up = matches!(mode, ResampleMode::Up2d | ResampleMode::Up3d);
        let out = if up { dim / 2 } else { dim };
        let conv_vb = vb.pp("resample.1");
        let weight = conv_vb.get((out, dim, 3, 3), "weight")?;
        let bias = conv_vb.get(out, "bias")?;
        let config = candle_nn::Conv2dConfig {
            padding: usize::from(up),
            stride: if up { 1 } else { 2 },
            ..Default::default()
        };
        let time_conv = match mode {
            ResampleMode::Up3d => Some(CausalConv::new(dim, 2 * dim, (3, 1), vb.pp("time_conv"))?),
            ResampleMode::Down3d => {
                let mut conv = CausalConv::new(dim, dim, (3, 1), vb.pp("time_conv"))?;
                conv.time_pad = 0;
                Some(conv)
            }
            _ => None,
        };
        Ok(Self {
            mode,
            conv: candle_nn::Conv2d::new(weight, Some(bias), config),
            time_conv,
        })
    }

    fn spatial(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        let frames = x
            .permute((0, 2, 1, 3, 4))?
            .reshape((b * t, c, h, w))?
            .contiguous()?;
        let frames = match self.mode {
            ResampleMode::Up2d | ResampleMode::Up3d => frames.upsample_nearest2d(2 * h, 2 * w)?,
            ResampleMode::Down2d | ResampleMode::Down3d => {
                frames.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?
            }
        };
        let y = frames.apply(&self.conv)?;
        let (_, o, oh, ow) = y.dims4()?;
        Ok(y.reshape((b, t, o, oh, ow))?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?)
    }

    fn forward(&self, x: &Tensor, cache: &mut Cache) -> Result<Tensor> {
        let Some(time_conv) = &self.time_conv else {
            return self.spatial(x);
        };
        match self.mode {
            ResampleMode::Up3d => {
                let slot = cache.slot();
                let x = match std::mem::take(slot) {
                    // The first chunk passes through.
                    Slot::Empty => {
                        *slot = Slot::Rep;
                        x.clone()
                    }
                    previous => {
                        let keep = last_frames(x, 2)?;
                        let (keep, prefix) = match previous {
                            Slot::Frames(p) => {
                                let keep = if keep.dim(2)? < 2 {
                                    Tensor::cat(&[&last_frames(&p, 1)?, &keep], 2)?
                                } else {
                                    keep
                                };
                                (keep, Some(p))
                            }
                            // After 'Rep': the time stream starts here, zero padded.
                            _ => {
                                let keep = if keep.dim(2)? < 2 {
                                    Tensor::cat(&[&keep.zeros_like()?, &keep], 2)?
                                } else {
                                    keep
                                };
                                (keep, None)
                            }
                        };
                        *slot = Slot::Frames(keep);
                        let y = time_conv.with_prefix(x, prefix.as_ref())?;
                        // [B,2C,T,H,W] → two frames per frame: [B,C,2T,H,W].
                        let (b, c, t, h, w) = x.dims5()?;
                        y.reshape(vec![b, 2, c, t, h, w])?
                            .permute(vec![0, 2, 3, 1, 4, 5])?
                            .reshape((b, c, 2 * t, h, w))?
                    }
                };
                self.spatial(&x)
            }
            _ => {
                let x = self.spatial(x)?;
                let slot = cache.slot();
                match std::mem::take(slot) {
                    Slot::Frames(previous) => {
                        *slot = Slot::Frames(last_frames(&x, 1)?);
                        let input = Tensor::cat(&[&last_frames(&previous, 1)?, &x], 2)?;
                        // Stride 2 in time: every other window of the stride-1 convolution.
                        let dense = time_conv.with_prefix(&input, None)?;
                        let picked = (0..dense.dim(2)?)
                            .step_by(2)
                            .map(|i| dense.narrow(2, i, 1))
                            .collect::<candle_core::Result<Vec<_>>>()?;
                        Ok(Tensor::cat(&picked, 2)?)
                    }
                    // The first chunk passes through and is kept whole.
                    _ => {
                        *slot = Slot::Frames(x.clone());
                        Ok(x)
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Layer {
    Residual(ResidualBlock),
    Resample(Resample),
}

impl Layer {
    fn forward(&self, x: &Tensor, cache: &mut Cache) -> Result<Tensor> {
        match self {
            Layer::Residual(block) => block.forward(x, cache),
            Layer::Resample(resample) => resample.forward(x, cache),
        }
    }
}

/// conv_in → layers → middle (residual, attention, residual) → RMS norm, SiLU, conv_out.
#[derive(Clone, Debug)]
struct Coder {
    conv_in: CausalConv,
    layers: Vec<Layer>,
    middle: (ResidualBlock, AttentionBlock, ResidualBlock),
    middle_first: bool,
    norm_out: ChannelRmsNorm,
    conv_out: CausalConv,
}

impl Coder {
    fn middle(
        dim: usize,
        vb: VarBuilder,
    ) -> Result<(ResidualBlock, AttentionBlock, ResidualBlock)> {
        Ok((
            ResidualBlock::new(dim, dim, vb.pp("0"))?,
            AttentionBlock::new(dim, vb.pp("1"))?,
            ResidualBlock::new(dim, dim, vb.pp("2"))?,
        ))
    }

    fn encoder(config: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let dims: Vec<usize> = std::iter::once(1)
            .chain(config.dim_mult.iter().copied())
            .map(|u| config.base_dim * u)
            .collect();
        let levels = config.dim_mult.len();
        let mut layers = Vec::new();
        let blocks = vb.pp("downsamples");
        for level in 0..levels {
            let (mut in_dim, out_dim) = (dims[level], dims[level + 1]);
            for _ in 0..config.num_res_blocks {
                layers.push(Layer::Residual(ResidualBlock::new(
                    in_dim,
                    out_dim,
                    blocks.pp(layers.len().to_string()),
                )?));
                in_dim = out_dim;
            }
            if level != levels - 1 {
                let mode = if config.temperal_downsample[level] {
                    ResampleMode::Down3d
                } else {
                    ResampleMode::Down2d
                };
                layers.push(Layer::Resample(Resample::new(
                    out_dim,
                    mode,
                    blocks.pp(layers.len().to_string()),
                )?));
            }
        }
        let top = dims[levels];
        Ok(Self {
            conv_in: CausalConv::new(3, dims[0], (3, 3), vb.pp("conv1"))?,
            layers,
            middle: Self::middle(top, vb.pp("middle"))?,
            middle_first: false,
            norm_out: ChannelRmsNorm::new(top, false, vb.pp("head.0"))?,
            conv_out: CausalConv::new(top, 2 * config.z_dim, (3, 3), vb.pp("head.2"))?,
        })
    }

    fn decoder(config: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let levels = config.dim_mult.len();
        let dims: Vec<usize> = std::iter::once(config.dim_mult[levels - 1])
            .chain(config.dim_mult.iter().rev().copied())
            .map(|u| config.base_dim * u)
            .collect();
        let temporal_upsample: Vec<bool> =
            config.temperal_downsample.iter().rev().copied().collect();
        let mut layers = Vec::new();
        let blocks = vb.pp("upsamples");
        for level in 0..levels {
            let (mut in_dim, out_dim) = (dims[level], dims[level + 1]);
            if level > 0 {
                in_dim /= 2;
            }
            for _ in 0..=config.num_res_blocks {
                layers.push(Layer::Residual(ResidualBlock::new(
                    in_dim,
                    out_dim,
                    blocks.pp(layers.len().to_string()),
                )?));
                in_dim = out_dim;
            }
            if level != levels - 1 {
                let mode = if temporal_upsample[level] {
                    ResampleMode::Up3d
                } else {
                    ResampleMode::Up2d
                };
                layers.push(Layer::Resample(Resample::new(
                    out_dim,
                    mode,
                    blocks.pp(layers.len().to_string()),
                )?));
            }
        }
        let last = dims[levels];
        Ok(Self {
            conv_in: CausalConv::new(config.z_dim, dims[0], (3, 3), vb.pp("conv1"))?,
            layers,
            middle: Self::middle(dims[0], vb.pp("middle"))?,
            middle_first: true,
            norm_out: ChannelRmsNorm::new(last, false, vb.pp("head.0"))?,
            conv_out: CausalConv::new(last, 3, (3, 3), vb.pp("head.2"))?,
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut Cache) -> Result<Tensor> {
        let middle = |x: &Tensor, cache: &mut Cache| -> Result<Tensor> {
            let x = self.middle.0.forward(x, cache)?;
            let x = self.middle.1.forward(&x)?;
            self.middle.2.forward(&x, cache)
        };
        let mut x = self.conv_in.forward(x, cache)?;
        if self.middle_first {
            x = middle(&x, cache)?;
        }
        for layer in &self.layers {
            x = layer.forward(&x, cache)?;
        }
        if !self.middle_first {
            x = middle(&x, cache)?;
        }
        self.conv_out
            .forward(&self.norm_out.forward(&x)?.silu()?, cache)
    }
}

/// The Wan 2.1 VAE.
#[derive(Clone, Debug)]
pub struct AutoencoderKLWan {
    encoder: Coder,
    decoder: Coder,
    quant_conv: PointwiseConv3d,
    post_quant_conv: PointwiseConv3d,
    config: WanVaeConfig,
}

impl AutoencoderKLWan {
    /// Builds the VAE from weights named as the config's layout names them.
    pub fn new(config: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        super::ConfigFile::check(config, "Wan VAE config")?;
        let vb = match config.layout {
            WanKeyLayout::Wan => vb,
            WanKeyLayout::Diffusers => {
                let blocks = config.num_res_blocks;
                super::wan_transformer::rename_below_prefix(vb, move |name| {
                    diffusers_vae_key(name, blocks)
                })
            }
        };
        let z = config.z_dim;
        Ok(Self {
            encoder: Coder::encoder(config, vb.pp("encoder"))?,
            decoder: Coder::decoder(config, vb.pp("decoder"))?,
            quant_conv: PointwiseConv3d::new(2 * z, 2 * z, vb.pp("conv1"))?,
            post_quant_conv: PointwiseConv3d::new(z, z, vb.pp("conv2"))?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &WanVaeConfig {
        &self.config
    }

    /// Video [B,3,T,H,W] in [−1,1] → the raw posterior (mean, clamped logvar) [B,z,1+⌊(T−1)/4⌋,H/8,W/8].
    pub fn encode(&self, video: &Tensor) -> Result<DiagonalGaussian> {
        let (b, c, t, h, w) = video.dims5()?;
        if c != 3 || t == 0 {
            return Err(input_error(
                "Wan VAE encode",
                format!("video of shape [{b},{c},{t},{h},{w}]: expected [B,3,T,H,W] with T ≥ 1"),
            ));
        }
        let step = self.config.temporal_compression();
        let chunks = 1 + (t - 1) / step;
        let mut cache = Cache::default();
        let mut outputs = Vec::with_capacity(chunks);
        for i in 0..chunks {
            cache.start_chunk();
            let (start, len) = if i == 0 {
                (0, 1)
            } else {
                (1 + step * (i - 1), step)
            };
            outputs.push(
                self.encoder
                    .forward(&video.narrow(2, start, len)?, &mut cache)?,
            );
        }
        let parameters = self.quant_conv.forward(&Tensor::cat(&outputs, 2)?)?;
        Ok(DiagonalGaussian::from_parameters(&parameters)?)
    }

    /// Raw latents [B,z,t,h,w] → video [B,3,1+4(t−1),8h,8w] clamped to [−1,1].
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let (b, z, t, h, w) = latents.dims5()?;
        if z != self.config.z_dim || t == 0 {
            return Err(input_error(
                "Wan VAE decode",
                format!(
                    "latents of shape [{b},{z},{t},{h},{w}]: expected {} channels and t ≥ 1",
                    self.config.z_dim
                ),
            ));
        }
        let x = self.post_quant_conv.forward(latents)?;
        let mut cache = Cache::default();
        let mut outputs = Vec::with_capacity(t);
        for i in 0..t {
            cache.start_chunk();
            outputs.push(self.decoder.forward(&x.narrow(2, i, 1)?, &mut cache)?);
        }
        Ok(Tensor::cat(&outputs, 2)?.clamp(-1f32, 1f32)?)
    }

    /// Per-channel [1,z,1,1,1] tensors of the latent statistics, in x's dtype and device.
    fn statistics(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let z = self.config.z_dim;
        let make = |values: &[f64]| -> Result<Tensor> {
            Ok(Tensor::from_vec(
                values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                (1, z, 1, 1, 1),
                x.device(),
            )?
            .to_dtype(x.dtype())?)
        };
        Ok((
            make(&self.config.latents_mean)?,
            make(&self.config.latents_std)?,
        ))
    }

    /// DWM's normalised latents: (μ − mean) / std.
    pub fn normalize(&self, latents: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.statistics(latents)?;
        Ok(latents.broadcast_sub(&mean)?.broadcast_div(&std)?)
    }

    /// The inverse of [`Self::normalize`]: z · std + mean, what `decode` takes.
    pub fn denormalize(&self, latents: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.statistics(latents)?;
        Ok(latents.broadcast_mul(&std)?.broadcast_add(&mean)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusers_vae_keys_follow_the_conversion() {
        for (wan, diffusers) in [
            ("conv1.weight", "quant_conv.weight"),
            ("conv2.bias", "post_quant_conv.bias"),
            ("encoder.conv1.weight", "encoder.conv_in.weight"),
            (
                "encoder.downsamples.0.residual.0.gamma",
                "encoder.down_blocks.0.norm1.gamma",
            ),
            (
                "encoder.downsamples.2.residual.6.weight",
                "encoder.down_blocks.2.conv2.weight",
            ),
            (
                "encoder.downsamples.3.shortcut.bias",
                "encoder.down_blocks.3.conv_shortcut.bias",
            ),
            (
                "encoder.downsamples.5.time_conv.weight",
                "encoder.down_blocks.5.time_conv.weight",
            ),
            (
                "encoder.middle.1.to_qkv.weight",
                "encoder.mid_block.attentions.0.to_qkv.weight",
            ),
            (
                "decoder.middle.2.residual.2.bias",
                "decoder.mid_block.resnets.1.conv1.bias",
            ),
            ("decoder.head.0.gamma", "decoder.norm_out.gamma"),
            ("decoder.head.2.weight", "decoder.conv_out.weight"),
            // Two res-blocks per level: 3 resnets + 1 upsampler per level, so 4 → level 1, resnet 0.
            (
                "decoder.upsamples.4.residual.0.gamma",
                "decoder.up_blocks.1.resnets.0.norm1.gamma",
            ),
            (
                "decoder.upsamples.3.resample.1.weight",
                "decoder.up_blocks.0.upsamplers.0.resample.1.weight",
            ),
        ] {
            assert_eq!(diffusers_vae_key(wan, 2), diffusers, "{wan}");
        }
    }

    #[test]
    fn the_wan21_constants_give_its_compression() {
        let config = WanVaeConfig::wan21();
        assert_eq!(config.spatial_compression(), 8);
        assert_eq!(config.temporal_compression(), 4);
        assert_eq!(config.latent_frames(49), 13);
        assert!(super::super::ConfigFile::check(&config, "wan21").is_ok());
    }
}
