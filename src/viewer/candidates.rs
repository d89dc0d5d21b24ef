//! The Candidates section: store hand actions on the current camera path as named candidates, choose a goal image,
//! and rank the candidates with the world model (DWM's action evaluation: each candidate generated through the
//! same worker as "Generate", its final frame scored by −LPIPS against the goal, seeds averaged), in the
//! background: the viewport and the panels stay live, the run can be cancelled, and the ranked list shows every
//! candidate's final frame and distance. Clicking a row shows that candidate's clip; "A/B best two" compares the
//! two best in the composite's A/B mode.
//!
//! It draws its own section of the side panel (registered with `PanelSections::add_side_panel_section`).

use super::composite::CompositeMode;
use super::generation::{Generation, GenerationChoices};
use super::hands::{HandRig, HandsShown, side_index};
use super::messages::Generate;
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::results::Results;
use super::timeline::Timeline;
use crate::action::{HandTrack, WristFrame};
use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::rank::{GoalScorer, Spread, frame_of, last_frame, order};
use crate::hand::Side;
use crate::video::Frames;
use crate::world_model::composite::Composite;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy_egui::egui;
use std::path::PathBuf;
use std::time::Instant;

/// One candidate action: hand tracks on the timeline's camera path.
pub struct Candidate {
    pub name: String,
    pub tracks: [Option<HandTrack>; 2],
    pub result: Option<CandidateResult>,
}

/// A candidate's simulation: the first seed's clip, and the distance of every seed's final frame to the goal.
pub struct CandidateResult {
    pub generated: Frames,
    pub composite: Option<Composite>,
    pub lpips: Vec<f64>,
    thumbnail: Option<egui::TextureHandle>,
}

impl CandidateResult {
    pub fn new(generated: Frames, composite: Option<Composite>, lpips: Vec<f64>) -> Self {
        Self {
            generated,
            composite,
            lpips,
            thumbnail: None,
        }
    }

    pub fn distance(&self) -> Option<Spread> {
        Spread::of(&self.lpips)
    }
}

/// The goal image, and where it came from.
pub struct Goal {
    /// One frame.
    pub frames: Frames,
    pub label: String,
    /// The file it was read from (a goal taken from a frame has none until the project is saved).
    pub path: Option<PathBuf>,
    texture: Option<egui::TextureHandle>,
}

impl Goal {
    pub fn new(frames: Frames, label: String, path: Option<PathBuf>) -> Self {
        Self {
            frames,
            label,
            path,
            texture: None,
        }
    }
}

/// The candidates, the goal and a ranking run.
#[derive(Resource)]
pub struct Candidates {
    pub list: Vec<Candidate>,
    pub selected: Option<usize>,
    pub goal: Option<Goal>,
    /// Seeds per candidate (the generation seed, then the next ones).
    pub seeds: usize,
    /// Candidate indices, best first, after a ranking.
    pub ranking: Vec<usize>,
    run: Option<RankRun>,
    picking: Option<Task<Option<rfd::FileHandle>>>,
    lpips: Option<Lpips>,
    /// Bumped on every change the project file holds (candidates, names, goal).
    pub revision: u64,
}

impl Default for Candidates {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            selected: None,
            goal: None,
            seeds: 1,
            ranking: Vec::new(),
            run: None,
            picking: None,
            lpips: None,
            revision: 0,
        }
    }
}

impl Candidates {
    /// Whether a ranking is running.
    pub fn is_ranking(&self) -> bool {
        self.run.is_some()
    }

    /// The LPIPS model (loaded on first use).
    pub fn lpips_model(&mut self) -> Result<Lpips, String> {
        if self.lpips.is_none() {
            self.lpips = Some(
                Lpips::load(Backbone::Alex, &candle_core::Device::Cpu)
                    .map_err(|e| e.to_string())?,
            );
        }
        self.lpips
            .clone()
            .ok_or_else(|| "LPIPS did not load".to_string())
    }

    /// Forgets every result (the goal, the path or the candidates changed).
    fn clear_results(&mut self) {
        for candidate in &mut self.list {
            candidate.result = None;
        }
        self.ranking.clear();
    }

    /// Replaces the candidates and the goal (a project was opened).
    pub fn replace(&mut self, list: Vec<(String, [Option<HandTrack>; 2])>, goal: Option<Goal>) {
        self.run = None;
        self.list = list
            .into_iter()
            .map(|(name, tracks)| Candidate {
                name,
                tracks,
                result: None,
            })
            .collect();
        self.selected = None;
        self.goal = goal;
        self.ranking.clear();
        self.revision += 1;
    }
}

