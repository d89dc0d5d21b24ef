//! CogVideoX 1.0 transformer (diffusers `CogVideoXTransformer3DModel`, the layout of CogVideoX-5B and
//! CogVideoX-Fun-V1.1): time embedding, patch embedding into [text; video] tokens, 3-D RoPE, blocks with
//! LayerNorm-Zero modulation of both streams, joint attention, gated feed-forward, AdaLayerNorm and unpatchify.
//!
//! Module names mirror the diffusers state-dict keys (`patch_embed.proj`, `transformer_blocks.N.attn1.to_q`,
//! ...). The numbers and the order of every operation follow `spec/dwm-reference.md` §2.

use super::error::{Result, config_error, input_error};
use candle_core::{D, DType, Device, Module as _, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

/// The VAE's spatial compression in CogVideoX (2^(4 blocks − 1)); the pipeline divides pixel sizes by it.
pub const VAE_SPATIAL_SCALE: usize = 8;

/// Queries per attention chunk: bounds the score matrix held at once (see [`AttentionOptions`]).
pub const DEFAULT_QUERY_CHUNK: usize = 1024;

/// diffusers `CogVideoXTransformer3DModel` config.json, with diffusers' defaults for missing keys.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TransformerConfig {
    #[serde(default = "default_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_head_dim")]
    pub attention_head_dim: usize,
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    #[serde(default)]
    pub out_channels: Option<usize>,
    #[serde(default = "default_true")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "default_time_embed_dim")]
    pub time_embed_dim: usize,
    #[serde(default)]
    pub ofs_embed_dim: Option<usize>,
    #[serde(default = "default_text_embed_dim")]
    pub text_embed_dim: usize,
    #[serde(default = "default_layers")]
    pub num_layers: usize,
    #[serde(default = "default_true")]
    pub attention_bias: bool,
    #[serde(default = "default_sample_width")]
    pub sample_width: usize,
    #[serde(default = "default_sample_height")]
    pub sample_height: usize,
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    #[serde(default)]
    pub patch_size_t: Option<usize>,
    #[serde(default = "default_activation")]
    pub activation_fn: String,
    #[serde(default = "default_timestep_activation")]
    pub timestep_activation_fn: String,
    #[serde(default = "default_true")]
    pub norm_elementwise_affine: bool,
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    #[serde(default)]
    pub use_rotary_positional_embeddings: bool,
    #[serde(default)]
    pub use_learned_positional_embeddings: bool,
    #[serde(default = "default_true")]
    pub patch_bias: bool,
}

fn default_heads() -> usize {
    30
}
fn default_head_dim() -> usize {
    64
}
fn default_in_channels() -> usize {
    16
}
fn default_true() -> bool {
    true
}
fn default_time_embed_dim() -> usize {
    512
}
fn default_text_embed_dim() -> usize {
    4096
}
fn default_layers() -> usize {
    30
}
fn default_sample_width() -> usize {
    90
}
fn default_sample_height() -> usize {
    60
}
fn default_patch_size() -> usize {
    2
}
fn default_activation() -> String {
    "gelu-approximate".to_string()
}
fn default_timestep_activation() -> String {
    "silu".to_string()
}
fn default_norm_eps() -> f64 {
    1e-5
}

/// The feed-forward activations of diffusers' `FeedForward` that we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedForwardActivation {
    /// "gelu": exact (erf) GELU.
    Gelu,
    /// "gelu-approximate": tanh GELU (CogVideoX's).
    GeluTanh,
}

impl super::ConfigFile for TransformerConfig {
    fn check(&self, source_name: &str) -> Result<()> {
        self.validate(source_name)
    }
}

impl TransformerConfig {
    /// Rejects every value that would make diffusers compute something this implementation does not.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let fail = |key: &str, reason: &str| Err(config_error(source_name, key, reason));
        if let Some(p_t) = self.patch_size_t {
            return fail(
                "patch_size_t",
                &format!(
                    "{p_t}: temporal patches are CogVideoX 1.5; only the 1.0 layout (null) is supported"
                ),
            );
        }
        if self.ofs_embed_dim.is_some() {
            return fail(
                "ofs_embed_dim",
                "the CogVideoX 1.5 I2V offset embedding is not supported (expected null)",
            );
        }
        if !self.use_rotary_positional_embeddings {
            return fail(
                "use_rotary_positional_embeddings",
                "false (CogVideoX-2B sin-cos positional embeddings) is not supported; CogVideoX-5B uses true",
            );
        }
        if self.use_learned_positional_embeddings {
            return fail(
                "use_learned_positional_embeddings",
                "learned positional embeddings are not supported together with RoPE",
            );
        }
        if self.feed_forward_activation().is_none() {
            return fail(
                "activation_fn",
                &format!(
                    "`{}` is not supported (gelu, gelu-approximate)",
                    self.activation_fn
                ),
            );
        }
        if self.timestep_activation_fn != "silu" {
            return fail(
                "timestep_activation_fn",
                &format!("`{}` is not supported (silu)", self.timestep_activation_fn),
            );
        }
        for (key, value) in [
            ("num_attention_heads", self.num_attention_heads),
            ("attention_head_dim", self.attention_head_dim),
            ("in_channels", self.in_channels),
            ("time_embed_dim", self.time_embed_dim),
            ("text_embed_dim", self.text_embed_dim),
            ("patch_size", self.patch_size),
        ] {
            if value == 0 {
                return fail(key, "must be positive");
            }
        }
        if self.out_channels == Some(0) {
            return fail("out_channels", "must be positive");
        }
        let (t, h, w) = rope_split(self.attention_head_dim);
        if t % 2 != 0 || h % 2 != 0 || t + h + w != self.attention_head_dim {
            return fail(
                "attention_head_dim",
                &format!(
                    "{}: the 3-D RoPE split (dim/4 temporal, dim/8·3 per spatial axis = {t}+{h}+{w}) needs a \
                     multiple of 16",
                    self.attention_head_dim
                ),
            );
        }
        if !self.inner_dim().is_multiple_of(2) {
            return fail(
                "num_attention_heads",
                "heads × head_dim must be even for the sinusoidal time embedding",
            );
        }
        if !self.freq_shift.is_finite() || self.freq_shift >= (self.inner_dim() / 2) as f64 {
            return fail("freq_shift", "must be smaller than half the model width");
        }
        Ok(())
    }

    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    pub fn feed_forward_activation(&self) -> Option<FeedForwardActivation> {
        match self.activation_fn.as_str() {
            "gelu" => Some(FeedForwardActivation::Gelu),
            "gelu-approximate" => Some(FeedForwardActivation::GeluTanh),
            _ => None,
        }
    }
}

