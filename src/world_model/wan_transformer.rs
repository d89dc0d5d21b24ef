//! The Wan 2.1 diffusion transformer (`WanModel` in Wan and VideoX-Fun; `WanTransformer3DModel` in diffusers),
//! the network of DWM's second released model (Wan2.1-Fun-14B-InP + the DWM-Wan LoRA).
//!
//! Modules are named as the **Wan / VideoX-Fun checkpoints** name them (`blocks.N.self_attn.q`, `img_emb.proj.1`,
//! `head.head`): that is the layout the release ships and the one DWM's LoRA keys name. A diffusers-format folder
//! (`_class_name` `WanTransformer3DModel`, the parity cases) is read through a key map ([`diffusers_key`]).
//!
//! Per block: `x += SA(LN(x)(1+scale)+shift)·gate`; `x += CA(norm3(x))` (not gated); `x += FFN(LN(x)(1+c_scale)
//! +c_shift)·c_gate`, the six vectors being `modulation + time_projection(SiLU(time_embedding(sinusoid(t))))`.
//! Self-attention has biases, an RMS qk-norm across all heads and 3-D RoPE on adjacent pairs (head split
//! t / h / w = d − 4⌊d/6⌋ / 2⌊d/6⌋ / 2⌊d/6⌋). The I2V design's cross-attention attends separately to the image
//! tokens (the first 257 of the context: `k_img`, `v_img`, `norm_k_img`) and to the text, and sums the two.
//!
//! Precision: the LayerNorms, the modulation and the gated residual adds run in float32 whatever the weights'
//! dtype, as diffusers and the original Wan do. DWM's VideoX-Fun fork casts the modulation vectors to bf16
//! before use (`dwm-wan-reference.md` §4.1); in float32 the two are the same computation, in bf16 ours rounds
//! less. The timestep sinusoid and the RoPE tables are computed in float64 as the fork does, then stored in
//! float32.

use super::error::{Result, config_error, input_error};
use super::transformer::{DEFAULT_QUERY_CHUNK, LayerNorm, chunked_attention};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, RmsNorm, VarBuilder};
use serde::Deserialize;

/// Which key names a checkpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WanKeyLayout {
    /// Wan / VideoX-Fun (`config.json` with `dim`, `num_heads`, `in_dim`): the released checkpoints.
    Wan,
    /// diffusers `WanTransformer3DModel` (`num_attention_heads`, `attention_head_dim`, `in_channels`).
    Diffusers,
}

/// The transformer's shape, read from either layout's config.json.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawWanConfig")]
pub struct WanTransformerConfig {
    pub layout: WanKeyLayout,
    pub patch_size: [usize; 3],
    pub num_heads: usize,
    pub head_dim: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub text_dim: usize,
    pub freq_dim: usize,
    pub ffn_dim: usize,
    pub num_layers: usize,
    pub cross_attn_norm: bool,
    pub eps: f64,
    /// The CLIP feature width of the I2V image branch (1280 in Wan); `None` for text-only models.
    pub image_dim: Option<usize>,
    /// The text length the pipeline pads prompts to (512).
    pub text_len: usize,
    /// Rows of the RoPE tables: the largest grid extent along any axis.
    pub rope_max_seq_len: usize,
}

/// Every key either layout may carry; unknown keys are ignored.
#[derive(Deserialize)]
struct RawWanConfig {
    // Wan / VideoX-Fun
    model_type: Option<String>,
    dim: Option<usize>,
    num_heads: Option<usize>,
    in_dim: Option<usize>,
    out_dim: Option<usize>,
    text_len: Option<usize>,
    window_size: Option<Vec<i64>>,
    // diffusers
    num_attention_heads: Option<usize>,
    attention_head_dim: Option<usize>,
    in_channels: Option<usize>,
    out_channels: Option<usize>,
    image_dim: Option<usize>,
    added_kv_proj_dim: Option<usize>,
    rope_max_seq_len: Option<usize>,
    pos_embed_seq_len: Option<usize>,
    // both
    patch_size: Option<Vec<usize>>,
    text_dim: Option<usize>,
    freq_dim: Option<usize>,
    ffn_dim: Option<usize>,
    num_layers: Option<usize>,
    cross_attn_norm: Option<bool>,
    qk_norm: Option<serde_json::Value>,
    eps: Option<f64>,
}

/// The CLIP ViT-H/14 feature width the Wan I2V image branch takes.
pub const WAN_IMAGE_DIM: usize = 1280;
/// Image tokens of the I2V context (CLIP's 257 = 1 class + 16×16 patches).
pub const WAN_IMAGE_TOKENS: usize = 257;

impl TryFrom<RawWanConfig> for WanTransformerConfig {
    type Error = String;

