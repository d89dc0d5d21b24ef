//! Benchmark of LPIPS (eval::lpips) on the CPU: one 720×480 frame pair and a 720×480×49 clip pair, AlexNet and
//! VGG16 (when models/lpips/vgg.safetensors exists). Prints times and the values.
//!
//!     cargo run --example bench_lpips -- [--dir DIR] [--frames N] [--only alex|vgg]
//!
//! (The dev profile builds dependencies, candle included, at opt-level 2; our own code is glue around them.)
//!
//! Our per-frame values are written to DIR/ours.json (default /tmp/handtwin-bench-lpips), so
//! `tools/bench_lpips_torch.py DIR` can time the reference `lpips` package on the same frames and compare
//! (and the other way round: with DIR/torch.json from that script, this prints the difference).

use anyhow::Context as _;
use candle_core::Device;
use handtwin::eval::lpips::{Backbone, Lpips, weights_path};
use handtwin::video::Frames;
use std::path::PathBuf;
use std::time::Instant;

const WIDTH: usize = 720;
const HEIGHT: usize = 480;

/// A smooth deterministic test clip; `warp` bends the pattern so the second clip differs from the first.
/// tools/bench_lpips_torch.py builds the same bytes.
fn test_clip(frames: usize, warp: f64) -> anyhow::Result<Frames> {
    let mut data = Vec::with_capacity(frames * HEIGHT * WIDTH * 3);
    for t in 0..frames {
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                for c in 0..3 {
                    let bend = warp * (0.02 * x as f64).sin();
                    let phase =
                        0.05 * (y as f64 + 2.0 * x as f64) + 0.3 * t as f64 + c as f64 + bend;
                    data.push((127.5 + 127.0 * phase.sin()).floor() as u8);
                }
            }
        }
    }
    Ok(Frames::new(WIDTH as u32, HEIGHT as u32, 8.0, data)?)
}

fn main() -> anyhow::Result<()> {
    let mut dir = PathBuf::from("/tmp/handtwin-bench-lpips");
    let mut frame_count = 49;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = PathBuf::from(args.next().context("--dir needs a path")?),
            "--frames" => {
                frame_count = args
                    .next()
                    .context("--frames needs a number")?
                    .parse()
                    .context("--frames needs a number")?
            }
            "--only" => only = Some(args.next().context("--only needs alex or vgg")?),
            other => anyhow::bail!(
                "unknown argument {other} (use --dir DIR, --frames N, --only alex|vgg)"
            ),
        }
    }
    println!("threads: {} (rayon)", rayon::current_num_threads());
    let a = test_clip(frame_count, 0.0)?;
    let b = test_clip(frame_count, 0.4)?;
    let first = |clip: &Frames| -> anyhow::Result<Frames> {
        let bytes = clip.frame(0).context("empty clip")?.to_vec();
        Ok(Frames::new(WIDTH as u32, HEIGHT as u32, 8.0, bytes)?)
    };
    let (a1, b1) = (first(&a)?, first(&b)?);
    let mut ours = serde_json::Map::new();
    for backbone in [Backbone::Alex, Backbone::Vgg] {
        if only.as_deref().is_some_and(|name| name != backbone.name()) {
            continue;
        }
        if let Err(missing) = weights_path(backbone) {
            println!("-- {}: skipped ({missing})", backbone.name());
            continue;
        }
        let model = Lpips::load(backbone, &Device::Cpu)?;
        println!("-- LPIPS {} --", backbone.name());
        model.frames(&a1, &b1)?; // warm-up (allocator, thread pool)
        let mut best = f64::INFINITY;
        let mut value = 0.0;
        for _ in 0..3 {
            let start = Instant::now();
            value = model.frames(&a1, &b1)?[0];
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!("one {WIDTH}×{HEIGHT} frame pair: {best:.3} s (best of 3), LPIPS {value:.6}");
        let start = Instant::now();
        let values = model.frames(&a, &b)?;
        let seconds = start.elapsed().as_secs_f64();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        println!(
            "{WIDTH}×{HEIGHT}×{frame_count} clip pair: {seconds:.2} s ({:.3} s/frame), mean LPIPS {mean:.6}",
            seconds / frame_count as f64
        );
        let reference = std::fs::read_to_string(dir.join("torch.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| {
                serde_json::from_value::<Vec<f64>>(json[backbone.name()].clone()).ok()
            });
        if let Some(reference) = reference.filter(|r| r.len() == values.len()) {
            let diff = values
                .iter()
                .zip(&reference)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            println!("max |ours − lpips| over the {frame_count} frames (torch.json): {diff:.2e}");
        }
        ours.insert(backbone.name().to_string(), serde_json::json!(values));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    // A run of one backbone keeps the other's values from an earlier run.
    let path = dir.join("ours.json");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(serde_json::Value::Object(earlier)) = serde_json::from_str(&text)
    {
        for (name, values) in earlier {
            ours.entry(name).or_insert(values);
        }
    }
    std::fs::write(&path, serde_json::to_string(&ours)?)
        .with_context(|| format!("{}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
