//! umT5 encoder: the Wan variant's text encoder (`UMT5EncoderModel` in transformers; `umt5-xxl-enc` in Wan).
//!
//! It differs from the T5 v1.1 encoder CogVideoX uses (`t5.rs`) in two ways that candle-transformers' T5 does
//! not have, so it is written here: **every layer has its own relative position bias** (T5 computes it in layer
//! 0 and shares it), and the **attention mask** removes padded keys (the Wan pipeline pads the prompt to 512
//! tokens and masks the padding; it trims the output to the true length afterwards). Scores are not scaled by
//! 1/√d, as in every T5. Norms are RMS norms computed in float32; the feed-forward is the gated tanh-GELU.

use super::error::{Result, config_error, input_error};
use super::t5::T5Config;
use candle_core::{D, DType, Device, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};

/// T5's relative position bucket of `memory − query` for a bidirectional encoder, as transformers and Wan compute
/// it: half the buckets per direction, exact up to half of those, logarithmic (in float32) up to `max_distance`.
pub fn relative_position_bucket(relative: i64, num_buckets: usize, max_distance: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let mut bucket = if relative > 0 { half } else { 0 };
    let distance = relative.abs();
    let max_exact = half / 2;
    if distance < max_exact {
        bucket += distance;
    } else {
        let log_ratio = (distance as f32 / max_exact as f32).ln()
            / ((max_distance as f64 / max_exact as f64).ln() as f32);
        let large = max_exact + (log_ratio * (half - max_exact) as f32) as i64;
        bucket += large.min(half - 1);
    }
    bucket as u32
}

/// The bucket of every (query, key) pair of a length-`length` sequence, row-major [length, length].
fn bucket_table(length: usize, num_buckets: usize, max_distance: usize) -> Vec<u32> {
    let mut table = Vec::with_capacity(length * length);
    for query in 0..length as i64 {
        for key in 0..length as i64 {
            table.push(relative_position_bucket(
                key - query,
                num_buckets,
                max_distance,
            ));
        }
    }
    table
}

/// T5's layer norm: RMS only, no bias, in float32, then cast back and scaled.
#[derive(Clone, Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let x = xs.to_dtype(DType::F32)?;
        let variance = x.sqr()?.mean_keepdim(D::Minus1)?;
        let normalised = x.broadcast_div(&(variance + self.eps)?.sqrt()?)?;
        Ok(normalised
            .to_dtype(self.weight.dtype())?
            .broadcast_mul(&self.weight)?)
    }
}

#[derive(Clone, Debug)]
struct Layer {
    attention_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    /// [num_buckets, heads]: this layer's own relative position bias.
    relative_bias: Embedding,
    feed_forward_norm: RmsNorm,
    wi_0: Linear,
    wi_1: Linear,
    wo: Linear,
    activation: candle_nn::Activation,
}

/// The umT5 encoder: token ids and attention mask [B,L] → last hidden state [B,L,d_model] at every position
/// (padded positions included; their keys are masked, their own rows are still computed).
#[derive(Clone, Debug)]
pub struct UMT5Encoder {
    embed_tokens: Embedding,
    layers: Vec<Layer>,
    final_norm: RmsNorm,
    config: T5Config,
}

