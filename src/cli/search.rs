//! `handtwin search`: find the hand action that reaches a goal image, with the world model as the simulator.
//! A starting action (`ActionParams` JSON, or any action file, fitted by `ActionParams::fit`) and a box around it
//! are searched by the cross-entropy method (`eval::search`): every candidate is built into an action along the
//! camera path, its hand stream rasterised on the CPU (`streams::raster`: hands alone on black, the GPU pass's pixels; the static stream is rendered or read once), the
//! world model run (through the worker, cached as `rank` caches), and its final frame scored by −LPIPS to the
//! goal; all candidates of a generation share one seed, so they are compared fairly. Writes the best action, the
//! search's state (every candidate, its parameters, score and generation), a convergence plot and a contact sheet;
//! run again with the same `--out` to resume. `--shard I/N` runs one of N machines' share of every generation
//! against a shared `--cache`; `--benchmark DIR` runs the search benchmark over a `synth --alternatives` folder.

use super::rank::{ActionRenderer, Simulator, start_simulator};
use crate::action::{
    Action, ActionParams, CameraPath, DenseCameraPath, FitTimes, search_parameter_names,
};
use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::rank::{
    GoalScorer, SheetTile, contact_sheet, draw_text, frames_digest, last_frame,
};
use crate::eval::search::{CemSettings, CemState, SearchBox, Shard, halton_design, run};
use crate::hand::Side;
use crate::video::{Ffmpeg, Frames, read_video_with};
use crate::worker::ModelLoader;
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The goal image (same aspect as the frames; resized to them).
    #[arg(long, required_unless_present = "benchmark")]
    pub goal: Option<PathBuf>,
    /// Where to start: action parameters (`ActionParams` JSON: side, grasp_point, grasp_preset, approach_start,
    /// contact, motion, motion_seconds, release), or an action file (a demo, a candidate), whose acting hand is
    /// fitted into parameters (written to OUT/start.params.json).
    #[arg(long, required_unless_present = "benchmark")]
    pub start: Option<PathBuf>,
    /// Which hand of an action file to fit (default: its only hand, or the right).
    #[arg(long, value_parser = parse_side)]
    pub side: Option<Side>,
    /// The camera path: a `handtwin.camera_path` file or an action file (its camera). Default: the start's, when
    /// it is an action file.
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// The static stream as a video (a DWM sample's `videos_static/STEM.mp4`); its size, frame count and rate are
    /// the search's. Without it the static stream is rendered once in --scene.
    #[arg(long = "static")]
    pub static_video: Option<PathBuf>,
    /// How far (metres) the grasp point may move from the start's, in each axis.
    #[arg(long, default_value_t = 0.3)]
    pub radius: f32,
    /// Simulations in all (candidates × generations).
    #[arg(long, default_value_t = 32)]
    pub budget: usize,
    /// Candidates per generation.
    #[arg(long, default_value_t = 8)]
    pub population: usize,
    /// The scene (default: the bundled room).
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Frame size, WIDTHxHEIGHT (without --static).
    #[arg(long, default_value = "240x160", value_parser = super::parse_size)]
    pub size: (u32, u32),
    /// Frames (without --static; default: the start action file's, else 17).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frame rate (without --static; default: the start action file's, else 8).
    #[arg(long)]
    pub fps: Option<f64>,
    /// The text prompt of every simulation (default: empty — a prompt naming the start's target would pull the
    /// search towards it).
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// The search's seed (its sampling) and the first generation's generation seed (then +1 per generation).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// Output folder: search.json, best.action.json, convergence.png, contact_sheet.png (and cache/ unless
    /// --cache).
    #[arg(long)]
    pub out: PathBuf,
    /// Where generated clips are cached (default: OUT/cache); shards share one.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Simulate this machine's share I of N: every shard proposes the same candidates, simulates its own into the
    /// shared --cache and waits there for the others', so all shards end with the same result.
    #[arg(long, value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Seconds a shard waits for another shard's simulation before giving up.
    #[arg(long, default_value_t = 3600)]
    pub shard_patience: u64,
    /// Run the search benchmark over a `handtwin synth --alternatives K` folder: for each clip, start from another
    /// alternative of its room (a wrong target) and search toward the clip's final true frame; compare with a fixed
    /// design of the same budget, the start and the true action; prints the summary last.
    #[arg(long, conflicts_with_all = ["goal", "start"])]
    pub benchmark: Option<PathBuf>,
    /// Benchmark at most this many rooms.
    #[arg(long)]
    pub rooms: Option<usize>,
}

fn parse_side(text: &str) -> Result<Side, String> {
    match text.trim().to_lowercase().as_str() {
        "left" | "l" => Ok(Side::Left),
        "right" | "r" => Ok(Side::Right),
        _ => Err(format!("\"{text}\" is not a hand: left or right")),
    }
}

