//! T5 v1.1 text encoder, run without an attention mask as CogVideoX does (the padding tokens are attended to).
//!
//! The network is candle-transformers' `T5EncoderModel`, whose encoder forward takes no mask; this module
//! reads the transformers `T5Config` and refuses what that implementation would compute differently.

use super::error::{Result, config_error, input_error};
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::t5 as candle_t5;
use serde::Deserialize;

/// transformers `T5Config` (config.json of the `text_encoder/` folder): the keys the encoder uses.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_feed_forward")]
    pub feed_forward_proj: String,
    #[serde(default)]
    pub dense_act_fn: Option<String>,
    #[serde(default)]
    pub pad_token_id: usize,
    #[serde(default = "default_eos")]
    pub eos_token_id: usize,
}

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_feed_forward() -> String {
    "relu".to_string()
}
fn default_eos() -> usize {
    1
}

impl super::ConfigFile for T5Config {
    fn check(&self, source_name: &str) -> Result<()> {
        self.validate(source_name)
    }
}

impl T5Config {
    /// The feed-forward of transformers' T5: (gated, activation). "gated-gelu" is the legacy name of the v1.1
    /// gated tanh-GELU ("gelu_new").
    pub(crate) fn feed_forward(&self) -> Option<(bool, candle_nn::Activation)> {
        match self.feed_forward_proj.as_str() {
            "gated-gelu" => Some((true, candle_nn::Activation::NewGelu)),
            "gated-gelu_new" => Some((true, candle_nn::Activation::NewGelu)),
            "gated-silu" => Some((true, candle_nn::Activation::Silu)),
            "relu" => Some((false, candle_nn::Activation::Relu)),
            _ => None,
        }
    }

    pub fn validate(&self, source_name: &str) -> Result<()> {
        if self.feed_forward().is_none() {
            return Err(config_error(
                source_name,
                "feed_forward_proj",
                format!(
                    "`{}` is not supported (gated-gelu, gated-silu, relu)",
                    self.feed_forward_proj
                ),
            ));
        }
        // For "gated-gelu" transformers forces gelu_new whatever dense_act_fn says; otherwise they must agree.
        if let Some(act) = &self.dense_act_fn {
            let expected = match self.feed_forward_proj.as_str() {
                "gated-gelu" | "gated-gelu_new" => "gelu_new",
                "gated-silu" => "silu",
                _ => "relu",
            };
            if act != expected {
                return Err(config_error(
                    source_name,
                    "dense_act_fn",
                    format!(
                        "`{act}` disagrees with feed_forward_proj `{}`",
                        self.feed_forward_proj
                    ),
                ));
            }
        }
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
        ] {
            if value == 0 {
                return Err(config_error(source_name, key, "must be positive"));
            }
        }
        Ok(())
    }

    fn to_candle(&self) -> Result<candle_t5::Config> {
        let (gated, activation) = self.feed_forward().ok_or_else(|| {
            config_error("T5 config", "feed_forward_proj", &self.feed_forward_proj)
        })?;
        Ok(candle_t5::Config {
            vocab_size: self.vocab_size,
            d_model: self.d_model,
            d_kv: self.d_kv,
            d_ff: self.d_ff,
            num_layers: self.num_layers,
            num_decoder_layers: None,
            num_heads: self.num_heads,
            relative_attention_num_buckets: self.relative_attention_num_buckets,
            relative_attention_max_distance: self.relative_attention_max_distance,
            dropout_rate: 0.0,
            layer_norm_epsilon: self.layer_norm_epsilon,
            initializer_factor: 1.0,
            feed_forward_proj: candle_t5::ActivationWithOptionalGating { gated, activation },
            tie_word_embeddings: false,
            is_decoder: false,
            is_encoder_decoder: false,
            use_cache: false,
            pad_token_id: self.pad_token_id,
            eos_token_id: self.eos_token_id,
            decoder_start_token_id: None,
        })
    }
}

/// The T5 encoder: token ids [B,L] → last hidden state [B,L,d_model].
pub struct T5TextEncoder {
    model: candle_t5::T5EncoderModel,
    config: T5Config,
}

impl T5TextEncoder {
    /// Weights keyed as transformers saves them (`shared.weight`, `encoder.block.N...`).
    pub fn new(config: &T5Config, vb: VarBuilder) -> Result<Self> {
        config.validate("T5 config")?;
        Ok(Self {
            model: candle_t5::T5EncoderModel::load(vb, &config.to_candle()?)?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.config
    }

    /// Encodes with no attention mask. `&mut` because candle's model keeps (unused, for the encoder) caches.
    pub fn forward(&mut self, input_ids: &Tensor) -> Result<Tensor> {
        let (_, length) = input_ids.dims2()?;
        if length == 0 {
            return Err(input_error("T5 input_ids", "empty sequence"));
        }
        let ids = input_ids.to_dtype(DType::U32)?;
        Ok(self.model.forward(&ids)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::ConfigFile as _;

    #[test]
    fn reads_the_v1_1_config_and_rejects_other_feed_forwards() {
        let base = r#""vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
                      "num_heads": 64, "dense_act_fn": "gelu_new""#;
        let config = T5Config::from_json(
            &format!(r#"{{{base}, "feed_forward_proj": "gated-gelu"}}"#),
            "t5.json",
        )
        .unwrap();
        assert_eq!(config.relative_attention_max_distance, 128);
        assert!((config.layer_norm_epsilon - 1e-6).abs() < 1e-12);
        let error = T5Config::from_json(
            &format!(r#"{{{base}, "feed_forward_proj": "gated-relu"}}"#),
            "t5.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("t5.json") && error.contains("feed_forward_proj"),
            "{error}"
        );
        let error = T5Config::from_json(
            &format!(r#"{{{base}, "feed_forward_proj": "relu"}}"#),
            "t5.json",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("dense_act_fn"), "{error}");
    }
}
