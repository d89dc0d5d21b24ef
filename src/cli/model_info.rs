//! `handtwin model-info DIR`: what a model directory holds and whether a run will fit.

use crate::world_model::model_dir::{ModelDirectory, estimate_memory};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ModelInfoArgs {
    /// A diffusers-format CogVideoX(-Fun) directory (with model_index.json).
    pub dir: PathBuf,
    /// The DWM LoRA folder (pytorch_lora_weights.safetensors, non_lora_weights.safetensors).
    #[arg(long)]
    pub lora: Option<PathBuf>,
    /// Frame size for the memory estimate, WIDTHxHEIGHT.
    #[arg(long, default_value = "720x480")]
    pub size: String,
    /// Frame count for the memory estimate.
    #[arg(long, default_value_t = 49)]
    pub frames: usize,
    /// Precision for the memory estimate: f32, bf16 or f16.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
}

fn gib(bytes: usize) -> String {
    let bytes = bytes as f64;
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
    } else {
        format!("{:.2} MiB", bytes / (1u64 << 20) as f64)
    }
}

fn millions(count: usize) -> String {
    if count >= 1_000_000_000 {
        format!("{:.2} B", count as f64 / 1e9)
    } else {
        format!("{:.2} M", count as f64 / 1e6)
    }
}

pub fn run(args: ModelInfoArgs) -> anyhow::Result<()> {
    let (width, height) = args
        .size
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--size \"{}\" is not WIDTHxHEIGHT", args.size))?;
    let bytes = match args.dtype.as_str() {
        "f32" => 4,
        "bf16" | "f16" => 2,
        other => anyhow::bail!("--dtype {other} is not one of f32, bf16, f16"),
    };
    let model = ModelDirectory::inspect(&args.dir, args.lora.as_deref())?;
    println!("{}", args.dir.display());
    println!(
        "  pipeline: {}",
        model
            .pipeline_class
            .as_deref()
            .unwrap_or("(no _class_name)")
    );
    for component in &model.components {
        println!(
            "  {:<13} {:<32} {:>10} parameters  stored {}  ({})",
            component.name,
            component.class_name.as_deref().unwrap_or("?"),
            millions(component.parameter_count()),
            gib(component.stored_bytes()),
            component.dtypes().join(", ")
        );
        if let Some(config) = &component.config {
            let keys: &[&str] = match component.name.as_str() {
                "transformer" => &[
                    "num_layers",
                    "num_attention_heads",
                    "attention_head_dim",
                    "in_channels",
                    "out_channels",
                    "patch_size",
                    "patch_size_t",
                    "sample_width",
                    "sample_height",
                    "sample_frames",
                    "text_embed_dim",
                    "use_rotary_positional_embeddings",
                ],
                "vae" => &[
                    "latent_channels",
                    "scaling_factor",
                    "block_out_channels",
                    "temporal_compression_ratio",
                ],
                "text_encoder" => &["d_model", "num_layers", "num_heads", "d_ff", "vocab_size"],
                "scheduler" => &[
                    "_class_name",
                    "prediction_type",
                    "timestep_spacing",
                    "snr_shift_scale",
                    "rescale_betas_zero_snr",
                    "num_train_timesteps",
                    "beta_schedule",
                ],
                _ => &[],
            };
            let shown: Vec<String> = keys
                .iter()
                .filter_map(|key| config.get(*key).map(|value| format!("{key}={value}")))
                .collect();
            if !shown.is_empty() {
                println!("                {}", shown.join(" "));
            }
        }
    }
    if let Some(lora) = &model.lora {
        println!(
            "  lora          {}: rank {}, {} target layers, non-LoRA tensors: {}",
            lora.dir.display(),
            lora.rank.map_or("?".to_string(), |r| r.to_string()),
            lora.targets,
            if lora.non_lora.is_empty() {
                "none".to_string()
            } else {
                lora.non_lora
                    .iter()
                    .map(|(k, s)| format!("{k} {s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    match estimate_memory(&model, width, height, args.frames, bytes, 1024) {
        Some(estimate) => {
            println!(
                "  memory at {width}x{height}x{} in {}:",
                args.frames, args.dtype
            );
            println!(
                "    weights (all components)            {}",
                gib(estimate.weights)
            );
            println!(
                "    transformer tokens                  {}",
                estimate.transformer_tokens
            );
            println!(
                "    one block's activations (CFG batch) {}",
                gib(estimate.transformer_activations)
            );
            println!(
                "    attention scores per 1024-query chunk (CPU path) {}",
                gib(estimate.attention_chunk)
            );
        }
        None => println!("  memory: no transformer config to estimate from"),
    }
    Ok(())
}