/// `search.json`: the settings it was started with, and the optimiser's state.
#[derive(Serialize, Deserialize)]
struct SearchFile {
    format: String,
    version: u32,
    goal: PathBuf,
    start: ActionParams,
    radius: f32,
    size: (u32, u32),
    frames: usize,
    fps: f64,
    prompt: String,
    seed: u64,
    parameters: Vec<String>,
    state: CemState,
    best: Option<ActionParams>,
    best_score: Option<f64>,
}

const SEARCH_FORMAT: &str = "handtwin.search";

fn read_camera(path: &Path) -> anyhow::Result<CameraPath> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.contains("\"handtwin.camera_path\"") {
        let dense = DenseCameraPath::parse(&text, path)?;
        return Ok(CameraPath::from_dense(&dense)?);
    }
    Ok(Action::parse(&text, path)?.camera)
}

/// The start: parameters as they are, or an action file's acting hand fitted.
fn read_start(path: &Path, side: Option<Side>) -> anyhow::Result<(ActionParams, Option<Action>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.contains("\"handtwin.action\"") {
        let action = Action::parse(&text, path)?;
        let side = side.unwrap_or(match (&action.left, &action.right) {
            (Some(_), None) => Side::Left,
            _ => Side::Right,
        });
        let params = ActionParams::fit(&action, side, FitTimes::default()).with_context(|| {
            format!(
                "{}: fitting its hand into search parameters",
                path.display()
            )
        })?;
        return Ok((params, Some(action)));
    }
    let params: ActionParams = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: neither action parameters nor a handtwin.action file",
            path.display()
        )
    })?;
    Ok((params, None))
}

/// One simulated action: its score (−LPIPS to the goal) and final frames.
struct Outcome {
    score: f64,
    hands: Frames,
    generated: Frames,
}

/// Simulates actions on one static stream: builds each, renders its hands alone, runs the model (or waits for
/// another shard's run), scores the final frame.
struct Simulation {
    sim: Simulator,
    models: crate::hand::HandModels,
    camera: CameraPath,
    static_video: Frames,
    static_digest: String,
    frames: usize,
    fps: f64,
    prompt: String,
    shard: Option<Shard>,
    patience: Duration,
    /// Time spent rendering hand streams, and how many.
    hand_seconds: f64,
    hand_renders: usize,
}

impl Simulation {
    fn hand_video(&mut self, params: &ActionParams) -> anyhow::Result<Frames> {
        let action = params.build(&self.camera, self.frames, self.fps, &self.prompt)?;
        let started = Instant::now();
        // On the CPU: the same pixels as the GPU pass (tests/hand_raster.rs), without a renderer's frame loop
        // (examples/bench_hand_stream.rs measures both).
        let meshes = action
            .hand_meshes(&self.models, self.frames, self.fps)
            .context("posing the hands")?;
        let (w, h) = (self.static_video.width(), self.static_video.height());
        let intrinsics: Vec<_> = action
            .camera
            .frames(self.frames, self.fps)
            .iter()
            .map(|c| c.intrinsics.resized(w, h))
            .collect();
        let hands = crate::streams::raster::hand_stream(&meshes, &intrinsics, self.fps)?;
        self.hand_seconds += started.elapsed().as_secs_f64();
        self.hand_renders += 1;
        Ok(hands)
    }

    /// Simulates a hand stream with `seed`; `job` decides the shard.
    fn simulate_hands(
        &mut self,
        hands: Frames,
        seed: u64,
        label: &str,
        job: usize,
        scorer: &GoalScorer,
    ) -> anyhow::Result<Outcome> {
        let key = self
            .sim
            .key(&self.static_digest, &hands, &self.prompt, seed);
        let simulated = match self.shard {
            Some(shard) if !shard.owns(job) => self.sim.wait_for(label, &key, self.patience)?,
            _ => self.sim.simulate(
                label,
                &self.static_video,
                &key,
                &hands,
                &self.prompt.clone(),
            )?,
        };
        Ok(Outcome {
            score: -scorer.score(&simulated.generated)?.lpips,
            hands: last_frame(&hands).context("no hand frames")?,
            generated: simulated.generated,
        })
    }

    fn simulate(
        &mut self,
        params: &ActionParams,
        seed: u64,
        label: &str,
        job: usize,
        scorer: &GoalScorer,
    ) -> anyhow::Result<Outcome> {
        let hands = self.hand_video(params)?;
        self.simulate_hands(hands, seed, label, job, scorer)
    }