    fn try_from(raw: RawWanConfig) -> std::result::Result<Self, String> {
        let need = |value: Option<usize>, key: &str| value.ok_or(format!("key `{key}` missing"));
        let patch_size = match raw.patch_size.as_deref() {
            None => [1, 2, 2],
            Some(&[t, h, w]) => [t, h, w],
            Some(other) => return Err(format!("patch_size {other:?}: expected three sizes")),
        };
        match &raw.qk_norm {
            None | Some(serde_json::Value::Bool(true)) => {}
            Some(serde_json::Value::String(name)) if name == "rms_norm_across_heads" => {}
            Some(other) => {
                return Err(format!(
                    "qk_norm {other}: only the RMS norm across heads of Wan 2.1 is implemented"
                ));
            }
        }
        let (layout, num_heads, head_dim, in_channels, out_channels, image_dim) = if let Some(dim) =
            raw.dim
        {
            let heads = need(raw.num_heads, "num_heads")?;
            if heads == 0 || dim % heads != 0 {
                return Err(format!("dim {dim} is not a multiple of num_heads {heads}"));
            }
            let image_dim = match raw.model_type.as_deref() {
                None | Some("t2v") => None,
                Some("i2v") => Some(WAN_IMAGE_DIM),
                Some(other) => {
                    return Err(format!(
                        "model_type `{other}`: only Wan 2.1's t2v and i2v designs are implemented"
                    ));
                }
            };
            if let Some(window) = &raw.window_size
                && window.iter().any(|&w| w != -1)
            {
                return Err(format!(
                    "window_size {window:?}: only global attention (-1, -1) is implemented"
                ));
            }
            let in_dim = need(raw.in_dim, "in_dim")?;
            (
                WanKeyLayout::Wan,
                heads,
                dim / heads,
                in_dim,
                raw.out_dim.unwrap_or(16),
                image_dim,
            )
        } else if let Some(heads) = raw.num_attention_heads {
            let head_dim = need(raw.attention_head_dim, "attention_head_dim")?;
            if raw.pos_embed_seq_len.is_some() {
                return Err(
                        "pos_embed_seq_len: the first-last-frame image position embedding is not implemented"
                            .into(),
                    );
            }
            let image_dim = match (raw.image_dim, raw.added_kv_proj_dim) {
                (None, None) => None,
                (Some(image_dim), Some(kv)) if kv == heads * head_dim => Some(image_dim),
                (image_dim, kv) => {
                    return Err(format!(
                        "image_dim {image_dim:?} with added_kv_proj_dim {kv:?}: the I2V branch needs both, \
                             added_kv_proj_dim = heads · head_dim = {}",
                        heads * head_dim
                    ));
                }
            };
            let in_channels = raw.in_channels.unwrap_or(16);
            (
                WanKeyLayout::Diffusers,
                heads,
                head_dim,
                in_channels,
                raw.out_channels.unwrap_or(in_channels),
                image_dim,
            )
        } else {
            return Err(
                "neither `dim` (Wan layout) nor `num_attention_heads` (diffusers) is set".into(),
            );
        };
        Ok(Self {
            layout,
            patch_size,
            num_heads,
            head_dim,
            in_channels,
            out_channels,
            text_dim: raw.text_dim.unwrap_or(4096),
            freq_dim: raw.freq_dim.unwrap_or(256),
            ffn_dim: need(raw.ffn_dim, "ffn_dim")?,
            num_layers: need(raw.num_layers, "num_layers")?,
            cross_attn_norm: raw.cross_attn_norm.unwrap_or(true),
            eps: raw.eps.unwrap_or(1e-6),
            image_dim,
            text_len: raw.text_len.unwrap_or(512),
            rope_max_seq_len: raw.rope_max_seq_len.unwrap_or(1024),
        })
    }
}

impl super::ConfigFile for WanTransformerConfig {
    fn check(&self, source_name: &str) -> Result<()> {
        for (key, value) in [
            ("num_heads", self.num_heads),
            ("ffn_dim", self.ffn_dim),
            ("freq_dim", self.freq_dim),
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
        ] {
            if value == 0 {
                return Err(config_error(source_name, key, "must be positive"));
            }
        }
        if self.patch_size.contains(&0) {
            return Err(config_error(
                source_name,
                "patch_size",
                "sizes must be positive",
            ));
        }
        if self.head_dim < 6 || !self.head_dim.is_multiple_of(2) {
            return Err(config_error(
                source_name,
                "attention_head_dim",
                format!(
                    "{}: RoPE needs an even head width of at least 6",
                    self.head_dim
                ),
            ));
        }
        if !self.freq_dim.is_multiple_of(2) {
            return Err(config_error(source_name, "freq_dim", "must be even"));
        }
        Ok(())
    }
}

impl WanTransformerConfig {
    /// Wan2.1-I2V-14B's (and Wan2.1-Fun-14B-InP's) transformer, with `in_channels` inputs (36; DWM: 52).
    pub fn wan21_i2v_14b(in_channels: usize) -> Self {
        Self {
            layout: WanKeyLayout::Wan,
            patch_size: [1, 2, 2],
            num_heads: 40,
            head_dim: 128,
            in_channels,
            out_channels: 16,
            text_dim: 4096,
            freq_dim: 256,
            ffn_dim: 13824,
            num_layers: 40,
            cross_attn_norm: true,
            eps: 1e-6,
            image_dim: Some(WAN_IMAGE_DIM),
            text_len: 512,
            rope_max_seq_len: 1024,
        }
    }

    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// RoPE widths (t, h, w) of one head, in real dims (pairs × 2).
    pub fn rope_split(&self) -> (usize, usize, usize) {
        let hw = 2 * (self.head_dim / 6);
        (self.head_dim - 2 * hw, hw, hw)
    }

