//! Dataset evaluation: a model against baselines that model no dynamics, over DWM sample folders with ground
//! truth (`handtwin eval`'s loop, callable by any command or the viewer). Per clip: the model's output and its
//! residual composite, the ablations asked for (a black hand video, the empty prompt, both; another clip's hands),
//! the static video copied and with the hands pasted, the static video and the truth through the model's VAE, and
//! under `swap_hands` the oracle rows and the hand response. Scores go into one [`Summary`] per row.

use super::{
    ExtraMetrics, HandResponse, Regions, Scores, Summary, baselines, regions, score_with,
    swap_region,
};
use crate::video::{DwmSample, Ffmpeg, Frames, FramesError, SamplePaths, VideoError, list_stems};
use crate::world_model::WorldModel;
use crate::world_model::WorldModelError;
use crate::world_model::composite::{CompositeSettings, composite};
use crate::world_model::pipeline::Sampling;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("no samples in {0}")]
    NoSamples(String),
    #[error("{0}")]
    Clip(String),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Frames(#[from] FramesError),
    #[error(transparent)]
    Model(#[from] WorldModelError),
}

/// Returns a [`DatasetError::Clip`] with the formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(DatasetError::Clip(format!($($arg)*)))
    };
}

/// What to evaluate besides the model's output.
#[derive(Clone, Copy)]
pub struct DatasetOptions<'a> {
    pub steps: usize,
    pub guidance: f64,
    pub seed: u64,
    /// A row with a black hand video.
    pub hand_ablation: bool,
    /// Rows with the empty prompt, and with the empty prompt and a black hand video.
    pub prompt_ablation: bool,
    /// The row with another clip of the same room's hands, its oracle rows and the hand response
    /// (`siblings` gives each clip's sibling).
    pub swap_hands: bool,
    /// Keep the comparison-sheet columns of this many clips.
    pub comparison_clips: usize,
    pub extra: ExtraMetrics<'a>,
}

/// The model's scores on one clip, and its hand response under `swap_hands`.
pub struct ClipRecord {
    pub dir: PathBuf,
    pub stem: String,
    pub scores: Scores,
    pub sibling: Option<String>,
    pub response: Option<HandResponse>,
}

/// The table's rows, per-clip records and sheet columns of a dataset evaluation.
pub struct DatasetReport {
    /// In the table's order: the model, its composite, the ablations asked for, the baselines, the blur row, the
    /// ceiling, and under `swap_hands` the two oracle rows.
    pub summaries: Vec<Summary>,
    pub evaluated: usize,
    /// Seconds spent generating the model's own output (the ablations not counted).
    pub generation_seconds: f64,
    /// Under `swap_hands`: the hand response on the raw outputs and on the composites.
    pub hand_response: Option<(HandResponse, HandResponse)>,
    pub clips: Vec<ClipRecord>,
    /// Per clip on the sheet: static | hands | generated | truth | truth through the VAE [| the sibling's hands |
    /// generated with them | the sibling's truth] | the composite.
    pub sheet_rows: Vec<Vec<Frames>>,
}

/// Every sample `(folder, stem)` of the folders, in stem order, at most `limit`.
pub fn list_samples(
    dirs: &[PathBuf],
    limit: Option<usize>,
) -> Result<Vec<(PathBuf, String)>, DatasetError> {
    let mut samples = Vec::new();
    for dir in dirs {
        for stem in list_stems(dir)? {
            samples.push((dir.clone(), stem));
        }
    }
    if let Some(limit) = limit {
        samples.truncate(limit);
    }
    if samples.is_empty() {
        return Err(DatasetError::NoSamples(format!("{dirs:?}")));
    }
    Ok(samples)
}

