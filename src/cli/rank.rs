//! `handtwin rank`: simulate candidate actions with the world model and rank them against a goal image (DWM's
//! action evaluation: `A* = argmax_i −LPIPS(I_F^i, I_goal)`, seeds averaged), and `--benchmark`, the same on
//! `handtwin synth --alternatives K` rooms where the answer is known, beside three baselines and the oracle.
//!
//! Every generation goes through the worker the viewer uses and is cached under `--out DIR/cache` by everything
//! it depends on (`eval::rank::GenerationKey`), so a second run after adding a candidate generates only that one.

use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::metrics::paste_hands;
use crate::eval::rank::{
    CACHE_COMPOSITE_VIDEO, CACHE_GENERATED_VIDEO, CacheEntry, GenerationKey, GoalRegion, GoalScore,
    GoalScorer, SheetTile, Spread, Tally, contact_sheet, folder_fingerprint, frame_of,
    frames_digest, last_frame, objects_region, order,
};
use crate::eval::{HAND_THRESHOLD, metrics::RegionMask};
use crate::video::{DwmSample, Ffmpeg, Frames, Mp4Options, write_video_with};
use crate::worker::{Event, GenerationSettings, JobInput, ModelLoader, ModelSpec, Worker};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RankArgs {
    /// Candidate actions: DWM sample folders DIR/STEM (DIR/videos_static/STEM.mp4, DIR/videos_hands/STEM.mp4,
    /// the prompt), or action files (`handtwin.action`, rendered here in --scene at --size), one per candidate,
    /// all on the same camera path.
    #[arg(required_unless_present = "benchmark", conflicts_with = "benchmark")]
    pub candidates: Vec<PathBuf>,
    /// The goal: an image (PNG, JPEG), or a video with --goal-frame (default its last frame). Same size as the
    /// candidates' videos.
    #[arg(
        long,
        required_unless_present = "benchmark",
        conflicts_with = "benchmark"
    )]
    pub goal: Option<PathBuf>,
    /// Which frame of a goal video (0-based; default: the last).
    #[arg(long)]
    pub goal_frame: Option<usize>,
    /// frame: compare whole frames (DWM's scoring); objects: only pixels away from every candidate's hands in the
    /// final frame, so where the hands end up does not count — what the action did to the scene does (the pixels
    /// near a hand become the static scene's in both frames, then LPIPS's map is averaged over the rest).
    #[arg(long, value_enum, default_value_t = RegionArg::Frame)]
    pub goal_region: RegionArg,
    /// Score the model's raw final frame (DWM's scoring) or the residual composite's.
    #[arg(long, value_enum, default_value_t = ScoreOn::Generated)]
    pub score_on: ScoreOn,
    /// LPIPS backbone: alex (bundled) or vgg (DWM's; `python3 tools/convert_lpips.py --net vgg` writes it).
    #[arg(long, value_enum, default_value_t = LpipsArg::Alex)]
    pub lpips: LpipsArg,
    /// Seeds per candidate (`--seed`, `--seed`+1, ...), averaged as DWM does.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// The first seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// Output folder: rank.json (or benchmark.json), contact_sheet.png, and the cache of generated clips.
    #[arg(long)]
    pub out: PathBuf,
    /// Where generated clips are cached (default: OUT/cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Run the benchmark over a `handtwin synth --alternatives K` folder: each clip's final true frame is the
    /// goal and its room's K clips are the candidates; prints top-1 accuracy and mean rank per method and goal
    /// region (the model, the oracle, the static video copied, the static video with the hands pasted in).
    #[arg(long)]
    pub benchmark: Option<PathBuf>,
    /// Benchmark at most this many rooms.
    #[arg(long)]
    pub rooms: Option<usize>,
    /// The scene action-file candidates are rendered in (glTF/GLB or splats; default: the bundled room corner).
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// The size action-file candidates are rendered at, WIDTHxHEIGHT (default: their camera's).
    #[arg(long, value_parser = super::parse_size)]
    pub size: Option<(u32, u32)>,
    /// Simulate only this machine's share I of N into the (shared) --cache and stop; the same command without
    /// --shard then finds every simulation cached and ranks.
    #[arg(long, value_parser = crate::eval::search::Shard::parse)]
    pub shard: Option<crate::eval::search::Shard>,
}

/// Renders action-file candidates: the static and hand streams of each along its camera path.
#[cfg(feature = "render")]
pub(super) struct ActionRenderer {
    renderer: crate::streams::StreamRenderer,
    models: crate::hand::HandModels,
    size: Option<(u32, u32)>,
}