    /// Tokens of a latent video [C,F,H,W].
    pub fn tokens(&self, frames: usize, height: usize, width: usize) -> usize {
        let [pt, ph, pw] = self.patch_size;
        (frames / pt) * (height / ph) * (width / pw)
    }
}

/// The diffusers key of a module named as in the Wan checkpoints (`blocks.3.self_attn.q.weight` →
/// `blocks.3.attn1.to_q.weight`). Note `norm3` (Wan: the cross-attention norm) is diffusers' `norm2`.
pub fn diffusers_key(wan: &str) -> String {
    let parts: Vec<&str> = wan.split('.').collect();
    let join = |head: &str, rest: &[&str]| -> String {
        if rest.is_empty() {
            head.to_string()
        } else {
            format!("{head}.{}", rest.join("."))
        }
    };
    match parts.as_slice() {
        ["text_embedding", "0", rest @ ..] => {
            join("condition_embedder.text_embedder.linear_1", rest)
        }
        ["text_embedding", "2", rest @ ..] => {
            join("condition_embedder.text_embedder.linear_2", rest)
        }
        ["time_embedding", "0", rest @ ..] => {
            join("condition_embedder.time_embedder.linear_1", rest)
        }
        ["time_embedding", "2", rest @ ..] => {
            join("condition_embedder.time_embedder.linear_2", rest)
        }
        ["time_projection", "1", rest @ ..] => join("condition_embedder.time_proj", rest),
        ["img_emb", "proj", index, rest @ ..] => {
            let module = match *index {
                "0" => "norm1",
                "1" => "ff.net.0.proj",
                "3" => "ff.net.2",
                "4" => "norm2",
                _ => return wan.to_string(),
            };
            join(&format!("condition_embedder.image_embedder.{module}"), rest)
        }
        ["head", "head", rest @ ..] => join("proj_out", rest),
        ["head", "modulation"] => "scale_shift_table".to_string(),
        ["blocks", n, "self_attn" | "cross_attn", module, rest @ ..] => {
            let attention = if parts[2] == "self_attn" {
                "attn1"
            } else {
                "attn2"
            };
            let module = match *module {
                "q" => "to_q",
                "k" => "to_k",
                "v" => "to_v",
                "o" => "to_out.0",
                "k_img" => "add_k_proj",
                "v_img" => "add_v_proj",
                "norm_k_img" => "norm_added_k",
                other => other,
            };
            join(&format!("blocks.{n}.{attention}.{module}"), rest)
        }
        ["blocks", n, "norm3", rest @ ..] => join(&format!("blocks.{n}.norm2"), rest),
        ["blocks", n, "ffn", "0", rest @ ..] => join(&format!("blocks.{n}.ffn.net.0.proj"), rest),
        ["blocks", n, "ffn", "2", rest @ ..] => join(&format!("blocks.{n}.ffn.net.2"), rest),
        ["blocks", n, "modulation"] => format!("blocks.{n}.scale_shift_table"),
        _ => wan.to_string(),
    }
}

/// The VarBuilder for a config's layout: Wan names as they are, diffusers through [`diffusers_key`].
pub fn layout_var_builder<'a>(config: &WanTransformerConfig, vb: VarBuilder<'a>) -> VarBuilder<'a> {
    match config.layout {
        WanKeyLayout::Wan => vb,
        WanKeyLayout::Diffusers => rename_below_prefix(vb, diffusers_key),
    }
}

/// `vb.rename_f` for a VarBuilder with a prefix: candle's renamer sees the full name and the inner VarBuilder
/// prepends the prefix again, so `map` is applied to the name below the prefix.
pub fn rename_below_prefix<'a>(
    vb: VarBuilder<'a>,
    map: impl Fn(&str) -> String + Send + Sync + 'static,
) -> VarBuilder<'a> {
    let prefix = vb.prefix();
    let below = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}.")
    };
    vb.rename_f(move |full: &str| map(full.strip_prefix(below.as_str()).unwrap_or(full)))
}

/// Wan's `sinusoidal_embedding_1d`: [cos | sin] of t·10000^(−k/half), computed in float64, returned float32.
pub fn wan_timestep_sinusoids(timesteps: &[f64], dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let mut values = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let angles: Vec<f64> = (0..half)
            .map(|k| t * 10000f64.powf(-(k as f64) / half as f64))
            .collect();
        values.extend(angles.iter().map(|a| a.cos() as f32));
        values.extend(angles.iter().map(|a| a.sin() as f32));
    }
    Ok(Tensor::from_vec(values, (timesteps.len(), dim), device)?)
}

