//! `handtwin eval`: the held-out table — the model against two baselines that model no dynamics — over DWM sample
//! folders with ground truth, plus a comparison sheet (static | hands | generated | truth).

use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::{
    ExtraMetrics, HandResponse, Regions, Scores, Summary, baselines, comparison_sheet, dwm_table,
    frames_differing_most, markdown_table_with, regions, score_with, swap_region,
};
use crate::video::{DwmSample, Ffmpeg, Frames, SamplePaths, list_stems};
use crate::world_model::composite::{CompositeSettings, composite};
use crate::world_model::pipeline::{DwmModel, Sampling};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Sample folders with ground truth (videos/), e.g. from `handtwin synth --split heldout`.
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// The model (default: the bundled tiny DWM).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Evaluate at most this many clips (in stem order).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub guidance: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the table (Markdown) here as well as printing it.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Write a comparison sheet (PNG) of the first clips: static | hands | generated | truth | truth through the
    /// model's VAE (the best this model could give) | the residual composite. With --swap-hands, three more
    /// columns before the composite: the sibling's hands | generated with them | the sibling's truth — a model
    /// whose objects follow the hands changes its output between the two generated columns as the truth changes
    /// between the two truth columns. The sheet then shows the three frames where the truths of its clips and
    /// their siblings' differ most.
    #[arg(long)]
    pub comparison: Option<PathBuf>,
    /// Clips on the comparison sheet.
    #[arg(long, default_value_t = 3)]
    pub comparison_clips: usize,
    /// Also generate every clip with a black hand video (no hands) and report it as a row: where the model's
    /// score falls without the hands is what it draws from them (doubles the generation time).
    #[arg(long)]
    pub hand_ablation: bool,
    /// Also generate every clip with the empty prompt, and with the empty prompt and a black hand video (the
    /// static video alone: no action at all), each reported as a row. In the object region, the gap between the
    /// model and the no-action row is what it draws from the action it is given (triples the generation time).
    #[arg(long)]
    pub prompt_ablation: bool,
    /// Also generate every clip with the hand video of another clip of the same room (`handtwin synth
    /// --variants K`: same static video and prompt, the hands acting on another clock) and report it as a row.
    /// A model whose objects follow the hands scores lower so in the object region; one that guesses the motion
    /// from the scene and the prompt scores the same. Two oracle rows come with it: the sibling's ground truth
    /// scored against this clip's, as it is and through the model's VAE; the gap between the ceiling row and
    /// the second is the most that following the right clock can be worth at this VAE. A line under the table
    /// measures the response directly: how far the output moves with the sibling's hands against how far the
    /// truth moves, and the share of that change it reproduces (`eval::HandResponse`). Every clip needs a
    /// sibling in its folder's synth.json.
    #[arg(long)]
    pub swap_hands: bool,
    /// Write one CSV row per clip here: its folder and stem, the model's PSNR and SSIM per region, and with
    /// --swap-hands the sibling and that clip's hand response (moves, cosine, explains; empty where the two
    /// clips' truths do not differ in the swap region). For finding which clips a model follows the hands on.
    #[arg(long)]
    pub per_clip: Option<PathBuf>,
    /// LPIPS columns (frame, and the interaction and object regions from LPIPS's spatial map) with this
    /// network: alex (bundled), vgg (`python3 tools/convert_lpips.py --net vgg` writes its weights) or none.
    #[arg(long, value_enum, default_value_t = LpipsChoice::Alex)]
    pub lpips: LpipsChoice,
    /// dwm: also print the table DWM's evaluation reports (`tests/compute_metrics.py`): PSNR with one MSE over
    /// each whole clip, torchmetrics SSIM and LPIPS-VGG averaged over frames, then over clips — numbers to stand
    /// beside the paper's tables. Needs the VGG weights. (DWM also reports DreamSim, whose weights no registry
    /// here serves: left out.)
    #[arg(long, value_enum, default_value_t = Protocol::Handtwin)]
    pub protocol: Protocol,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpipsChoice {
    None,
    Alex,
    Vgg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// handtwin's table: PSNR, SSIM and LPIPS per region.
    Handtwin,
    /// handtwin's table, then DWM's.
    Dwm,
}