    /// Runs the cross-entropy method from `state` to `budget` simulations; generation g is simulated with seed
    /// `seed` + g. `after` sees the state after each generation (to save it).
    #[allow(clippy::too_many_arguments)] // one search's whole description; the benchmark and `search` share it
    fn search(
        &mut self,
        state: &mut CemState,
        start: &ActionParams,
        seed: u64,
        budget: usize,
        scorer: &GoalScorer,
        name: &str,
        mut after: impl FnMut(&CemState) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let population = state.settings.population;
        let say = self.sim.sayer();
        let mut failed = None;
        run(
            state,
            budget,
            |generation, candidates| -> anyhow::Result<Vec<f64>> {
                candidates
                    .iter()
                    .enumerate()
                    .map(|(k, x)| {
                        let label = format!("{name}generation {generation} candidate {}", k + 1);
                        let job = generation * population + k;
                        self.simulate(
                            &start.with_search_vector(x),
                            seed + generation as u64,
                            &label,
                            job,
                            scorer,
                        )
                        .map(|o| o.score)
                    })
                    .collect()
            },
            |state| {
                if let Some((best, mean)) = state.convergence().last() {
                    say(&format!(
                        "{name}generation {}: best score {best:.4}, mean {mean:.4} ({} simulations)",
                        state.generation - 1,
                        state.evaluated.len()
                    ));
                }
                if let Err(e) = after(state) {
                    failed.get_or_insert(e);
                }
            },
        )?;
        failed.map_or(Ok(()), Err)
    }
}

/// The search box around `start`.
fn search_box(start: &ActionParams, radius: f32, duration: f64) -> anyhow::Result<SearchBox> {
    let (low, high) = start.search_bounds(f64::from(radius), duration);
    SearchBox::new(low, high).map_err(|e| anyhow::anyhow!("the search box: {e}"))
}

fn read_goal_image(path: &Path, size: (u32, u32), fps: f64) -> anyhow::Result<Frames> {
    let image = image::open(path)
        .with_context(|| format!("cannot read the goal image {}", path.display()))?
        .to_rgb8();
    let image = image::imageops::resize(
        &image,
        size.0,
        size.1,
        image::imageops::FilterType::Triangle,
    );
    Ok(Frames::from_images(vec![image], fps)?)
}

fn hand_models() -> anyhow::Result<crate::hand::HandModels> {
    let source = crate::hand::HandModelSource::chosen(None);
    crate::hand::HandModels::load(&source)
        .with_context(|| format!("loading the hand model ({source})"))
}

fn scorer_for(goal: &Frames) -> anyhow::Result<GoalScorer> {
    Ok(GoalScorer::new(
        Lpips::load(Backbone::Alex, &candle_core::Device::Cpu)?,
        goal,
        None,
        None,
    )?)
}

/// A line plot of the best and mean score per generation (best in green, mean in grey), with the first and last
/// best written at the left.
fn convergence_plot(curve: &[(f64, f64)]) -> image::RgbImage {
    let (w, h, margin) = (640u32, 360u32, 40i64);
    let mut plot = image::RgbImage::from_pixel(w, h, image::Rgb([250, 250, 250]));
    let values: Vec<f64> = curve.iter().flat_map(|&(b, m)| [b, m]).collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = (hi - lo).max(1e-9);
    let to_xy = |g: usize, v: f64| -> (i64, i64) {
        let x = margin + (g as i64) * (i64::from(w) - 2 * margin) / (curve.len().max(2) as i64 - 1);
        let y =
            i64::from(h) - margin - ((v - lo) / span * (f64::from(h) - 2.0 * margin as f64)) as i64;
        (x, y)
    };
    let mut line = |a: (i64, i64), b: (i64, i64), color: [u8; 3]| {
        let steps = (a.0 - b.0).abs().max((a.1 - b.1).abs()).max(1);
        for s in 0..=steps {
            let x = a.0 + (b.0 - a.0) * s / steps;
            let y = a.1 + (b.1 - a.1) * s / steps;
            for (dx, dy) in [(0, 0), (0, 1), (1, 0)] {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && px < i64::from(w) && py < i64::from(h) {
                    plot.put_pixel(px as u32, py as u32, image::Rgb(color));
                }
            }
        }
    };
    line(
        (margin, i64::from(h) - margin),
        (i64::from(w) - margin, i64::from(h) - margin),
        [0, 0, 0],
    );
    line((margin, margin), (margin, i64::from(h) - margin), [0, 0, 0]);
    for g in 1..curve.len() {
        line(
            to_xy(g - 1, curve[g - 1].1),
            to_xy(g, curve[g].1),
            [150, 150, 150],
        );
        line(
            to_xy(g - 1, curve[g - 1].0),
            to_xy(g, curve[g].0),
            [30, 150, 60],
        );
    }
    draw_text(&mut plot, 4, 4, &format!("{hi:.3}"), 2, [30, 30, 30]);
    draw_text(&mut plot, 4, h - 20, &format!("{lo:.3}"), 2, [30, 30, 30]);
    plot
}

