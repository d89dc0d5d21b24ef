//! `handtwin search`: find the hand action that reaches a goal image, with the world model as the simulator.
//! A starting action (`ActionParams` JSON) and a box around it are searched by the cross-entropy method
//! (`eval::search`): every candidate is built into an action along the camera path, its streams rendered, the
//! world model run (through the worker, cached as `rank` caches), and its final frame scored by −LPIPS to the
//! goal; all candidates of a generation share one seed, so they are compared fairly. Writes the best action, the
//! search's state (every candidate, its parameters, score and generation), a convergence plot and a contact sheet;
//! run again with the same `--out` to resume.

use super::rank::{ActionRenderer, Simulator, start_simulator};
use crate::action::{ActionParams, CameraPath, DenseCameraPath, ParamMotion};
use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::rank::{
    GoalScorer, SheetTile, contact_sheet, draw_text, frames_digest, last_frame,
};
use crate::eval::search::{CemSettings, CemState, SearchBox, run};
use crate::video::Frames;
use crate::worker::ModelLoader;
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The goal image (same aspect as --size; resized to it).
    #[arg(long)]
    pub goal: PathBuf,
    /// The camera path: a `handtwin.camera_path` file or an action file (its camera).
    #[arg(long)]
    pub camera: PathBuf,
    /// The starting action's parameters (`ActionParams` JSON: side, grasp_point, grasp_preset, approach_start,
    /// contact, motion, motion_seconds, release).
    #[arg(long)]
    pub start: PathBuf,
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
    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "240x160", value_parser = super::rank::parse_size)]
    pub size: (u32, u32),
    #[arg(long, default_value_t = 17)]
    pub frames: usize,
    #[arg(long, default_value_t = 8.0)]
    pub fps: f64,
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// The search's seed (its sampling) and the first generation's generation seed (then +1 per generation).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// Output folder: search.json, best.action.json, convergence.png, contact_sheet.png, cache/.
    #[arg(long)]
    pub out: PathBuf,
}

/// The parameters searched: the grasp point (x, y, z), the contact time, and the motion's size (distance in
/// metres, or hinge angle in degrees).
fn to_vector(p: &ActionParams) -> Vec<f64> {
    let size = match p.motion {
        ParamMotion::Translate { distance, .. } => distance,
        ParamMotion::Hinge { angle_degrees, .. } => angle_degrees,
    };
    vec![
        f64::from(p.grasp_point[0]),
        f64::from(p.grasp_point[1]),
        f64::from(p.grasp_point[2]),
        p.contact,
        f64::from(size),
    ]
}

fn from_vector(start: &ActionParams, x: &[f64]) -> ActionParams {
    let mut p = start.clone();
    p.grasp_point = [x[0] as f32, x[1] as f32, x[2] as f32];
    p.contact = x[3];
    p.motion = match p.motion {
        ParamMotion::Translate { direction, .. } => ParamMotion::Translate {
            direction,
            distance: x[4] as f32,
        },
        ParamMotion::Hinge { pivot, .. } => ParamMotion::Hinge {
            pivot,
            angle_degrees: x[4] as f32,
        },
    };
    p
}

fn search_box(start: &ActionParams, radius: f32, duration: f64) -> anyhow::Result<SearchBox> {
    let g = start.grasp_point.map(f64::from);
    let r = f64::from(radius);
    let size = to_vector(start)[4];
    let (size_low, size_high) = match start.motion {
        ParamMotion::Translate { .. } => (0.0, (2.0 * size).max(0.3)),
        ParamMotion::Hinge { .. } => (-120.0, 120.0),
    };
    let earliest = start.approach_start + 0.25;
    let latest = (duration - start.motion_seconds).max(earliest);
    SearchBox::new(
        vec![g[0] - r, g[1] - r, g[2] - r, earliest, size_low],
        vec![g[0] + r, g[1] + r, g[2] + r, latest, size_high],
    )
    .map_err(|e| anyhow::anyhow!("the search box: {e}"))
}

