//! The diffusers `config.json` of `AutoencoderKLCogVideoX`, checked so that anything the port does not compute
//! exactly as diffusers does is an error rather than a silently different network.

use crate::world_model::ConfigFile;
use crate::world_model::error::{Result, config_error};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

const DOWN_BLOCK: &str = "CogVideoXDownBlock3D";
const UP_BLOCK: &str = "CogVideoXUpBlock3D";

fn default_down_blocks() -> Vec<String> {
    vec![DOWN_BLOCK.to_string(); 4]
}
fn default_up_blocks() -> Vec<String> {
    vec![UP_BLOCK.to_string(); 4]
}
fn default_block_out_channels() -> Vec<usize> {
    vec![128, 256, 256, 512]
}
fn default_three() -> usize {
    3
}
fn default_latent_channels() -> usize {
    16
}
fn default_act_fn() -> String {
    "silu".to_string()
}
fn default_norm_eps() -> f64 {
    1e-6
}
fn default_norm_num_groups() -> usize {
    32
}
fn default_temporal_compression_ratio() -> f64 {
    4.0
}
fn default_sample_height() -> usize {
    480
}
fn default_sample_width() -> usize {
    720
}
fn default_scaling_factor() -> f64 {
    1.15258426
}
fn default_true() -> bool {
    true
}

