//! One CogVideoX transformer forward at a small but representative size, timed, with the peak memory of the
//! process; plus the estimated memory of the real CogVideoX-5B configuration at 720×480×49 in bf16.
//!
//!     python tools/bench_transformer_torch.py --out target/bench_transformer   (PyTorch timing + weights)
//!     cargo run --release --example bench_transformer -- [target/bench_transformer] [--runs N] [--chunk Q]
//!
//! With the folder, the same weights and inputs as the PyTorch run are used and our output is compared with
//! PyTorch's; without it, random weights of the same configuration are used. Configuration: 4 layers, 8 heads ×
//! 64, 49 input channels, 4096-wide text, 226 text tokens, 9 latent frames of 30×44 (2,970 video tokens).

use anyhow::{Context as _, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use handtwin::world_model::ConfigFile as _;
use handtwin::world_model::parity::relative_error;
use handtwin::world_model::transformer::{
    CogVideoXTransformer3DModel, TransformerConfig, cogvideox_5b_config, estimate_memory,
    rope_tables_for_grid,
};
use std::path::PathBuf;
use std::time::Instant;

const FRAMES: usize = 9;
const HEIGHT: usize = 30;
const WIDTH: usize = 44;
const TEXT: usize = 226;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn small_config() -> TransformerConfig {
    let mut config = cogvideox_5b_config(49);
    config.num_attention_heads = 8;
    config.num_layers = 4;
    config
}

fn main() -> anyhow::Result<()> {
    let mut folder = None;
    let mut runs = 3usize;
    let mut chunk = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "--chunk" => chunk = Some(args.next().context("--chunk needs a number")?.parse()?),
            _ if arg.starts_with("--") => bail!("unknown option {arg}"),
            _ => folder = Some(PathBuf::from(arg)),
        }
    }
    let device = Device::Cpu;
    let (config, vb, inputs) = match &folder {
        Some(dir) => {
            let config = TransformerConfig::from_file(&dir.join("config.json"))?;
            let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &device)
                .with_context(|| format!("{}: model.safetensors", dir.display()))?;
            let io = candle_core::safetensors::load(dir.join("io.safetensors"), &device)
                .with_context(|| format!("{}: io.safetensors", dir.display()))?;
            (
                config,
                VarBuilder::from_tensors(weights, DType::F32, &device),
                Some(io),
            )
        }
        None => {
            let config = small_config();
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
            // Building the model through the VarMap initialises every weight.
            CogVideoXTransformer3DModel::new(&config, vb.clone())?;
            let tensors = varmap
                .data()
                .lock()
                .map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect();
            (
                config,
                VarBuilder::from_tensors(tensors, DType::F32, &device),
                None,
            )
        }
    };
    let mut model = CogVideoXTransformer3DModel::new(&config, vb)?;
    if let Some(chunk) = chunk {
        model.attention.query_chunk = chunk;
    }
    let (hidden, text, timestep) = match &inputs {
        Some(io) => (
            io.get("hidden_states")
                .context("io: hidden_states")?
                .clone(),
            io.get("encoder_hidden_states")
                .context("io: encoder_hidden_states")?
                .clone(),
            io.get("timestep").context("io: timestep")?.clone(),
        ),
        None => (
            Tensor::randn(
                0f32,
                1.0,
                (1, FRAMES, config.in_channels, HEIGHT, WIDTH),
                &device,
            )?,
            Tensor::randn(0f32, 1.0, (1, TEXT, config.text_embed_dim), &device)?,
            Tensor::new(&[500i64], &device)?,
        ),
    };
    let (_, frames, _, height, width) = hidden.dims5()?;
    let p = config.patch_size;
    let rope = rope_tables_for_grid(&config, height / p, width / p, frames, &device)?;
    let tokens = text.dim(1)? + frames * (height / p) * (width / p);

    let mut output = model.forward(&hidden, &text, &timestep, Some(&rope))?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        output = model.forward(&hidden, &text, &timestep, Some(&rope))?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let min = times.first().copied().unwrap_or(f64::NAN);
    println!(
        "candle: {} layers, {} heads × {}, {tokens} tokens, query chunk {}: forward median {median:.3} s, min {min:.3} s \
         over {runs} runs; peak RSS (VmHWM) {:.0} MiB",
        config.num_layers,
        config.num_attention_heads,
        config.attention_head_dim,
        model.attention.query_chunk,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    if let Some(io) = &inputs {
        if let Some(reference) = io.get("sample") {
            println!(
                "output vs PyTorch: worst relative error {:.2e}",
                relative_error(&output, reference)?
            );
        }
        if let Some(dir) = &folder
            && let Ok(text) = std::fs::read_to_string(dir.join("torch_timing.json"))
        {
            let torch: serde_json::Value = serde_json::from_str(&text)?;
            if let Some(torch_median) = torch.get("median_s").and_then(|v| v.as_f64()) {
                println!(
                    "PyTorch median {torch_median:.3} s → candle / PyTorch = {:.2}",
                    median / torch_median
                );
            }
        }
    }

    // The real model: CogVideoX-5B (DWM's 49 input channels), CFG batch 2, 226 + 13·30·45 tokens, bf16.
    let real = cogvideox_5b_config(49);
    let estimate = estimate_memory(&real, 2, 226, 13 * 30 * 45, 2, model.attention.query_chunk);
    let gib = |bytes: usize| bytes as f64 / (1u64 << 30) as f64;
    println!(
        "CogVideoX-5B at 720×480×49, bf16, CFG batch 2: {:.2} B parameters = {:.2} GiB weights; one block's \
         activations {:.2} GiB; one attention chunk ({} query rows, f32 scores) {:.3} GiB; the unchunked score \
         matrices of one layer would be {:.1} GiB",
        estimate.parameters as f64 / 1e9,
        gib(estimate.weight_bytes),
        gib(estimate.block_activation_bytes),
        model.attention.query_chunk,
        gib(estimate.attention_chunk_bytes),
        gib(estimate.full_score_bytes)
    );
    Ok(())
}