/// `search.json`: the settings it was started with, and the optimiser's state.
#[derive(Serialize, Deserialize)]
struct SearchFile {
    format: String,
    version: u32,
    goal: PathBuf,
    camera: PathBuf,
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
    Ok(crate::action::Action::parse(&text, path)?.camera)
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
    let start_text = std::fs::read_to_string(&args.start)
        .with_context(|| format!("cannot read {}", args.start.display()))?;
    let start: ActionParams = serde_json::from_str(&start_text)
        .with_context(|| format!("{}: not action parameters", args.start.display()))?;
    let duration = (args.frames.max(1) - 1) as f64 / args.fps;
    start
        .check(duration)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.start.display()))?;
    let camera = read_camera(&args.camera)?;
    let goal_image = image::open(&args.goal)
        .with_context(|| format!("cannot read the goal image {}", args.goal.display()))?
        .to_rgb8();
    let goal_image = image::imageops::resize(
        &goal_image,
        args.size.0,
        args.size.1,
        image::imageops::FilterType::Triangle,
    );
    let goal = Frames::from_images(vec![goal_image], args.fps)?;
    let scorer = GoalScorer::new(
        Lpips::load(Backbone::Alex, &candle_core::Device::Cpu)?,
        &goal,
        None,
        None,
    )?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json_path = args.out.join("search.json");
    let settings = CemSettings {
        population: args.population,
        ..CemSettings::default()
    };
    let mut state = match std::fs::read_to_string(&json_path) {
        Ok(text) => {
            let file: SearchFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a search file", json_path.display()))?;
            if file.format != SEARCH_FORMAT || file.start != start || file.seed != args.seed {
                bail!(
                    "{} holds another search (other start or seed); choose a new --out",
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
            Some(to_vector(&start)),
            settings,
            args.seed,
        )
        .map_err(|e| anyhow::anyhow!(e))?,
    };
    let mut renderer = ActionRenderer::new(args.scene.as_deref(), Some(args.size))?;
    let mut sim: Simulator = start_simulator(&args.model, None, loader, &args.out)?;
    let generations_left = (args.budget.saturating_sub(state.evaluated.len())) / args.population;
    sim.set_length(generations_left * args.population);
    let started = Instant::now();
    let mut finals: Vec<(f64, Frames, Frames)> = Vec::new();
    let save = |state: &CemState| -> anyhow::Result<()> {
        let best = state.best();
        let file = SearchFile {
            format: SEARCH_FORMAT.into(),
            version: 1,
            goal: args.goal.clone(),
            camera: args.camera.clone(),
            start: start.clone(),
            radius: args.radius,
            size: args.size,
            frames: args.frames,
            fps: args.fps,
            prompt: args.prompt.clone(),
            seed: args.seed,
            parameters: ["grasp x", "grasp y", "grasp z", "contact s", "motion size"]
                .map(String::from)
                .to_vec(),
            state: state.clone(),
            best: best.map(|b| from_vector(&start, &b.parameters)),
            best_score: best.map(|b| b.score),
        };
        crate::action::write_atomically(&json_path, serde_json::to_string_pretty(&file)?.as_bytes())
            .with_context(|| format!("cannot write {}", json_path.display()))
    };
    let mut save_error = None;
    let bar = sim.progress_bar();
    run(
        &mut state,
        args.budget,
        |generation, candidates| -> anyhow::Result<Vec<f64>> {
            let seed = args.seed + generation as u64;
            let mut scores = Vec::new();
            for (k, x) in candidates.iter().enumerate() {
                let params = from_vector(&start, x);
                let action = params.build(&camera, args.frames, args.fps, &args.prompt)?;
                let candidate = renderer.render_action(&action, &format!("g{generation}c{k}"))?;
                let key = sim.key(
                    &frames_digest(&candidate.static_video),
                    &candidate.hand_video,
                    &candidate.prompt,
                    seed,
                );
                let label = format!("generation {generation} candidate {}", k + 1);
                let simulated = sim.simulate(
                    &label,
                    &candidate.static_video,
                    &key,
                    &candidate.hand_video,
                    &candidate.prompt,
                )?;
                let score = -scorer.score(&simulated.generated)?.lpips;
                let hands = last_frame(&candidate.hand_video).context("no hand frames")?;
                finals.push((score, hands, simulated.generated));
                scores.push(score);
            }
            Ok(scores)
        },
        |state| {
            let curve = state.convergence();
            if let Some((best, mean)) = curve.last() {
                bar.println(format!(
                    "generation {}: best score {best:.4}, mean {mean:.4} ({} simulations)",
                    state.generation - 1,
                    state.evaluated.len()
                ));
            }
            if let Err(e) = save(state) {
                save_error = Some(e);
            }
        },
    )?;
    sim.finish();
    if let Some(e) = save_error {
        return Err(e);
    }
    save(&state)?;
    let best = state.best().context("the search simulated nothing")?;
    let best_params = from_vector(&start, &best.parameters);
    let best_action = best_params.build(&camera, args.frames, args.fps, &args.prompt)?;
    let best_path = args.out.join("best.action.json");
    best_action
        .save(&best_path)
        .with_context(|| format!("cannot write {}", best_path.display()))?;
    convergence_plot(&state.convergence())
        .save(args.out.join("convergence.png"))
        .context("cannot write convergence.png")?;
    finals.sort_by(|a, b| b.0.total_cmp(&a.0));
    let tiles: Vec<SheetTile> = finals
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, (score, hands, generated))| SheetTile {
            hands,
            generated,
            label: format!("#{} {:.3}", i + 1, -score),
        })
        .collect();
    if !tiles.is_empty() {
        contact_sheet(&goal, &tiles, args.size.0.clamp(160, 320), 4)
            .context("cannot draw the contact sheet")?
            .save(args.out.join("contact_sheet.png"))
            .context("cannot write contact_sheet.png")?;
    }
    println!(
        "best score {:.4} (−LPIPS) at generation {}: grasp ({:.3}, {:.3}, {:.3}), contact {:.2} s, motion {:.3} · {} simulations, {:.0} s · wrote {}",
        best.score,
        best.generation,
        best.parameters[0],
        best.parameters[1],
        best.parameters[2],
        best.parameters[3],
        best.parameters[4],
        state.evaluated.len(),
        started.elapsed().as_secs_f64(),
        best_path.display()
    );
    Ok(())
}