impl Candidates {
    /// What the project file records as the goal: its file, or for a goal taken from a frame the file it is
    /// written to beside the project (`<name>.goal.png`, relative), or nothing before the project has a path.
    pub fn goal_reference(&self, project: Option<&std::path::Path>) -> Option<PathBuf> {
        let goal = self.goal.as_ref()?;
        match &goal.path {
            Some(path) => Some(path.clone()),
            None => project.map(|p| PathBuf::from(goal_file_name(p))),
        }
    }

    /// Writes a goal taken from a frame beside the project file being saved.
    pub fn write_goal_beside(&self, project: &std::path::Path) -> Result<(), String> {
        let Some(goal) = self.goal.as_ref().filter(|g| g.path.is_none()) else {
            return Ok(());
        };
        let file = project
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(goal_file_name(project));
        let image = goal.frames.frame_image(0).ok_or("the goal has no frames")?;
        image
            .save(&file)
            .map_err(|e| format!("could not save the goal image {}: {e}", file.display()))
    }
}

/// `room.json` → `room.goal.png`.
fn goal_file_name(project: &std::path::Path) -> String {
    let stem = project
        .file_stem()
        .map_or_else(|| "project".into(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.goal.png")
}

/// The hands of the rig as tracks: a hand without a track holds its panel pose, stored as one keyframe.
pub fn current_tracks(rig: &HandRig) -> [Option<HandTrack>; 2] {
    let mut tracks = [None, None];
    for side in [Side::Left, Side::Right] {
        if !rig.shown.shows(side) {
            continue;
        }
        tracks[side_index(side)] = rig.track(side).cloned().or_else(|| {
            let state = rig.state(side);
            let keyframe = state.keyframe(side, 0.0, state.camera_from_hand(side));
            HandTrack::new(side, vec![], WristFrame::Camera, vec![keyframe]).ok()
        });
    }
    tracks
}

pub(super) fn load_tracks(rig: &mut HandRig, tracks: &[Option<HandTrack>; 2]) {
    rig.tracks = tracks.clone();
    rig.shown = match (tracks[0].is_some(), tracks[1].is_some()) {
        (true, true) => HandsShown::Both,
        (true, false) => HandsShown::Left,
        (false, true) => HandsShown::Right,
        (false, false) => HandsShown::None,
    };
}

struct RankRun {
    /// (candidate, seed) in the order they are generated.
    jobs: Vec<(usize, u64)>,
    at: usize,
    phase: Phase,
    /// The user's hands and seed, put back when the run ends.
    saved_tracks: [Option<HandTrack>; 2],
    saved_shown: HandsShown,
    saved_seed: u64,
    started: Instant,
}

enum Phase {
    Submit,
    /// Waiting for the generation counters to move past these.
    Waiting {
        finished: u64,
        failed: u64,
        idle_frames: u32,
    },
    Scoring(Task<Result<f64, String>>),
}

pub struct CandidatesPlugin;

impl Plugin for CandidatesPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Candidates>()
            .add_systems(Update, (drive_ranking, finish_goal_pick))
            .add_side_panel_section(70, candidates_section);
    }
}

/// The distance of `frame`'s last frame to the goal (resized to the frame's size when they differ).
pub(super) fn score(lpips: Lpips, goal: Frames, frame: Frames) -> Result<f64, String> {
    let last = last_frame(&frame).ok_or("the generated clip has no frames")?;
    let goal = if (goal.width(), goal.height()) == (last.width(), last.height()) {
        goal
    } else {
        let image = goal.frame_image(0).ok_or("the goal has no frames")?;
        let resized = image::imageops::resize(
            &image,
            last.width(),
            last.height(),
            image::imageops::FilterType::Triangle,
        );
        Frames::from_images(vec![resized], goal.fps()).map_err(|e| e.to_string())?
    };
    let scorer = GoalScorer::new(lpips, &goal, None, None).map_err(|e| e.to_string())?;
    scorer
        .score(&last)
        .map(|s| s.lpips)
        .map_err(|e| e.to_string())
}

fn end_run(candidates: &mut Candidates, rig: &mut HandRig, choices: &mut GenerationChoices) {
    if let Some(run) = candidates.run.take() {
        rig.tracks = run.saved_tracks;
        rig.shown = run.saved_shown;
        choices.settings.seed = run.saved_seed;
    }
}

