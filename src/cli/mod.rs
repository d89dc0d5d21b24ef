//! The command line: one file per subcommand, each with a clap `Args` struct and a `run` function.
//! The viewer and the headless commands call the same library code.

use clap::{Parser, Subcommand};

pub mod action;
pub mod bench;
pub mod eval;
pub mod generate;
pub mod hand;
pub mod metrics;
pub mod model_info;
pub mod parity;
pub mod rank;
#[cfg(feature = "render")]
pub mod render;
#[cfg(feature = "render")]
pub mod search;
#[cfg(feature = "render")]
pub mod synth;
pub mod train;

#[derive(Parser, Debug)]
#[command(
    name = "handtwin",
    version,
    about = "Make static digital twins interactive with a video world model (DWM)."
)]
pub struct Cli {
    /// A glTF/GLB scene to open in the viewer (default: the bundled room corner).
    #[arg(long, global = false)]
    pub scene: Option<std::path::PathBuf>,
    /// A camera path to load into the viewer's timeline.
    #[arg(long, global = false)]
    pub camera_path: Option<std::path::PathBuf>,
    /// A project (`handtwin.project`) to open in the viewer: its scene, action, candidates and goal.
    #[arg(long, global = false, conflicts_with_all = ["scene", "camera_path"])]
    pub project: Option<std::path::PathBuf>,
    /// A DWM model directory to preselect for generation in the viewer.
    #[arg(long, global = false)]
    pub model: Option<std::path::PathBuf>,
    /// The DWM LoRA folder to preselect.
    #[arg(long, global = false)]
    pub lora: Option<std::path::PathBuf>,
    /// Denoising steps to preselect for generation in the viewer.
    #[arg(long, global = false)]
    pub steps: Option<usize>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import, convert and resample actions (camera paths + hand tracks).
    Action(action::ActionArgs),
    /// Render the static and hand streams along a camera path into a DWM sample folder (headless).
    #[cfg(feature = "render")]
    Render(render::RenderArgs),
    /// Generate procedural paired training clips (interaction, static and hand videos, prompts, actions).
    #[cfg(feature = "render")]
    Synth(synth::SynthArgs),
    /// Generate the interaction video with DWM from a sample folder or a static + hand video pair.
    Generate(generate::GenerateArgs),
    /// Hand models: export a posed hand mesh.
    Hand(hand::HandArgs),
    /// Score a model against no-dynamics baselines on held-out sample folders (PSNR/SSIM by region).
    Eval(eval::EvalArgs),
    /// PSNR, SSIM and LPIPS between two images or two videos of one size.
    Metrics(metrics::MetricsArgs),
    /// Simulate candidate actions with the world model and rank them against a goal image (−LPIPS, seeds
    /// averaged); --benchmark scores the ranking on `synth --alternatives K` rooms where the answer is known.
    Rank(rank::RankArgs),
    /// Search for the hand action that reaches a goal image: the cross-entropy method over a start action's
    /// grasp point, contact time and motion, each candidate simulated by the world model.
    #[cfg(feature = "render")]
    Search(search::SearchArgs),
    /// Train the tiny DWM (VAE, inpainting pre-training, DWM fine-tune) on `handtwin synth` clips.
    Train(train::TrainArgs),
    /// Print what a model directory holds (configs, parameters, dtypes, LoRA) and the memory a run needs.
    ModelInfo(model_info::ModelInfoArgs),
    /// Run world-model parity cases (against diffusers/transformers outputs) on a device and precision.
    Parity(parity::ParityArgs),
    /// Time a generation at a model's shapes with random weights, per --offload setting (JSON figures).
    Bench(bench::BenchArgs),
}

/// Runs a subcommand. `None` (no subcommand) is handled by the binary: it opens the viewer.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Action(args) => action::run(args),
        #[cfg(feature = "render")]
        Command::Render(args) => render::run(args),
        #[cfg(feature = "render")]
        Command::Synth(args) => synth::run(args),
        Command::ModelInfo(args) => model_info::run(args),
        Command::Parity(args) => parity::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Hand(args) => hand::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Metrics(args) => metrics::run(args),
        Command::Rank(args) => rank::run(args),
        #[cfg(feature = "render")]
        Command::Search(args) => search::run_search(args),
    }
}

