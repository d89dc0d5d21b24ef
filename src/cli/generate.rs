//! `handtwin generate`: DWM on a sample folder (or a static + hand video pair), through the same worker the viewer
//! uses; writes the residual composite (the static video with only what the model changed put in), the model's
//! raw output, or both, and, as DWM does, a comparison video (static | hands | generated | composite | mask |
//! ground truth when the sample has one).

use crate::video::{
    DwmSample, Ffmpeg, Frames, Mp4Options, read_video_with, side_by_side, write_video_with,
};
use crate::worker::{Event, GenerationSettings, JobInput, ModelLoader, Worker};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// A DWM sample: DIR/STEM reads DIR/videos_static/STEM.mp4, DIR/videos_hands/STEM.mp4, the prompt and the
    /// ground truth when present.
    #[arg(long, conflicts_with_all = ["static_video", "hands"])]
    pub sample: Option<PathBuf>,
    /// The static-scene video (with --hands, instead of --sample).
    #[arg(long = "static", requires = "hands")]
    pub static_video: Option<PathBuf>,
    /// The hand-mesh video.
    #[arg(long, requires = "static_video")]
    pub hands: Option<PathBuf>,
    #[arg(long, conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    #[arg(long)]
    pub prompt_file: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The video to write (the comparison video is written beside it as <name>_comparison.mp4; with
    /// `--output both`, <name>_composite.mp4 and <name>_generated.mp4).
    #[arg(long)]
    pub out: PathBuf,
    /// composite: the static video with only what the model changed put in (the residual composite: pixels the
    /// model left alone stay the static video's, at full resolution); generated: the model's raw output; both.
    #[arg(long, value_enum, default_value_t = OutputKind::Composite)]
    pub output: OutputKind,
}

/// Which video `generate` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Composite,
    Generated,
    Both,
}

struct Inputs {
    static_video: Frames,
    hand_video: Frames,
    ground_truth: Option<Frames>,
    prompt: String,
}

fn read_inputs(args: &GenerateArgs, ffmpeg: &Ffmpeg) -> anyhow::Result<Inputs> {
    let mut inputs = if let Some(sample) = &args.sample {
        let dir = sample
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stem = sample
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .context("--sample must be DIR/STEM (for example samples/00013)")?;
        let sample = DwmSample::read(dir, &stem, ffmpeg)?;
        Inputs {
            static_video: sample.static_video,
            hand_video: sample.hand_video,
            ground_truth: sample.ground_truth,
            prompt: sample.prompt.unwrap_or_default(),
        }
    } else if let (Some(static_path), Some(hands_path)) = (&args.static_video, &args.hands) {
        Inputs {
            static_video: read_video_with(static_path, ffmpeg)?,
            hand_video: read_video_with(hands_path, ffmpeg)?,
            ground_truth: None,
            prompt: String::new(),
        }
    } else {
        bail!("give --sample DIR/STEM, or --static FILE and --hands FILE");
    };
    if let Some(prompt) = &args.prompt {
        inputs.prompt = prompt.clone();
    }
    if let Some(file) = &args.prompt_file {
        inputs.prompt = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .trim()
            .to_string();
    }
    let (s, h) = (&inputs.static_video, &inputs.hand_video);
    if (s.width(), s.height(), s.frame_count()) != (h.width(), h.height(), h.frame_count()) {
        bail!(
            "the static video is {}x{} with {} frames but the hand video is {}x{} with {} frames; they must match",
            s.width(),
            s.height(),
            s.frame_count(),
            h.width(),
            h.height(),
            h.frame_count()
        );
    }
    if s.width() % 16 != 0 || s.height() % 16 != 0 {
        bail!(
            "the videos are {}x{}, but DWM needs both sides divisible by 16 (for example 720x480); resize them first",
            s.width(),
            s.height()
        );
    }
    Ok(inputs)
}

/// `handtwin generate` with the real DWM pipeline.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    run_with(args, crate::worker::DwmLoader)
}

/// Runs generation through a worker built on `loader`.
pub fn run_with(args: GenerateArgs, loader: impl ModelLoader) -> anyhow::Result<()> {
    let super::ModelChoice {
        dir: model,
        steps,
        guidance,
    } = args.model.choose()?;
    let ffmpeg = Ffmpeg::from_env();
    let inputs = read_inputs(&args, &ffmpeg)?;
    let spec = args.model.spec(model);
    let mut worker = Worker::spawn(loader, None).context("cannot start the generation thread")?;
    let job = worker.submit(
        spec,
        JobInput {
            static_video: inputs.static_video.clone(),
            hand_video: inputs.hand_video.clone(),
            prompt: inputs.prompt.clone(),
            settings: GenerationSettings {
                steps,
                guidance_scale: guidance,
                seed: args.seed,
            },
        },
    );
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("loading the model");
    let start = Instant::now();
    let (frames, composited) = loop {
        let event = worker
            .events()
            .recv()
            .context("the generation thread stopped unexpectedly")?;
        if event.job() != job {
            continue;
        }
        match event {
            Event::Progress { step, .. } => {
                bar.set_message("denoising");
                bar.set_position(step as u64);
            }
            Event::Done {
                frames,
                composite,
                timings,
                ..
            } => {
                bar.finish_and_clear();
                tracing::info!(
                    "generated {} frames in {:.1} s (model load {:.1} s, the static video's reconstruction {:.1} s)",
                    frames.frame_count(),
                    timings.generate.as_secs_f64(),
                    timings.load.as_secs_f64(),
                    timings.reconstruct.as_secs_f64()
                );
                break (frames, composite);
            }
            Event::Failed { message, .. } => {
                bar.abandon();
                bail!("generation failed: {message}");
            }
            Event::Cancelled { reason, .. } => bail!("generation was cancelled ({reason:?})"),
            Event::Queued { .. } | Event::Started { .. } => {}
        }
    };
    let mask = composited.mask.to_frames(frames.fps())?;
    let stem = args.out.file_stem().map_or_else(
        || "generated".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let extension = args
        .out
        .extension()
        .map_or_else(|| "mp4".to_string(), |e| e.to_string_lossy().into_owned());
    let beside = |suffix: &str| {
        args.out
            .with_file_name(format!("{stem}_{suffix}.{extension}"))
    };
    let mut written = Vec::new();
    let outputs: Vec<(PathBuf, &Frames)> = match args.output {
        OutputKind::Composite => vec![(args.out.clone(), &composited.frames)],
        OutputKind::Generated => vec![(args.out.clone(), &frames)],
        OutputKind::Both => vec![
            (beside("composite"), &composited.frames),
            (beside("generated"), &frames),
        ],
    };
    for (path, clip) in outputs {
        write_video_with(clip, &path, &Mp4Options::video(), &ffmpeg)?;
        written.push(path);
    }
    let mut clips = vec![
        &inputs.static_video,
        &inputs.hand_video,
        &frames,
        &composited.frames,
        &mask,
    ];
    if let Some(truth) = &inputs.ground_truth {
        clips.push(truth);
    }
    let comparison = side_by_side(&clips)?;
    let comparison_path = args
        .out
        .with_file_name(format!("{stem}_comparison.{extension}"));
    write_video_with(&comparison, &comparison_path, &Mp4Options::video(), &ffmpeg)?;
    written.push(comparison_path);
    tracing::info!(
        "wrote {} in {:.1} s (the composite takes {:.1}% of its pixels from the model)",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        start.elapsed().as_secs_f64(),
        100.0 * composited.mask.coverage()
    );
    Ok(())
}