#[allow(clippy::too_many_arguments)] // a Bevy system
fn drive_ranking(
    mut candidates: ResMut<Candidates>,
    generation: Option<ResMut<Generation>>,
    mut choices: ResMut<GenerationChoices>,
    mut rig: ResMut<HandRig>,
    mut results: ResMut<Results>,
    mut generate: MessageWriter<Generate>,
    mut notifications: ResMut<Notifications>,
) {
    let Some(generation) = generation else {
        if candidates.run.is_some() {
            candidates.run = None;
            notifications.error("ranking needs the generation worker, which did not start".into());
        }
        return;
    };
    let candidates = &mut *candidates;
    let Some(run) = candidates.run.as_mut() else {
        return;
    };
    match &mut run.phase {
        Phase::Submit => {
            let (index, seed) = run.jobs[run.at];
            let Some(candidate) = candidates.list.get(index) else {
                end_run(candidates, &mut rig, &mut choices);
                return;
            };
            load_tracks(&mut rig, &candidate.tracks);
            choices.settings.seed = seed;
            generate.write(Generate);
            run.phase = Phase::Waiting {
                finished: generation.finished,
                failed: generation.failed,
                idle_frames: 0,
            };
        }
        Phase::Waiting {
            finished,
            failed,
            idle_frames,
        } => {
            if generation.failed > *failed {
                end_run(candidates, &mut rig, &mut choices);
                notifications
                    .error("ranking stopped: a candidate's generation did not finish".into());
                return;
            }
            if generation.finished > *finished {
                let (index, _) = run.jobs[run.at];
                let Some(frames) = results.generated.clone() else {
                    end_run(candidates, &mut rig, &mut choices);
                    return;
                };
                let composite = results.composite.clone();
                let candidate = &mut candidates.list[index];
                if candidate.result.is_none() {
                    candidate.result = Some(CandidateResult {
                        generated: frames.clone(),
                        composite,
                        lpips: Vec::new(),
                        thumbnail: None,
                    });
                }
                let (Some(goal), Some(lpips)) = (&candidates.goal, &candidates.lpips) else {
                    end_run(candidates, &mut rig, &mut choices);
                    return;
                };
                let (lpips, goal) = (lpips.clone(), goal.frames.clone());
                let task =
                    AsyncComputeTaskPool::get().spawn(async move { score(lpips, goal, frames) });
                run.phase = Phase::Scoring(task);
                return;
            }
            // A request that never got going (the message not yet read, or refused at once) is not busy: give
            // it a few frames before calling it lost.
            if generation.is_busy() || results.is_capturing() {
                *idle_frames = 0;
            } else {
                *idle_frames += 1;
                if *idle_frames > 120 {
                    end_run(candidates, &mut rig, &mut choices);
                    notifications
                        .error("ranking stopped: a candidate's generation did not start".into());
                }
            }
        }
        Phase::Scoring(task) => {
            let Some(scored) = block_on(poll_once(task)) else {
                return;
            };
            let (index, _) = run.jobs[run.at];
            match scored {
                Ok(distance) => {
                    if let Some(result) = candidates.list[index].result.as_mut() {
                        result.lpips.push(distance);
                    }
                }
                Err(message) => {
                    end_run(candidates, &mut rig, &mut choices);
                    notifications.error(format!("ranking stopped: scoring failed: {message}"));
                    return;
                }
            }
            run.at += 1;
            if run.at < run.jobs.len() {
                run.phase = Phase::Submit;
                return;
            }
            let seconds = run.started.elapsed().as_secs_f64();
            let distances: Vec<f64> = candidates
                .list
                .iter()
                .map(|c| {
                    c.result
                        .as_ref()
                        .and_then(CandidateResult::distance)
                        .map_or(f64::INFINITY, |d| d.mean)
                })
                .collect();
            candidates.ranking = order(&distances);
            end_run(candidates, &mut rig, &mut choices);
            if let Some(&best) = candidates.ranking.first() {
                candidates.selected = Some(best);
                show_candidate(candidates, best, &mut results);
                notifications.info(format!(
                    "ranked {} candidates in {seconds:.0} s: best is \"{}\"",
                    distances.len(),
                    candidates.list[best].name
                ));
            }
        }
    }
}

