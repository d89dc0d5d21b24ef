//! Benchmark of the CogVideoX VAE port on the CPU (float32): one encode + decode of a small configuration,
//! the two ways of turning a causal Conv3d into Conv2d's, and optionally one full-size chunk of the real VAE
//! (to estimate a 720×480×49 tiled encode+decode). Prints times and the peak resident memory (VmHWM).
//!
//!     cargo run --no-default-features --example bench_vae -- [--dir DIR] [--full-chunk] [--small-only]
//!
//! (The dev profile builds dependencies, candle included, at opt-level 2; our own code is glue around them.)
//!
//! The small model's weights are written to DIR (default /tmp/handtwin-bench-vae) on the first run, together with
//! the input and our outputs, so `tools/bench_vae_torch.py DIR` can time PyTorch on the same weights and check
//! that both give the same result.

use anyhow::Context as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use handtwin::world_model::ConfigFile as _;
use handtwin::world_model::vae::conv::{TimeTaps, conv3d_over_frames};
use handtwin::world_model::vae::{AutoencoderKLCogVideoX, Tiling, VaeConfig};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The real topology (4 blocks, 3 resnets each, 32 groups) at a quarter of the width.
const SMALL_CONFIG: &str = r#"{
  "_class_name": "AutoencoderKLCogVideoX", "act_fn": "silu", "block_out_channels": [32, 64, 64, 128],
  "down_block_types": ["CogVideoXDownBlock3D","CogVideoXDownBlock3D","CogVideoXDownBlock3D","CogVideoXDownBlock3D"],
  "up_block_types": ["CogVideoXUpBlock3D","CogVideoXUpBlock3D","CogVideoXUpBlock3D","CogVideoXUpBlock3D"],
  "in_channels": 3, "out_channels": 3, "latent_channels": 16, "layers_per_block": 3, "norm_eps": 1e-06,
  "norm_num_groups": 32, "temporal_compression_ratio": 4, "sample_height": 480, "sample_width": 720,
  "scaling_factor": 0.7
}"#;

const FRAMES: usize = 17;
const HEIGHT: usize = 64;
const WIDTH: usize = 96;

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A smooth deterministic test video in [−0.9, 0.9]; tools/bench_vae_torch.py builds the same one.
fn test_video(frames: usize, height: usize, width: usize) -> candle_core::Result<Tensor> {
    let mut values = Vec::with_capacity(3 * frames * height * width);
    for c in 0..3 {
        for t in 0..frames {
            for y in 0..height {
                for x in 0..width {
                    let phase = 0.1 * (y as f64 + 2.0 * x as f64) + 0.3 * t as f64 + c as f64;
                    values.push((0.9 * phase.sin()) as f32);
                }
            }
        }
    }
    Tensor::from_vec(values, (1, 3, frames, height, width), &Device::Cpu)
}

fn small_model(dir: &Path) -> anyhow::Result<AutoencoderKLCogVideoX> {
    let config = VaeConfig::from_json(SMALL_CONFIG, "bench config")?;
    let weights = dir.join("model.safetensors");
    if weights.exists() {
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .with_context(|| format!("{}", weights.display()))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        return Ok(AutoencoderKLCogVideoX::new(&config, vb)?);
    }
    // First run: random weights through a VarMap (the trainable path), saved for the PyTorch side.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let vae = AutoencoderKLCogVideoX::new(&config, vb)?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    varmap
        .save(&weights)
        .with_context(|| format!("{}", weights.display()))?;
    std::fs::write(dir.join("config.json"), SMALL_CONFIG)?;
    drop(vae);
    // Built on Vars, the network would record its graph for backprop and keep every activation alive;
    // inference uses plain tensors, so reload what was saved.
    small_model(dir)
}

/// User + system CPU seconds of this process so far (/proc/self/stat, 100 ticks per second): less disturbed
/// than wall time when other work shares the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 overall.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn time<T>(what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    let start = Instant::now();
    let out = f()?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{what}: {seconds:.3} s");
    Ok((out, seconds))
}

fn conv_strategies() -> anyhow::Result<()> {
    println!("-- causal Conv3d 3×3×3 from Conv2d, 8 output frames --");
    for (channels, height, width) in [(64, 64, 96), (128, 120, 180)] {
        let device = Device::Cpu;
        let padded = Tensor::randn(0f32, 1.0, (1, channels, 10, height, width), &device)?;
        let weight = Tensor::randn(0f32, 0.05, (channels, channels, 3, 3, 3), &device)?;
        let bias = Tensor::zeros(channels, DType::F32, &device)?;
        for taps in [
            TimeTaps::Im2colGemm,
            TimeTaps::StackChannels,
            TimeTaps::SumShifted,
        ] {
            // One warm-up, then the timed run.
            conv3d_over_frames(&padded, &weight, Some(&bias), 1, taps)?;
            let start = Instant::now();
            conv3d_over_frames(&padded, &weight, Some(&bias), 1, taps)?;
            let seconds = start.elapsed().as_secs_f64();
            let flops = 2.0 * 27.0 * (channels * channels) as f64 * (8 * height * width) as f64;
            println!(
                "{channels}→{channels} ch, {height}×{width}: {taps:?} {seconds:.3} s ({:.0} GFLOP/s)",
                flops / seconds / 1e9
            );
        }
    }
    Ok(())
}