/// A CSV cell: the number, or nothing where there is none.
fn csv_cell(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.4}"))
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// For `--swap-hands`: each clip's sibling, the next variant of its room (cyclically) in its folder's synth.json
/// (clips of one room share the manifest's `seed`; a manifest without variants has none).
fn siblings(samples: &[(PathBuf, String)]) -> anyhow::Result<Vec<String>> {
    let mut rooms: std::collections::HashMap<
        PathBuf,
        std::collections::HashMap<String, (u64, usize)>,
    > = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(samples.len());
    for (dir, stem) in samples {
        if !rooms.contains_key(dir) {
            let path = dir.join("synth.json");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "--swap-hands needs {}: the clips' rooms come from the synth manifest",
                    path.display()
                )
            })?;
            let manifest: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            let clips = manifest["clips"]
                .as_array()
                .with_context(|| format!("{} has no clips list", path.display()))?;
            let mut by_stem = std::collections::HashMap::new();
            for clip in clips {
                let (Some(stem), Some(seed)) = (clip["stem"].as_str(), clip["seed"].as_u64())
                else {
                    bail!("{}: a clip without a stem or seed", path.display());
                };
                let variant = clip["variant"].as_u64().unwrap_or(0) as usize;
                by_stem.insert(stem.to_string(), (seed, variant));
            }
            rooms.insert(dir.clone(), by_stem);
        }
        let room = &rooms[dir];
        let Some(&(seed, variant)) = room.get(stem) else {
            bail!("{}/{stem} is not in its folder's synth.json", dir.display());
        };
        let mut family: Vec<(usize, &String)> = room
            .iter()
            .filter(|(_, (s, _))| *s == seed)
            .map(|(name, (_, v))| (*v, name))
            .collect();
        family.sort();
        if family.len() < 2 {
            bail!(
                "{}/{stem} has no other clip of its room: --swap-hands needs clips made with `handtwin synth --variants K` (K ≥ 2)",
                dir.display()
            );
        }
        let at = family.iter().position(|(v, _)| *v == variant).unwrap_or(0);
        out.push(family[(at + 1) % family.len()].1.clone());
    }
    Ok(out)
}