/// Head-dimension split of the 3-D RoPE: (temporal, height, width) = (dim/4, dim/8·3, dim/8·3).
pub fn rope_split(head_dim: usize) -> (usize, usize, usize) {
    (head_dim / 4, head_dim / 8 * 3, head_dim / 8 * 3)
}

/// Python's `round` (ties to even), as diffusers uses it for the crop region.
fn python_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// `get_resize_crop_region_for_grid`: fits the grid into the base grid (keeping its aspect) and centres it.
/// Returns ((top, left), (bottom, right)) in base-grid units.
pub fn resize_crop_region(
    grid: (usize, usize),
    base_width: usize,
    base_height: usize,
) -> ((i64, i64), (i64, i64)) {
    let (h, w) = (grid.0 as f64, grid.1 as f64);
    let (tw, th) = (base_width as f64, base_height as f64);
    let (resize_height, resize_width) = if h / w > th / tw {
        (base_height as i64, python_round(th / h * w))
    } else {
        (python_round(tw / w * h), base_width as i64)
    };
    let crop_top = python_round((th - resize_height as f64) / 2.0);
    let crop_left = python_round((tw - resize_width as f64) / 2.0);
    (
        (crop_top, crop_left),
        (crop_top + resize_height, crop_left + resize_width),
    )
}

/// `torch.linspace` in float32, with ATen's two-sided formula (so the last value is exactly `end`).
fn linspace_f32(start: f64, end: f64, steps: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                start + step * i as f32
            } else {
                end - step * (steps - 1 - i) as f32
            }
        })
        .collect()
}

/// One axis of the RoPE table: per position, each frequency's cos and sin repeated for a pair of dims.
fn axis_table(positions: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let inverse_frequencies: Vec<f32> = (0..dim / 2)
        .map(|k| 1.0 / 10000f32.powf((2 * k) as f32 / dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(positions.len() * dim);
    let mut sin = Vec::with_capacity(positions.len() * dim);
    for &position in positions {
        for &frequency in &inverse_frequencies {
            let angle = position * frequency;
            let (s, c) = angle.sin_cos();
            cos.extend([c, c]);
            sin.extend([s, s]);
        }
    }
    (cos, sin)
}

/// The pipeline's RoPE tables (`_prepare_rotary_positional_embeddings`, CogVideoX 1.0 branch) for a video of
/// `height`×`width` pixels and `latent_frames` latent frames: (cos, sin), each [frames·grid_h·grid_w, head_dim]
/// float32, in the token order of the patch embedding (frame, row, column).
pub fn rope_tables(
    config: &TransformerConfig,
    height: usize,
    width: usize,
    latent_frames: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let cell = VAE_SPATIAL_SCALE * config.patch_size;
    rope_tables_for_grid(config, height / cell, width / cell, latent_frames, device)
}

/// [`rope_tables`] for a token grid given directly (latent size / patch size).
pub fn rope_tables_for_grid(
    config: &TransformerConfig,
    grid_height: usize,
    grid_width: usize,
    frames: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    if grid_height == 0 || grid_width == 0 || frames == 0 {
        return Err(input_error(
            "RoPE grid",
            format!(
                "{frames} frames × {grid_height}×{grid_width} tokens: every size must be positive"
            ),
        ));
    }
    let p = config.patch_size;
    let ((top, left), (bottom, right)) = resize_crop_region(
        (grid_height, grid_width),
        config.sample_width / p,
        config.sample_height / p,
    );
    // Positions span the crop region without its far edge: linspace(start, stop·(n−1)/n, n).
    let rows = linspace_f32(
        top as f64,
        bottom as f64 * (grid_height - 1) as f64 / grid_height as f64,
        grid_height,
    );
    let cols = linspace_f32(
        left as f64,
        right as f64 * (grid_width - 1) as f64 / grid_width as f64,
        grid_width,
    );
    let times = linspace_f32(
        0.0,
        frames as f64 * (frames - 1) as f64 / frames as f64,
        frames,
    );
    let head_dim = config.attention_head_dim;
    let (dim_t, dim_h, dim_w) = rope_split(head_dim);
    let (t_cos, t_sin) = axis_table(&times, dim_t);
    let (h_cos, h_sin) = axis_table(&rows, dim_h);
    let (w_cos, w_sin) = axis_table(&cols, dim_w);
    let tokens = frames * grid_height * grid_width;
    let mut cos = Vec::with_capacity(tokens * head_dim);
    let mut sin = Vec::with_capacity(tokens * head_dim);
    for t in 0..frames {
        for i in 0..grid_height {
            for j in 0..grid_width {
                for (table, (a, b, c)) in [
                    (&mut cos, (&t_cos, &h_cos, &w_cos)),
                    (&mut sin, (&t_sin, &h_sin, &w_sin)),
                ] {
                    table.extend_from_slice(&a[t * dim_t..(t + 1) * dim_t]);
                    table.extend_from_slice(&b[i * dim_h..(i + 1) * dim_h]);
                    table.extend_from_slice(&c[j * dim_w..(j + 1) * dim_w]);
                }
            }
        }
    }
    Ok((
        Tensor::from_vec(cos, (tokens, head_dim), device)?,
        Tensor::from_vec(sin, (tokens, head_dim), device)?,
    ))
}

/// diffusers `get_timestep_embedding`: [N] timesteps → [N, dim] float32 sinusoids.
pub fn timestep_sinusoids(
    timesteps: &Tensor,
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
) -> Result<Tensor> {
    let half = dim / 2;
    let device = timesteps.device();
    let exponents: Vec<f32> = (0..half)
        .map(|k| (-(10000f32.ln()) * k as f32 / (half as f32 - freq_shift as f32)).exp())
        .collect();
    let frequencies = Tensor::from_vec(exponents, (1, half), device)?;
    let angles = timesteps
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&frequencies)?;
    let (sin, cos) = (angles.sin()?, angles.cos()?);
    let embedding = if flip_sin_to_cos {
        Tensor::cat(&[cos, sin], 1)?
    } else {
        Tensor::cat(&[sin, cos], 1)?
    };
    if dim % 2 == 1 {
        Ok(embedding.pad_with_zeros(1, 0, 1)?)
    } else {
        Ok(embedding)
    }
}

fn linear(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    Ok(if bias {
        candle_nn::linear(in_dim, out_dim, vb)?
    } else {
        candle_nn::linear_no_bias(in_dim, out_dim, vb)?
    })
}

/// `nn.LayerNorm`, with or without the affine parameters (then nothing is read from the weights).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn new(dim: usize, eps: f64, affine: bool, vb: VarBuilder) -> Result<Self> {
        let (weight, bias) = if affine {
            (
                vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?,
                vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?,
            )
        } else {
            (
                Tensor::ones(dim, vb.dtype(), vb.device())?,
                Tensor::zeros(dim, vb.dtype(), vb.device())?,
            )
        };
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    /// The same norm with its parameters in `dtype` (norms kept in float32 under half-precision weights).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.to_dtype(dtype)?,
            eps: self.eps,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if xs.track_op() || self.weight.track_op() {
            // candle's fused layer_norm has no backward (it would silently cut the gradient): when training,
            // the same formula from differentiable operations, in float32.
            let dtype = xs.dtype();
            let x = xs.to_dtype(DType::F32)?;
            let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
            let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
            let normalised = centred.broadcast_div(&(variance + self.eps as f64)?.sqrt()?)?;
            return Ok(normalised
                .broadcast_mul(&self.weight.to_dtype(DType::F32)?)?
                .broadcast_add(&self.bias.to_dtype(DType::F32)?)?
                .to_dtype(dtype)?);
        }
        Ok(candle_nn::ops::layer_norm(
            &xs.contiguous()?,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}

/// `TimestepEmbedding`: linear_1 → SiLU → linear_2.
#[derive(Clone, Debug)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    pub fn new(in_dim: usize, time_embed_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(in_dim, time_embed_dim, true, vb.pp("linear_1"))?,
            linear_2: linear(time_embed_dim, time_embed_dim, true, vb.pp("linear_2"))?,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.linear_1.forward(xs)?.silu()?;
        Ok(self.linear_2.forward(&xs)?)
    }
}

