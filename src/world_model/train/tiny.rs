//! The configuration of handtwin's bundled tiny DWM: the CogVideoX/DWM architecture at a size that trains in
//! hours and samples in seconds on two CPU cores. The reasons for each number are in models/tiny-dwm/README.md.

/// Clip size of the tiny model: DWM's 3:2 aspect, 17 frames (5 latent frames) at 8 fps.
pub const WIDTH: u32 = 96;
pub const HEIGHT: u32 = 64;
pub const FRAMES: usize = 17;
pub const FPS: f64 = 8.0;
/// Text tokens per prompt (DWM uses 226 with T5-XXL).
pub const TEXT_LENGTH: usize = 16;

/// CogVideoX VAE with three blocks: 4× spatial and 4× temporal compression, 16 latent channels (as DWM's).
pub fn vae_config_json(scaling_factor: f64) -> String {
    serde_json::json!({
        "_class_name": "AutoencoderKLCogVideoX",
        "_handtwin": "tiny DWM VAE, trained by `handtwin train --stage vae`",
        "act_fn": "silu",
        "block_out_channels": [16, 32, 32],
        "down_block_types": ["CogVideoXDownBlock3D", "CogVideoXDownBlock3D", "CogVideoXDownBlock3D"],
        "up_block_types": ["CogVideoXUpBlock3D", "CogVideoXUpBlock3D", "CogVideoXUpBlock3D"],
        "force_upcast": true,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 16,
        "latents_mean": null,
        "latents_std": null,
        "layers_per_block": 1,
        "norm_eps": 1e-6,
        "norm_num_groups": 8,
        "sample_height": HEIGHT,
        "sample_width": WIDTH,
        "scaling_factor": scaling_factor,
        "shift_factor": null,
        "temporal_compression_ratio": 4,
        "use_post_quant_conv": false,
        "use_quant_conv": false,
        "invert_scale_latents": false
    })
    .to_string()
}

/// Attention heads of the tiny transformer by default; its width is heads × [`HEAD_DIM`].
pub const DEFAULT_HEADS: usize = 3;
/// The width of one attention head of the tiny transformer.
pub const HEAD_DIM: usize = 32;

/// The CogVideoX transformer: `heads` × [`HEAD_DIM`], 4 layers, patch 2, 3-D RoPE, joint text + video attention
/// (a zero `heads` is refused by the config's validation). `in_channels` is 33 for the inpainting pre-training and
/// 49 for DWM.
pub fn transformer_config_json(in_channels: usize, heads: usize) -> String {
    serde_json::json!({
        "_class_name": "CogVideoXTransformer3DModel",
        "activation_fn": "gelu-approximate",
        "attention_bias": true,
        "attention_head_dim": HEAD_DIM,
        "dropout": 0.0,
        "flip_sin_to_cos": true,
        "freq_shift": 0,
        "in_channels": in_channels,
        "max_text_seq_length": TEXT_LENGTH,
        "norm_elementwise_affine": true,
        "norm_eps": 1e-5,
        "num_attention_heads": heads,
        "num_layers": 4,
        "ofs_embed_dim": null,
        "out_channels": 16,
        "patch_bias": true,
        "patch_size": 2,
        "patch_size_t": null,
        "sample_frames": FRAMES,
        "sample_height": HEIGHT / 4,
        "sample_width": WIDTH / 4,
        "spatial_interpolation_scale": 1.875,
        "temporal_compression_ratio": 4,
        "temporal_interpolation_scale": 1.0,
        "text_embed_dim": 64,
        "time_embed_dim": 96,
        "timestep_activation_fn": "silu",
        "use_learned_positional_embeddings": false,
        "use_rotary_positional_embeddings": true
    })
    .to_string()
}

/// A two-layer T5 v1.1 encoder (gated GELU), trained together with the transformer.
pub fn t5_config_json() -> String {
    serde_json::json!({
        "architectures": ["T5EncoderModel"],
        "d_ff": 128,
        "d_kv": 16,
        "d_model": 64,
        "dense_act_fn": "gelu_new",
        "eos_token_id": 1,
        "feed_forward_proj": "gated-gelu",
        "is_encoder_decoder": false,
        "layer_norm_epsilon": 1e-6,
        "model_type": "t5",
        "num_heads": 4,
        "num_layers": 2,
        "pad_token_id": 0,
        "relative_attention_max_distance": 16,
        "relative_attention_num_buckets": 8,
        "vocab_size": 200
    })
    .to_string()
}

/// CogVideoX-5b's scheduler (DWM's): v-prediction, zero terminal SNR, trailing spacing.
pub fn scheduler_config_json() -> String {
    serde_json::json!({
        "_class_name": "CogVideoXDDIMScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": false,
        "clip_sample_range": 1.0,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": true,
        "sample_max_value": 1.0,
        "set_alpha_to_one": true,
        "snr_shift_scale": 1.0,
        "steps_offset": 0,
        "timestep_spacing": "trailing",
        "trained_betas": null
    })
    .to_string()
}

pub fn model_index_json() -> String {
    serde_json::json!({
        "_class_name": "CogVideoXFunInpaintPipeline",
        "_handtwin": "tiny DWM trained by handtwin (see README.md in this folder)",
        "scheduler": ["diffusers", "CogVideoXDDIMScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLCogVideoX"]
    })
    .to_string()
}

pub fn tokenizer_config_json() -> String {
    serde_json::json!({
        "tokenizer_class": "T5Tokenizer",
        "extra_ids": 100,
        "model_max_length": TEXT_LENGTH
    })
    .to_string()
}

/// The sampling steps a trained model folder recommends: one, as the bundled model (chosen on validation clips,
/// see its model card). A run's `model/` used to say 10, and tables of such runs at 10 steps were once compared
/// with the bundled model's at one; `handtwin eval` now names the steps in every model row.
pub const DEFAULT_STEPS: usize = 1;

/// Sampling defaults written into the model folder (`handtwin.json`) and used when the user gives none, with
/// `min_training_timestep` when the last training stage drew only timesteps from `min_timestep` up (above 0).
pub fn sampling_defaults_json(steps: usize, guidance_scale: f64, min_timestep: usize) -> String {
    let mut value = serde_json::json!({
        "default_steps": steps,
        "default_guidance_scale": guidance_scale
    });
    if min_timestep > 0 {
        value["min_training_timestep"] = serde_json::json!(min_timestep);
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::ConfigFile as _;
    use crate::world_model::t5::T5Config;
    use crate::world_model::transformer::TransformerConfig;
    use crate::world_model::vae::VaeConfig;

    #[test]
    fn configs_are_valid_and_consistent() {
        let vae = VaeConfig::from_json(&vae_config_json(1.0), "tiny").unwrap();
        assert_eq!(vae.spatial_compression(), 4);
        assert_eq!(vae.temporal_compression(), 4);
        for channels in [33, 49] {
            let transformer = TransformerConfig::from_json(
                &transformer_config_json(channels, DEFAULT_HEADS),
                "tiny",
            )
            .unwrap();
            assert_eq!(transformer.in_channels, channels);
            assert_eq!(transformer.out_channels(), vae.latent_channels);
        }
        for heads in [1, DEFAULT_HEADS, 6] {
            let transformer =
                TransformerConfig::from_json(&transformer_config_json(49, heads), "tiny").unwrap();
            assert_eq!(transformer.inner_dim(), heads * HEAD_DIM);
        }
        let t5 = T5Config::from_json(&t5_config_json(), "tiny t5").unwrap();
        assert_eq!(t5.d_model, 64);
    }
}