/// Frames, width and height: what two videos of one clip must share.
fn frame_size(frames: &Frames) -> (usize, u32, u32) {
    (frames.frame_count(), frames.width(), frames.height())
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let super::ModelChoice {
        dir: model_dir,
        steps,
        guidance,
    } = super::choose_model(args.model.clone(), args.steps, args.guidance)?;
    let device = candle_core::Device::Cpu;
    let region_lpips = match args.lpips {
        LpipsChoice::None => None,
        LpipsChoice::Alex => Some(Lpips::load(Backbone::Alex, &device)?),
        LpipsChoice::Vgg => Some(Lpips::load(Backbone::Vgg, &device)?),
    };
    let dwm_lpips = match (args.protocol, args.lpips) {
        (Protocol::Handtwin, _) => None,
        (Protocol::Dwm, LpipsChoice::Vgg) => region_lpips.clone(),
        (Protocol::Dwm, _) => Some(
            Lpips::load(Backbone::Vgg, &device)
                .context("--protocol dwm reports LPIPS-VGG, as DWM does")?,
        ),
    };
    let extra = ExtraMetrics {
        lpips: region_lpips.as_ref(),
        dwm: dwm_lpips.as_ref(),
    };
    let score = |candidate: &Frames, truth: &Frames, regions: &Regions| {
        score_with(candidate, truth, regions, extra)
    };
    let mut model = DwmModel::load(&model_dir, None, &device, candle_core::DType::F32)
        .with_context(|| format!("loading the model {}", model_dir.display()))?;
    let ffmpeg = Ffmpeg::from_env();
    let mut samples = Vec::new();
    for dir in &args.data {
        for stem in list_stems(dir)? {
            samples.push((dir.clone(), stem));
        }
    }
    if let Some(limit) = args.limit {
        samples.truncate(limit);
    }
    if samples.is_empty() {
        bail!("no samples in {:?}", args.data);
    }
    let swapped_with = if args.swap_hands {
        Some(siblings(&samples)?)
    } else {
        None
    };
    let model_name = model_dir
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    // The sampler settings go into every model row, so tables of one model at different settings (or of runs
    // whose folders recommend different defaults) cannot be mistaken for each other.
    let plural = if steps == 1 { "" } else { "s" };
    let model_name = if guidance == 1.0 {
        format!("{model_name}, {steps} step{plural}")
    } else {
        format!("{model_name}, {steps} step{plural}, guidance {guidance}")
    };
    let mut model_summary = Summary::new(&format!("DWM tiny ({model_name})"));
    let mut composite_summary = Summary::new(&format!(
        "DWM tiny ({model_name}), residual composite over the static video"
    ));
    let mut composite_hand_response = HandResponse::default();
    let mut ablation_summary = Summary::new(&format!(
        "DWM tiny ({model_name}) given a black hand video (ablation)"
    ));
    let mut no_prompt_summary = Summary::new(&format!(
        "DWM tiny ({model_name}) given the empty prompt (ablation)"
    ));
    let mut no_action_summary = Summary::new(&format!(
        "DWM tiny ({model_name}) given the empty prompt and a black hand video (ablation: no action)"
    ));
    let mut swapped_summary = Summary::new(&format!(
        "DWM tiny ({model_name}) given the hand video of another clip of the same room (ablation)"
    ));
    let mut baseline_summaries: Vec<Summary> = Vec::new();
    let mut blur_summary =
        Summary::new("static video through the model's VAE (its blur, no dynamics)");
    let mut ceiling_summary = Summary::new("(ceiling) the truth through the model's VAE and back");
    // With --swap-hands: what following the other clock perfectly would score, raw and at this VAE's blur. The
    // gap between the ceiling and the second is what the clock is worth to this model at best.
    let mut sibling_truth_summary =
        Summary::new("(oracle) the truth of another clip of the same room");
    let mut sibling_round_trip_summary =
        Summary::new("(oracle) the truth of another clip of the same room through the model's VAE");
    let mut hand_response = HandResponse::default();
    let mut per_clip_rows = vec![
        "folder,stem,psnr_frame,ssim_frame,psnr_interaction,ssim_interaction,psnr_object,ssim_object,sibling,\
         response_moves,response_cosine,response_explains,lpips_frame,lpips_interaction,lpips_object"
            .to_string(),
    ];
    let bar = ProgressBar::new(samples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "eval [{bar:30}] {pos}/{len} clips ({elapsed}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // Under --swap-hands every ground truth is used twice: for its own clip (the ceiling row) and as another
    // clip's sibling (the oracle rows). The first use sends it through the VAE and keeps (truth, round trip) here;
    // the second takes the pair out. Siblings are a cycle within each room, so about one room's clips wait here.
    let mut round_trips: HashMap<(PathBuf, String), (Frames, Frames)> = HashMap::new();
    let mut sheet_rows = Vec::new();
    let mut generation_seconds = 0.0;
    let mut evaluated = 0;
    for (index, (dir, stem)) in samples.iter().enumerate() {
        let sample = DwmSample::read(dir, stem, &ffmpeg)?;
        let Some(truth) = sample.ground_truth.as_ref() else {
            bail!("{}: has no ground truth (videos/{stem}.mp4)", dir.display());
        };
        let prompt = sample.prompt.as_deref().unwrap_or("");
        // The model's no-action output: the blur row's baseline and the reference of the residual composite.
        let static_round_trip = model.reconstruct(&sample.static_video)?;
        let mut generate_with = |hands: &Frames, prompt: &str| -> anyhow::Result<Frames> {
            model
                .generate(
                    &sample.static_video,
                    hands,
                    prompt,
                    Sampling {
                        steps,
                        guidance_scale: guidance,
                        seed: args.seed,
                    },
                    &mut |_, _| true,
                )?
                .context("generation stopped")
        };
        let started = Instant::now();
        let generated = generate_with(&sample.hand_video, prompt)?;
        generation_seconds += started.elapsed().as_secs_f64();
        let Some(regions) = regions(truth, &sample.static_video, &sample.hand_video) else {
            bail!("{}/{stem}: the videos have different sizes", dir.display());
        };
        let model_scores = score(&generated, truth, &regions);
        model_summary.add(&model_scores);
        let settings = CompositeSettings::default();
        let composited = composite(
            &sample.static_video,
            &sample.hand_video,
            &generated,
            &static_round_trip,
            &settings,
        )
        .with_context(|| format!("{}/{stem}: the residual composite", dir.display()))?;
        composite_summary.add(&score(&composited.frames, truth, &regions));
        let mut clip_response = None;
        if args.hand_ablation || args.prompt_ablation {
            let no_hands = Frames::black(
                sample.hand_video.frame_count(),
                sample.hand_video.width(),
                sample.hand_video.height(),
                sample.hand_video.fps(),
            )?;
            if args.hand_ablation {
                ablation_summary.add(&score(&generate_with(&no_hands, prompt)?, truth, &regions));
            }
            if args.prompt_ablation {
                no_prompt_summary.add(&score(
                    &generate_with(&sample.hand_video, "")?,
                    truth,
                    &regions,
                ));
                no_action_summary.add(&score(&generate_with(&no_hands, "")?, truth, &regions));
            }
        }
        // With --swap-hands: the model given the hand video of the next clip of the same room.
        let swapped = match &swapped_with {
            Some(siblings) => {
                let sibling_hands =
                    ffmpeg.read(&SamplePaths::new(dir, &siblings[index])?.hand_video)?;
                if frame_size(&sibling_hands) != frame_size(&sample.hand_video) {
                    bail!(
                        "{}/{}: its hand video is not the size of {stem}'s",
                        dir.display(),
                        siblings[index]
                    );
                }
                let output = generate_with(&sibling_hands, prompt)?;
                swapped_summary.add(&score(&output, truth, &regions));
                Some((sibling_hands, output))
            }
            None => None,
        };
        // The ceiling row's round trip. Under --swap-hands this truth is also another clip's sibling: the pair is
        // kept for that use (or was kept from it), so no truth goes through the VAE twice. (A clip that served as
        // a sibling before its own turn still has its file read twice: once then, once with its sample.)
        let key = (dir.clone(), stem.clone());
        let mut sheet_sibling_truth = None;
        let truth_round_trip = match round_trips.remove(&key) {
            Some((_, round_trip)) => round_trip,
            None => {
                let round_trip = model.reconstruct(truth)?;
                if swapped_with.is_some() {
                    round_trips.insert(key, (truth.clone(), round_trip.clone()));
                }
                round_trip
            }
        };
        ceiling_summary.add(&score(&truth_round_trip, truth, &regions));
        if let Some(siblings) = &swapped_with {
            // The oracle rows: the sibling's ground truth, as it is and through the VAE.
            let sibling_key = (dir.clone(), siblings[index].clone());
            let (sibling_truth, kept_round_trip) = match round_trips.remove(&sibling_key) {
                Some((sibling_truth, round_trip)) => (sibling_truth, Some(round_trip)),
                None => {
                    let path = SamplePaths::new(dir, &siblings[index])?.ground_truth;
                    (ffmpeg.read(&path)?, None)
                }
            };
            // Checked whichever way it came: a kept truth was read for another clip.
            if frame_size(&sibling_truth) != frame_size(truth) {
                bail!(
                    "{}/{}: its ground truth is not the size of {stem}'s",
                    dir.display(),
                    siblings[index]
                );
            }
            let sibling_round_trip = match kept_round_trip {
                Some(round_trip) => round_trip,
                None => {
                    let round_trip = model.reconstruct(&sibling_truth)?;
                    round_trips.insert(sibling_key, (sibling_truth.clone(), round_trip.clone()));
                    round_trip
                }
            };
            if sheet_rows.len() < args.comparison_clips {
                sheet_sibling_truth = Some(sibling_truth.clone());
            }
            sibling_truth_summary.add(&score(&sibling_truth, truth, &regions));
            sibling_round_trip_summary.add(&score(&sibling_round_trip, truth, &regions));
            // How far the output moved with the sibling's hands against how far the truth moves between the clips.
            if let Some((sibling_hands, swapped_output)) = &swapped {
                let region = swap_region(
                    &sample.static_video,
                    truth,
                    &sample.hand_video,
                    &sibling_truth,
                    sibling_hands,
                )
                .with_context(|| {
                    format!(
                        "{}/{stem}: its videos and its sibling's differ in size",
                        dir.display()
                    )
                })?;
                let mut response = HandResponse::default();
                if !response.add(
                    &generated,
                    swapped_output,
                    &truth_round_trip,
                    &sibling_round_trip,
                    &region,
                ) {
                    bail!(
                        "{}/{stem}: the generated video is not the size of its ground truth",
                        dir.display()
                    );
                }
                hand_response.merge(&response);
                clip_response = Some(response);
                // The same measure on the composites: what a user sees move when only the hands change.
                let swapped_composite = composite(
                    &sample.static_video,
                    sibling_hands,
                    swapped_output,
                    &static_round_trip,
                    &settings,
                )?;
                composite_hand_response.add(
                    &composited.frames,
                    &swapped_composite.frames,
                    &truth_round_trip,
                    &sibling_round_trip,
                    &region,
                );
            }
        }
        for (slot, (name, frames)) in baselines(&sample.static_video, &sample.hand_video)
            .into_iter()
            .enumerate()
        {
            if baseline_summaries.len() <= slot {
                baseline_summaries.push(Summary::new(name));
            }
            baseline_summaries[slot].add(&score(&frames, truth, &regions));
        }
        // A baseline with the model's blur and no dynamics: the static video through the VAE and back.
        blur_summary.add(&score(&static_round_trip, truth, &regions));
        if sheet_rows.len() < args.comparison_clips {
            let mut row = vec![
                sample.static_video.clone(),
                sample.hand_video.clone(),
                generated,
                truth.clone(),
                truth_round_trip,
            ];
            if let (Some((sibling_hands, swapped_output)), Some(sibling_truth)) =
                (swapped, sheet_sibling_truth)
            {
                row.extend([sibling_hands, swapped_output, sibling_truth]);
            }
            row.push(composited.frames.clone());
            sheet_rows.push(row);
        }
        if args.per_clip.is_some() {
            let Scores {
                frame,
                interaction,
                object,
                lpips,
                ..
            } = model_scores;
            let response = clip_response.as_ref();
            per_clip_rows.push(
                [
                    csv_text(&dir.display().to_string()),
                    csv_text(stem),
                    csv_cell(frame.0),
                    csv_cell(frame.1),
                    csv_cell(interaction.0),
                    csv_cell(interaction.1),
                    csv_cell(object.0),
                    csv_cell(object.1),
                    swapped_with
                        .as_ref()
                        .map_or_else(String::new, |siblings| csv_text(&siblings[index])),
                    csv_cell(response.and_then(HandResponse::ratio)),
                    csv_cell(response.and_then(HandResponse::cosine)),
                    csv_cell(response.and_then(HandResponse::explained)),
                    csv_cell(lpips[0]),
                    csv_cell(lpips[1]),
                    csv_cell(lpips[2]),
                ]
                .join(","),
            );
        }
        evaluated += 1;
        bar.inc(1);
    }
    let mut summaries = vec![model_summary, composite_summary];
    if args.hand_ablation {
        summaries.push(ablation_summary);
    }
    if args.prompt_ablation {
        summaries.push(no_prompt_summary);
        summaries.push(no_action_summary);
    }
    if args.swap_hands {
        summaries.push(swapped_summary);
    }
    summaries.extend(baseline_summaries);
    summaries.push(blur_summary);
    summaries.push(ceiling_summary);
    if args.swap_hands {
        summaries.push(sibling_truth_summary);
        summaries.push(sibling_round_trip_summary);
    }
    bar.finish_and_clear();
    let lpips_name = region_lpips.as_ref().map(|l| l.backbone().name());
    let mut table = markdown_table_with(&summaries, evaluated, lpips_name);
    if args.protocol == Protocol::Dwm {
        table.push('\n');
        table.push_str(&dwm_table(&summaries, evaluated));
    }
    let settings = format!(
        "model {} · {steps} steps · guidance {guidance} · seed {} · {:.2} s per clip to generate",
        model_dir.display(),
        args.seed,
        generation_seconds / evaluated.max(1) as f64
    );
    let response = if args.swap_hands {
        format!(
            "{}\nOn the residual composites: {}\n",
            hand_response.describe(),
            composite_hand_response.describe()
        )
    } else {
        String::new()
    };
    println!("{table}");
    print!("{response}");
    println!("{settings}");
    if let Some(path) = &args.table {
        std::fs::write(path, format!("{table}\n{response}{settings}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.per_clip {
        std::fs::write(path, per_clip_rows.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.comparison {
        let rows: Vec<Vec<&Frames>> = sheet_rows.iter().map(|row| row.iter().collect()).collect();
        // With the siblings' columns: the three frames where the rows' truths and their siblings' differ most
        // (where the clocks disagree); otherwise a quarter, half way and the end.
        let frames = if args.swap_hands {
            let pairs: Vec<(&Frames, &Frames)> = sheet_rows
                .iter()
                .filter(|row| row.len() == 9)
                .map(|row| (&row[3], &row[7]))
                .collect();
            frames_differing_most(&pairs, 3)
        } else {
            rows.first()
                .and_then(|row| row.first())
                .map(|clip| {
                    let n = clip.frame_count();
                    vec![n / 4, n / 2, n - 1]
                })
                .unwrap_or_default()
        };
        let sheet = comparison_sheet(&rows, &frames, 240).context("nothing to draw")?;
        sheet
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