/// The 3-D RoPE of a token grid, one (cos, sin) value per pair of a head's dims: [F·H·W, head_dim/2] each,
/// pairs ordered t | h | w, θ = pos·10000^(−2k/d_axis), computed in float64.
pub fn wan_rope_tables(
    config: &WanTransformerConfig,
    grid: (usize, usize, usize),
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let (gf, gh, gw) = grid;
    let longest = gf.max(gh).max(gw);
    if longest > config.rope_max_seq_len {
        return Err(input_error(
            "Wan transformer",
            format!(
                "a token grid of {gf}×{gh}×{gw} is longer than the RoPE table ({} positions)",
                config.rope_max_seq_len
            ),
        ));
    }
    let (dt, dh, dw) = config.rope_split();
    let frequencies = |d: usize| -> Vec<f64> {
        (0..d / 2)
            .map(|k| 10000f64.powf(-((2 * k) as f64) / d as f64))
            .collect()
    };
    let (ft, fh, fw) = (frequencies(dt), frequencies(dh), frequencies(dw));
    let pairs = config.head_dim / 2;
    let tokens = gf * gh * gw;
    let (mut cos, mut sin) = (
        Vec::with_capacity(tokens * pairs),
        Vec::with_capacity(tokens * pairs),
    );
    for f in 0..gf {
        for h in 0..gh {
            for w in 0..gw {
                for (position, axis) in [(f, &ft), (h, &fh), (w, &fw)] {
                    for &frequency in axis.iter() {
                        let angle = position as f64 * frequency;
                        cos.push(angle.cos() as f32);
                        sin.push(angle.sin() as f32);
                    }
                }
            }
        }
    }
    Ok((
        Tensor::from_vec(cos, (tokens, pairs), device)?,
        Tensor::from_vec(sin, (tokens, pairs), device)?,
    ))
}

/// An RMS norm over the whole projection (all heads at once), as Wan's qk-norm is.
fn rms_norm(dim: usize, eps: f64, vb: VarBuilder) -> Result<RmsNorm> {
    Ok(candle_nn::rms_norm(dim, eps, vb)?)
}

/// `LN(x)·(1 + scale) + shift` in float32 (x [B,S,D], scale/shift [B,1,D] float32), cast to `dtype`.
fn modulate(
    norm: &LayerNorm,
    xs: &Tensor,
    shift: &Tensor,
    scale: &Tensor,
    dtype: DType,
) -> Result<Tensor> {
    let normed = norm.forward(&xs.to_dtype(DType::F32)?)?;
    Ok(normed
        .broadcast_mul(&(scale + 1.0)?)?
        .broadcast_add(shift)?
        .to_dtype(dtype)?)
}

/// `x + y·gate` in float32, cast back to x's dtype.
fn gated_add(xs: &Tensor, ys: &Tensor, gate: &Tensor) -> Result<Tensor> {
    let sum = xs
        .to_dtype(DType::F32)?
        .add(&ys.to_dtype(DType::F32)?.broadcast_mul(gate)?)?;
    Ok(sum.to_dtype(xs.dtype())?)
}

/// Splits [B,S,H·d] into [B·H,S,d].
fn heads_first(xs: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, s, inner) = xs.dims3()?;
    Ok(xs
        .reshape((b, s, heads, inner / heads))?
        .transpose(1, 2)?
        .reshape((b * heads, s, inner / heads))?)
}

/// Joins [B·H,S,d] back into [B,S,H·d].
fn heads_last(xs: &Tensor, batch: usize) -> Result<Tensor> {
    let (bh, s, d) = xs.dims3()?;
    let heads = bh / batch;
    Ok(xs
        .reshape((batch, heads, s, d))?
        .transpose(1, 2)?
        .reshape((batch, s, heads * d))?)
}

/// Attention of q over (k, v), all [B,S,H·d], heads split and q scaled by 1/√d.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, query_chunk: usize) -> Result<Tensor> {
    let batch = q.dim(0)?;
    let d = q.dim(2)? / heads;
    let q = (heads_first(q, heads)? * (1.0 / (d as f64).sqrt()))?.contiguous()?;
    let (k, v) = (
        heads_first(k, heads)?.contiguous()?,
        heads_first(v, heads)?.contiguous()?,
    );
    heads_last(&chunked_attention(&q, &k, &v, query_chunk)?, batch)
}

/// Self-attention: biased q, k, v, o; RMS qk-norm across heads; RoPE on adjacent pairs.
#[derive(Clone, Debug)]
struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    heads: usize,
}

impl SelfAttention {
    fn new(config: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let d = config.inner_dim();
        Ok(Self {
            q: candle_nn::linear(d, d, vb.pp("q"))?,
            k: candle_nn::linear(d, d, vb.pp("k"))?,
            v: candle_nn::linear(d, d, vb.pp("v"))?,
            o: candle_nn::linear(d, d, vb.pp("o"))?,
            norm_q: rms_norm(d, config.eps, vb.pp("norm_q"))?,
            norm_k: rms_norm(d, config.eps, vb.pp("norm_k"))?,
            heads: config.num_heads,
        })
    }