/// One encoder chunk of 8 frames and one decoder chunk of 2 latent frames of the real VAE at the default tile
/// size (240×360), random weights. The 720×480×49 tiled run is 3×3 tiles (5.6 full-tile equivalents of area,
/// edge tiles being smaller) of 6 chunks each.
fn full_chunk() -> anyhow::Result<()> {
    println!("-- real CogVideoX VAE config, random weights, one full tile chunk --");
    let config = VaeConfig::default();
    let varmap = VarMap::new();
    AutoencoderKLCogVideoX::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    // Plain (non-Var) tensors, so no backprop graph is recorded.
    let tensors = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    let vae = AutoencoderKLCogVideoX::new(
        &config,
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
    )?;
    let x = test_video(8, 240, 360)?;
    let (posterior, encode_s) = time("encode 8 frames 240×360", || Ok(vae.encode(&x)?))?;
    let z = posterior.mode().narrow(2, 0, 2)?;
    let (_, decode_s) = time("decode 2 latent frames 30×45", || Ok(vae.decode(&z)?))?;
    let tile_equivalents = (560.0 * 864.0) / (240.0 * 360.0);
    let estimate = tile_equivalents * 6.0 * (encode_s + decode_s);
    println!(
        "estimate for 720×480×49 tiled encode+decode: {tile_equivalents:.1} tile equivalents × 6 chunks × {:.1} s ≈ {:.0} min",
        encode_s + decode_s,
        estimate / 60.0
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut dir = PathBuf::from("/tmp/handtwin-bench-vae");
    let mut run_full_chunk = false;
    let mut small_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = PathBuf::from(args.next().context("--dir needs a path")?),
            "--full-chunk" => run_full_chunk = true,
            "--small-only" => small_only = true,
            other => anyhow::bail!(
                "unknown argument {other} (use --dir DIR, --full-chunk, --small-only)"
            ),
        }
    }
    println!("threads: {} (rayon)", rayon::current_num_threads());
    let vae = small_model(&dir)?;
    println!(
        "-- small VAE {:?}, layers_per_block {}, {FRAMES} frames {WIDTH}×{HEIGHT}, untiled (frame-chunked) --",
        vae.config().block_out_channels,
        vae.config().layers_per_block
    );
    let x = test_video(FRAMES, HEIGHT, WIDTH)?;
    // Warm-up pass (allocator, thread pool), then the timed one.
    let z = vae.encode(&x)?.mode();
    vae.decode(&z)?;
    let cpu_start = cpu_seconds();
    let (posterior, encode_s) = time("encode", || Ok(vae.encode(&x)?))?;
    let mean = posterior.mode();
    let (decoded, decode_s) = time("decode", || Ok(vae.decode(&mean)?))?;
    println!("encode+decode: {:.3} s", encode_s + decode_s);
    if let (Some(start), Some(end)) = (cpu_start, cpu_seconds()) {
        println!("encode+decode CPU time (user+sys): {:.2} s", end - start);
    }
    if let Some(mib) = peak_memory_mib() {
        println!("peak resident memory so far (VmHWM): {mib:.0} MiB");
    }
    let mut outputs = std::collections::HashMap::new();
    outputs.insert("sample".to_string(), x.clone());
    outputs.insert("mean".to_string(), mean.clone());
    outputs.insert("decoded".to_string(), decoded);
    candle_core::safetensors::save(&outputs, dir.join("ours.safetensors"))?;
    if small_only {
        return Ok(());
    }

    let mut tiled = vae.clone();
    tiled.set_tiling(Some(Tiling {
        tile_sample_min_height: 32,
        tile_sample_min_width: 48,
        tile_overlap_factor_height: 1.0 / 6.0,
        tile_overlap_factor_width: 1.0 / 5.0,
    }));
    let (posterior, tiled_encode_s) = time("tiled encode (32×48 tiles)", || Ok(tiled.encode(&x)?))?;
    let (_, tiled_decode_s) = time("tiled decode", || Ok(tiled.decode(&posterior.mode())?))?;
    println!(
        "tiled encode+decode: {:.3} s",
        tiled_encode_s + tiled_decode_s
    );

    conv_strategies()?;
    if run_full_chunk {
        full_chunk()?;
    }
    if let Some(mib) = peak_memory_mib() {
        println!("peak resident memory (VmHWM): {mib:.0} MiB");
    }
    Ok(())
}