pub fn run_search(args: SearchArgs) -> anyhow::Result<()> {
    run_with(args, crate::worker::DwmLoader)
}

pub fn run_with(args: SearchArgs, loader: impl ModelLoader) -> anyhow::Result<()> {
    if args.population == 0 || args.budget < args.population {
        bail!(
            "--budget ({}) must allow at least one generation of --population ({}) candidates",
            args.budget,
            args.population
        );
    }
    if let Some(dir) = args.benchmark.clone() {
        return benchmark(&args, &dir, loader);
    }
    let goal_path = args.goal.clone().context("give --goal IMAGE")?;
    let start_path = args
        .start
        .clone()
        .context("give --start PARAMS_OR_ACTION")?;
    let (start, start_action) = read_start(&start_path, args.side)?;
    let camera = match (&args.camera, &start_action) {
        (Some(path), _) => read_camera(path)?,
        (None, Some(action)) => action.camera.clone(),
        (None, None) => bail!(
            "{}: action parameters have no camera; give --camera (a camera path or an action file)",
            start_path.display()
        ),
    };
    let ffmpeg = Ffmpeg::from_env();
    let given_static = args
        .static_video
        .as_ref()
        .map(|path| {
            read_video_with(path, &ffmpeg)
                .with_context(|| format!("cannot read the static video {}", path.display()))
        })
        .transpose()?;
    let (size, frames, fps) = match &given_static {
        Some(video) => (
            (video.width(), video.height()),
            video.frame_count(),
            video.fps(),
        ),
        None => (
            args.size,
            args.frames
                .or(start_action.as_ref().map(|a| a.frame_count))
                .unwrap_or(17),
            args.fps
                .or(start_action.as_ref().map(|a| a.fps))
                .unwrap_or(8.0),
        ),
    };
    let duration = (frames.max(2) - 1) as f64 / fps;
    start
        .check(duration)
        .map_err(|e| anyhow::anyhow!("{}: {e}", start_path.display()))?;
    let goal = read_goal_image(&goal_path, size, fps)?;
    let scorer = scorer_for(&goal)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if start_action.is_some() {
        let path = args.out.join("start.params.json");
        crate::action::write_atomically(&path, serde_json::to_string_pretty(&start)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "fitted {} into search parameters ({})",
            start_path.display(),
            path.display()
        );
    }
    let json_path = args.out.join("search.json");
    let settings = CemSettings {
        population: args.population,
        ..CemSettings::default()
    };
    let mut state = match std::fs::read_to_string(&json_path) {
        Ok(text) => {
            let file: SearchFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a search file", json_path.display()))?;
            if file.format != SEARCH_FORMAT
                || file.start != start
                || file.seed != args.seed
                || file.state.settings.population != args.population
            {
                bail!(
                    "{} holds another search (another start, seed or population); choose a new --out",
                    json_path.display()
                );
            }
            println!(
                "resuming {} at generation {}",
                json_path.display(),
                file.state.generation
            );
            file.state
        }
        Err(_) => CemState::new(
            search_box(&start, args.radius, duration)?,
            Some(start.search_vector()),
            settings,
            args.seed,
        )
        .map_err(|e| anyhow::anyhow!(e))?,
    };
    let static_video = match given_static {
        Some(video) => video,
        None => {
            let mut renderer = ActionRenderer::new(args.scene.as_deref(), Some(size))?;
            let action = start.build(&camera, frames, fps, &args.prompt)?;
            renderer.render_action(&action, "static")?.static_video
        }
    };
    let sim = start_simulator(&args.model, args.cache.clone(), loader, &args.out)?;
    let generations_left = (args.budget.saturating_sub(state.evaluated.len())) / args.population;
    sim.set_length(generations_left * args.population);
    let mut simulation = Simulation {
        sim,
        models: hand_models()?,
        camera: camera.clone(),
        static_digest: frames_digest(&static_video),
        static_video,
        frames,
        fps,
        prompt: args.prompt.clone(),
        shard: args.shard,
        patience: Duration::from_secs(args.shard_patience),
        hand_seconds: 0.0,
        hand_renders: 0,
    };
    let started = Instant::now();
    let names: Vec<String> = search_parameter_names(&start.motion)
        .into_iter()
        .map(String::from)
        .collect();
    let save = |state: &CemState| -> anyhow::Result<()> {
        let best = state.best();
        let file = SearchFile {
            format: SEARCH_FORMAT.into(),
            version: 2,
            goal: goal_path.clone(),
            start: start.clone(),
            radius: args.radius,
            size,
            frames,
            fps,
            prompt: args.prompt.clone(),
            seed: args.seed,
            parameters: names.clone(),
            state: state.clone(),
            best: best.map(|b| start.with_search_vector(&b.parameters)),
            best_score: best.map(|b| b.score),
        };
        crate::action::write_atomically(&json_path, serde_json::to_string_pretty(&file)?.as_bytes())
            .with_context(|| format!("cannot write {}", json_path.display()))
    };
    if let Some(shard) = args.shard {
        println!(
            "shard {shard}: simulating every {}th candidate into {}, waiting there for the others",
            shard.count,
            args.cache
                .clone()
                .unwrap_or_else(|| args.out.join("cache"))
                .display()
        );
    }
    simulation.search(
        &mut state,
        &start,
        args.seed,
        args.budget,
        &scorer,
        "",
        save,
    )?;
    save(&state)?;
    let best = state
        .best()
        .context("the search simulated nothing")?
        .clone();
    let best_params = start.with_search_vector(&best.parameters);
    let best_action = best_params.build(&camera, frames, fps, &args.prompt)?;
    let best_path = args.out.join("best.action.json");
    best_action
        .save(&best_path)
        .with_context(|| format!("cannot write {}", best_path.display()))?;
    convergence_plot(&state.convergence())
        .save(args.out.join("convergence.png"))
        .context("cannot write convergence.png")?;
    // The contact sheet: the best eight candidates (from the cache: they were all simulated above or before a
    // resume).
    let mut order: Vec<usize> = (0..state.evaluated.len()).collect();
    order.sort_by(|&a, &b| {
        state.evaluated[b]
            .score
            .total_cmp(&state.evaluated[a].score)
    });
    let mut finals = Vec::new();
    for &i in order.iter().take(8) {
        let e = &state.evaluated[i];
        let label = format!("generation {} (contact sheet)", e.generation);
        let outcome = simulation.simulate(
            &start.with_search_vector(&e.parameters),
            args.seed + e.generation as u64,
            &label,
            i,
            &scorer,
        )?;
        finals.push(outcome);
    }
    simulation.sim.finish();
    let tiles: Vec<SheetTile> = finals
        .iter()
        .enumerate()
        .map(|(i, o)| SheetTile {
            hands: &o.hands,
            generated: &o.generated,
            label: format!("#{} {:.3}", i + 1, -o.score),
        })
        .collect();
    if !tiles.is_empty() {
        contact_sheet(&goal, &tiles, size.0.clamp(160, 320), 4)
            .context("cannot draw the contact sheet")?
            .save(args.out.join("contact_sheet.png"))
            .context("cannot write contact_sheet.png")?;
    }
    let shown: Vec<String> = names
        .iter()
        .zip(&best.parameters)
        .map(|(n, v)| format!("{n} {v:.3}"))
        .collect();
    println!(
        "best score {:.4} (−LPIPS) at generation {}: {} · {} simulations ({} generated here, {} from the cache), {:.0} s; hand streams {:.2} s each · wrote {}",
        best.score,
        best.generation,
        shown.join(", "),
        state.evaluated.len(),
        simulation.sim.generated,
        simulation.sim.reused,
        started.elapsed().as_secs_f64(),
        simulation.hand_seconds / simulation.hand_renders.max(1) as f64,
        best_path.display()
    );
    Ok(())
}

