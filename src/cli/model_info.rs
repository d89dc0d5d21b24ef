//! `handtwin model-info DIR`: what a model directory holds and whether a run will fit.

use crate::world_model::memory::{MemoryEstimate, ModelShapes, gib};
use crate::world_model::model_dir::ModelDirectory;
use crate::world_model::offload::Offload;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ModelInfoArgs {
    /// A diffusers-format CogVideoX(-Fun) directory (with model_index.json).
    #[arg(required_unless_present = "shapes")]
    pub dir: Option<PathBuf>,
    /// Estimate for a model's shapes without its files: cogvideox-5b (DWM's real model: CogVideoX-Fun-5B with
    /// the DWM LoRA, T5-v1.1-XXL, the CogVideoX VAE).
    #[arg(long, conflicts_with = "dir")]
    pub shapes: Option<String>,
    /// The DWM LoRA folder (pytorch_lora_weights.safetensors, non_lora_weights.safetensors).
    #[arg(long)]
    pub lora: Option<PathBuf>,
    /// Frame size for the memory estimate, WIDTHxHEIGHT.
    #[arg(long, default_value = "720x480", value_parser = super::parse_size)]
    pub size: (u32, u32),
    /// Frame count for the memory estimate.
    #[arg(long, default_value_t = 49)]
    pub frames: usize,
    /// Precision for the memory estimate: f32, bf16 or f16.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Say which --offload settings fit a device with this many GiB free (e.g. 24).
    #[arg(long)]
    pub device_memory: Option<f64>,
}

fn millions(count: usize) -> String {
    if count >= 1_000_000_000 {
        format!("{:.2} B", count as f64 / 1e9)
    } else {
        format!("{:.2} M", count as f64 / 1e6)
    }
}

pub fn run(args: ModelInfoArgs) -> anyhow::Result<()> {
    let (width, height) = (args.size.0 as usize, args.size.1 as usize);
    let bytes = match args.dtype.as_str() {
        "f32" => 4,
        "bf16" | "f16" => 2,
        other => anyhow::bail!("--dtype {other} is not one of f32, bf16, f16"),
    };
    let shapes = match (&args.dir, args.shapes.as_deref()) {
        (_, Some("cogvideox-5b")) => {
            println!(
                "DWM's real model at its shapes (CogVideoX-Fun-V1.1-5B-InP + DWM LoRA, no files read)"
            );
            ModelShapes::cogvideox_5b_dwm()?
        }
        (_, Some(other)) => anyhow::bail!("--shapes {other}: the known shapes are cogvideox-5b"),
        (Some(dir), None) => {
            let model = ModelDirectory::inspect(dir, args.lora.as_deref())?;
            print_model(dir, &model);
            ModelShapes::from_directory(&model).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no transformer config to estimate memory from",
                    dir.display()
                )
            })?
        }
        (None, None) => anyhow::bail!("give a model directory or --shapes"),
    };
    print_memory(
        &shapes,
        width,
        height,
        args.frames,
        bytes,
        &args.dtype,
        args.device_memory,
    );
    Ok(())
}

fn print_model(dir: &std::path::Path, model: &ModelDirectory) {
    println!("{}", dir.display());
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
}

/// The memory table: weights, activations, and the peak of every --offload setting.
fn print_memory(
    shapes: &ModelShapes,
    width: usize,
    height: usize,
    frames: usize,
    bytes: usize,
    dtype: &str,
    device_memory: Option<f64>,
) {
    let estimate = MemoryEstimate::new(shapes, width, height, frames, bytes);
    println!("  memory at {width}x{height}x{frames} in {dtype} (estimated from the shapes):");
    println!(
        "    weights: text encoder {}, transformer {} (outer layers + one block {}), VAE {}",
        gib(estimate.text_encoder_weights),
        gib(estimate.transformer_weights),
        gib(estimate.transformer_streamed_weights),
        gib(estimate.vae_weights)
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
        "    one attention chunk (1 head, 1024 queries) {}",
        gib(estimate.attention_chunk)
    );
    println!(
        "    VAE decode (one tile, 9 frames)     {}",
        gib(estimate.vae_activations)
    );
    println!("  peak device memory per --offload:");
    let available = device_memory.map(|g| (g * (1u64 << 30) as f64) as usize);
    for offload in Offload::ALL {
        let (peak, phase) = estimate.peak(offload);
        let phases: Vec<String> = estimate
            .phases(offload)
            .iter()
            .map(|(name, b)| format!("{name} {}", gib(*b)))
            .collect();
        let fit = match available {
            Some(available) if peak <= available => "  fits",
            Some(_) => "  does not fit",
            None => "",
        };
        println!(
            "    {:<10} {:>10}  (peak in the {phase}; {}){fit}",
            offload.name(),
            gib(peak),
            phases.join(", ")
        );
    }
}