    fn forward(&self, xs: &Tensor, rope: &(Tensor, Tensor), query_chunk: usize) -> Result<Tensor> {
        let (b, s, inner) = xs.dims3()?;
        let d = inner / self.heads;
        let rotate = |t: Tensor| -> Result<Tensor> {
            // [B,S,H·d] → [B,H,S,d], rotated in float32, back to [B,S,H·d].
            let t = t
                .reshape((b, s, self.heads, d))?
                .transpose(1, 2)?
                .to_dtype(DType::F32)?
                .contiguous()?;
            let rotated = candle_nn::rotary_emb::rope_i(&t, &rope.0, &rope.1)?;
            Ok(rotated
                .transpose(1, 2)?
                .reshape((b, s, inner))?
                .to_dtype(xs.dtype())?)
        };
        let q = rotate(self.norm_q.forward(&self.q.forward(xs)?)?)?;
        let k = rotate(self.norm_k.forward(&self.k.forward(xs)?)?)?;
        let v = self.v.forward(xs)?;
        Ok(self
            .o
            .forward(&attend(&q, &k, &v, self.heads, query_chunk)?)?)
    }
}

/// Cross-attention over the text, plus (I2V) a separate attention over the image tokens, summed.
#[derive(Clone, Debug)]
struct CrossAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    image: Option<(Linear, Linear, RmsNorm)>,
    heads: usize,
}