/// `CogVideoXPatchEmbed` (1.0 layout, no positional embedding): text projection and a k=s=p Conv2d per frame,
/// written as a patchify + matmul (the same arithmetic as the convolution).
#[derive(Clone, Debug)]
pub struct PatchEmbed {
    proj_weight: Tensor,
    proj_bias: Option<Tensor>,
    text_proj: Linear,
    patch_size: usize,
    in_channels: usize,
    inner_dim: usize,
}

impl PatchEmbed {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let (p, c, inner) = (config.patch_size, config.in_channels, config.inner_dim());
        let proj = vb.pp("proj");
        let proj_weight = proj.get_with_hints(
            (inner, c, p, p),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let proj_bias = if config.patch_bias {
            Some(proj.get_with_hints(inner, "bias", candle_nn::Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            proj_weight,
            proj_bias,
            text_proj: linear(config.text_embed_dim, inner, true, vb.pp("text_proj"))?,
            patch_size: p,
            in_channels: c,
            inner_dim: inner,
        })
    }

    /// [B,F,C,H,W] video and [B,L,D] text → [B, L + F·(H/p)·(W/p), inner] tokens.
    pub fn forward(&self, text: &Tensor, video: &Tensor) -> Result<Tensor> {
        let (b, f, c, h, w) = video.dims5()?;
        let p = self.patch_size;
        if c != self.in_channels || h % p != 0 || w % p != 0 {
            return Err(input_error(
                "transformer hidden_states",
                format!(
                    "shape [{b},{f},{c},{h},{w}]: expected {} channels and H, W divisible by the patch size {p}",
                    self.in_channels
                ),
            ));
        }
        let (gh, gw) = (h / p, w / p);
        let patches = video
            .reshape((b * f, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b * f * gh * gw, c * p * p))?;
        let weight = self.proj_weight.reshape((self.inner_dim, c * p * p))?;
        let mut tokens = patches.matmul(&weight.t()?)?;
        if let Some(bias) = &self.proj_bias {
            tokens = tokens.broadcast_add(bias)?;
        }
        let tokens = tokens.reshape((b, f * gh * gw, self.inner_dim))?;
        let text = self.text_proj.forward(text)?;
        Ok(Tensor::cat(&[text, tokens], 1)?)
    }
}

/// `CogVideoXLayerNormZero`: one LayerNorm for both streams, modulated by six vectors from the time embedding.
#[derive(Clone, Debug)]
pub struct LayerNormZero {
    linear: Linear,
    norm: LayerNorm,
    dim: usize,
}

/// Normalised video and text streams and their residual gates ([B,1,dim] each).
pub struct Modulated {
    pub video: Tensor,
    pub text: Tensor,
    pub video_gate: Tensor,
    pub text_gate: Tensor,
}

/// The time-conditioned modulation of a norm: `linear` from the time embedding to `chunks`·dim values (shifts,
/// scales, gates), and the LayerNorm they modulate.
fn modulated_norm(
    config: &TransformerConfig,
    chunks: usize,
    vb: VarBuilder,
) -> Result<(Linear, LayerNorm)> {
    let dim = config.inner_dim();
    Ok((
        linear(config.time_embed_dim, chunks * dim, true, vb.pp("linear"))?,
        LayerNorm::new(
            dim,
            config.norm_eps,
            config.norm_elementwise_affine,
            vb.pp("norm"),
        )?,
    ))
}

impl LayerNormZero {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let (linear, norm) = modulated_norm(config, 6, vb)?;
        Ok(Self {
            linear,
            norm,
            dim: config.inner_dim(),
        })
    }

    pub fn forward(&self, video: &Tensor, text: &Tensor, temb: &Tensor) -> Result<Modulated> {
        let modulation = self.linear.forward(&temb.silu()?)?;
        // Order: shift, scale, gate, enc_shift, enc_scale, enc_gate; each [B,1,dim].
        let chunk = |i: usize| -> Result<Tensor> {
            Ok(modulation.narrow(1, i * self.dim, self.dim)?.unsqueeze(1)?)
        };
        let video = self
            .norm
            .forward(video)?
            .broadcast_mul(&(chunk(1)? + 1.0)?)?
            .broadcast_add(&chunk(0)?)?;
        let text = self
            .norm
            .forward(text)?
            .broadcast_mul(&(chunk(4)? + 1.0)?)?
            .broadcast_add(&chunk(3)?)?;
        Ok(Modulated {
            video,
            text,
            video_gate: chunk(2)?,
            text_gate: chunk(5)?,
        })
    }
}