/// `WIDTHxHEIGHT` with positive numbers (the `--size` options).
pub(crate) fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("\"{text}\" is not WIDTHxHEIGHT"))?;
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!(
            "\"{text}\" is not WIDTHxHEIGHT with positive numbers"
        )),
    }
}

/// The model options of the commands that generate (`generate`, `rank`).
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// A model folder: a diffusers-format CogVideoX(-Fun) pipeline (model_index.json, transformer/, vae/, ...) or a
    /// Wan 2.1 release folder (config.json, diffusion_pytorch_model*.safetensors, Wan2.1_VAE.pth, ...); the family
    /// is read from the folder. Default: the bundled tiny DWM (models/tiny-dwm).
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// The DWM LoRA folder for a base model: pytorch_lora_weights.safetensors (CogVideoX) or
    /// lora_diffusion_pytorch_model.safetensors (Wan), with non_lora_weights.safetensors.
    #[arg(long)]
    pub lora: Option<std::path::PathBuf>,
    /// Denoising steps (default: the model folder's handtwin.json, else DWM's 50).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale (default: the model folder's handtwin.json, else DWM's 6.0).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16 (bf16/f16 need a GPU).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Where the weights live between uses: none (all on the device), model (each network moves to the device
    /// only while it runs), sequential (the transformer's blocks stream through it one at a time). `handtwin
    /// model-info` prints each setting's peak memory.
    #[arg(long, default_value = "none", value_parser = clap::value_parser!(crate::world_model::offload::Offload))]
    pub offload: crate::world_model::offload::Offload,
    /// Plan as if the device had this many GiB free, instead of asking its driver (the run is refused early
    /// when the estimated peak does not fit).
    #[arg(long)]
    pub device_memory: Option<f64>,
}

impl ModelArgs {
    /// The model folder and its sampling settings ([`choose_model`]).
    pub(crate) fn choose(&self) -> anyhow::Result<ModelChoice> {
        choose_model(self.model.clone(), self.steps, self.guidance)
    }

    /// What the worker loads for `directory` with these options.
    pub(crate) fn spec(&self, directory: std::path::PathBuf) -> crate::worker::ModelSpec {
        crate::worker::ModelSpec {
            directory,
            lora: self.lora.clone(),
            device: self.device.clone(),
            dtype: self.dtype.clone(),
            offload: self.offload,
            device_memory: self
                .device_memory
                .map(|gib| (gib * (1u64 << 30) as f64) as u64),
        }
    }
}

/// The model a generating command uses (`--model`, else the bundled tiny DWM) and its sampling settings
/// (`--steps` / `--guidance`, else the folder's `handtwin.json`, else DWM's).
pub(crate) struct ModelChoice {
    pub dir: std::path::PathBuf,
    pub steps: usize,
    pub guidance: f64,
}

pub(crate) fn choose_model(
    model: Option<std::path::PathBuf>,
    steps: Option<usize>,
    guidance: Option<f64>,
) -> anyhow::Result<ModelChoice> {
    let Some(dir) = model.or_else(crate::world_model::model_dir::bundled_model_dir) else {
        anyhow::bail!(
            "no --model given and the bundled tiny model (models/tiny-dwm) is missing from this build; pass --model DIR"
        );
    };
    let defaults = crate::world_model::model_dir::SamplingDefaults::for_model(&dir)?;
    let steps = steps.unwrap_or(defaults.steps);
    if steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    if let Some(warning) = defaults.untrained_steps_warning(&dir, steps) {
        tracing::warn!("{warning}");
    }
    Ok(ModelChoice {
        dir,
        steps,
        guidance: guidance.unwrap_or(defaults.guidance_scale),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_sizes() {
        assert_eq!(super::parse_size("720x480"), Ok((720, 480)));
        assert_eq!(super::parse_size("96X64"), Ok((96, 64)));
        assert!(super::parse_size("720").is_err());
        assert!(super::parse_size("0x480").is_err());
        assert!(super::parse_size("axb").is_err());
    }
}
