//! `handtwin bench`: times a generation at a model's shapes with random weights, per `--offload` setting
//! (`world_model::bench`), and writes the figures as JSON.

use crate::world_model::bench::{BenchOptions, BenchShapes, run as run_bench};
use crate::world_model::offload::Offload;
use anyhow::Context as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// cogvideox-5b or wan2.1-fun-14b (DWM's two released models, built in memory with random weights), or a
    /// CogVideoX model folder whose configs give the shapes (its weights are not read).
    #[arg(long, default_value = "cogvideox-5b")]
    pub shapes: String,
    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "720x480", value_parser = super::parse_size)]
    pub size: (u32, u32),
    #[arg(long, default_value_t = 49)]
    pub frames: usize,
    /// Denoising steps to time (at least 2; the clip is extrapolated to 50).
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Classifier-free guidance scale (6: DWM's, a batch of 2 per step; 1: no guidance).
    #[arg(long, default_value_t = 6.0)]
    pub guidance: f64,
    /// Offload settings to time, comma-separated.
    #[arg(long, default_value = "none,model,sequential", value_delimiter = ',',
          value_parser = clap::value_parser!(Offload))]
    pub offload: Vec<Offload>,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16 (bf16/f16 need a GPU).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn write_json(
    path: &std::path::Path,
    report: &crate::world_model::bench::BenchReport,
) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    crate::atomic::write_atomically(path, json.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (width, height) = args.size;
    let shapes = match args.shapes.as_str() {
        "cogvideox-5b" => BenchShapes::CogVideoX5b,
        "wan2.1-fun-14b" => BenchShapes::Wan14b,
        dir => {
            let dir = PathBuf::from(dir);
            anyhow::ensure!(
                dir.join("transformer").join("config.json").is_file()
                    || crate::world_model::ModelFamily::of_dir(&dir)
                        == crate::world_model::ModelFamily::Wan,
                "--shapes {}: neither cogvideox-5b, wan2.1-fun-14b nor a model folder (no transformer/config.json)",
                dir.display()
            );
            BenchShapes::Directory(dir)
        }
    };
    let device = crate::worker::device(&args.device).map_err(anyhow::Error::msg)?;
    let dtype = crate::worker::dtype(&args.dtype, &device).map_err(anyhow::Error::msg)?;
    let options = BenchOptions {
        shapes,
        width,
        height,
        frames: args.frames,
        steps: args.steps,
        guidance_scale: args.guidance,
        offloads: args.offload.clone(),
        device,
        dtype,
    };
    let mut write_error = None;
    let report = run_bench(&options, &mut |line| eprintln!("{line}"), &mut |report| {
        if let Some(path) = &args.json
            && let Err(error) = write_json(path, report)
        {
            write_error.get_or_insert(error);
        }
    })?;
    if let Some(error) = write_error {
        return Err(error);
    }
    match &args.json {
        Some(path) => eprintln!("wrote {}", path.display()),
        None => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}