impl UMT5Encoder {
    /// Weights keyed as transformers saves `UMT5EncoderModel` (`shared.weight`, `encoder.block.N.layer.0...`).
    pub fn new(config: &T5Config, vb: VarBuilder) -> Result<Self> {
        config.validate("umT5 config")?;
        let (gated, activation) = config.feed_forward().ok_or_else(|| {
            config_error(
                "umT5 config",
                "feed_forward_proj",
                &config.feed_forward_proj,
            )
        })?;
        if !gated {
            return Err(config_error(
                "umT5 config",
                "feed_forward_proj",
                format!(
                    "`{}`: the umT5 encoder here is the gated one (gated-gelu, gated-silu)",
                    config.feed_forward_proj
                ),
            ));
        }
        let inner = config.num_heads * config.d_kv;
        let (d, heads) = (config.d_model, config.num_heads);
        let embed_tokens = candle_nn::embedding(config.vocab_size, d, vb.pp("shared"))?;
        let encoder = vb.pp("encoder");
        let mut layers = Vec::with_capacity(config.num_layers);
        for index in 0..config.num_layers {
            let block = encoder.pp(format!("block.{index}"));
            let (attention, feed_forward) = (block.pp("layer.0"), block.pp("layer.1"));
            let sa = attention.pp("SelfAttention");
            let dense = feed_forward.pp("DenseReluDense");
            layers.push(Layer {
                attention_norm: RmsNorm::new(
                    d,
                    config.layer_norm_epsilon,
                    attention.pp("layer_norm"),
                )?,
                q: candle_nn::linear_no_bias(d, inner, sa.pp("q"))?,
                k: candle_nn::linear_no_bias(d, inner, sa.pp("k"))?,
                v: candle_nn::linear_no_bias(d, inner, sa.pp("v"))?,
                o: candle_nn::linear_no_bias(inner, d, sa.pp("o"))?,
                relative_bias: candle_nn::embedding(
                    config.relative_attention_num_buckets,
                    heads,
                    sa.pp("relative_attention_bias"),
                )?,
                feed_forward_norm: RmsNorm::new(
                    d,
                    config.layer_norm_epsilon,
                    feed_forward.pp("layer_norm"),
                )?,
                wi_0: candle_nn::linear_no_bias(d, config.d_ff, dense.pp("wi_0"))?,
                wi_1: candle_nn::linear_no_bias(d, config.d_ff, dense.pp("wi_1"))?,
                wo: candle_nn::linear_no_bias(config.d_ff, d, dense.pp("wo"))?,
                activation,
            });
        }
        Ok(Self {
            embed_tokens,
            layers,
            final_norm: RmsNorm::new(d, config.layer_norm_epsilon, encoder.pp("final_layer_norm"))?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.config
    }

    /// `input_ids` [B,L] (any integer dtype), `attention_mask` [B,L] (1 = a token, 0 = padding; every row must
    /// keep at least one token).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (batch, length) = input_ids.dims2()?;
        if length == 0 {
            return Err(input_error("umT5 input_ids", "empty sequence"));
        }
        if attention_mask.dims() != input_ids.dims() {
            return Err(input_error(
                "umT5 attention_mask",
                format!(
                    "shape {:?} differs from input_ids {:?}",
                    attention_mask.dims(),
                    input_ids.dims()
                ),
            ));
        }
        let keep = attention_mask.to_dtype(DType::F32)?;
        let kept: Vec<f32> = keep.sum(1)?.to_device(&Device::Cpu)?.to_vec1()?;
        if let Some(row) = kept.iter().position(|&n| n < 0.5) {
            return Err(input_error(
                "umT5 attention_mask",
                format!("row {row} masks every token"),
            ));
        }
        let device = input_ids.device();
        let hidden_dtype = self.embed_tokens.embeddings().dtype();
        // Additive key mask [B,1,1,L]: 0 where kept, the float32 minimum where padded (as transformers adds it).
        let key_mask =
            ((keep.ones_like()? - &keep)? * f64::from(f32::MIN))?.reshape((batch, 1, 1, length))?;
        let buckets = Tensor::from_vec(
            bucket_table(
                length,
                self.config.relative_attention_num_buckets,
                self.config.relative_attention_max_distance,
            ),
            length * length,
            device,
        )?;
        let mut hidden = self
            .embed_tokens
            .forward(&input_ids.to_dtype(DType::U32)?)?;
        let (heads, d_kv) = (self.config.num_heads, self.config.d_kv);
        for layer in &self.layers {
            let normed = layer.attention_norm.forward(&hidden)?;
            let split = |t: Tensor| -> Result<Tensor> {
                Ok(t.reshape((batch, length, heads, d_kv))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = split(layer.q.forward(&normed)?)?;
            let k = split(layer.k.forward(&normed)?)?;
            let v = split(layer.v.forward(&normed)?)?;
            // [H,L,L] bias of this layer, then the key mask.
            let bias = layer
                .relative_bias
                .forward(&buckets)?
                .reshape((length, length, heads))?
                .permute((2, 0, 1))?
                .unsqueeze(0)?
                .to_dtype(DType::F32)?;
            let scores = q
                .matmul(&k.t()?.contiguous()?)?
                .to_dtype(DType::F32)?
                .broadcast_add(&bias)?
                .broadcast_add(&key_mask)?;
            let probabilities = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
            let attended = probabilities.matmul(&v)?.transpose(1, 2)?.reshape((
                batch,
                length,
                heads * d_kv,
            ))?;
            hidden = (hidden + layer.o.forward(&attended)?)?;
            let normed = layer.feed_forward_norm.forward(&hidden)?;
            let gate = layer.activation.forward(&layer.wi_0.forward(&normed)?)?;
            let up = layer.wi_1.forward(&normed)?;
            hidden = (hidden + layer.wo.forward(&(gate * up)?)?)?;
        }
        Ok(self.final_norm.forward(&hidden)?.to_dtype(hidden_dtype)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_t5s_table() {
        // 32 buckets, max distance 128: exact for |d| < 8, logarithmic up to 15 (+16 for keys after the query).
        let bucket = |d| relative_position_bucket(d, 32, 128);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(-7), 7);
        assert_eq!(bucket(7), 23);
        assert_eq!(bucket(-8), 8);
        // 8 + floor(ln(d/8)/ln(16)·8): d = 16 → 10, d = 127 → 15, beyond 128 it stays at 15.
        assert_eq!(bucket(-16), 10);
        assert_eq!(bucket(-127), 15);
        assert_eq!(bucket(-1000), 15);
        assert_eq!(bucket(1000), 31);
    }
}
