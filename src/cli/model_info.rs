//! `handtwin model-info DIR`: what a model directory holds and whether a run will fit.

use crate::world_model::ModelFamily;
use crate::world_model::memory::{MemoryEstimate, ModelShapes, gib};
use crate::world_model::model_dir::ModelDirectory;
use crate::world_model::offload::Offload;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ModelInfoArgs {
    /// A model folder: a diffusers-format CogVideoX(-Fun) pipeline (model_index.json) or a Wan-layout folder
    /// (config.json, Wan2.1_VAE.pth, ...).
    #[arg(required_unless_present = "shapes")]
    pub dir: Option<PathBuf>,
    /// Estimate for a model's shapes without its files: cogvideox-5b (DWM's CogVideoX-Fun-5B with the DWM LoRA,
    /// T5-v1.1-XXL, the CogVideoX VAE) or wan2.1-fun-14b (DWM's Wan2.1-Fun-14B-InP with the DWM-Wan LoRA,
    /// umT5-XXL, the Wan 2.1 VAE).
    #[arg(long, conflicts_with = "dir")]
    pub shapes: Option<String>,
    /// Sampling steps for the time estimate (DWM: 50).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// The DWM LoRA folder (CogVideoX: pytorch_lora_weights.safetensors; Wan:
    /// lora_diffusion_pytorch_model.safetensors; both with non_lora_weights.safetensors).
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
        (_, Some("wan2.1-fun-14b")) => {
            println!(
                "DWM's Wan model at its shapes (Wan2.1-Fun-V1.1-14B-InP + DWM-Wan LoRA, no files read)"
            );
            ModelShapes::wan_14b_dwm()?
        }
        (_, Some(other)) => {
            anyhow::bail!("--shapes {other}: the known shapes are cogvideox-5b and wan2.1-fun-14b")
        }
        (Some(dir), None) if ModelFamily::of_dir(dir) == ModelFamily::Wan => {
            print_wan_model(dir, args.lora.as_deref())?;
            ModelShapes::from_wan_directory(dir, args.lora.as_deref())?
        }
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
    print_time(&shapes, width, height, args.frames, args.steps);
    Ok(())
}

/// A Wan-layout folder: its transformer config, what each file holds, and the DWM-Wan LoRA.
fn print_wan_model(dir: &std::path::Path, lora: Option<&std::path::Path>) -> anyhow::Result<()> {
    use crate::world_model::checkpoint::{LoraAdapter, WeightFiles, read_header};
    use crate::world_model::wan_model::{
        NON_LORA_FILE, WAN_LORA_FILE, WAN_T5_FILE, WAN_TRANSFORMER_STEM, WAN_VAE_FILE,
    };
    println!("{}", dir.display());
    println!("  family: {}", ModelFamily::Wan.name());
    let config = std::fs::read_to_string(dir.join("config.json"))?;
    let config: serde_json::Value = serde_json::from_str(&config)?;
    let shown: Vec<String> = [
        "model_type",
        "dim",
        "num_heads",
        "num_layers",
        "ffn_dim",
        "in_dim",
        "out_dim",
        "text_dim",
        "text_len",
        "patch_size",
    ]
    .iter()
    .filter_map(|key| config.get(*key).map(|value| format!("{key}={value}")))
    .collect();
    let weights = WeightFiles::open(dir, WAN_TRANSFORMER_STEM)?;
    println!(
        "  transformer   {} parameters in {} file(s)",
        millions(weights.parameter_count()),
        weights.files().len()
    );
    println!("                {}", shown.join(" "));
    for file in [WAN_VAE_FILE, WAN_T5_FILE] {
        let path = dir.join(file);
        let infos = candle_core::pickle::read_pth_tensor_info(&path, false, None)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let count: usize = infos.iter().map(|i| i.layout.shape().elem_count()).sum();
        let dtypes: std::collections::BTreeSet<String> =
            infos.iter().map(|i| format!("{:?}", i.dtype)).collect();
        println!(
            "  {:<13} {:>10} parameters  ({})",
            file,
            millions(count),
            dtypes.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(lora) = lora {
        let adapter = LoraAdapter::load(&lora.join(WAN_LORA_FILE))?;
        let non_lora = read_header(&lora.join(NON_LORA_FILE))?;
        println!(
            "  lora          {}: rank {}, {} target layers, non-LoRA tensors: {}",
            lora.display(),
            adapter.rank,
            adapter.targets().count(),
            non_lora
                .iter()
                .map(|(k, info)| format!("{k} {:?}", info.shape))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// The transformer's compute for a run and what it takes on this CPU (matmul rate measured now) and on an H100.
fn print_time(shapes: &ModelShapes, width: usize, height: usize, frames: usize, steps: usize) {
    let estimate = MemoryEstimate::new(shapes, width, height, frames, 4);
    let total = estimate.step_flops * steps as f64;
    println!(
        "  compute (the transformer's matmuls, CFG batch of 2): {} per step, {} for {steps} steps",
        flops(estimate.step_flops),
        flops(total)
    );
    match measured_cpu_flops() {
        Some(rate) => println!(
            "    on this CPU in f32 at its measured matmul rate ({:.0} GFLOP/s): about {}",
            rate / 1e9,
            duration(total / rate)
        ),
        None => println!("    on this CPU: the matmul rate could not be measured"),
    }
    // H100 SXM: 989 TFLOP/s dense bf16; large transformer matmuls reach 40–60% of it.
    let (slow, fast) = (total / (0.4 * 989e12), total / (0.6 * 989e12));
    println!(
        "    on an H100 in bf16 at 40–60% of its 989 TFLOP/s: about {}–{} (an estimate, not a measurement)",
        duration(fast),
        duration(slow)
    );
}

/// This CPU's f32 matmul rate: 1024² products for about half a second.
fn measured_cpu_flops() -> Option<f64> {
    let device = candle_core::Device::Cpu;
    let a = candle_core::Tensor::ones((1024, 1024), candle_core::DType::F32, &device).ok()?;
    a.matmul(&a).ok()?;
    let start = std::time::Instant::now();
    let mut runs = 0u32;
    while start.elapsed().as_secs_f64() < 0.5 {
        a.matmul(&a).ok()?;
        runs += 1;
    }
    Some(f64::from(runs) * 2.0 * 1024f64.powi(3) / start.elapsed().as_secs_f64())
}

fn flops(count: f64) -> String {
    match count {
        c if c >= 1e15 => format!("{:.2} PFLOP", c / 1e15),
        c if c >= 1e12 => format!("{:.1} TFLOP", c / 1e12),
        c if c >= 1e9 => format!("{:.1} GFLOP", c / 1e9),
        c => format!("{:.1} MFLOP", c / 1e6),
    }
}

fn duration(seconds: f64) -> String {
    if seconds >= 2.0 * 86400.0 {
        format!("{:.1} days", seconds / 86400.0)
    } else if seconds >= 2.0 * 3600.0 {
        format!("{:.1} hours", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if seconds >= 0.1 {
        format!("{seconds:.1} s")
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
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
        "    transformer tokens                  {}{}",
        estimate.transformer_tokens,
        if shapes.cross_attention_tokens > 0 {
            format!(
                " (self-attention), cross-attention to {} context tokens",
                shapes.cross_attention_tokens
            )
        } else {
            String::new()
        }
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
        "    VAE decode ({}, {} frames)     {}",
        if shapes.vae_tiled {
            "one tile"
        } else {
            "untiled"
        },
        shapes.vae_decode_frames,
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