/// One goal of the search benchmark, as written to OUT/goals/STEM.json.
#[derive(Serialize, Deserialize)]
struct BenchmarkGoal {
    room: usize,
    goal: String,
    goal_prompt: String,
    start: String,
    start_prompt: String,
    /// Whether the true action's fitted parameters lie in the box searched.
    true_inside_box: bool,
    /// LPIPS to the goal at the evaluation seed, per method.
    lpips: std::collections::BTreeMap<String, f64>,
    /// The best LPIPS each search saw during its run (at its own seeds; optimistic: the best of many noisy draws).
    lpips_seen: std::collections::BTreeMap<String, f64>,
    /// Whether the method's action is nearest the true alternative (grasp point and where the grasp ends up).
    right_target: std::collections::BTreeMap<String, bool>,
    /// Each method's found parameters (the search vector).
    parameters: std::collections::BTreeMap<String, Vec<f64>>,
    /// Seconds spent on each method's simulations here (0 when everything came from the cache).
    seconds: std::collections::BTreeMap<String, f64>,
}

#[derive(Serialize)]
struct SearchBenchmarkFile<'a> {
    format: &'static str,
    version: u32,
    data: PathBuf,
    model: String,
    budget: usize,
    population: usize,
    radius: f32,
    seed: u64,
    evaluation_seed: u64,
    goals: &'a [BenchmarkGoal],
}