/// Shows a ranked candidate's clip in the composite.
fn show_candidate(candidates: &Candidates, index: usize, results: &mut Results) {
    let Some(result) = candidates.list.get(index).and_then(|c| c.result.as_ref()) else {
        return;
    };
    show_result(result, results);
}

/// Shows a simulated clip in the composite.
pub(super) fn show_result(result: &CandidateResult, results: &mut Results) {
    results.generated = Some(result.generated.clone());
    results.composite = result.composite.clone();
    results.mode = if result.composite.is_some() {
        CompositeMode::Composite
    } else {
        CompositeMode::Generated
    };
    results.showing = true;
    results.invalidate();
}

fn finish_goal_pick(mut candidates: ResMut<Candidates>, mut notifications: ResMut<Notifications>) {
    let Some(task) = candidates.picking.as_mut() else {
        return;
    };
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    candidates.picking = None;
    let Some(path) = picked.map(|f| f.path().to_path_buf()) else {
        return;
    };
    match read_goal_image(&path) {
        Ok(frames) => {
            let label = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            candidates.goal = Some(Goal::new(frames, label, Some(path)));
            candidates.clear_results();
            candidates.revision += 1;
        }
        Err(message) => notifications.error(message),
    }
}

/// A goal image file as a one-frame clip.
pub fn read_goal_image(path: &std::path::Path) -> Result<Frames, String> {
    let image = image::open(path)
        .map_err(|e| format!("{}: cannot read the goal image: {e}", path.display()))?
        .to_rgb8();
    Frames::from_images(vec![image], 8.0).map_err(|e| format!("{}: {e}", path.display()))
}

fn texture(
    ctx: &egui::Context,
    name: &str,
    frames: &Frames,
    width: u32,
) -> Option<egui::TextureHandle> {
    let image = frames.frame_image(0)?;
    let height = (u64::from(image.height()) * u64::from(width) / u64::from(image.width().max(1)))
        .max(1) as u32;
    let small =
        image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle);
    let color = egui::ColorImage::from_rgb([width as usize, height as usize], small.as_raw());
    Some(ctx.load_texture(name, color, egui::TextureOptions::LINEAR))
}