/// For `--swap-hands`: each clip's sibling, the next variant of its room (cyclically) in its folder's synth.json
/// (clips of one room share the manifest's `seed`; a manifest without variants has none).
pub fn siblings(samples: &[(PathBuf, String)]) -> Result<Vec<String>, DatasetError> {
    let mut rooms: std::collections::HashMap<
        PathBuf,
        std::collections::HashMap<String, (u64, usize)>,
    > = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(samples.len());
    for (dir, stem) in samples {
        if !rooms.contains_key(dir) {
            let clips = crate::synth::manifest::read_rooms(dir).map_err(|e| {
                DatasetError::Clip(format!(
                    "--swap-hands needs the synth manifest (the clips' rooms come from it): {e}"
                ))
            })?;
            let by_stem: std::collections::HashMap<String, (u64, usize)> = clips
                .into_iter()
                .map(|clip| (clip.stem, (clip.seed, clip.variant)))
                .collect();
            rooms.insert(dir.clone(), by_stem);
        }
        let room = &rooms[dir];
        let Some(&(seed, variant)) = room.get(stem) else {
            fail!("{}/{stem} is not in its folder's synth.json", dir.display());
        };
        let mut family: Vec<(usize, &String)> = room
            .iter()
            .filter(|(_, (s, _))| *s == seed)
            .map(|(name, (_, v))| (*v, name))
            .collect();
        family.sort();
        if family.len() < 2 {
            fail!(
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

/// Evaluates `model` (labelled `model_name` in the rows, e.g. "DWM tiny (tiny-dwm, 1 step)") on `samples`; `siblings` (from [`siblings`]) is needed
/// under `swap_hands`. `progress(done, total)` is called after each clip.
pub fn evaluate(
    model: &mut dyn WorldModel,
    model_name: &str,
    samples: &[(PathBuf, String)],
    siblings: Option<&[String]>,
    options: &DatasetOptions,
    ffmpeg: &Ffmpeg,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DatasetReport, DatasetError> {
    let swapped_with = if options.swap_hands {
        match siblings {
            Some(s) if s.len() == samples.len() => Some(s),
            _ => fail!("--swap-hands needs each clip's sibling"),
        }
    } else {
        None
    };
    let extra = options.extra;
    let score = |candidate: &Frames, truth: &Frames, regions: &Regions| {
        score_with(candidate, truth, regions, extra)
    };
    let steps = options.steps;
    let guidance = options.guidance;
    let mut model_summary = Summary::new(model_name);
    let mut composite_summary = Summary::new(&format!(
        "{model_name}, residual composite over the static video"
    ));
    let mut composite_hand_response = HandResponse::default();
    let mut ablation_summary =
        Summary::new(&format!("{model_name} given a black hand video (ablation)"));
    let mut no_prompt_summary =
        Summary::new(&format!("{model_name} given the empty prompt (ablation)"));
    let mut no_action_summary = Summary::new(&format!(
        "{model_name} given the empty prompt and a black hand video (ablation: no action)"
    ));
    let mut swapped_summary = Summary::new(&format!(
        "{model_name} given the hand video of another clip of the same room (ablation)"
    ));
    let mut baseline_summaries: Vec<Summary> = Vec::new();
    let mut blur_summary =
        Summary::new("static video through the model's VAE (its blur, no dynamics)");
    let mut ceiling_summary = Summary::new("(ceiling) the truth through the model's VAE and back");
    // With swap_hands: what following the other clock perfectly would score, raw and at this VAE's blur. The
    // gap between the ceiling and the second is what the clock is worth to this model at best.
    let mut sibling_truth_summary =
        Summary::new("(oracle) the truth of another clip of the same room");
    let mut sibling_round_trip_summary =
        Summary::new("(oracle) the truth of another clip of the same room through the model's VAE");
    let mut hand_response = HandResponse::default();
    let mut clips = Vec::new();
    // Under swap_hands every ground truth is used twice: for its own clip (the ceiling row) and as another
    // clip's sibling (the oracle rows). The first use sends it through the VAE and keeps (truth, round trip) here;
    // the second takes the pair out. Siblings are a cycle within each room, so about one room's clips wait here.
    let mut round_trips: HashMap<(PathBuf, String), (Frames, Frames)> = HashMap::new();
    let mut sheet_rows = Vec::new();
    let mut generation_seconds = 0.0;
    let mut evaluated = 0;
    for (index, (dir, stem)) in samples.iter().enumerate() {
        let sample = DwmSample::read(dir, stem, ffmpeg)?;
        let Some(truth) = sample.ground_truth.as_ref() else {
            fail!("{}: has no ground truth (videos/{stem}.mp4)", dir.display());
        };
        let prompt = sample.prompt.as_deref().unwrap_or("");
        // The model's no-action output: the blur row's baseline and the reference of the residual composite.
        let static_round_trip = model.reconstruct(&sample.static_video)?;
        let mut generate_with = |hands: &Frames, prompt: &str| -> Result<Frames, DatasetError> {
            model
                .generate(
                    &sample.static_video,
                    hands,
                    prompt,
                    Sampling {
                        steps,
                        guidance_scale: guidance,
                        seed: options.seed,
                    },
                    &mut |_, _| true,
                )?
                .ok_or_else(|| DatasetError::Clip("generation stopped".into()))
        };
        let started = Instant::now();
        let generated = generate_with(&sample.hand_video, prompt)?;
        generation_seconds += started.elapsed().as_secs_f64();
        let Some(regions) = regions(truth, &sample.static_video, &sample.hand_video) else {
            fail!("{}/{stem}: the videos have different sizes", dir.display());
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
        .map_err(|e| {
            DatasetError::Clip(format!(
                "{}/{stem}: the residual composite: {e}",
                dir.display()
            ))
        })?;
        composite_summary.add(&score(&composited.frames, truth, &regions));
        let mut clip_response = None;
        if options.hand_ablation || options.prompt_ablation {
            let no_hands = Frames::black(
                sample.hand_video.frame_count(),
                sample.hand_video.width(),
                sample.hand_video.height(),
                sample.hand_video.fps(),
            )?;
            if options.hand_ablation {
                ablation_summary.add(&score(&generate_with(&no_hands, prompt)?, truth, &regions));
            }
            if options.prompt_ablation {
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
                    fail!(
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
                fail!(
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
            if sheet_rows.len() < options.comparison_clips {
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
                .ok_or_else(|| {
                    DatasetError::Clip(format!(
                        "{}/{stem}: its videos and its sibling's differ in size",
                        dir.display()
                    ))
                })?;
                let mut response = HandResponse::default();
                if !response.add(
                    &generated,
                    swapped_output,
                    &truth_round_trip,
                    &sibling_round_trip,
                    &region,
                ) {
                    fail!(
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
        if sheet_rows.len() < options.comparison_clips {
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
        clips.push(ClipRecord {
            dir: dir.clone(),
            stem: stem.clone(),
            scores: model_scores,
            sibling: swapped_with.map(|siblings| siblings[index].clone()),
            response: clip_response,
        });
        evaluated += 1;
        progress(evaluated, samples.len());
    }
    let mut summaries = vec![model_summary, composite_summary];
    if options.hand_ablation {
        summaries.push(ablation_summary);
    }
    if options.prompt_ablation {
        summaries.push(no_prompt_summary);
        summaries.push(no_action_summary);
    }
    if options.swap_hands {
        summaries.push(swapped_summary);
    }
    summaries.extend(baseline_summaries);
    summaries.push(blur_summary);
    summaries.push(ceiling_summary);
    if options.swap_hands {
        summaries.push(sibling_truth_summary);
        summaries.push(sibling_round_trip_summary);
    }
    Ok(DatasetReport {
        summaries,
        evaluated,
        generation_seconds,
        hand_response: options
            .swap_hands
            .then_some((hand_response, composite_hand_response)),
        clips,
        sheet_rows,
    })
}