/// How attention is computed. The full score matrix of CogVideoX-5B at 720×480×49 is 17,776² per head, so the
/// general path processes at most `query_chunk` query rows (of one head, or of several heads when a head has
/// fewer queries) at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionOptions {
    pub query_chunk: usize,
    /// On Metal, use candle's fused `sdpa` kernel instead (head dims it supports only).
    pub fused_on_metal: bool,
}

impl Default for AttentionOptions {
    fn default() -> Self {
        Self {
            query_chunk: DEFAULT_QUERY_CHUNK,
            fused_on_metal: true,
        }
    }
}

/// Softmax attention of q [N,S,D] (already scaled) over k, v [N,S,D], in query chunks.
pub fn chunked_attention(q: &Tensor, k: &Tensor, v: &Tensor, query_chunk: usize) -> Result<Tensor> {
    let (n, s, _) = q.dims3()?;
    let s_kv = k.dim(1)?;
    let query_chunk = query_chunk.max(1);
    let k_t = k.t()?.contiguous()?;
    // Heads per piece when one head's queries fit in a chunk; else one head, cut into query chunks.
    let heads_per_piece = if s <= query_chunk {
        (query_chunk / s).max(1)
    } else {
        1
    };
    let score_dtype = q.dtype();
    let mut outputs = Vec::with_capacity(n.div_ceil(heads_per_piece));
    let mut head = 0;
    while head < n {
        let g = heads_per_piece.min(n - head);
        let (q_g, k_g, v_g) = (
            q.narrow(0, head, g)?,
            k_t.narrow(0, head, g)?,
            v.narrow(0, head, g)?,
        );
        let mut pieces = Vec::with_capacity(s.div_ceil(query_chunk));
        let mut row = 0;
        while row < s {
            let rows = query_chunk.min(s - row);
            let scores = q_g.narrow(1, row, rows)?.contiguous()?.matmul(&k_g)?;
            // Softmax in float32 for half-precision activations, as PyTorch's SDPA accumulates.
            let probabilities = if scores.track_op() {
                // The fused softmax has no backward; training takes the differentiable composition.
                candle_nn::ops::softmax(&scores.to_dtype(DType::F32)?, D::Minus1)?
                    .to_dtype(score_dtype)?
            } else if score_dtype == DType::F32 {
                candle_nn::ops::softmax_last_dim(&scores)?
            } else {
                candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?
                    .to_dtype(score_dtype)?
            };
            debug_assert_eq!(probabilities.dim(2)?, s_kv);
            pieces.push(probabilities.matmul(&v_g)?);
            row += rows;
        }
        outputs.push(Tensor::cat(&pieces, 1)?);
        head += g;
    }
    Ok(Tensor::cat(&outputs, 0)?)
}

/// Joint self-attention over [text; video] with qk LayerNorm and RoPE on the video tokens
/// (`Attention` + `CogVideoXAttnProcessor2_0`).
#[derive(Clone, Debug)]
pub struct JointAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    norm_q: LayerNorm,
    norm_k: LayerNorm,
    to_out: Linear,
    heads: usize,
    head_dim: usize,
}