/// The side panel's Candidates section.
#[allow(clippy::too_many_arguments)] // a Bevy system
fn candidates_section(
    InMut(ui): InMut<egui::Ui>,
    mut candidates: ResMut<Candidates>,
    mut rig: ResMut<HandRig>,
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    generation: Option<ResMut<Generation>>,
    mut choices: ResMut<GenerationChoices>,
    mut notifications: ResMut<Notifications>,
    search: Option<Res<super::search::ActionSearch>>,
) {
    let candidates = &mut *candidates;
    let has_path = !timeline.frames.is_empty();
    let mut generation = generation;
    ui.strong("Candidates");
    {
        {
            let running = candidates.run.is_some();
            ui.horizontal(|ui| {
                let add = ui
                    .add_enabled(has_path && !running, egui::Button::new("Add candidate"))
                    .on_hover_text(
                        "store the current hand tracks (same camera path) as a candidate",
                    )
                    .on_disabled_hover_text("load or record a camera path first");
                if add.clicked() {
                    let name = format!("candidate {}", candidates.list.len() + 1);
                    candidates.list.push(Candidate {
                        name,
                        tracks: current_tracks(&rig),
                        result: None,
                    });
                    candidates.selected = Some(candidates.list.len() - 1);
                    candidates.ranking.clear();
                    candidates.revision += 1;
                }
                ui.label(egui::RichText::new(format!("{} stored", candidates.list.len())).weak());
            });
            let mut delete = None;
            let mut select = None;
            for (i, candidate) in candidates.list.iter_mut().enumerate() {
                ui.horizontal(|ui| {
                    let selected = candidates.selected == Some(i);
                    if ui
                        .add_enabled(!running, egui::RadioButton::new(selected, ""))
                        .on_hover_text("load this candidate's hands into the timeline for editing")
                        .clicked()
                    {
                        select = Some(i);
                    }
                    let edit = ui.add_enabled(
                        !running,
                        egui::TextEdit::singleline(&mut candidate.name).desired_width(120.0),
                    );
                    if edit.changed() {
                        candidates.revision += 1;
                    }
                    if let Some(d) = candidate
                        .result
                        .as_ref()
                        .and_then(CandidateResult::distance)
                    {
                        ui.label(egui::RichText::new(format!("{:.3}", d.mean)).monospace());
                    }
                    if ui
                        .add_enabled(!running, egui::Button::new("x"))
                        .on_hover_text("delete this candidate")
                        .clicked()
                    {
                        delete = Some(i);
                    }
                });
            }
            if let Some(i) = select {
                candidates.selected = Some(i);
                load_tracks(&mut rig, &candidates.list[i].tracks);
                show_candidate(candidates, i, &mut results);
            }
            if let Some(i) = delete {
                candidates.list.remove(i);
                candidates.selected = None;
                candidates.ranking.clear();
                candidates.revision += 1;
            }
            if let Some(i) = candidates.selected
                && i < candidates.list.len()
                && !running
                && ui
                    .small_button("Update from the timeline")
                    .on_hover_text("store the hands now in the timeline as this candidate")
                    .clicked()
            {
                candidates.list[i].tracks = current_tracks(&rig);
                candidates.list[i].result = None;
                candidates.ranking.clear();
                candidates.revision += 1;
            }
            ui.separator();

            // The goal.
            ui.horizontal(|ui| {
                ui.label("Goal");
                match &mut candidates.goal {
                    Some(goal) => {
                        if goal.texture.is_none() {
                            goal.texture = texture(ui.ctx(), "candidates goal", &goal.frames, 96);
                        }
                        if let Some(t) = &goal.texture {
                            ui.image((t.id(), t.size_vec2()));
                        }
                        ui.label(egui::RichText::new(&goal.label).weak());
                    }
                    None => {
                        ui.label(egui::RichText::new("none").weak());
                    }
                }
            });
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!running && candidates.picking.is_none(), egui::Button::new("Image…"))
                    .on_hover_text("a PNG or JPEG of the scene as it should end up")
                    .clicked()
                {
                    let dialog = rfd::AsyncFileDialog::new()
                        .set_title("Goal image")
                        .add_filter("images", &["png", "jpg", "jpeg", "bmp", "webp"]);
                    candidates.picking = Some(AsyncComputeTaskPool::get().spawn(dialog.pick_file()));
                }
                let frame = timeline.current;
                let composite_frame = results
                    .composite
                    .as_ref()
                    .map(|c| &c.frames)
                    .or(results.generated.as_ref())
                    .and_then(|f| frame_of(f, frame.min(f.frame_count().saturating_sub(1))));
                if ui
                    .add_enabled(!running && composite_frame.is_some(), egui::Button::new("Composite frame"))
                    .on_hover_text("the composite's frame at the timeline's cursor")
                    .on_disabled_hover_text("generate first")
                    .clicked()
                    && let Some(f) = composite_frame
                {
                    candidates.goal = Some(Goal::new(f, format!("composite, frame {frame}"), None));
                    candidates.clear_results();
                    candidates.revision += 1;
                }
                let ego_frame = results
                    .streams
                    .as_ref()
                    .and_then(|s| frame_of(&s.static_video, frame.min(s.static_video.frame_count().saturating_sub(1))));
                if ui
                    .add_enabled(!running && ego_frame.is_some(), egui::Button::new("Ego view"))
                    .on_hover_text("the ego camera's view of the scene at the timeline's cursor (the static stream)")
                    .on_disabled_hover_text("capture the streams first")
                    .clicked()
                    && let Some(f) = ego_frame
                {
                    candidates.goal = Some(Goal::new(f, format!("ego view, frame {frame}"), None));
                    candidates.clear_results();
                    candidates.revision += 1;
                }
            });
            ui.separator();

            // Ranking.
            if let Some(run) = &candidates.run {
                let (index, seed) = run.jobs[run.at.min(run.jobs.len() - 1)];
                let what = match run.phase {
                    Phase::Submit | Phase::Waiting { .. } => {
                        if results.is_capturing() {
                            "capturing its streams"
                        } else {
                            "generating"
                        }
                    }
                    Phase::Scoring(_) => "scoring",
                };
                ui.label(format!(
                    "{} of {}: \"{}\" (seed {seed}), {what}",
                    run.at + 1,
                    run.jobs.len(),
                    candidates.list.get(index).map_or("", |c| c.name.as_str())
                ));
                let step = generation
                    .as_ref()
                    .and_then(|g| g.progress)
                    .map_or(0.0, |(s, t, _, _)| s as f32 / t.max(1) as f32);
                ui.add(
                    egui::ProgressBar::new((run.at as f32 + step) / run.jobs.len() as f32)
                        .show_percentage(),
                );
                if ui.button("Cancel ranking").clicked() {
                    if let Some(g) = generation.as_deref_mut() {
                        g.cancel();
                    }
                    end_run(candidates, &mut rig, &mut choices);
                    candidates.clear_results();
                    notifications.info("ranking cancelled".into());
                }
            } else {
                ui.horizontal(|ui| {
                    ui.label("seeds");
                    ui.add(egui::DragValue::new(&mut candidates.seeds).range(1..=5));
                    let ready = !candidates.list.is_empty() && candidates.goal.is_some() && has_path;
                    let busy = generation.as_ref().is_none_or(|g| g.is_busy())
                        || search.is_some_and(|s| s.is_running());
                    if ui
                        .add_enabled(ready && !busy, egui::Button::new("Rank"))
                        .on_hover_text("generate every candidate and order them by LPIPS to the goal (lower is closer)")
                        .on_disabled_hover_text("needs candidates, a goal and an idle generator")
                        .clicked()
                    {
                        if candidates.lpips.is_none() {
                            match Lpips::load(Backbone::Alex, &candle_core::Device::Cpu) {
                                Ok(model) => candidates.lpips = Some(model),
                                Err(e) => {
                                    notifications.error(format!("cannot rank: {e}"));
                                    return;
                                }
                            }
                        }
                        candidates.clear_results();
                        let base = choices.settings.seed;
                        let jobs = (0..candidates.list.len())
                            .flat_map(|c| (0..candidates.seeds as u64).map(move |s| (c, base + s)))
                            .collect();
                        candidates.run = Some(RankRun {
                            jobs,
                            at: 0,
                            phase: Phase::Submit,
                            saved_tracks: rig.tracks.clone(),
                            saved_shown: rig.shown,
                            saved_seed: base,
                            started: Instant::now(),
                        });
                    }
                });
            }

            // The ranked list.
            if !candidates.ranking.is_empty() && candidates.run.is_none() {
                ui.label(
                    egui::RichText::new("ranked (LPIPS-alex to the goal, lower is closer)").weak(),
                );
                let mut show = None;
                let ranking = candidates.ranking.clone();
                for (place, &i) in ranking.iter().enumerate() {
                    let Some(candidate) = candidates.list.get_mut(i) else {
                        continue;
                    };
                    let Some(result) = candidate.result.as_mut() else {
                        continue;
                    };
                    if result.thumbnail.is_none()
                        && let Some(last) = last_frame(
                            result
                                .composite
                                .as_ref()
                                .map_or(&result.generated, |c| &c.frames),
                        )
                    {
                        result.thumbnail = texture(ui.ctx(), &format!("candidate {i}"), &last, 72);
                    }
                    let distance = result.distance();
                    let response = ui
                        .horizontal(|ui| {
                            ui.label(egui::RichText::new(format!("{}", place + 1)).strong());
                            if let Some(t) = &result.thumbnail {
                                ui.image((t.id(), t.size_vec2()));
                            }
                            let text = match distance {
                                Some(d) if result.lpips.len() > 1 => {
                                    format!("{}\n{:.4} ± {:.4}", candidate.name, d.mean, d.spread)
                                }
                                Some(d) => format!("{}\n{:.4}", candidate.name, d.mean),
                                None => candidate.name.clone(),
                            };
                            ui.selectable_label(candidates.selected == Some(i), text)
                        })
                        .inner;
                    if response
                        .on_hover_text("show this candidate's clip")
                        .clicked()
                    {
                        show = Some(i);
                    }
                }
                if let Some(i) = show {
                    candidates.selected = Some(i);
                    show_candidate(candidates, i, &mut results);
                }
                if ranking.len() >= 2
                    && ui
                        .button("A/B best two")
                        .on_hover_text(
                            "the best candidate's clip left of the wipe, the second's right of it",
                        )
                        .clicked()
                {
                    let clip = |i: usize| {
                        candidates.list[i].result.as_ref().map(|r| {
                            r.composite
                                .as_ref()
                                .map_or_else(|| r.generated.clone(), |c| c.frames.clone())
                        })
                    };
                    if let (Some(a), Some(b)) = (clip(ranking[0]), clip(ranking[1])) {
                        results.generated = Some(a);
                        results.generated_b = Some(b);
                        results.mode = CompositeMode::CompareAb;
                        results.showing = true;
                        results.invalidate();
                    }
                }
            }
        }
    }
}