#[cfg(feature = "render")]
impl ActionRenderer {
    pub(super) fn new(scene: Option<&Path>, size: Option<(u32, u32)>) -> anyhow::Result<Self> {
        let source = scene.map_or(crate::scene::SceneSource::Bundled, |p| {
            crate::scene::SceneSource::File(p.to_path_buf())
        });
        let renderer = crate::streams::StreamRenderer::new(Some(&source))
            .with_context(|| format!("loading the scene {}", source.display_name()))?;
        let hand_source = crate::hand::HandModelSource::chosen(None);
        let models = crate::hand::HandModels::load(&hand_source)
            .with_context(|| format!("loading the hand model ({hand_source})"))?;
        Ok(Self {
            renderer,
            models,
            size,
        })
    }

    fn render(&mut self, path: &Path) -> anyhow::Result<Candidate> {
        let action = crate::action::Action::load(path)?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let name = name
            .trim_end_matches(".json")
            .trim_end_matches(".action")
            .to_string();
        let mut candidate = self
            .render_action(&action, &name)
            .with_context(|| format!("{}: rendering its streams", path.display()))?;
        candidate.source = path.to_path_buf();
        Ok(candidate)
    }

    /// The static and hand streams of `action` along its camera path.
    pub(super) fn render_action(
        &mut self,
        action: &crate::action::Action,
        name: &str,
    ) -> anyhow::Result<Candidate> {
        let (frames, fps) = (action.frame_count, action.fps);
        let cameras: Vec<_> = action
            .camera
            .frames(frames, fps)
            .into_iter()
            .map(|mut frame| {
                if let Some((w, h)) = self.size {
                    frame.intrinsics = frame.intrinsics.resized(w, h);
                }
                frame
            })
            .collect();
        let hands = action
            .hand_meshes(&self.models, frames, fps)
            .context("posing the hand tracks")?;
        let streams = self.renderer.render(
            &crate::streams::StreamRequest {
                cameras: &cameras,
                hands: &hands,
                fps,
            },
            &mut |_, _| {},
        )?;
        Ok(Candidate {
            name: name.to_string(),
            source: PathBuf::from(name),
            static_video: streams.static_video,
            hand_video: streams.hand_video,
            prompt: action.prompt.clone(),
            truth: None,
        })
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionArg {
    Frame,
    Objects,
}

impl RegionArg {
    fn region(self) -> GoalRegion {
        match self {
            RegionArg::Frame => GoalRegion::Frame,
            RegionArg::Objects => GoalRegion::Objects,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreOn {
    Generated,
    Composite,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpipsArg {
    Alex,
    Vgg,
}

impl LpipsArg {
    fn backbone(self) -> Backbone {
        match self {
            LpipsArg::Alex => Backbone::Alex,
            LpipsArg::Vgg => Backbone::Vgg,
        }
    }
}

/// One candidate: its name, where it came from, its videos and prompt.
pub(super) struct Candidate {
    pub(super) name: String,
    pub(super) source: PathBuf,
    pub(super) static_video: Frames,
    pub(super) hand_video: Frames,
    pub(super) prompt: String,
    pub(super) truth: Option<Frames>,
}

fn read_candidate(path: &Path, ffmpeg: &Ffmpeg) -> anyhow::Result<Candidate> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(stem) = path.file_name().map(|s| s.to_string_lossy().into_owned()) else {
        bail!(
            "{}: a candidate is a sample DIR/STEM (for example clips/synth_s1_00000)",
            path.display()
        );
    };
    if path.extension().is_some_and(|e| e == "json") {
        bail!(
            "{}: action files are rendered by a build with the render feature; render it into a sample (`handtwin render --action {} --out DIR`) and pass DIR/STEM",
            path.display(),
            path.display()
        );
    }
    let sample = DwmSample::read(dir, &stem, ffmpeg)
        .with_context(|| format!("reading the candidate {}", path.display()))?;
    Ok(Candidate {
        name: stem,
        source: path.to_path_buf(),
        static_video: sample.static_video,
        hand_video: sample.hand_video,
        prompt: sample.prompt.unwrap_or_default(),
        truth: sample.ground_truth,
    })
}

/// Candidates must share the static video: the same size and frame count, and the same pixels up to codec and
/// renderer noise (a mean difference under one level).
fn check_same_static(candidates: &[Candidate]) -> anyhow::Result<()> {
    let Some(first) = candidates.first() else {
        bail!("no candidates: give at least one sample DIR/STEM");
    };
    let shape = |f: &Frames| (f.width(), f.height(), f.frame_count());
    for c in &candidates[1..] {
        let (a, b) = (&first.static_video, &c.static_video);
        if shape(a) != shape(b) {
            bail!(
                "{} and {} are on different static videos ({}×{}, {} frames against {}×{}, {} frames); rank candidates of one scene and camera path",
                first.source.display(),
                c.source.display(),
                a.width(),
                a.height(),
                a.frame_count(),
                b.width(),
                b.height(),
                b.frame_count()
            );
        }
        let sum: u64 = a
            .as_bytes()
            .iter()
            .zip(b.as_bytes())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        let mean = sum as f64 / a.as_bytes().len().max(1) as f64;
        if mean > 1.0 {
            bail!(
                "{} and {} are on different static videos (they differ by {mean:.1} levels on average); rank candidates of one scene and camera path",
                first.source.display(),
                c.source.display()
            );
        }
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| ["png", "jpg", "jpeg", "bmp", "webp"].contains(&e.as_str()))
}

/// The goal as a one-frame clip.
fn read_goal(path: &Path, frame: Option<usize>, ffmpeg: &Ffmpeg) -> anyhow::Result<Frames> {
    if is_image(path) {
        if frame.is_some_and(|f| f > 0) {
            bail!(
                "{}: an image has one frame; --goal-frame is for a goal video",
                path.display()
            );
        }
        let image = image::open(path)
            .with_context(|| format!("cannot read the goal image {}", path.display()))?
            .to_rgb8();
        return Ok(Frames::from_images(vec![image], 8.0)?);
    }
    let video = ffmpeg
        .read(path)
        .with_context(|| format!("cannot read the goal video {}", path.display()))?;
    let count = video.frame_count();
    let index = frame.unwrap_or(count.saturating_sub(1));
    frame_of(&video, index).with_context(|| {
        format!(
            "{}: has {count} frames, so --goal-frame {index} is past its end",
            path.display()
        )
    })
}

/// Runs generations through the worker, with the cache in front.
pub(super) struct Simulator {
    worker: Worker,
    spec: ModelSpec,
    steps: usize,
    guidance: f64,
    model_name: String,
    fingerprint: String,
    cache: PathBuf,
    ffmpeg: Ffmpeg,
    bar: ProgressBar,
    pub(super) generated: usize,
    pub(super) reused: usize,
}

/// The final frames of one simulation.
pub(super) struct Simulated {
    pub(super) generated: Frames,
    composite: Frames,
    pub(super) seconds: f64,
    pub(super) cached: bool,
    key: String,
}

impl Simulated {
    fn cached(entry: crate::eval::rank::CachedFinal, key: &GenerationKey) -> Self {
        Self {
            generated: entry.generated,
            composite: entry.composite,
            seconds: entry.seconds,
            cached: true,
            key: key.id(),
        }
    }
}

impl Simulator {
    #[cfg(feature = "render")] // for `search`
    /// The progress bar's length: `simulations` more generations of the model's steps.
    pub(super) fn set_length(&self, simulations: usize) {
        self.bar.set_length((simulations * self.steps) as u64);
    }

    #[cfg(feature = "render")] // for `search`
    /// Prints a line above the progress bar (or plainly, when output is not a terminal and the bar is hidden).
    pub(super) fn say(&self, line: &str) {
        (self.sayer())(line);
    }

    #[cfg(feature = "render")] // for `search`
    /// [`Simulator::say`] as a function that does not borrow the simulator.
    pub(super) fn sayer(&self) -> impl Fn(&str) + use<> {
        let bar = self.bar.clone();
        move |line| {
            if bar.is_hidden() {
                println!("{line}");
            } else {
                bar.println(line);
            }
        }
    }

    #[cfg(feature = "render")] // for `search`
    pub(super) fn model_name(&self) -> String {
        self.model_name.clone()
    }

    #[cfg(feature = "render")] // for `search`
    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub(super) fn key(
        &self,
        static_video: &str,
        hands: &Frames,
        prompt: &str,
        seed: u64,
    ) -> GenerationKey {
        GenerationKey {
            model: self.model_name.clone(),
            model_fingerprint: self.fingerprint.clone(),
            lora: self.spec.lora.as_ref().map(|p| p.display().to_string()),
            device: self.spec.device.clone(),
            dtype: self.spec.dtype.clone(),
            steps: self.steps,
            guidance: self.guidance,
            seed,
            prompt: prompt.to_string(),
            static_video: static_video.to_string(),
            hand_video: frames_digest(hands),
        }
    }

    /// Every candidate's key for every seed, on one static video.
    fn keys(
        &self,
        static_video: &str,
        candidates: &[Candidate],
        seeds: &[u64],
    ) -> Vec<Vec<GenerationKey>> {
        candidates
            .iter()
            .map(|c| {
                seeds
                    .iter()
                    .map(|&s| self.key(static_video, &c.hand_video, &c.prompt, s))
                    .collect()
            })
            .collect()
    }

    /// Waits until another shard has stored `key` in the shared cache (polling every second), for at most
    /// `patience`; the error says which simulation never came.
    #[cfg(feature = "render")] // for `search`
    pub(super) fn wait_for(
        &mut self,
        label: &str,
        key: &GenerationKey,
        patience: std::time::Duration,
    ) -> anyhow::Result<Simulated> {
        let entry = CacheEntry::new(&self.cache, key);
        let started = Instant::now();
        self.bar
            .set_message(format!("waiting for {label} (another shard's)"));
        loop {
            if let Some(cached) = entry.load(key)? {
                self.reused += 1;
                return Ok(Simulated::cached(cached, key));
            }
            if started.elapsed() > patience {
                bail!(
                    "{label} is another shard's, and it did not appear in the cache {} within {} s; is that shard running with the same --cache?",
                    self.cache.display(),
                    patience.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    fn is_cached(&self, key: &GenerationKey) -> bool {
        CacheEntry::new(&self.cache, key).contains(key)
    }

    pub(super) fn simulate(
        &mut self,
        label: &str,
        static_video: &Frames,
        key: &GenerationKey,
        hands: &Frames,
        prompt: &str,
    ) -> anyhow::Result<Simulated> {
        let entry = CacheEntry::new(&self.cache, key);
        if let Some(cached) = entry.load(key)? {
            self.reused += 1;
            return Ok(Simulated::cached(cached, key));
        }
        self.bar.set_message(label.to_string());
        let base = self.bar.position();
        let job = self.worker.submit(
            self.spec.clone(),
            JobInput {
                static_video: static_video.clone(),
                hand_video: hands.clone(),
                prompt: prompt.to_string(),
                settings: GenerationSettings {
                    steps: self.steps,
                    guidance_scale: self.guidance,
                    seed: key.seed,
                },
            },
        );
        let started = Instant::now();
        let (frames, composite) = loop {
            let event = self
                .worker
                .events()
                .recv()
                .context("the generation thread stopped unexpectedly")?;
            if event.job() != job {
                continue;
            }
            match event {
                Event::Progress { step, .. } => self.bar.set_position(base + step as u64),
                Event::Done {
                    frames, composite, ..
                } => break (frames, composite.frames),
                Event::Failed { message, .. } => bail!("generating {label}: {message}"),
                Event::Cancelled { reason, .. } => {
                    bail!("generating {label} was cancelled ({reason:?})")
                }
                Event::Queued { .. } | Event::Started { .. } => {}
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        self.bar.set_position(base + self.steps as u64);
        let ffmpeg = &self.ffmpeg;
        entry.store(key, &frames, &composite, seconds, |folder| {
            for (name, clip) in [
                (CACHE_GENERATED_VIDEO, &frames),
                (CACHE_COMPOSITE_VIDEO, &composite),
            ] {
                write_video_with(clip, &folder.join(name), &Mp4Options::video(), ffmpeg)
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })?;
        self.generated += 1;
        Ok(Simulated {
            generated: last_frame(&frames).context("the model returned no frames")?,
            composite: last_frame(&composite).context("the composite has no frames")?,
            seconds,
            cached: false,
            key: key.id(),
        })
    }
}

pub(super) fn start_simulator(
    model: &super::ModelArgs,
    cache: Option<PathBuf>,
    loader: impl ModelLoader,
    out: &Path,
) -> anyhow::Result<Simulator> {
    let super::ModelChoice {
        dir,
        steps,
        guidance,
    } = model.choose()?;
    let model_dir = dir.canonicalize().unwrap_or(dir.clone());
    let fingerprint = folder_fingerprint(&model_dir)?;
    let spec = model.spec(dir);
    let worker = Worker::spawn(loader, None).context("cannot start the generation thread")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Ok(Simulator {
        worker,
        spec,
        steps,
        guidance,
        model_name: model_dir.display().to_string(),
        fingerprint,
        cache: cache.unwrap_or_else(|| out.join("cache")),
        ffmpeg: Ffmpeg::from_env(),
        bar,
        generated: 0,
        reused: 0,
    })
}

fn check_args(args: &RankArgs) -> anyhow::Result<()> {
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if args.out.is_file() {
        bail!("{} is a file; --out needs a folder", args.out.display());
    }
    Ok(())
}

#[derive(Serialize)]
struct SeedRecord {
    seed: u64,
    lpips: f64,
    psnr: Option<f64>,
    ssim: Option<f64>,
    seconds: f64,
    cached: bool,
    cache_entry: String,
}

#[derive(Serialize)]
struct CandidateRecord {
    rank: usize,
    name: String,
    source: PathBuf,
    prompt: String,
    /// −LPIPS averaged over seeds (higher is better), and its spread (population standard deviation).
    score: f64,
    spread: f64,
    lpips: f64,
    psnr: Option<f64>,
    ssim: Option<f64>,
    seconds: f64,
    seeds: Vec<SeedRecord>,
}

#[derive(Serialize)]
struct RankFile {
    format: &'static str,
    version: u32,
    goal: PathBuf,
    goal_frame: Option<usize>,
    goal_region: GoalRegion,
    /// The fraction of the frame the goal region covers.
    region_fraction: f64,
    score: String,
    scored: ScoreOn,
    model: String,
    lora: Option<PathBuf>,
    steps: usize,
    guidance: f64,
    device: String,
    dtype: String,
    seeds: Vec<u64>,
    candidates: Vec<CandidateRecord>,
}

/// `handtwin rank` with the real pipeline.
pub fn run(args: RankArgs) -> anyhow::Result<()> {
    run_with(args, crate::worker::DwmLoader)
}

pub fn run_with(args: RankArgs, loader: impl ModelLoader) -> anyhow::Result<()> {
    check_args(&args)?;
    if let Some(dir) = args.benchmark.clone() {
        return benchmark(&args, &dir, loader);
    }
    let ffmpeg = Ffmpeg::from_env();
    let Some(goal_path) = args.goal.clone() else {
        bail!("give --goal IMAGE (or a video with --goal-frame K)");
    };
    #[cfg(feature = "render")]
    let mut action_renderer: Option<ActionRenderer> = None;
    let mut candidates = Vec::new();
    for path in &args.candidates {
        #[cfg(feature = "render")]
        if path.extension().is_some_and(|e| e == "json") {
            if action_renderer.is_none() {
                action_renderer = Some(ActionRenderer::new(args.scene.as_deref(), args.size)?);
            }
            if let Some(renderer) = action_renderer.as_mut() {
                println!("rendering the streams of {}", path.display());
                candidates.push(
                    renderer
                        .render(path)
                        .with_context(|| format!("rendering the candidate {}", path.display()))?,
                );
            }
            continue;
        }
        candidates.push(read_candidate(path, &ffmpeg)?);
    }
    check_same_static(&candidates)?;
    let mut names = std::collections::HashSet::new();
    for c in &candidates {
        if !names.insert(c.source.clone()) {
            bail!("{} is given twice", c.source.display());
        }
    }
    let goal = read_goal(&goal_path, args.goal_frame, &ffmpeg)?;
    let static_video = &candidates[0].static_video;
    if (goal.width(), goal.height()) != (static_video.width(), static_video.height()) {
        bail!(
            "{}: the goal is {}×{} but the candidates' videos are {}×{}; give a goal of their size",
            goal_path.display(),
            goal.width(),
            goal.height(),
            static_video.width(),
            static_video.height()
        );
    }
    let backbone = args.lpips.backbone();
    let lpips = Lpips::load(backbone, &candle_core::Device::Cpu)?;
    let region = match args.goal_region.region() {
        GoalRegion::Frame => None,
        GoalRegion::Objects => {
            let hands: Vec<&Frames> = candidates.iter().map(|c| &c.hand_video).collect();
            Some(objects_region(&hands)?)
        }
    };
    let static_last =
        last_frame(&candidates[0].static_video).context("the static video has no frames")?;
    let scorer = GoalScorer::new(lpips, &goal, region, Some(&static_last))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let mut sim = start_simulator(&args.model, args.cache.clone(), loader, &args.out)?;
    let static_digest = frames_digest(static_video);
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|i| args.seed + i).collect();
    let keys = sim.keys(&static_digest, &candidates, &seeds);
    let missing = keys.iter().flatten().filter(|k| !sim.is_cached(k)).count();
    sim.bar.set_length((missing * sim.steps) as u64);
    println!(
        "ranking {} candidates × {} seeds against {} ({} to generate, {} cached)",
        candidates.len(),
        seeds.len(),
        goal_path.display(),
        missing,
        candidates.len() * seeds.len() - missing
    );
    if let Some(shard) = args.shard {
        let jobs: Vec<(&Candidate, &GenerationKey)> = candidates
            .iter()
            .zip(&keys)
            .flat_map(|(c, keys)| keys.iter().map(move |k| (c, k)))
            .collect();
        return simulate_share(&mut sim, shard, static_video, &jobs);
    }
    let started = Instant::now();
    let mut records = Vec::new();
    let mut finals = Vec::new();
    for (c, keys) in candidates.iter().zip(&keys) {
        let mut seed_records = Vec::new();
        let mut first = None;
        for key in keys {
            let label = format!("{} seed {}", c.name, key.seed);
            let simulated = sim.simulate(&label, static_video, key, &c.hand_video, &c.prompt)?;
            let frame = match args.score_on {
                ScoreOn::Generated => &simulated.generated,
                ScoreOn::Composite => &simulated.composite,
            };
            let GoalScore { lpips, psnr, ssim } = scorer.score(frame)?;
            if first.is_none() {
                first = Some(frame.clone());
            }
            seed_records.push(SeedRecord {
                seed: key.seed,
                lpips,
                psnr,
                ssim,
                seconds: simulated.seconds,
                cached: simulated.cached,
                cache_entry: simulated.key,
            });
        }
        let mean = |f: &dyn Fn(&SeedRecord) -> Option<f64>| {
            Spread::of(&seed_records.iter().filter_map(f).collect::<Vec<_>>()).map(|s| s.mean)
        };
        let lpips = Spread::of(&seed_records.iter().map(|r| r.lpips).collect::<Vec<_>>())
            .context("no seeds")?;
        records.push(CandidateRecord {
            rank: 0,
            name: c.name.clone(),
            source: c.source.clone(),
            prompt: c.prompt.clone(),
            score: -lpips.mean,
            spread: lpips.spread,
            lpips: lpips.mean,
            psnr: mean(&|r| r.psnr),
            ssim: mean(&|r| r.ssim),
            seconds: seed_records.iter().map(|r| r.seconds).sum(),
            seeds: seed_records,
        });
        finals.push(first.context("no seeds")?);
    }
    sim.bar.finish_and_clear();
    let ranking = order(&records.iter().map(|r| r.lpips).collect::<Vec<_>>());
    let mut ranked: Vec<(CandidateRecord, usize)> = Vec::new();
    let mut records: Vec<Option<CandidateRecord>> = records.into_iter().map(Some).collect();
    for (place, &i) in ranking.iter().enumerate() {
        if let Some(mut record) = records[i].take() {
            record.rank = place + 1;
            ranked.push((record, i));
        }
    }

    let score_name = format!("-LPIPS-{}", backbone.name());
    println!(
        "{:>4}  {:<28} {:>20}  {:>7}  {:>7}  {:>6}  {:>8}",
        "rank", "candidate", score_name, "LPIPS", "PSNR", "SSIM", "time"
    );
    for (r, _) in &ranked {
        println!(
            "{:>4}  {:<28} {:>20}  {:>7.4}  {:>7}  {:>6}  {:>7.1}s",
            r.rank,
            r.name,
            format!("{:.4} ± {:.4}", r.score, r.spread),
            r.lpips,
            r.psnr.map_or("-".into(), |p| format!("{p:.2}")),
            r.ssim.map_or("-".into(), |s| format!("{s:.3}")),
            r.seconds
        );
    }
    let hand_lasts: Vec<Frames> = candidates
        .iter()
        .map(|c| last_frame(&c.hand_video).context("a hand video has no frames"))
        .collect::<anyhow::Result<_>>()?;
    let tiles: Vec<SheetTile> = ranked
        .iter()
        .map(|(r, i)| SheetTile {
            hands: &hand_lasts[*i],
            generated: &finals[*i],
            label: format!("#{} {:.3}", r.rank, r.lpips),
        })
        .collect();
    let sheet_path = args.out.join("contact_sheet.png");
    let cell = (goal.width()).clamp(160, 360);
    let sheet = contact_sheet(&goal, &tiles, cell, 4).context("cannot draw the contact sheet")?;
    sheet
        .save(&sheet_path)
        .with_context(|| format!("cannot write {}", sheet_path.display()))?;
    let file = RankFile {
        format: "handtwin.rank",
        version: 1,
        goal: goal_path.clone(),
        goal_frame: args.goal_frame,
        goal_region: args.goal_region.region(),
        region_fraction: scorer.region().fraction(),
        score: score_name,
        scored: args.score_on,
        model: sim.model_name.clone(),
        lora: args.model.lora.clone(),
        steps: sim.steps,
        guidance: sim.guidance,
        device: args.model.device.clone(),
        dtype: args.model.dtype.clone(),
        seeds,
        candidates: ranked.into_iter().map(|(r, _)| r).collect(),
    };
    let json_path = args.out.join("rank.json");
    crate::action::write_atomically(&json_path, serde_json::to_string_pretty(&file)?.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    println!(
        "best: {} · {} generated, {} from the cache, {:.1} s · wrote {} and {}",
        file.candidates.first().map_or("-", |c| c.name.as_str()),
        sim.generated,
        sim.reused,
        started.elapsed().as_secs_f64(),
        json_path.display(),
        sheet_path.display()
    );
    Ok(())
}

/// Simulates the jobs (candidate, seed) this shard owns into the cache.
fn simulate_share(
    sim: &mut Simulator,
    shard: crate::eval::search::Shard,
    static_video: &Frames,
    jobs: &[(&Candidate, &GenerationKey)],
) -> anyhow::Result<()> {
    let mine: Vec<_> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.owns(*i))
        .map(|(_, job)| *job)
        .collect();
    let missing = mine.iter().filter(|(_, k)| !sim.is_cached(k)).count();
    sim.bar.set_length((missing * sim.steps) as u64);
    for (c, key) in &mine {
        let label = format!("{} seed {}", c.name, key.seed);
        sim.simulate(&label, static_video, key, &c.hand_video, &c.prompt)?;
    }
    sim.bar.finish_and_clear();
    if shard.count > 1 {
        println!(
            "shard {shard}: {} of {} simulations are this shard's ({} generated, {} already cached) in {}; once every shard has finished, run the same command without --shard (same --cache) to rank",
            mine.len(),
            jobs.len(),
            sim.generated,
            sim.reused,
            sim.cache.display()
        );
    }
    Ok(())
}

/// The rooms of a `handtwin synth --alternatives K` folder: each room's clips in alternative order (rooms with
/// fewer than two alternatives left out).
pub(super) fn alternative_rooms(
    dir: &Path,
) -> anyhow::Result<Vec<Vec<crate::synth::manifest::ManifestClip>>> {
    use crate::synth::manifest::{MANIFEST_FILE, Manifest};
    let path = dir.join(MANIFEST_FILE);
    let manifest = Manifest::read(dir).with_context(|| {
        "--benchmark takes a folder made by `handtwin synth --alternatives K`".to_string()
    })?;
    let mut rooms: std::collections::BTreeMap<
        (usize, u64),
        Vec<crate::synth::manifest::ManifestClip>,
    > = std::collections::BTreeMap::new();
    for clip in manifest.clips {
        let Some(room) = clip.index.checked_sub(clip.alternative) else {
            bail!(
                "{}: clip {} is alternative {} but has index {}",
                path.display(),
                clip.stem,
                clip.alternative,
                clip.index
            );
        };
        rooms.entry((room, clip.seed)).or_default().push(clip);
    }
    let rooms: Vec<_> = rooms
        .into_values()
        .filter(|clips| clips.len() >= 2)
        .map(|mut clips| {
            clips.sort_by_key(|c| c.alternative);
            clips
        })
        .collect();
    if rooms.is_empty() {
        bail!(
            "{}: no room has two or more alternatives; make the folder with `handtwin synth --alternatives K` (K ≥ 2)",
            path.display()
        );
    }
    Ok(rooms)
}

#[derive(Serialize)]
struct BenchmarkGoal {
    room: usize,
    goal: String,
    region: GoalRegion,
    /// Per method, every candidate's distance (LPIPS) to the goal, in the room's alternative order.
    distances: std::collections::BTreeMap<String, Vec<f64>>,
}

#[derive(Serialize)]
struct BenchmarkFile {
    format: &'static str,
    version: u32,
    data: PathBuf,
    score: String,
    model: String,
    steps: usize,
    guidance: f64,
    seeds: Vec<u64>,
    rooms: usize,
    candidates_per_room: Vec<usize>,
    summary: Vec<(GoalRegion, Vec<Tally>)>,
    goals: Vec<BenchmarkGoal>,
}

const METHODS: [&str; 5] = [
    "model",
    "model (residual composite)",
    "oracle (the true videos)",
    "static video copied",
    "static video + pasted hands",
];

fn benchmark(args: &RankArgs, dir: &Path, loader: impl ModelLoader) -> anyhow::Result<()> {
    let ffmpeg = Ffmpeg::from_env();
    let mut rooms: Vec<Vec<String>> = alternative_rooms(dir)?
        .into_iter()
        .map(|clips| clips.into_iter().map(|c| c.stem).collect())
        .collect();
    if let Some(limit) = args.rooms {
        rooms.truncate(limit);
    }
    let backbone = args.lpips.backbone();
    let lpips = Lpips::load(backbone, &candle_core::Device::Cpu)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let mut sim = start_simulator(&args.model, args.cache.clone(), loader, &args.out)?;
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|i| args.seed + i).collect();

    // Read every room first: the cache tells how much there is to generate.
    let mut room_data = Vec::new();
    for stems in &rooms {
        let candidates = stems
            .iter()
            .map(|stem| read_candidate(&dir.join(stem), &ffmpeg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        check_same_static(&candidates)?;
        for c in &candidates {
            if c.truth.is_none() {
                bail!(
                    "{}: has no ground truth (videos/{}.mp4); the benchmark's goals are the true final frames",
                    c.source.display(),
                    c.name
                );
            }
        }
        let digest = frames_digest(&candidates[0].static_video);
        let keys = sim.keys(&digest, &candidates, &seeds);
        room_data.push((candidates, keys));
    }
    let missing = room_data
        .iter()
        .flat_map(|(_, keys)| keys.iter().flatten())
        .filter(|k| !sim.is_cached(k))
        .count();
    sim.bar.set_length((missing * sim.steps) as u64);
    let total: usize = room_data.iter().map(|(c, _)| c.len()).sum();
    println!(
        "benchmark: {} rooms, {total} clips × {} seeds ({missing} to generate)",
        room_data.len(),
        seeds.len()
    );
    if let Some(shard) = args.shard {
        let mut generated = 0;
        for (candidates, keys) in &room_data {
            let jobs: Vec<(&Candidate, &GenerationKey)> = candidates
                .iter()
                .zip(keys)
                .flat_map(|(c, keys)| keys.iter().map(move |k| (c, k)))
                .collect();
            // Numbered across rooms, so the shards' shares stay even.
            let offset = generated;
            generated += jobs.len();
            let mine: Vec<_> = jobs
                .into_iter()
                .enumerate()
                .filter(|(i, _)| shard.owns(offset + i))
                .map(|(_, job)| job)
                .collect();
            let all = crate::eval::search::Shard { index: 1, count: 1 };
            simulate_share(&mut sim, all, &candidates[0].static_video, &mine)?;
        }
        println!(
            "shard {shard} done; once every shard has finished, run the same command without --shard (same --cache) for the benchmark"
        );
        return Ok(());
    }
    let started = Instant::now();
    let regions = [GoalRegion::Frame, GoalRegion::Objects];
    let mut tallies: Vec<Vec<Tally>> = regions
        .iter()
        .map(|_| METHODS.iter().map(|m| Tally::new(m)).collect())
        .collect();
    let mut goals_out = Vec::new();
    for (room_index, (candidates, keys)) in room_data.iter().enumerate() {
        let static_video = &candidates[0].static_video;
        // Every candidate's final frames per method (the model's: one per seed).
        let mut generated: Vec<Vec<Frames>> = Vec::new();
        let mut composited: Vec<Vec<Frames>> = Vec::new();
        for (c, keys) in candidates.iter().zip(keys) {
            let (mut g, mut m) = (Vec::new(), Vec::new());
            for key in keys {
                let label = format!("room {} {} seed {}", room_index + 1, c.name, key.seed);
                let s = sim.simulate(&label, static_video, key, &c.hand_video, &c.prompt)?;
                g.push(s.generated);
                m.push(s.composite);
            }
            generated.push(g);
            composited.push(m);
        }
        let static_last = last_frame(static_video).context("a static video has no frames")?;
        let truths: Vec<Frames> = candidates
            .iter()
            .map(|c| {
                c.truth
                    .as_ref()
                    .and_then(last_frame)
                    .context("a truth has no frames")
            })
            .collect::<anyhow::Result<_>>()?;
        let pasted: Vec<Frames> = candidates
            .iter()
            .map(|c| {
                let hands = last_frame(&c.hand_video).context("a hand video has no frames")?;
                paste_hands(&static_last, &hands, HAND_THRESHOLD)
                    .context("the hand and static videos differ in size")
            })
            .collect::<anyhow::Result<_>>()?;
        let hands: Vec<&Frames> = candidates.iter().map(|c| &c.hand_video).collect();
        let objects = objects_region(&hands)?;
        for (g, goal) in truths.iter().enumerate() {
            for (r, region) in regions.iter().enumerate() {
                let mask: Option<RegionMask> = match region {
                    GoalRegion::Frame => None,
                    GoalRegion::Objects => Some(objects.clone()),
                };
                let scorer = GoalScorer::new(lpips.clone(), goal, mask, Some(&static_last))?;
                let mut distances = std::collections::BTreeMap::new();
                let seed_mean = |frames: &[Frames]| -> anyhow::Result<f64> {
                    let values = frames
                        .iter()
                        .map(|f| scorer.score(f).map(|s| s.lpips))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Spread::of(&values).map_or(f64::NAN, |s| s.mean))
                };
                let per_method: [Vec<f64>; 5] = [
                    generated
                        .iter()
                        .map(|f| seed_mean(f))
                        .collect::<anyhow::Result<_>>()?,
                    composited
                        .iter()
                        .map(|f| seed_mean(f))
                        .collect::<anyhow::Result<_>>()?,
                    truths
                        .iter()
                        .map(|f| scorer.score(f).map(|s| s.lpips))
                        .collect::<Result<_, _>>()?,
                    {
                        let d = scorer.score(&static_last)?.lpips;
                        vec![d; candidates.len()]
                    },
                    pasted
                        .iter()
                        .map(|f| scorer.score(f).map(|s| s.lpips))
                        .collect::<Result<_, _>>()?,
                ];
                for (m, values) in per_method.into_iter().enumerate() {
                    tallies[r][m].add(&values, g);
                    distances.insert(METHODS[m].to_string(), values);
                }
                goals_out.push(BenchmarkGoal {
                    room: room_index,
                    goal: candidates[g].name.clone(),
                    region: *region,
                    distances,
                });
            }
        }
    }
    sim.bar.finish_and_clear();
    let file = BenchmarkFile {
        format: "handtwin.rank_benchmark",
        version: 1,
        data: dir.to_path_buf(),
        score: format!("LPIPS-{}", backbone.name()),
        model: sim.model_name.clone(),
        steps: sim.steps,
        guidance: sim.guidance,
        seeds: seeds.clone(),
        rooms: room_data.len(),
        candidates_per_room: room_data.iter().map(|(c, _)| c.len()).collect(),
        summary: regions
            .iter()
            .copied()
            .zip(tallies.iter().cloned())
            .collect(),
        goals: goals_out,
    };
    let json_path = args.out.join("benchmark.json");
    crate::action::write_atomically(&json_path, serde_json::to_string_pretty(&file)?.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    println!(
        "{} generated, {} from the cache, {:.1} s; every distance in {}",
        sim.generated,
        sim.reused,
        started.elapsed().as_secs_f64(),
        json_path.display()
    );
    for (region, tallies) in regions.iter().zip(&tallies) {
        println!(
            "goal region {} (LPIPS-{}, {} seeds):",
            region.name(),
            backbone.name(),
            seeds.len()
        );
        for tally in tallies {
            println!("  {}", tally.line());
        }
    }
    Ok(())
}