impl CrossAttention {
    fn new(config: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let d = config.inner_dim();
        let image = if config.image_dim.is_some() {
            Some((
                candle_nn::linear(d, d, vb.pp("k_img"))?,
                candle_nn::linear(d, d, vb.pp("v_img"))?,
                rms_norm(d, config.eps, vb.pp("norm_k_img"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            q: candle_nn::linear(d, d, vb.pp("q"))?,
            k: candle_nn::linear(d, d, vb.pp("k"))?,
            v: candle_nn::linear(d, d, vb.pp("v"))?,
            o: candle_nn::linear(d, d, vb.pp("o"))?,
            norm_q: rms_norm(d, config.eps, vb.pp("norm_q"))?,
            norm_k: rms_norm(d, config.eps, vb.pp("norm_k"))?,
            image,
            heads: config.num_heads,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        text: &Tensor,
        image: Option<&Tensor>,
        query_chunk: usize,
    ) -> Result<Tensor> {
        let q = self.norm_q.forward(&self.q.forward(xs)?)?;
        let k = self.norm_k.forward(&self.k.forward(text)?)?;
        let v = self.v.forward(text)?;
        let mut out = attend(&q, &k, &v, self.heads, query_chunk)?;
        if let (Some((k_img, v_img, norm_k_img)), Some(image)) = (&self.image, image) {
            let k = norm_k_img.forward(&k_img.forward(image)?)?;
            let v = v_img.forward(image)?;
            out = (out + attend(&q, &k, &v, self.heads, query_chunk)?)?;
        }
        Ok(self.o.forward(&out)?)
    }
}

/// One `WanAttentionBlock`.
#[derive(Clone, Debug)]
struct Block {
    norm1: LayerNorm,
    self_attn: SelfAttention,
    norm3: Option<LayerNorm>,
    cross_attn: CrossAttention,
    norm2: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    /// [1,6,D] float32.
    modulation: Tensor,
}

impl Block {
    fn new(config: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let d = config.inner_dim();
        let no_weights = VarBuilder::zeros(DType::F32, vb.device());
        Ok(Self {
            norm1: LayerNorm::new(d, config.eps, false, no_weights.clone())?,
            self_attn: SelfAttention::new(config, vb.pp("self_attn"))?,
            norm3: if config.cross_attn_norm {
                Some(LayerNorm::new(d, config.eps, true, vb.pp("norm3"))?.to_dtype(DType::F32)?)
            } else {
                None
            },
            cross_attn: CrossAttention::new(config, vb.pp("cross_attn"))?,
            norm2: LayerNorm::new(d, config.eps, false, no_weights)?,
            ffn_in: candle_nn::linear(d, config.ffn_dim, vb.pp("ffn.0"))?,
            ffn_out: candle_nn::linear(config.ffn_dim, d, vb.pp("ffn.2"))?,
            modulation: vb.get((1, 6, d), "modulation")?.to_dtype(DType::F32)?,
        })
    }

    /// `e0` [B,6,D] float32.
    fn forward(
        &self,
        xs: &Tensor,
        e0: &Tensor,
        text: &Tensor,
        image: Option<&Tensor>,
        rope: &(Tensor, Tensor),
        query_chunk: usize,
    ) -> Result<Tensor> {
        let dtype = xs.dtype();
        let m = self.modulation.broadcast_add(e0)?;
        let part = |i: usize| m.narrow(1, i, 1);
        let (shift, scale, gate) = (part(0)?, part(1)?, part(2)?);
        let (c_shift, c_scale, c_gate) = (part(3)?, part(4)?, part(5)?);
        let normed = modulate(&self.norm1, xs, &shift, &scale, dtype)?;
        let xs = gated_add(
            xs,
            &self.self_attn.forward(&normed, rope, query_chunk)?,
            &gate,
        )?;
        let normed = match &self.norm3 {
            Some(norm) => norm.forward(&xs.to_dtype(DType::F32)?)?.to_dtype(dtype)?,
            None => xs.clone(),
        };
        let xs = (&xs + self.cross_attn.forward(&normed, text, image, query_chunk)?)?;
        let normed = modulate(&self.norm2, &xs, &c_shift, &c_scale, dtype)?;
        let ffn = self
            .ffn_out
            .forward(&self.ffn_in.forward(&normed)?.gelu()?)?;
        gated_add(&xs, &ffn, &c_gate)
    }
}

/// `img_emb`: LN → Linear → GELU (erf) → Linear → LN (LN eps 1e-5, affine), CLIP features → model width.
#[derive(Clone, Debug)]
struct ImageEmbedding {
    norm_in: LayerNorm,
    linear_1: Linear,
    linear_2: Linear,
    norm_out: LayerNorm,
}

impl ImageEmbedding {
    fn new(image_dim: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        let proj = vb.pp("proj");
        Ok(Self {
            norm_in: LayerNorm::new(image_dim, 1e-5, true, proj.pp("0"))?.to_dtype(DType::F32)?,
            linear_1: candle_nn::linear(image_dim, image_dim, proj.pp("1"))?,
            linear_2: candle_nn::linear(image_dim, dim, proj.pp("3"))?,
            norm_out: LayerNorm::new(dim, 1e-5, true, proj.pp("4"))?.to_dtype(DType::F32)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dtype = xs.dtype();
        let xs = self
            .norm_in
            .forward(&xs.to_dtype(DType::F32)?)?
            .to_dtype(dtype)?;
        let xs = self
            .linear_2
            .forward(&self.linear_1.forward(&xs)?.gelu_erf()?)?;
        Ok(self
            .norm_out
            .forward(&xs.to_dtype(DType::F32)?)?
            .to_dtype(dtype)?)
    }
}

/// The transformer's blocks: built once, or streamed from parked weights during each forward
/// (`--offload sequential`).
#[derive(Clone)]
enum Blocks {
    Resident(Vec<Block>),
    Streamed(VarBuilder<'static>),
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocks::Resident(blocks) => write!(f, "Resident({} blocks)", blocks.len()),
            Blocks::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// The Wan transformer: a latent video [B,C,F,H,W], flow-matching timesteps [B] (float, 0..1000), the text
/// context [B,L,text_dim] and, for the I2V design, CLIP image features [B,257,image_dim] → the velocity
/// [B,C_out,F,H,W].
#[derive(Clone, Debug)]
pub struct WanTransformer3DModel {
    /// [D, C·pt·ph·pw]: the Conv3d with kernel = stride = patch, as a matmul over patches.
    patch_weight: Tensor,
    patch_bias: Tensor,
    text_1: Linear,
    text_2: Linear,
    time_1: Linear,
    time_2: Linear,
    time_projection: Linear,
    image_embedding: Option<ImageEmbedding>,
    blocks: Blocks,
    norm_out: LayerNorm,
    head: Linear,
    /// [1,2,D] float32.
    head_modulation: Tensor,
    config: WanTransformerConfig,
    query_chunk: usize,
}

impl WanTransformer3DModel {
    /// Builds the network from weights named as the config's layout names them.
    pub fn new(config: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        super::ConfigFile::check(config, "Wan transformer config")?;
        let vb = layout_var_builder(config, vb);
        let blocks = (0..config.num_layers)
            .map(|i| Block::new(config, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Self::with_blocks(config, vb, Blocks::Resident(blocks))
    }

    /// The network with its outer layers from `vb` and its blocks built from `blocks` during every forward
    /// (`--offload sequential`): block N is built on `vb`'s device, run and dropped, so the device holds one
    /// block's weights at a time.
    pub fn new_streamed(
        config: &WanTransformerConfig,
        vb: VarBuilder,
        blocks: VarBuilder<'static>,
    ) -> Result<Self> {
        super::ConfigFile::check(config, "Wan transformer config")?;
        let blocks = layout_var_builder(
            config,
            blocks.set_device(vb.device().clone()).set_dtype(vb.dtype()),
        );
        // Block 0 once now, so a wrong checkpoint fails at load rather than in the first step.
        Block::new(config, blocks.pp("blocks.0"))?;
        Self::with_blocks(
            config,
            layout_var_builder(config, vb),
            Blocks::Streamed(blocks),
        )
    }

    /// The outer layers from `vb`, already named as the config's layout names them.
    fn with_blocks(config: &WanTransformerConfig, vb: VarBuilder, blocks: Blocks) -> Result<Self> {
        let d = config.inner_dim();
        let [pt, ph, pw] = config.patch_size;
        let patch_in = config.in_channels * pt * ph * pw;
        let patch_weight = vb
            .get(
                (d, config.in_channels, pt, ph, pw),
                "patch_embedding.weight",
            )?
            .reshape((d, patch_in))?;
        let no_weights = VarBuilder::zeros(DType::F32, vb.device());
        Ok(Self {
            patch_weight,
            patch_bias: vb.get(d, "patch_embedding.bias")?,
            text_1: candle_nn::linear(config.text_dim, d, vb.pp("text_embedding.0"))?,
            text_2: candle_nn::linear(d, d, vb.pp("text_embedding.2"))?,
            time_1: candle_nn::linear(config.freq_dim, d, vb.pp("time_embedding.0"))?,
            time_2: candle_nn::linear(d, d, vb.pp("time_embedding.2"))?,
            time_projection: candle_nn::linear(d, 6 * d, vb.pp("time_projection.1"))?,
            image_embedding: match config.image_dim {
                Some(image_dim) => Some(ImageEmbedding::new(image_dim, d, vb.pp("img_emb"))?),
                None => None,
            },
            blocks,
            norm_out: LayerNorm::new(d, config.eps, false, no_weights)?,
            head: candle_nn::linear(d, config.out_channels * pt * ph * pw, vb.pp("head.head"))?,
            head_modulation: vb.get((1, 2, d), "head.modulation")?.to_dtype(DType::F32)?,
            config: config.clone(),
            query_chunk: DEFAULT_QUERY_CHUNK,
        })
    }

    pub fn config(&self) -> &WanTransformerConfig {
        &self.config
    }

    /// Query rows per attention chunk (memory against speed).
    pub fn with_query_chunk(mut self, rows: usize) -> Self {
        self.query_chunk = rows.max(1);
        self
    }

    /// The image branch's input for DWM: zero CLIP features (DWM encodes a black image and zeroes the result),
    /// [B,257,image_dim] in `dtype`; `None` for a text-only model.
    pub fn zero_image_features(&self, batch: usize, dtype: DType) -> Result<Option<Tensor>> {
        Ok(match self.config.image_dim {
            Some(dim) => Some(Tensor::zeros(
                (batch, WAN_IMAGE_TOKENS, dim),
                dtype,
                self.patch_weight.device(),
            )?),
            None => None,
        })
    }

    pub fn forward(
        &self,
        hidden_states: &Tensor,
        timesteps: &Tensor,
        text: &Tensor,
        image: Option<&Tensor>,
    ) -> Result<Tensor> {
        let config = &self.config;
        let (b, c, f, h, w) = hidden_states.dims5()?;
        let [pt, ph, pw] = config.patch_size;
        if c != config.in_channels || f % pt != 0 || h % ph != 0 || w % pw != 0 {
            return Err(input_error(
                "Wan transformer hidden_states",
                format!(
                    "shape [{b},{c},{f},{h},{w}]: expected {} channels and F, H, W divisible by the patch {:?}",
                    config.in_channels, config.patch_size
                ),
            ));
        }
        match (&self.image_embedding, image) {
            (Some(_), None) => {
                return Err(input_error(
                    "Wan transformer",
                    "this I2V model needs image features (DWM passes zeros: `zero_image_features`)",
                ));
            }
            (None, Some(_)) => {
                return Err(input_error(
                    "Wan transformer",
                    "image features given to a text-only model",
                ));
            }
            _ => {}
        }
        let times: Vec<f64> = timesteps
            .to_dtype(DType::F64)?
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1()?;
        if times.len() != b {
            return Err(input_error(
                "Wan transformer timestep",
                format!("{} timesteps for a batch of {b}", times.len()),
            ));
        }
        let dtype = hidden_states.dtype();
        let device = hidden_states.device();
        let d = config.inner_dim();
        let (gf, gh, gw) = (f / pt, h / ph, w / pw);
        let tokens = gf * gh * gw;

        // Patch embedding: [B,C,F,H,W] → patches (c, pt, ph, pw) → tokens in f, h, w order.
        let patches = hidden_states
            .reshape(vec![b * c, gf, pt, gh, ph, gw, pw])?
            .permute(vec![0, 1, 3, 5, 2, 4, 6])?
            .reshape((b, c, tokens, pt * ph * pw))?
            .permute((0, 2, 1, 3))?
            .reshape((b, tokens, c * pt * ph * pw))?;
        let xs = patches
            .broadcast_matmul(&self.patch_weight.t()?)?
            .broadcast_add(&self.patch_bias)?;

        let rope = wan_rope_tables(config, (gf, gh, gw), device)?;
        let sinusoids = wan_timestep_sinusoids(&times, config.freq_dim, device)?.to_dtype(dtype)?;
        let temb = self
            .time_2
            .forward(&self.time_1.forward(&sinusoids)?.silu()?)?;
        let e0 = self
            .time_projection
            .forward(&temb.silu()?)?
            .to_dtype(DType::F32)?
            .reshape((b, 6, d))?;
        let text = self.text_2.forward(&self.text_1.forward(text)?.gelu()?)?;
        let image = match (&self.image_embedding, image) {
            (Some(embedding), Some(features)) => Some(embedding.forward(features)?),
            _ => None,
        };

        let mut xs = xs;
        match &self.blocks {
            Blocks::Resident(blocks) => {
                for block in blocks {
                    xs = block.forward(&xs, &e0, &text, image.as_ref(), &rope, self.query_chunk)?;
                }
            }
            Blocks::Streamed(weights) => {
                for i in 0..config.num_layers {
                    let block = Block::new(config, weights.pp(format!("blocks.{i}")))?;
                    xs = block.forward(&xs, &e0, &text, image.as_ref(), &rope, self.query_chunk)?;
                }
            }
        }

        let m = self
            .head_modulation
            .broadcast_add(&temb.to_dtype(DType::F32)?.unsqueeze(1)?)?;
        let (shift, scale) = (m.narrow(1, 0, 1)?, m.narrow(1, 1, 1)?);
        let xs = modulate(&self.norm_out, &xs, &shift, &scale, dtype)?;
        let out = self.head.forward(&xs)?;
        // Unpatchify: features ordered (pt, ph, pw, c), c innermost.
        let c_out = config.out_channels;
        Ok(out
            .reshape(vec![b, gf, gh, gw, pt, ph, pw, c_out])?
            .permute(vec![0, 7, 1, 4, 2, 5, 3, 6])?
            .reshape((b, c_out, f, h, w))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::ConfigFile as _;

    #[test]
    fn diffusers_keys_follow_the_conversion_script() {
        for (wan, diffusers) in [
            ("blocks.3.self_attn.q.weight", "blocks.3.attn1.to_q.weight"),
            ("blocks.0.self_attn.o.bias", "blocks.0.attn1.to_out.0.bias"),
            (
                "blocks.1.cross_attn.k_img.weight",
                "blocks.1.attn2.add_k_proj.weight",
            ),
            (
                "blocks.1.cross_attn.norm_k_img.weight",
                "blocks.1.attn2.norm_added_k.weight",
            ),
            ("blocks.2.norm3.bias", "blocks.2.norm2.bias"),
            ("blocks.2.ffn.0.weight", "blocks.2.ffn.net.0.proj.weight"),
            ("blocks.2.modulation", "blocks.2.scale_shift_table"),
            ("head.modulation", "scale_shift_table"),
            ("head.head.weight", "proj_out.weight"),
            (
                "img_emb.proj.4.weight",
                "condition_embedder.image_embedder.norm2.weight",
            ),
            (
                "time_projection.1.bias",
                "condition_embedder.time_proj.bias",
            ),
            ("patch_embedding.weight", "patch_embedding.weight"),
        ] {
            assert_eq!(diffusers_key(wan), diffusers, "{wan}");
        }
    }

    #[test]
    fn reads_both_layouts_and_refuses_what_it_cannot_run() {
        let wan = WanTransformerConfig::from_json(
            r#"{"_class_name": "WanModel", "model_type": "i2v", "dim": 5120, "num_heads": 40, "in_dim": 36,
                "out_dim": 16, "ffn_dim": 13824, "freq_dim": 256, "num_layers": 40, "text_len": 512,
                "eps": 1e-6, "window_size": [-1, -1], "qk_norm": true, "cross_attn_norm": true}"#,
            "config.json",
        )
        .unwrap();
        assert_eq!(wan.layout, WanKeyLayout::Wan);
        assert_eq!((wan.head_dim, wan.image_dim), (128, Some(1280)));
        assert_eq!(wan.rope_split(), (44, 42, 42));
        assert_eq!(wan.tokens(13, 60, 90), 17_550);
        let error = WanTransformerConfig::from_json(
            r#"{"model_type": "flf2v", "dim": 64, "num_heads": 2, "in_dim": 36, "ffn_dim": 8, "num_layers": 1}"#,
            "config.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("config.json") && error.contains("flf2v"),
            "{error}"
        );
        let error = WanTransformerConfig::from_json(
            r#"{"num_attention_heads": 2, "attention_head_dim": 8, "ffn_dim": 8, "num_layers": 1,
                "image_dim": 1280}"#,
            "config.json",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("added_kv_proj_dim"), "{error}");
    }

    #[test]
    fn rope_tables_split_the_head_into_time_height_width() {
        let config = WanTransformerConfig::from_json(
            r#"{"num_attention_heads": 1, "attention_head_dim": 12, "ffn_dim": 8, "num_layers": 1}"#,
            "c",
        )
        .unwrap();
        // head 12: t 4 (2 pairs), h 4, w 4. Token (f=1, h=0, w=2) is index 1·(2·3) + 0·3 + 2 = 8.
        let (cos, _) = wan_rope_tables(&config, (2, 2, 3), &Device::Cpu).unwrap();
        let row: Vec<f32> = cos.get(8).unwrap().to_vec1().unwrap();
        let expected = [
            1f64.cos(),
            (0.01f64).cos(),
            1.0,
            1.0,
            2f64.cos(),
            (0.02f64).cos(),
        ];
        for (ours, reference) in row.iter().zip(expected) {
            assert!((*ours as f64 - reference).abs() < 1e-6, "{row:?}");
        }
    }
}
