//! `handtwin synth`: procedural paired clips (interaction, static and hand videos, prompt, action) for training a
//! small DWM, in DWM's processed layout plus `actions/` and `synth.json` (see `synth::render`).

use crate::synth::render::{MANIFEST_FILE, generate};
use crate::synth::{Split, SynthConfig, Timing};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output folder (created; an existing non-empty folder needs --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of clips.
    #[arg(long)]
    pub clips: usize,
    /// Run seed; clip i's own seed derives from (seed, i), so any clip can be rebuilt alone.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// train: only combinations with (room_style + object_kind) % 5 != 0; heldout: only those with == 0.
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitArg,
    #[arg(long, default_value_t = 96)]
    pub width: u32,
    #[arg(long, default_value_t = 64)]
    pub height: u32,
    #[arg(long, default_value_t = 17)]
    pub frames: usize,
    #[arg(long, default_value_t = 8.0)]
    pub fps: f64,
    /// Fraction of clips with a fixed camera (their static video is frame 0 repeated).
    #[arg(long, default_value_t = 0.25)]
    pub fixed_camera_fraction: f64,
    /// When behaviours happen: `scripted` grasps at 30–40% of the clip and ends the motion at 80–88% (the bundled
    /// model's data up to its fifth version); `varied` grasps anywhere from 15% to 50% and moves for 30–55% of
    /// the clip, so only the hands tell when the target moves. Either way the rest of a clip is the same.
    #[arg(long, value_enum, default_value = "scripted")]
    pub timing: TimingArg,
    /// Clips per room: K clips in a row share the room, camera path, prompt and the hands' path, and differ only
    /// in when the hand grasps and how long the motion lasts (needs --timing varied). Their static videos and
    /// prompts are identical, so a model can tell them apart only by the hand video.
    #[arg(long, default_value_t = 1)]
    pub variants: usize,
    /// Alternatives per room: K clips in a row share the room, camera path and static video, but act on another
    /// target or in another way (another drawer of the chest; the door opened a little, or opened and closed
    /// again; the object carried the other way or pushed). Exactly one of them made each clip's final frame: the
    /// benchmark `handtwin rank --benchmark` scores. Not with --variants.
    #[arg(long, default_value_t = 1, conflicts_with = "variants")]
    pub alternatives: usize,
    /// Write into a non-empty --out folder (files of the same stems are replaced; nothing else is removed).
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TimingArg {
    Scripted,
    Varied,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SplitArg {
    Train,
    Heldout,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    if args.clips == 0 {
        bail!("--clips must be at least 1");
    }
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if args.width == 0 || args.height == 0 {
        bail!("--width and --height must be positive");
    }
    if !(args.fps.is_finite() && args.fps > 0.0) {
        bail!("--fps must be positive");
    }
    if !(0.0..=1.0).contains(&args.fixed_camera_fraction) {
        bail!("--fixed-camera-fraction must be between 0 and 1");
    }
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Heldout => Split::Heldout,
    };
    let config = SynthConfig {
        width: args.width,
        height: args.height,
        frame_count: args.frames,
        fps: args.fps,
        fixed_camera_fraction: args.fixed_camera_fraction,
        timing: match args.timing {
            TimingArg::Scripted => Timing::Scripted,
            TimingArg::Varied => Timing::Varied,
        },
        variants: args.variants,
        alternatives: args.alternatives,
        ..SynthConfig::default()
    };
    let (per_room, what) = if args.alternatives > 1 {
        (args.alternatives, "alternatives")
    } else {
        (args.variants, "variants")
    };
    config
        .check()
        .map_err(|e| anyhow::anyhow!("--{what} {per_room}: {e}"))?;
    if !args.clips.is_multiple_of(per_room) {
        bail!(
            "--clips {} is not a multiple of --{what} {per_room}: the last room would have fewer {what}",
            args.clips,
        );
    }
    if args.out.is_file() {
        bail!("{} is a file; --out needs a folder", args.out.display());
    }
    let non_empty = std::fs::read_dir(&args.out)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if non_empty && !args.force {
        bail!(
            "{} is not empty; choose a new folder or pass --force to write into it (clips with the same stems are replaced{})",
            args.out.display(),
            if args.out.join(MANIFEST_FILE).is_file() {
                ", and its synth.json is rewritten"
            } else {
                ""
            }
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let bar = ProgressBar::new(args.clips as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} clips ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("synth {}", split.name()));
    let start = Instant::now();
    let manifest = generate(
        &args.out,
        args.seed,
        args.clips,
        split,
        &config,
        &mut |done, _| bar.set_position(done as u64),
    )
    .with_context(|| format!("generating clips into {}", args.out.display()))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let count = manifest.clips.len();
    println!(
        "{count} clips ({} split, {} timing, {per_room} {what} per room) in {seconds:.1} s ({:.1} clips/min)",
        split.name(),
        config.timing.name(),
        count as f64 / seconds.max(1e-9) * 60.0
    );
    Ok(())
}