/// Every field of diffusers' `AutoencoderKLCogVideoX.__init__`, with diffusers' defaults for absent keys.
/// Keys starting with `_` (`_class_name`, `_diffusers_version`, `_name_or_path`) are bookkeeping and kept in
/// `extra`; any other unknown key is rejected by [`VaeConfig::validate`].
#[derive(Clone, Debug, Deserialize)]
pub struct VaeConfig {
    #[serde(default = "default_three")]
    pub in_channels: usize,
    #[serde(default = "default_three")]
    pub out_channels: usize,
    #[serde(default = "default_down_blocks")]
    pub down_block_types: Vec<String>,
    #[serde(default = "default_up_blocks")]
    pub up_block_types: Vec<String>,
    #[serde(default = "default_block_out_channels")]
    pub block_out_channels: Vec<usize>,
    #[serde(default = "default_latent_channels")]
    pub latent_channels: usize,
    #[serde(default = "default_three")]
    pub layers_per_block: usize,
    #[serde(default = "default_act_fn")]
    pub act_fn: String,
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    #[serde(default = "default_norm_num_groups")]
    pub norm_num_groups: usize,
    #[serde(default = "default_temporal_compression_ratio")]
    pub temporal_compression_ratio: f64,
    #[serde(default = "default_sample_height")]
    pub sample_height: usize,
    #[serde(default = "default_sample_width")]
    pub sample_width: usize,
    #[serde(default = "default_scaling_factor")]
    pub scaling_factor: f64,
    #[serde(default)]
    pub shift_factor: Option<f64>,
    #[serde(default)]
    pub latents_mean: Option<Vec<f64>>,
    #[serde(default)]
    pub latents_std: Option<Vec<f64>>,
    /// Typed `float` in diffusers but always a boolean in practice; it only tells pipelines to upcast.
    #[serde(default = "default_true")]
    pub force_upcast: bool,
    #[serde(default)]
    pub use_quant_conv: bool,
    #[serde(default)]
    pub use_post_quant_conv: bool,
    /// Read by pipelines (CogVideoX 1.5 image-to-video), not by the VAE itself.
    #[serde(default)]
    pub invert_scale_latents: bool,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for VaeConfig {
    fn default() -> Self {
        // An empty JSON object takes every diffusers default; this cannot fail.
        Self::from_json("{}", "VAE defaults")
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl VaeConfig {
    /// Rejects every value the port does not compute exactly as diffusers does (as the config of an unnamed
    /// source; reading a file with [`ConfigFile::from_file`] names the file).
    pub fn validate(&self) -> Result<()> {
        self.check("VAE config")
    }
}

impl ConfigFile for VaeConfig {
    /// Rejects every value the port does not compute exactly as diffusers does.
    fn check(&self, source_name: &str) -> Result<()> {
        let key_error = |key: &str, reason: String| config_error(source_name, key, reason);
        for key in self.extra.keys() {
            if !key.starts_with('_') {
                return Err(key_error(
                    key,
                    "unknown key for AutoencoderKLCogVideoX".into(),
                ));
            }
        }
        if let Some(Value::String(class)) = self.extra.get("_class_name")
            && class != "AutoencoderKLCogVideoX"
        {
            return Err(key_error(
                "_class_name",
                format!("`{class}` is not AutoencoderKLCogVideoX"),
            ));
        }
        let blocks = self.block_out_channels.len();
        if blocks == 0 {
            return Err(key_error("block_out_channels", "must not be empty".into()));
        }
        if let Some(bad) = self.down_block_types.iter().find(|t| *t != DOWN_BLOCK) {
            return Err(key_error(
                "down_block_types",
                format!("unsupported block type `{bad}` (only {DOWN_BLOCK})"),
            ));
        }
        if let Some(bad) = self.up_block_types.iter().find(|t| *t != UP_BLOCK) {
            return Err(key_error(
                "up_block_types",
                format!("unsupported block type `{bad}` (only {UP_BLOCK})"),
            ));
        }
        if self.down_block_types.len() != blocks || self.up_block_types.len() != blocks {
            return Err(key_error(
                "down_block_types",
                format!(
                    "{} down and {} up block types for {blocks} block_out_channels; the counts must be equal",
                    self.down_block_types.len(),
                    self.up_block_types.len()
                ),
            ));
        }
        // diffusers' get_activation maps both names to SiLU; nothing else is supported here.
        if self.act_fn != "silu" && self.act_fn != "swish" {
            return Err(key_error(
                "act_fn",
                format!("`{}` is not supported (only silu)", self.act_fn),
            ));
        }
        if self.layers_per_block == 0 {
            return Err(key_error("layers_per_block", "must be at least 1".into()));
        }
        for (key, value) in [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("latent_channels", self.latent_channels),
            ("norm_num_groups", self.norm_num_groups),
        ] {
            if value == 0 {
                return Err(key_error(key, "must be positive".into()));
            }
        }
        for &channels in &self.block_out_channels {
            if channels == 0 || !channels.is_multiple_of(self.norm_num_groups) {
                return Err(key_error(
                    "block_out_channels",
                    format!(
                        "{channels} is not a positive multiple of norm_num_groups {}",
                        self.norm_num_groups
                    ),
                ));
            }
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(key_error("norm_eps", "must be a positive number".into()));
        }
        let ratio = self.temporal_compression_ratio;
        if !(ratio.is_finite() && ratio >= 1.0 && ratio.log2().fract() == 0.0) {
            return Err(key_error(
                "temporal_compression_ratio",
                format!(
                    "{ratio} is not a power of two ≥ 1 (diffusers would silently use 2^floor(log2))"
                ),
            ));
        }
        if self.temporal_compress_level() > blocks - 1 {
            return Err(key_error(
                "temporal_compression_ratio",
                format!(
                    "{ratio} needs {} time-compressing samplers but there are only {} (the reference would compress less)",
                    self.temporal_compress_level(),
                    blocks - 1
                ),
            ));
        }
        // diffusers builds quant_conv with 2·out_channels instead of 2·latent_channels, and no CogVideoX
        // checkpoint uses either layer.
        if self.use_quant_conv {
            return Err(key_error("use_quant_conv", "true is not supported".into()));
        }
        if self.use_post_quant_conv {
            return Err(key_error(
                "use_post_quant_conv",
                "true is not supported".into(),
            ));
        }
        if !(self.scaling_factor.is_finite() && self.scaling_factor != 0.0) {
            return Err(key_error(
                "scaling_factor",
                "must be a non-zero number".into(),
            ));
        }
        Ok(())
    }
}

impl VaeConfig {
    /// How many of the first down/up blocks also halve/double time (log2 of the temporal ratio).
    pub fn temporal_compress_level(&self) -> usize {
        // Validated to be an exact power of two ≥ 1, so the cast is exact.
        self.temporal_compression_ratio.log2() as usize
    }

    /// Spatial down-sampling factor of the encoder, 2^(blocks − 1).
    pub fn spatial_compression(&self) -> usize {
        1 << self.block_out_channels.len().saturating_sub(1)
    }

    /// Temporal compression factor: latent frames = (frames − 1) / ratio + 1.
    pub fn temporal_compression(&self) -> usize {
        1 << self.temporal_compress_level()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COGVIDEOX_5B: &str = r#"{
      "_class_name": "AutoencoderKLCogVideoX", "_diffusers_version": "0.31.0.dev0", "act_fn": "silu",
      "block_out_channels": [128, 256, 256, 512],
      "down_block_types": ["CogVideoXDownBlock3D","CogVideoXDownBlock3D","CogVideoXDownBlock3D","CogVideoXDownBlock3D"],
      "force_upcast": true, "in_channels": 3, "latent_channels": 16, "latents_mean": null, "latents_std": null,
      "layers_per_block": 3, "norm_eps": 1e-06, "norm_num_groups": 32, "out_channels": 3,
      "sample_height": 480, "sample_width": 720, "scaling_factor": 0.7, "shift_factor": null,
      "temporal_compression_ratio": 4,
      "up_block_types": ["CogVideoXUpBlock3D","CogVideoXUpBlock3D","CogVideoXUpBlock3D","CogVideoXUpBlock3D"],
      "use_post_quant_conv": false, "use_quant_conv": false
    }"#;

    #[test]
    fn reads_the_real_config() {
        let config = VaeConfig::from_json(COGVIDEOX_5B, "vae/config.json").unwrap();
        assert_eq!(config.block_out_channels, vec![128, 256, 256, 512]);
        assert_eq!(config.scaling_factor, 0.7);
        assert_eq!(config.temporal_compress_level(), 2);
        assert_eq!(config.spatial_compression(), 8);
    }

    #[test]
    fn rejects_what_we_do_not_compute() {
        for (from, to) in [
            (r#""act_fn": "silu""#, r#""act_fn": "gelu""#),
            (
                r#""down_block_types": ["CogVideoXDownBlock3D","#,
                r#""down_block_types": ["DownEncoderBlock2D","#,
            ),
            (r#""use_quant_conv": false"#, r#""use_quant_conv": true"#),
            (
                r#""temporal_compression_ratio": 4"#,
                r#""temporal_compression_ratio": 3"#,
            ),
            (r#""norm_num_groups": 32"#, r#""norm_num_groups": 48"#),
            (
                r#""in_channels": 3"#,
                r#""in_channels": 3, "conv_3d": true"#,
            ),
        ] {
            let text = COGVIDEOX_5B.replace(from, to);
            assert_ne!(text, COGVIDEOX_5B, "replacement {from} did not apply");
            let error = VaeConfig::from_json(&text, "vae/config.json")
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("vae/config.json: key `"), "{to}: {error}");
        }
    }
}