impl JointAttention {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = config.inner_dim();
        let head_dim = config.attention_head_dim;
        let bias = config.attention_bias;
        Ok(Self {
            to_q: linear(dim, dim, bias, vb.pp("to_q"))?,
            to_k: linear(dim, dim, bias, vb.pp("to_k"))?,
            to_v: linear(dim, dim, bias, vb.pp("to_v"))?,
            // diffusers builds the qk norms with eps 1e-6 and affine parameters whatever the config says.
            norm_q: LayerNorm::new(head_dim, 1e-6, true, vb.pp("norm_q"))?,
            norm_k: LayerNorm::new(head_dim, 1e-6, true, vb.pp("norm_k"))?,
            to_out: linear(dim, dim, true, vb.pp("to_out").pp("0"))?,
            heads: config.num_attention_heads,
            head_dim,
        })
    }

    /// `rope`: (cos, sin) halves [S_video, head_dim/2] float32, contiguous (see [`RopeHalves`]).
    pub fn forward(
        &self,
        video: &Tensor,
        text: &Tensor,
        rope: Option<&RopeHalves>,
        options: &AttentionOptions,
    ) -> Result<(Tensor, Tensor)> {
        let text_len = text.dim(1)?;
        let joint = Tensor::cat(&[text, video], 1)?;
        let (b, s, dim) = joint.dims3()?;
        let split_heads = |xs: Tensor| -> Result<Tensor> {
            Ok(xs
                .reshape((b, s, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let mut q = self
            .norm_q
            .forward(&split_heads(self.to_q.forward(&joint)?)?)?;
        let mut k = self
            .norm_k
            .forward(&split_heads(self.to_k.forward(&joint)?)?)?;
        let v = split_heads(self.to_v.forward(&joint)?)?;
        if let Some(rope) = rope {
            q = apply_rope_to_video(&q, text_len, rope)?;
            k = apply_rope_to_video(&k, text_len, rope)?;
        }
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let fused = options.fused_on_metal
            && q.device().is_metal()
            && matches!(self.head_dim, 32 | 64 | 72 | 80 | 96 | 128 | 256);
        let attended = if fused {
            candle_nn::ops::sdpa(&q, &k, &v, None, false, scale as f32, 1.0)?
        } else {
            let flat = |xs: &Tensor| xs.reshape((b * self.heads, s, self.head_dim));
            chunked_attention(
                &(flat(&q)? * scale)?,
                &flat(&k)?,
                &flat(&v)?,
                options.query_chunk,
            )?
            .reshape((b, self.heads, s, self.head_dim))?
        };
        let attended = attended.transpose(1, 2)?.reshape((b, s, dim))?;
        let out = self.to_out.forward(&attended)?;
        Ok((
            out.narrow(1, text_len, s - text_len)?,
            out.narrow(1, 0, text_len)?,
        ))
    }
}

/// The RoPE tables as candle's interleaved rotary kernel wants them: one value per pair of dims.
#[derive(Clone, Debug)]
pub struct RopeHalves {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl RopeHalves {
    /// From the pipeline's repeat-interleaved (cos, sin) [S, head_dim] tables.
    pub fn from_tables(cos: &Tensor, sin: &Tensor) -> Result<Self> {
        let half = |table: &Tensor| -> Result<Tensor> {
            let (s, d) = table.dims2()?;
            if d % 2 != 0 {
                return Err(input_error("RoPE table", format!("width {d} is odd")));
            }
            Ok(table
                .to_dtype(DType::F32)?
                .reshape((s, d / 2, 2))?
                .narrow(2, 0, 1)?
                .squeeze(2)?
                .contiguous()?)
        };
        Ok(Self {
            cos: half(cos)?,
            sin: half(sin)?,
        })
    }
}

/// Rotates the video part (tokens text_len..) of x [B,H,S,D] with interleaved pairs, in float32.
fn apply_rope_to_video(xs: &Tensor, text_len: usize, rope: &RopeHalves) -> Result<Tensor> {
    let s = xs.dim(2)?;
    let video_len = s - text_len;
    if rope.cos.dim(0)? != video_len || rope.cos.dim(1)? * 2 != xs.dim(3)? {
        return Err(input_error(
            "RoPE tables",
            format!(
                "{:?} do not fit {video_len} video tokens of head dim {}",
                rope.cos.shape(),
                xs.dim(3)?
            ),
        ));
    }
    let text = xs.narrow(2, 0, text_len)?;
    let video = xs
        .narrow(2, text_len, video_len)?
        .to_dtype(DType::F32)?
        .contiguous()?;
    let rotated = if video.track_op() {
        // The fused rope_i has no backward; when training, rotate the interleaved pairs with plain operations.
        let (b, h, s, d) = video.dims4()?;
        let pairs = video.reshape((b, h, s, d / 2, 2))?;
        let (x0, x1) = (
            pairs.narrow(4, 0, 1)?.squeeze(4)?,
            pairs.narrow(4, 1, 1)?.squeeze(4)?,
        );
        let cos = rope.cos.reshape((1, 1, s, d / 2))?;
        let sin = rope.sin.reshape((1, 1, s, d / 2))?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Tensor::stack(&[r0, r1], 4)?
            .reshape((b, h, s, d))?
            .to_dtype(xs.dtype())?
    } else {
        candle_nn::rotary_emb::rope_i(&video, &rope.cos, &rope.sin)?.to_dtype(xs.dtype())?
    };
    Ok(Tensor::cat(&[text, rotated], 2)?)
}

/// `FeedForward`: net.0.proj → GELU → net.2.
#[derive(Clone, Debug)]
pub struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
    activation: FeedForwardActivation,
}

impl FeedForward {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = config.inner_dim();
        let activation = config.feed_forward_activation().ok_or_else(|| {
            config_error("transformer config", "activation_fn", &config.activation_fn)
        })?;
        Ok(Self {
            proj_in: linear(dim, 4 * dim, true, vb.pp("net").pp("0").pp("proj"))?,
            proj_out: linear(4 * dim, dim, true, vb.pp("net").pp("2"))?,
            activation,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.proj_in.forward(xs)?;
        let xs = match self.activation {
            FeedForwardActivation::Gelu => xs.gelu_erf()?,
            FeedForwardActivation::GeluTanh => xs.gelu()?,
        };
        Ok(self.proj_out.forward(&xs)?)
    }
}

/// `CogVideoXBlock`.
#[derive(Clone, Debug)]
pub struct Block {
    norm1: LayerNormZero,
    attn1: JointAttention,
    norm2: LayerNormZero,
    ff: FeedForward,
}

impl Block {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm1: LayerNormZero::new(config, vb.pp("norm1"))?,
            attn1: JointAttention::new(config, vb.pp("attn1"))?,
            norm2: LayerNormZero::new(config, vb.pp("norm2"))?,
            ff: FeedForward::new(config, vb.pp("ff"))?,
        })
    }

    pub fn forward(
        &self,
        video: &Tensor,
        text: &Tensor,
        temb: &Tensor,
        rope: Option<&RopeHalves>,
        options: &AttentionOptions,
    ) -> Result<(Tensor, Tensor)> {
        let text_len = text.dim(1)?;
        let m = self.norm1.forward(video, text, temb)?;
        let (attn_video, attn_text) = self.attn1.forward(&m.video, &m.text, rope, options)?;
        let video = (video + attn_video.broadcast_mul(&m.video_gate)?)?;
        let text = (text + attn_text.broadcast_mul(&m.text_gate)?)?;

        let m = self.norm2.forward(&video, &text, temb)?;
        let ff = self.ff.forward(&Tensor::cat(&[&m.text, &m.video], 1)?)?;
        let video_len = ff.dim(1)? - text_len;
        let video = (video
            + ff.narrow(1, text_len, video_len)?
                .broadcast_mul(&m.video_gate)?)?;
        let text = (text + ff.narrow(1, 0, text_len)?.broadcast_mul(&m.text_gate)?)?;
        Ok((video, text))
    }
}

/// `AdaLayerNorm` with chunk_dim 1 (shift first, then scale), as `norm_out`.
#[derive(Clone, Debug)]
pub struct AdaLayerNorm {
    linear: Linear,
    norm: LayerNorm,
    dim: usize,
}

impl AdaLayerNorm {
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let (linear, norm) = modulated_norm(config, 2, vb)?;
        Ok(Self {
            linear,
            norm,
            dim: config.inner_dim(),
        })
    }

    pub fn forward(&self, xs: &Tensor, temb: &Tensor) -> Result<Tensor> {
        let modulation = self.linear.forward(&temb.silu()?)?;
        let shift = modulation.narrow(1, 0, self.dim)?.unsqueeze(1)?;
        let scale = modulation.narrow(1, self.dim, self.dim)?.unsqueeze(1)?;
        Ok(self
            .norm
            .forward(xs)?
            .broadcast_mul(&(scale + 1.0)?)?
            .broadcast_add(&shift)?)
    }
}