const SEARCHED: &str = "search (CEM)";
const DESIGN: &str = "fixed design (Halton)";
const START: &str = "start (another alternative)";
const TRUE_FITTED: &str = "true action, fitted";
const TRUE_ACTION: &str = "true action (its hand video)";

/// The grasp point and where it ends up, for telling targets apart.
fn grasp_and_end(p: &ActionParams) -> [glam::Vec3; 2] {
    let x = p.search_vector();
    let grasp = glam::Vec3::new(x[0] as f32, x[1] as f32, x[2] as f32);
    let end = if x.len() == 7 {
        grasp + glam::Vec3::new(x[4] as f32, x[5] as f32, x[6] as f32)
    } else {
        grasp
    };
    [grasp, end]
}

/// Which alternative `p` is nearest to.
fn nearest_alternative(p: &ActionParams, alternatives: &[ActionParams]) -> usize {
    let [g, e] = grasp_and_end(p);
    let distance = |a: &ActionParams| {
        let [ga, ea] = grasp_and_end(a);
        (g - ga).length() + (e - ea).length()
    };
    (0..alternatives.len())
        .min_by(|&a, &b| distance(&alternatives[a]).total_cmp(&distance(&alternatives[b])))
        .unwrap_or(0)
}

fn benchmark(args: &SearchArgs, dir: &Path, loader: impl ModelLoader) -> anyhow::Result<()> {
    let ffmpeg = Ffmpeg::from_env();
    let mut rooms = super::rank::alternative_rooms(dir)?;
    if let Some(limit) = args.rooms {
        rooms.truncate(limit);
    }
    let goals_dir = args.out.join("goals");
    std::fs::create_dir_all(&goals_dir)
        .with_context(|| format!("cannot create {}", goals_dir.display()))?;
    let total_goals: usize = rooms.iter().map(Vec::len).sum();
    let done = |stem: &str| goals_dir.join(format!("{stem}.json"));
    let todo = rooms
        .iter()
        .flatten()
        .enumerate()
        .filter(|(i, c)| args.shard.is_none_or(|s| s.owns(*i)) && !done(&c.stem).is_file())
        .count();
    let sim = start_simulator(&args.model, args.cache.clone(), loader, &args.out)?;
    // Per goal: a search and a design of `budget`, and five evaluations.
    sim.set_length(todo * (2 * (args.budget / args.population) * args.population + 5));
    println!(
        "search benchmark: {} rooms, {total_goals} goals ({todo} to run{}), budget {} in generations of {}",
        rooms.len(),
        args.shard
            .map_or(String::new(), |s| format!(" as shard {s}")),
        args.budget,
        args.population
    );
    let mut simulation: Option<Simulation> = None;
    let mut sim = Some(sim);
    let evaluation_seed = args.seed + 1000;
    let mut goal_index = 0;
    for (room_index, room) in rooms.iter().enumerate() {
        let first = goal_index;
        goal_index += room.len();
        if (first..goal_index)
            .all(|i| !args.shard.is_none_or(|s| s.owns(i)) || done(&room[i - first].stem).is_file())
        {
            continue;
        }
        // The room: its static stream, camera path, and every alternative's action fitted into parameters.
        let mut alternatives = Vec::new();
        let mut samples = Vec::new();
        for clip in room {
            let sample = crate::video::DwmSample::read(dir, &clip.stem, &ffmpeg)
                .with_context(|| format!("reading the clip {} in {}", clip.stem, dir.display()))?;
            let action_path = dir.join("actions").join(format!("{}.json", clip.stem));
            let action = Action::load(&action_path)?;
            let params = ActionParams::fit(
                &action,
                clip.acting_hand,
                FitTimes {
                    contact: clip.grasp_seconds,
                    motion_end: clip.moved_seconds,
                },
            )
            .with_context(|| format!("{}: fitting its hand", action_path.display()))?;
            alternatives.push(params);
            samples.push((sample, action));
        }
        let (first_sample, first_action) = &samples[0];
        let static_video = first_sample.static_video.clone();
        let (frames, fps) = (static_video.frame_count(), static_video.fps());
        let duration = (frames.max(2) - 1) as f64 / fps;
        match simulation.as_mut() {
            Some(s) => {
                s.camera = first_action.camera.clone();
                s.static_digest = frames_digest(&static_video);
                s.static_video = static_video;
                (s.frames, s.fps) = (frames, fps);
            }
            None => {
                simulation = Some(Simulation {
                    sim: sim.take().context("the simulator is gone")?,
                    models: hand_models()?,
                    camera: first_action.camera.clone(),
                    static_digest: frames_digest(&static_video),
                    static_video,
                    frames,
                    fps,
                    prompt: args.prompt.clone(),
                    shard: None,
                    patience: Duration::from_secs(args.shard_patience),
                    hand_seconds: 0.0,
                    hand_renders: 0,
                })
            }
        }
        let Some(s) = simulation.as_mut() else {
            bail!("no simulation")
        };
        for (g, clip) in room.iter().enumerate() {
            let index = first + g;
            if !args.shard.is_none_or(|sh| sh.owns(index)) || done(&clip.stem).is_file() {
                continue;
            }
            let (sample, _) = &samples[g];
            let truth = sample.ground_truth.as_ref().with_context(|| {
                format!(
                    "{}: no true video (videos/{}.mp4)",
                    dir.display(),
                    clip.stem
                )
            })?;
            let goal = last_frame(truth).context("a true video has no frames")?;
            let scorer = scorer_for(&goal)?;
            let s_index = (g + 1) % room.len();
            let start = &alternatives[s_index];
            let truth_params = &alternatives[g];
            let search_box = search_box(start, args.radius, duration)?;
            let true_inside_box = truth_params
                .search_vector()
                .iter()
                .enumerate()
                .all(|(d, v)| (search_box.low[d]..=search_box.high[d]).contains(v));
            let name = format!("room {} goal {}: ", room_index + 1, g + 1);

            let generated_before = s.sim.generated;
            let clock = Instant::now();
            let mut state = CemState::new(
                search_box.clone(),
                Some(start.search_vector()),
                CemSettings {
                    population: args.population,
                    ..CemSettings::default()
                },
                args.seed,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            s.search(
                &mut state,
                start,
                args.seed,
                args.budget,
                &scorer,
                &name,
                |_| Ok(()),
            )?;
            let searched = state
                .best()
                .context("the search simulated nothing")?
                .clone();
            let search_seconds = clock.elapsed().as_secs_f64();

            // The fixed design, in chunks of a generation with the same seeds as the search's generations.
            let clock = Instant::now();
            let runs = args.budget / args.population * args.population;
            let mut design_best: Option<(f64, Vec<f64>)> = None;
            for (i, x) in halton_design(&search_box, runs).into_iter().enumerate() {
                let generation = i / args.population;
                let label = format!("{name}design point {}", i + 1);
                let outcome = s.simulate(
                    &start.with_search_vector(&x),
                    args.seed + generation as u64,
                    &label,
                    i,
                    &scorer,
                )?;
                if design_best.as_ref().is_none_or(|(b, _)| outcome.score > *b) {
                    design_best = Some((outcome.score, x));
                }
            }
            let (design_score, design_x) = design_best.context("the design simulated nothing")?;
            let design_seconds = clock.elapsed().as_secs_f64();

            // Everything at one evaluation seed none of the searches used.
            let found = start.with_search_vector(&searched.parameters);
            let designed = start.with_search_vector(&design_x);
            let mut lpips = std::collections::BTreeMap::new();
            for (method, params) in [
                (SEARCHED, &found),
                (DESIGN, &designed),
                (START, start),
                (TRUE_FITTED, truth_params),
            ] {
                let label = format!("{name}{method} (evaluation)");
                let o = s.simulate(params, evaluation_seed, &label, 0, &scorer)?;
                lpips.insert(method.to_string(), -o.score);
            }
            let label = format!("{name}{TRUE_ACTION} (evaluation)");
            let o = s.simulate_hands(
                sample.hand_video.clone(),
                evaluation_seed,
                &label,
                0,
                &scorer,
            )?;
            lpips.insert(TRUE_ACTION.to_string(), -o.score);
            let right = |p: &ActionParams| nearest_alternative(p, &alternatives) == g;
            let record = BenchmarkGoal {
                room: room_index,
                goal: clip.stem.clone(),
                goal_prompt: clip.prompt.clone(),
                start: room[s_index].stem.clone(),
                start_prompt: room[s_index].prompt.clone(),
                true_inside_box,
                lpips,
                lpips_seen: [
                    (SEARCHED.to_string(), -searched.score),
                    (DESIGN.to_string(), -design_score),
                ]
                .into(),
                right_target: [
                    (SEARCHED.to_string(), right(&found)),
                    (DESIGN.to_string(), right(&designed)),
                    (START.to_string(), right(start)),
                    (TRUE_FITTED.to_string(), right(truth_params)),
                ]
                .into(),
                parameters: [
                    (SEARCHED.to_string(), searched.parameters.clone()),
                    (DESIGN.to_string(), design_x),
                    (START.to_string(), start.search_vector()),
                    (TRUE_FITTED.to_string(), truth_params.search_vector()),
                ]
                .into(),
                seconds: if s.sim.generated > generated_before {
                    [
                        (SEARCHED.to_string(), search_seconds),
                        (DESIGN.to_string(), design_seconds),
                    ]
                    .into()
                } else {
                    Default::default()
                },
            };
            let path = done(&clip.stem);
            crate::action::write_atomically(
                &path,
                serde_json::to_string_pretty(&record)?.as_bytes(),
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
            s.sim.say(&format!(
                "{name}{} → {}: LPIPS search {:.4}, design {:.4}, true {:.4}; right target: search {}, design {}",
                room[s_index].prompt,
                clip.prompt,
                record.lpips[SEARCHED],
                record.lpips[DESIGN],
                record.lpips[TRUE_ACTION],
                record.right_target[SEARCHED],
                record.right_target[DESIGN]
            ));
        }
    }
    let hand_seconds = simulation
        .as_ref()
        .map(|s| s.hand_seconds / s.hand_renders.max(1) as f64);
    let model_name = match (&simulation, &sim) {
        (Some(s), _) => {
            s.sim.finish();
            s.sim.model_name()
        }
        (None, Some(sim)) => {
            sim.finish();
            sim.model_name()
        }
        (None, None) => String::new(),
    };
    // The summary, over every goal on disk (all shards').
    let mut goals = Vec::new();
    for clip in rooms.iter().flatten() {
        let path = done(&clip.stem);
        match std::fs::read_to_string(&path) {
            Ok(text) => goals.push(
                serde_json::from_str::<BenchmarkGoal>(&text)
                    .with_context(|| format!("{}: not a benchmark goal", path.display()))?,
            ),
            Err(_) if args.shard.is_some() => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    let file = SearchBenchmarkFile {
        format: "handtwin.search_benchmark",
        version: 1,
        data: dir.to_path_buf(),
        model: model_name,
        budget: args.budget,
        population: args.population,
        radius: args.radius,
        seed: args.seed,
        evaluation_seed,
        goals: &goals,
    };
    let json_path = args.out.join("search_benchmark.json");
    crate::action::write_atomically(&json_path, serde_json::to_string_pretty(&file)?.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    if goals.len() < total_goals {
        println!(
            "shard {}: {} of {total_goals} goals are done; run the same command without --shard (same --out) for the summary once all shards have finished",
            args.shard.map_or("-".into(), |s| s.to_string()),
            goals.len()
        );
        return Ok(());
    }
    print_summary(&goals, args, hand_seconds, &json_path);
    Ok(())
}

fn print_summary(
    goals: &[BenchmarkGoal],
    args: &SearchArgs,
    hand_seconds: Option<f64>,
    json: &Path,
) {
    let mean =
        |values: Vec<f64>| -> f64 { values.iter().sum::<f64>() / values.len().max(1) as f64 };
    println!();
    println!(
        "search benchmark: {} goals, budget {} (generations of {}), box ±{} m, evaluation seed {}",
        goals.len(),
        args.budget,
        args.population,
        args.radius,
        args.seed + 1000
    );
    println!(
        "{:<32} {:>13} {:>14} {:>12}",
        "method", "right target", "LPIPS to goal", "seconds"
    );
    for method in [START, DESIGN, SEARCHED, TRUE_FITTED, TRUE_ACTION] {
        let right: Vec<bool> = goals
            .iter()
            .filter_map(|g| g.right_target.get(method).copied())
            .collect();
        let right = if right.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.0}%",
                100.0 * right.iter().filter(|r| **r).count() as f64 / right.len() as f64
            )
        };
        let lpips = mean(
            goals
                .iter()
                .filter_map(|g| g.lpips.get(method).copied())
                .collect(),
        );
        let seconds: Vec<f64> = goals
            .iter()
            .filter_map(|g| g.seconds.get(method).copied())
            .collect();
        let seconds = if seconds.is_empty() {
            "-".to_string()
        } else {
            format!("{:.0}", mean(seconds))
        };
        println!("{method:<32} {right:>13} {lpips:>14.4} {seconds:>12}");
    }
    let beats = goals
        .iter()
        .filter(|g| g.lpips[SEARCHED] <= g.lpips[DESIGN])
        .count();
    let near_true = goals
        .iter()
        .filter(|g| g.lpips[SEARCHED] <= g.lpips[TRUE_ACTION] + 0.01)
        .count();
    let inside = goals.iter().filter(|g| g.true_inside_box).count();
    println!(
        "search ≤ design on {beats}/{} goals; search within 0.01 LPIPS of the true action on {near_true}/{}; the true action lay inside the box on {inside}/{}{}",
        goals.len(),
        goals.len(),
        goals.len(),
        hand_seconds.map_or(String::new(), |h| format!("; hand streams {h:.2} s each"))
    );
    println!("wrote {}", json.display());
}