/// The transformer's blocks: built once, or streamed from parked weights during each forward.
#[derive(Clone)]
enum Blocks {
    Resident(Vec<Block>),
    Streamed(VarBuilder<'static>),
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocks::Resident(blocks) => f.debug_tuple("Resident").field(blocks).finish(),
            Blocks::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// diffusers `CogVideoXTransformer3DModel` (CogVideoX 1.0 layout with RoPE).
#[derive(Clone, Debug)]
pub struct CogVideoXTransformer3DModel {
    config: TransformerConfig,
    patch_embed: PatchEmbed,
    time_embedding: TimestepEmbedding,
    transformer_blocks: Blocks,
    norm_final: LayerNorm,
    norm_out: AdaLayerNorm,
    proj_out: Linear,
    dtype: DType,
    pub attention: AttentionOptions,
}

impl CogVideoXTransformer3DModel {
    /// Builds the network; weights come from `vb` (its dtype is the compute dtype).
    pub fn new(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        config.validate("transformer config")?;
        let transformer_blocks = Blocks::Resident(
            (0..config.num_layers)
                .map(|i| Block::new(config, vb.pp("transformer_blocks").pp(i.to_string())))
                .collect::<Result<Vec<_>>>()?,
        );
        Self::with_blocks(config, vb, transformer_blocks)
    }

    /// Builds the network with its outer layers from `vb` and its blocks streamed from `blocks` during every
    /// forward (`--offload sequential`): block N is built on `vb`'s device from `blocks`, run, and dropped, so
    /// the device holds one block's weights at a time.
    pub fn new_streamed(
        config: &TransformerConfig,
        vb: VarBuilder,
        blocks: VarBuilder<'static>,
    ) -> Result<Self> {
        config.validate("transformer config")?;
        let blocks = blocks.set_device(vb.device().clone()).set_dtype(vb.dtype());
        // Build block 0 once now so a wrong checkpoint fails at load, not in the first step.
        Block::new(config, blocks.pp("transformer_blocks").pp("0"))?;
        Self::with_blocks(config, vb, Blocks::Streamed(blocks))
    }

    fn with_blocks(
        config: &TransformerConfig,
        vb: VarBuilder,
        transformer_blocks: Blocks,
    ) -> Result<Self> {
        let dim = config.inner_dim();
        let p = config.patch_size;
        Ok(Self {
            config: config.clone(),
            patch_embed: PatchEmbed::new(config, vb.pp("patch_embed"))?,
            time_embedding: TimestepEmbedding::new(
                dim,
                config.time_embed_dim,
                vb.pp("time_embedding"),
            )?,
            transformer_blocks,
            norm_final: LayerNorm::new(
                dim,
                config.norm_eps,
                config.norm_elementwise_affine,
                vb.pp("norm_final"),
            )?,
            norm_out: AdaLayerNorm::new(config, vb.pp("norm_out"))?,
            proj_out: linear(dim, p * p * config.out_channels(), true, vb.pp("proj_out"))?,
            dtype: vb.dtype(),
            attention: AttentionOptions::default(),
        })
    }

    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The time embedding `emb` [B, time_embed_dim] for timesteps [B] (any numeric dtype).
    pub fn time_embedding(&self, timestep: &Tensor) -> Result<Tensor> {
        let sinusoids = timestep_sinusoids(
            timestep,
            self.config.inner_dim(),
            self.config.flip_sin_to_cos,
            self.config.freq_shift,
        )?;
        self.time_embedding
            .forward(&sinusoids.to_dtype(self.dtype)?)
    }

    /// hidden_states [B,F,C,H,W], encoder_hidden_states [B,L,D], timestep [B] (i64 or float), RoPE tables
    /// (cos, sin) [F·(H/p)·(W/p), head_dim] from [`rope_tables`] → sample [B,F,C_out,H,W] in the model dtype.
    pub fn forward(
        &self,
        hidden_states: &Tensor,
        encoder_hidden_states: &Tensor,
        timestep: &Tensor,
        rope: Option<&(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (b, f, _, h, w) = hidden_states.dims5()?;
        let (b_text, text_len, _) = encoder_hidden_states.dims3()?;
        let timestep = match timestep.rank() {
            0 => timestep.broadcast_as(b)?.contiguous()?,
            _ => timestep.clone(),
        };
        if b_text != b || timestep.dims() != [b] {
            return Err(input_error(
                "transformer inputs",
                format!(
                    "batch sizes differ: hidden_states {b}, encoder_hidden_states {b_text}, timestep {:?}",
                    timestep.dims()
                ),
            ));
        }
        let p = self.config.patch_size;
        let rope = rope
            .map(|(cos, sin)| RopeHalves::from_tables(cos, sin))
            .transpose()?;
        let emb = self.time_embedding(&timestep)?;
        let tokens = self.patch_embed.forward(
            &encoder_hidden_states.to_dtype(self.dtype)?,
            &hidden_states.to_dtype(self.dtype)?,
        )?;
        let video_len = tokens.dim(1)? - text_len;
        let mut text = tokens.narrow(1, 0, text_len)?;
        let mut video = tokens.narrow(1, text_len, video_len)?;
        for index in 0..self.config.num_layers {
            let streamed;
            let block = match &self.transformer_blocks {
                Blocks::Resident(blocks) => &blocks[index],
                Blocks::Streamed(weights) => {
                    streamed = Block::new(
                        &self.config,
                        weights.pp("transformer_blocks").pp(index.to_string()),
                    )?;
                    &streamed
                }
            };
            (video, text) = block.forward(&video, &text, &emb, rope.as_ref(), &self.attention)?;
        }
        // norm_final is per token, so normalising only the video tokens equals diffusers' [text; video] variant.
        let video = self.norm_final.forward(&video)?;
        let video = self.norm_out.forward(&video, &emb)?;
        let video = self.proj_out.forward(&video)?;
        let c_out = self.config.out_channels();
        let (gh, gw) = (h / p, w / p);
        Ok(video
            .reshape((b * f, gh, gw, c_out, p, p))?
            .permute((0, 3, 1, 4, 2, 5))?
            .reshape((b, f, c_out, h, w))?)
    }
}

/// Bytes of memory for the real CogVideoX-5B configuration in bf16: weights, and the largest activations alive
/// during one forward (chunked attention), for a given batch and token count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub parameters: usize,
    pub weight_bytes: usize,
    /// Residual streams, q/k/v, attention output and the FF hidden layer of one block, all alive at once.
    pub block_activation_bytes: usize,
    /// One attention chunk (one head, [`AttentionOptions::query_chunk`] query rows): its float32 scores and
    /// softmax probabilities.
    pub attention_chunk_bytes: usize,
    /// What the full (unchunked) score matrix of all heads would take, for comparison.
    pub full_score_bytes: usize,
}

/// Parameter count of the transformer for a config (weights and biases; matches the state dict).
pub fn parameter_count(config: &TransformerConfig) -> usize {
    let d = config.inner_dim();
    let t = config.time_embed_dim;
    let p = config.patch_size;
    let lin = |i: usize, o: usize| i * o + o;
    let norm = 2 * d;
    let block = 2 * (lin(t, 6 * d) + norm)
        + 4 * lin(d, d)
        + 4 * config.attention_head_dim
        + lin(d, 4 * d)
        + lin(4 * d, d);
    lin(config.in_channels * p * p, d)
        + lin(config.text_embed_dim, d)
        + lin(d, t)
        + lin(t, t)
        + config.num_layers * block
        + norm
        + lin(t, 2 * d)
        + norm
        + lin(d, p * p * config.out_channels())
}

/// Memory estimate for a forward of `batch` samples with `text_tokens + video_tokens` tokens, with activations
/// and weights of `bytes_per_value` bytes (2 for bf16).
pub fn estimate_memory(
    config: &TransformerConfig,
    batch: usize,
    text_tokens: usize,
    video_tokens: usize,
    bytes_per_value: usize,
    query_chunk: usize,
) -> MemoryEstimate {
    let parameters = parameter_count(config);
    let d = config.inner_dim();
    let s = text_tokens + video_tokens;
    let heads = config.num_attention_heads;
    // Residual stream, normed input, q, k, v, attention output, FF hidden (4d) — per token.
    let per_token = d * (2 + 3 + 1) + 4 * d;
    let chunk_rows = query_chunk.min(s);
    MemoryEstimate {
        parameters,
        weight_bytes: parameters * bytes_per_value,
        block_activation_bytes: batch * s * per_token * bytes_per_value,
        attention_chunk_bytes: 2 * chunk_rows * s * 4,
        full_score_bytes: batch * heads * s * s * bytes_per_value,
    }
}

/// The CogVideoX-5B transformer config (DWM's, 49 input channels), for estimates and benchmarks.
pub fn cogvideox_5b_config(in_channels: usize) -> TransformerConfig {
    TransformerConfig {
        num_attention_heads: 48,
        attention_head_dim: 64,
        in_channels,
        out_channels: Some(16),
        flip_sin_to_cos: true,
        freq_shift: 0.0,
        time_embed_dim: 512,
        ofs_embed_dim: None,
        text_embed_dim: 4096,
        num_layers: 42,
        attention_bias: true,
        sample_width: 90,
        sample_height: 60,
        patch_size: 2,
        patch_size_t: None,
        activation_fn: default_activation(),
        timestep_activation_fn: default_timestep_activation(),
        norm_elementwise_affine: true,
        norm_eps: 1e-5,
        use_rotary_positional_embeddings: true,
        use_learned_positional_embeddings: false,
        patch_bias: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::ConfigFile as _;
    use std::path::PathBuf;

    fn tiny_config(head_dim: usize, sample: (usize, usize)) -> TransformerConfig {
        let mut config = cogvideox_5b_config(4);
        config.num_attention_heads = 2;
        config.attention_head_dim = head_dim;
        config.num_layers = 1;
        config.time_embed_dim = 8;
        config.text_embed_dim = 6;
        config.sample_height = sample.0;
        config.sample_width = sample.1;
        config
    }

    fn values(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2().unwrap()
    }

    #[test]
    fn crop_region_matches_hand_computed_values() {
        // Production: the 30×45 grid is the base grid itself.
        assert_eq!(resize_crop_region((30, 45), 45, 30), ((0, 0), (30, 45)));
        // 3×5 into 4×4: width fills (4), height round(4/5·3 = 2.4) = 2, centred: top 1.
        assert_eq!(resize_crop_region((3, 5), 4, 4), ((1, 0), (3, 4)));
        // 3×4 into 4×4: height 3, top = round(0.5) = 0 (Python rounds ties to even).
        assert_eq!(resize_crop_region((3, 4), 4, 4), ((0, 0), (3, 4)));
        // Tall grid: height fills.
        assert_eq!(resize_crop_region((8, 2), 6, 4), ((0, 2), (4, 3)));
    }

    #[test]
    fn rope_table_small_case_by_hand() {
        // head_dim 16 → t 4, h 6, w 6. Grid 1×2, 2 frames, base grid equal: positions t∈{0,1}, h=0, w∈{0,1}.
        let config = tiny_config(16, (2, 4));
        let (cos, sin) = rope_tables_for_grid(&config, 1, 2, 2, &Device::Cpu).unwrap();
        assert_eq!(cos.dims(), [4, 16]);
        let (cos, sin) = (values(&cos), values(&sin));
        // Token 3 = (t 1, row 0, col 1).
        let t_freqs = [1.0f32, 0.01];
        let w_freqs = [1.0f32, 10000f32.powf(-2.0 / 6.0), 10000f32.powf(-4.0 / 6.0)];
        let mut expected_cos = Vec::new();
        let mut expected_sin = Vec::new();
        for f in t_freqs {
            expected_cos.extend([f.cos(), f.cos()]);
            expected_sin.extend([f.sin(), f.sin()]);
        }
        expected_cos.extend([1.0; 6]);
        expected_sin.extend([0.0; 6]);
        for f in w_freqs {
            expected_cos.extend([f.cos(), f.cos()]);
            expected_sin.extend([f.sin(), f.sin()]);
        }
        for (ours, expected) in cos[3]
            .iter()
            .zip(&expected_cos)
            .chain(sin[3].iter().zip(&expected_sin))
        {
            assert!(
                (ours - expected).abs() < 1e-6,
                "{:?} vs {expected_cos:?}",
                cos[3]
            );
        }
        // Token 0 is position (0,0,0): no rotation.
        assert!(cos[0].iter().all(|c| *c == 1.0) && sin[0].iter().all(|s| *s == 0.0));
    }

    fn fixture(case: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/parity")
            .join(case)
    }

    #[test]
    fn rope_tables_match_the_pipeline_for_a_cropped_grid() {
        // sample 8×8 latent (base grid 4×4) against a 6×10 latent input: fractional, cropped positions.
        let dir = fixture("transformer_cropped_rope");
        let config = TransformerConfig::from_file(&dir.join("config.json")).unwrap();
        let io = candle_core::safetensors::load(dir.join("io.safetensors"), &Device::Cpu).unwrap();
        let (cos, sin) = rope_tables(
            &config,
            6 * VAE_SPATIAL_SCALE,
            10 * VAE_SPATIAL_SCALE,
            2,
            &Device::Cpu,
        )
        .unwrap();
        for (ours, name) in [(cos, "rope_cos"), (sin, "rope_sin")] {
            let reference = &io[name];
            let difference = (ours - reference)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap();
            let worst = difference.max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(worst < 1e-5, "{name}: {worst}");
        }
    }

    #[test]
    fn timestep_sinusoids_by_hand() {
        let t = Tensor::new(&[0i64, 1], &Device::Cpu).unwrap();
        let flipped = values(&timestep_sinusoids(&t, 4, true, 0.0).unwrap());
        assert_eq!(flipped[0], vec![1.0, 1.0, 0.0, 0.0]);
        let expected = [1f32.cos(), 0.01f32.cos(), 1f32.sin(), 0.01f32.sin()];
        for (a, b) in flipped[1].iter().zip(expected) {
            assert!((a - b).abs() < 1e-6);
        }
        // freq_shift 1: exponent −ln(1e4)·k/(half − 1); sin first without the flip.
        let shifted = values(&timestep_sinusoids(&t, 4, false, 1.0).unwrap());
        let expected = [1f32.sin(), 1e-4f32.sin(), 1f32.cos(), 1e-4f32.cos()];
        for (a, b) in shifted[1].iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{shifted:?}");
        }
    }

    #[test]
    fn chunked_attention_equals_full_attention() {
        let device = Device::Cpu;
        // Fixed pseudo-random inputs, so a failure replays.
        let values = |seed: f32| {
            let data: Vec<f32> = (0..3 * 7 * 8)
                .map(|i| ((i as f32 * 12.9898 + seed).sin() * 43758.547).fract() * 2.0 - 1.0)
                .collect();
            Tensor::from_vec(data, (3, 7, 8), &device).unwrap()
        };
        let (q, k, v) = (values(1.0), values(2.0), values(3.0));
        let scores = q.matmul(&k.t().unwrap()).unwrap();
        let full = candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&v)
            .unwrap();
        let scale = full
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        for chunk in [1, 2, 5, 7, 14, 1000] {
            let ours = chunked_attention(&q, &k, &v, chunk).unwrap();
            let worst = (ours - &full)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            // Chunking only changes the order of f32 sums: agreement to a few ulps of the largest value.
            let relative = worst.to_scalar::<f32>().unwrap() / scale;
            assert!(relative < 1e-6, "chunk {chunk}: relative error {relative}");
        }
    }

    #[test]
    fn forward_does_not_depend_on_the_query_chunk() {
        let dir = fixture("transformer_odd_grid");
        let config = TransformerConfig::from_file(&dir.join("config.json")).unwrap();
        let weights =
            candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
        let io = candle_core::safetensors::load(dir.join("io.safetensors"), &Device::Cpu).unwrap();
        let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
        let mut model = CogVideoXTransformer3DModel::new(&config, vb).unwrap();
        let rope = (io["rope_cos"].clone(), io["rope_sin"].clone());
        let run = |model: &CogVideoXTransformer3DModel| {
            model
                .forward(
                    &io["hidden_states"],
                    &io["encoder_hidden_states"],
                    &io["timestep"],
                    Some(&rope),
                )
                .unwrap()
        };
        let whole = run(&model);
        model.attention.query_chunk = 4;
        let chunked = run(&model);
        let worst = (whole - chunked)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        assert!(worst.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn half_precision_forward_stays_close_to_the_reference() {
        // Weights and activations in bf16/f16 (RoPE and softmax in f32): the same network, looser numbers.
        let dir = fixture("transformer_odd_grid");
        let config = TransformerConfig::from_file(&dir.join("config.json")).unwrap();
        let io = candle_core::safetensors::load(dir.join("io.safetensors"), &Device::Cpu).unwrap();
        let rope = (io["rope_cos"].clone(), io["rope_sin"].clone());
        for dtype in [DType::BF16, DType::F16] {
            let weights =
                candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
                    .unwrap();
            let vb = VarBuilder::from_tensors(weights, dtype, &Device::Cpu);
            let model = CogVideoXTransformer3DModel::new(&config, vb).unwrap();
            let out = model
                .forward(
                    &io["hidden_states"],
                    &io["encoder_hidden_states"],
                    &io["timestep"],
                    Some(&rope),
                )
                .unwrap();
            assert_eq!(out.dtype(), dtype);
            let error = crate::world_model::parity::relative_error(&out, &io["sample"]).unwrap();
            assert!(error < 5e-2, "{dtype:?}: {error}");
        }
    }

    #[test]
    fn parameter_count_matches_the_state_dict() {
        for case in [
            "transformer_odd_grid",
            "transformer_cropped_rope",
            "transformer_gelu_shift",
        ] {
            let dir = fixture(case);
            let config = TransformerConfig::from_file(&dir.join("config.json")).unwrap();
            let weights =
                candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
                    .unwrap();
            let stored: usize = weights.values().map(|t| t.elem_count()).sum();
            assert_eq!(parameter_count(&config), stored, "{case}");
        }
    }

    #[test]
    fn unsupported_config_values_name_the_key() {
        let reject = |patch: &str, key: &str| {
            let text = format!(r#"{{"use_rotary_positional_embeddings": true, {patch}}}"#);
            let error = TransformerConfig::from_json(&text, "config.json")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(key) && error.contains("config.json"),
                "{error}"
            );
        };
        reject(r#""patch_size_t": 2"#, "patch_size_t");
        reject(
            r#""use_learned_positional_embeddings": true"#,
            "use_learned_positional_embeddings",
        );
        reject(r#""activation_fn": "swiglu""#, "activation_fn");
        reject(r#""attention_head_dim": 24"#, "attention_head_dim");
        reject(r#""ofs_embed_dim": 512"#, "ofs_embed_dim");
        let error = TransformerConfig::from_json("{}", "c.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("use_rotary_positional_embeddings"),
            "{error}"
        );
    }

    #[test]
    fn real_5b_config_counts_about_5_billion_parameters() {
        let count = parameter_count(&cogvideox_5b_config(49));
        assert!((5.5e9..5.8e9).contains(&(count as f64)), "{count}");
    }
}
