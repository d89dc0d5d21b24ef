//! "Search toward goal": the Candidates section's goal reached by searching over a parametrised action
//! (`action::ActionParams`) with the cross-entropy method (`eval::search`), every candidate simulated through the
//! same worker as "Generate" and scored by −LPIPS to the goal, in the background. The start is the selected
//! candidate (or the hands on the timeline), fitted into parameters. While it runs, the best action so far is on
//! the timeline and its clip in the composite; it can be stopped at any time, and when it ends (or is stopped)
//! the best few are added as candidates, with their results, so the ranked list shows them beside the user's.
//!
//! It draws its own section of the side panel, below Candidates.

use super::candidates::{
    CandidateResult, Candidates, current_tracks, load_tracks, score, show_result,
};
use super::generation::{Generation, GenerationChoices};
use super::hands::{HandRig, HandsShown};
use super::messages::Generate;
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::results::Results;
use super::timeline::Timeline;
use crate::action::{Action, ActionParams, CameraPath, FitTimes, HandTrack, ParamMotion};
use crate::eval::search::{CemSettings, CemState, SearchBox};
use crate::hand::Side;
use crate::streams::StreamSettings;
use crate::video::Frames;
use crate::world_model::composite::Composite;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy_egui::egui;
use std::time::Instant;

/// How many of the best actions are added as candidates at the end.
const KEEP_BEST: usize = 3;

/// The search's settings and its run.
#[derive(Resource)]
pub struct ActionSearch {
    pub budget: usize,
    pub population: usize,
    /// How far (m) the grasp point may move from the start's, in each axis.
    pub radius: f32,
    /// The start's parameters, as fitted and edited in the panel (`None`: fit the selection when the search
    /// starts).
    pub params: Option<ActionParams>,
    run: Option<SearchRun>,
}

impl ActionSearch {
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }
}

impl Default for ActionSearch {
    fn default() -> Self {
        Self {
            budget: 16,
            population: 4,
            radius: 0.3,
            params: None,
            run: None,
        }
    }
}

/// A simulated candidate of the search.
struct Simulated {
    score: f64,
    generation: usize,
    tracks: [Option<HandTrack>; 2],
    generated: Frames,
    composite: Option<Composite>,
}

struct SearchRun {
    state: CemState,
    start: ActionParams,
    camera: CameraPath,
    frames: usize,
    fps: f64,
    /// The generation being simulated: its candidates, and the scores so far.
    proposed: Vec<Vec<f64>>,
    scores: Vec<f64>,
    phase: Phase,
    /// Every simulated candidate, best first.
    simulated: Vec<Simulated>,
    saved_tracks: [Option<HandTrack>; 2],
    saved_shown: HandsShown,
    saved_seed: u64,
    base_seed: u64,
    started: Instant,
}

enum Phase {
    Submit,
    Waiting {
        finished: u64,
        failed: u64,
        idle_frames: u32,
        tracks: [Option<HandTrack>; 2],
        /// The best action's tracks are back on the timeline (once the candidate's streams are captured).
        restored: bool,
    },
    /// The candidate's clip is in; its distance to the goal is being computed.
    Scoring(Task<Result<f64, String>>, Box<Simulated>),
}

pub struct ActionSearchPlugin;

impl Plugin for ActionSearchPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ActionSearch>()
            .add_systems(Update, drive_search)
            .add_side_panel_section(71, search_section);
    }
}

fn tracks_for(side: Side, track: HandTrack) -> [Option<HandTrack>; 2] {
    match side {
        Side::Left => [Some(track), None],
        Side::Right => [None, Some(track)],
    }
}

impl SearchRun {
    /// The tracks of parameters `x` along the run's camera path.
    fn tracks(&self, x: &[f64]) -> Result<[Option<HandTrack>; 2], String> {
        let params = self.start.with_search_vector(x);
        let action = params
            .build(&self.camera, self.frames, self.fps, "")
            .map_err(|e| e.to_string())?;
        let track = action
            .hand(params.side)
            .cloned()
            .ok_or("the built action has no hand")?;
        Ok(tracks_for(params.side, track))
    }

    fn simulations(&self) -> usize {
        self.state.evaluated.len() + self.scores.len()
    }
}

/// Fits the start (the given tracks on the timeline's camera path) and sets up a run.
fn timeline_camera(timeline: &Timeline) -> Result<CameraPath, String> {
    let dense = timeline
        .path
        .as_ref()
        .ok_or("load or record a camera path first")?;
    CameraPath::from_dense(dense).map_err(|e| e.to_string())
}

/// The given tracks on the timeline's camera path, fitted into parameters.
fn fit_tracks(
    tracks: &[Option<HandTrack>; 2],
    timeline: &Timeline,
    settings: &StreamSettings,
) -> Result<ActionParams, String> {
    let mut action = Action::new(timeline_camera(timeline)?);
    action.frame_count = settings.frame_count;
    action.fps = settings.fps;
    action.left = tracks[0].clone();
    action.right = tracks[1].clone();
    let side = match (&action.left, &action.right) {
        (_, Some(_)) => Side::Right,
        (Some(_), None) => Side::Left,
        (None, None) => {
            return Err(
                "the start has no hand track: key a reach and grasp on the timeline, or select a candidate".into(),
            );
        }
    };
    ActionParams::fit(&action, side, FitTimes::default()).map_err(|e| e.to_string())
}

/// Sets up a run from `start` along the timeline's camera path.
fn start_run(
    search: &ActionSearch,
    start: ActionParams,
    timeline: &Timeline,
    settings: &StreamSettings,
    rig: &HandRig,
    seed: u64,
) -> Result<SearchRun, String> {
    let camera = timeline_camera(timeline)?;
    let duration = (settings.frame_count.max(2) - 1) as f64 / settings.fps;
    let (low, high) = start.search_bounds(f64::from(search.radius), duration);
    let search_box = SearchBox::new(low, high)?;
    let state = CemState::new(
        search_box,
        Some(start.search_vector()),
        CemSettings {
            population: search.population,
            ..CemSettings::default()
        },
        seed,
    )?;
    Ok(SearchRun {
        state,
        start,
        camera,
        frames: settings.frame_count,
        fps: settings.fps,
        proposed: Vec::new(),
        scores: Vec::new(),
        phase: Phase::Submit,
        simulated: Vec::new(),
        saved_tracks: rig.tracks.clone(),
        saved_shown: rig.shown,
        saved_seed: seed,
        base_seed: seed,
        started: Instant::now(),
    })
}

/// Ends the run: the user's seed back, the best action on the timeline and its clip shown, the best few added
/// as candidates.
fn finish(
    run: SearchRun,
    candidates: &mut Candidates,
    rig: &mut HandRig,
    choices: &mut GenerationChoices,
    results: &mut Results,
    notifications: &mut Notifications,
    why: &str,
) {
    choices.settings.seed = run.saved_seed;
    let Some(best) = run.simulated.first() else {
        rig.tracks = run.saved_tracks;
        rig.shown = run.saved_shown;
        notifications.info(format!("search {why} before any candidate was simulated"));
        return;
    };
    load_tracks(rig, &best.tracks);
    let first_new = candidates.list.len();
    for (i, s) in run.simulated.iter().take(KEEP_BEST).enumerate() {
        candidates.list.push(super::candidates::Candidate {
            name: format!("search #{} (gen {})", i + 1, s.generation + 1),
            tracks: s.tracks.clone(),
            result: Some(CandidateResult::new(
                s.generated.clone(),
                s.composite.clone(),
                vec![-s.score],
            )),
        });
    }
    candidates.ranking.clear();
    candidates.selected = Some(first_new);
    candidates.revision += 1;
    show_result(
        &CandidateResult::new(best.generated.clone(), best.composite.clone(), vec![]),
        results,
    );
    notifications.info(format!(
        "search {why}: {} simulations in {:.0} s, best LPIPS {:.3} (generation {}); the best {} are now candidates",
        run.simulations(),
        run.started.elapsed().as_secs_f64(),
        -best.score,
        best.generation + 1,
        run.simulated.len().min(KEEP_BEST)
    ));
}

#[allow(clippy::too_many_arguments)] // a Bevy system
fn drive_search(
    mut search: ResMut<ActionSearch>,
    mut candidates: ResMut<Candidates>,
    generation: Option<ResMut<Generation>>,
    mut choices: ResMut<GenerationChoices>,
    mut rig: ResMut<HandRig>,
    mut results: ResMut<Results>,
    mut generate: MessageWriter<Generate>,
    mut notifications: ResMut<Notifications>,
) {
    let budget = search.budget;
    let Some(mut run) = search.run.take() else {
        return;
    };
    let Some(generation) = generation else {
        notifications.error("search needs the generation worker, which did not start".into());
        return;
    };
    match step(
        &mut run,
        budget,
        &mut candidates,
        &generation,
        &mut choices,
        &mut rig,
        &mut results,
        &mut generate,
        &mut notifications,
    ) {
        None => search.run = Some(run),
        Some(why) => finish(
            run,
            &mut candidates,
            &mut rig,
            &mut choices,
            &mut results,
            &mut notifications,
            why,
        ),
    }
}

/// Advances the run by what this frame allows; `Some(why)` when it has ended.
#[allow(clippy::too_many_arguments)]
fn step(
    run: &mut SearchRun,
    budget: usize,
    candidates: &mut Candidates,
    generation: &Generation,
    choices: &mut GenerationChoices,
    rig: &mut HandRig,
    results: &mut Results,
    generate: &mut MessageWriter<Generate>,
    notifications: &mut Notifications,
) -> Option<&'static str> {
    match &mut run.phase {
        Phase::Submit => {
            if run.proposed.is_empty() {
                if run.state.evaluated.len() + run.state.settings.population > budget {
                    return Some("finished");
                }
                run.proposed = run.state.propose();
                run.scores.clear();
            }
            let x = run.proposed[run.scores.len()].clone();
            let tracks = match run.tracks(&x) {
                Ok(tracks) => tracks,
                Err(e) => {
                    notifications.error(format!("search stopped: {e}"));
                    return Some("stopped");
                }
            };
            load_tracks(rig, &tracks);
            // One seed per generation: its candidates are compared fairly.
            choices.settings.seed = run.base_seed + run.state.generation as u64;
            generate.write(Generate);
            run.phase = Phase::Waiting {
                finished: generation.finished,
                failed: generation.failed,
                idle_frames: 0,
                tracks,
                restored: false,
            };
        }
        Phase::Waiting {
            finished,
            failed,
            idle_frames,
            tracks,
            restored,
        } => {
            if generation.failed > *failed {
                notifications
                    .error("search stopped: a candidate's generation did not finish".into());
                return Some("stopped");
            }
            if generation.finished > *finished {
                let Some(frames) = results.generated.clone() else {
                    return Some("stopped");
                };
                let composite = results.composite.clone();
                let (Some(goal), Ok(lpips)) = (
                    candidates.goal.as_ref().map(|g| g.frames.clone()),
                    candidates.lpips_model(),
                ) else {
                    notifications.error("search stopped: the goal or LPIPS is gone".into());
                    return Some("stopped");
                };
                let pending = Simulated {
                    score: f64::NAN, // set when scored
                    generation: run.state.generation,
                    tracks: std::mem::take(tracks),
                    generated: frames.clone(),
                    composite,
                };
                let task =
                    AsyncComputeTaskPool::get().spawn(async move { score(lpips, goal, frames) });
                run.phase = Phase::Scoring(task, Box::new(pending));
                return None;
            }
            let capturing = results.is_capturing();
            // Once this candidate's streams are captured, the timeline shows the best action so far again.
            if !*restored && generation.is_busy() && !capturing {
                if let Some(best) = run.simulated.first() {
                    load_tracks(rig, &best.tracks);
                }
                *restored = true;
            }
            if generation.is_busy() || capturing {
                *idle_frames = 0;
            } else {
                *idle_frames += 1;
                if *idle_frames > 120 {
                    notifications
                        .error("search stopped: a candidate's generation did not start".into());
                    return Some("stopped");
                }
            }
        }
        Phase::Scoring(task, _) => {
            let scored = block_on(poll_once(task))?;
            let Phase::Scoring(_, pending) = std::mem::replace(&mut run.phase, Phase::Submit)
            else {
                return None;
            };
            let distance = match scored {
                Ok(d) => d,
                Err(message) => {
                    notifications.error(format!("search stopped: scoring failed: {message}"));
                    return Some("stopped");
                }
            };
            let score = -distance;
            run.simulated.push(Simulated { score, ..*pending });
            run.simulated.sort_by(|a, b| b.score.total_cmp(&a.score));
            run.scores.push(score);
            // The best so far: on the timeline and in the composite.
            if let Some(best) = run.simulated.first() {
                load_tracks(rig, &best.tracks);
                show_result(
                    &CandidateResult::new(best.generated.clone(), best.composite.clone(), vec![]),
                    results,
                );
            }
            if run.scores.len() == run.proposed.len() {
                let proposed = std::mem::take(&mut run.proposed);
                let scores = std::mem::take(&mut run.scores);
                run.state.update(proposed, &scores);
            }
        }
    }
    None
}

#[allow(clippy::too_many_arguments)] // a Bevy system
fn search_section(
    InMut(ui): InMut<egui::Ui>,
    mut search: ResMut<ActionSearch>,
    mut candidates: ResMut<Candidates>,
    mut rig: ResMut<HandRig>,
    mut results: ResMut<Results>,
    timeline: Res<Timeline>,
    settings: Res<StreamSettings>,
    mut generation: Option<ResMut<Generation>>,
    mut choices: ResMut<GenerationChoices>,
    mut notifications: ResMut<Notifications>,
) {
    ui.strong("Search toward goal");
    let search = &mut *search;
    if let Some(run) = &search.run {
        let done = run.simulations();
        let elapsed = run.started.elapsed().as_secs_f64();
        let eta = if done > 0 {
            format!(
                ", about {:.0} s left",
                elapsed / done as f64 * search.budget.saturating_sub(done) as f64
            )
        } else {
            String::new()
        };
        ui.add(
            egui::ProgressBar::new(done as f32 / search.budget.max(1) as f32).text(format!(
                "generation {} · {done}/{} simulated{eta}",
                run.state.generation + 1,
                search.budget
            )),
        );
        match run.simulated.first() {
            Some(best) => ui.label(format!(
                "best so far: LPIPS {:.3} (generation {}) — on the timeline and in the composite",
                -best.score,
                best.generation + 1
            )),
            None => ui.label(egui::RichText::new("simulating the start…").weak()),
        };
        if ui
            .button("Stop")
            .on_hover_text("stop now (the candidate being generated is cancelled); the best found so far are added as candidates")
            .clicked()
            && let Some(run) = search.run.take()
        {
            if let Some(generation) = generation.as_mut() {
                generation.cancel();
            }
            finish(
                run,
                &mut candidates,
                &mut rig,
                &mut choices,
                &mut results,
                &mut notifications,
                "stopped",
            );
        }
        return;
    }
    ui.horizontal(|ui| {
        ui.label("budget");
        ui.add(egui::DragValue::new(&mut search.budget).range(2..=256))
            .on_hover_text("simulations in all");
        ui.label("per generation");
        ui.add(egui::DragValue::new(&mut search.population).range(2..=16));
    });
    ui.horizontal(|ui| {
        ui.label("grasp within ±");
        ui.add(
            egui::DragValue::new(&mut search.radius)
                .range(0.02..=1.0)
                .speed(0.01)
                .suffix(" m"),
        );
    });
    let idle = generation.as_ref().is_some_and(|g| !g.is_busy());
    let ready = candidates.goal.is_some()
        && !timeline.frames.is_empty()
        && idle
        && !candidates.is_ranking()
        && search.budget >= search.population;
    let selection = match candidates.selected {
        Some(i) if i < candidates.list.len() => format!("\"{}\"", candidates.list[i].name),
        _ => "the timeline's hands".to_string(),
    };
    let selected_tracks = match candidates.selected {
        Some(i) if i < candidates.list.len() => candidates.list[i].tracks.clone(),
        _ => current_tracks(&rig),
    };
    // The start's parameters: fitted from the selection, shown and editable.
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!timeline.frames.is_empty(), egui::Button::new(format!("Fit {selection}")))
            .on_hover_text(
                "describe the selection's acting hand by a few parameters (grasp point, contact time, move), \
                 shown below for editing; the search starts from them",
            )
            .clicked()
        {
            match fit_tracks(&selected_tracks, &timeline, &settings) {
                Ok(params) => search.params = Some(params),
                Err(e) => notifications.error(format!("cannot fit: {e}")),
            }
        }
        if search.params.is_some() && ui.small_button("forget").clicked() {
            search.params = None;
        }
    });
    if let Some(params) = search.params.as_mut() {
        let duration = (settings.frame_count.max(2) - 1) as f64 / settings.fps;
        if params_editor(ui, params, duration)
            && let Err(e) = apply_params(params, &timeline, &settings, &mut rig)
        {
            notifications.error(format!("cannot build the action: {e}"));
        }
    }
    let from = match &search.params {
        Some(_) => "from these parameters".to_string(),
        None => format!("from {selection}"),
    };
    if ui
        .add_enabled(ready, egui::Button::new(format!("Search toward goal {from}")))
        .on_hover_text(
            "let the world model find the grasp point, contact time and move whose final frame is nearest the goal \
             (cross-entropy method, one seed per generation)",
        )
        .on_disabled_hover_text("needs a camera path, a goal, an idle generator and a budget of a generation or more")
        .clicked()
    {
        if let Err(e) = candidates.lpips_model() {
            notifications.error(format!("cannot search: {e}"));
            return;
        }
        let start = match search.params.clone() {
            Some(params) => Ok(params),
            None => fit_tracks(&selected_tracks, &timeline, &settings),
        };
        match start.and_then(|start| {
            start_run(search, start, &timeline, &settings, &rig, choices.settings.seed)
        }) {
            Ok(run) => search.run = Some(run),
            Err(e) => notifications.error(format!("cannot search: {e}")),
        }
    }
}

/// Builds `params` on the timeline's camera path and puts its track on the timeline.
fn apply_params(
    params: &ActionParams,
    timeline: &Timeline,
    settings: &StreamSettings,
    rig: &mut HandRig,
) -> Result<(), String> {
    let action = params
        .build(
            &timeline_camera(timeline)?,
            settings.frame_count,
            settings.fps,
            "",
        )
        .map_err(|e| e.to_string())?;
    let track = action
        .hand(params.side)
        .cloned()
        .ok_or("the built action has no hand")?;
    // Undoable (Ctrl+Z): the user's own keys are one step back.
    rig.replace_tracks(tracks_for(params.side, track));
    Ok(())
}

/// The parameters as editable fields; true when one changed (the action is then rebuilt on the timeline).
fn params_editor(ui: &mut egui::Ui, p: &mut ActionParams, duration: f64) -> bool {
    let mut changed = false;
    let side = match p.side {
        Side::Left => "left",
        Side::Right => "right",
    };
    egui::Grid::new("action parameters")
        .num_columns(2)
        .spacing([6.0, 2.0])
        .show(ui, |ui| {
            ui.label("hand");
            ui.label(side);
            ui.end_row();
            ui.label("grasp point (m)");
            ui.horizontal(|ui| {
                for v in &mut p.grasp_point {
                    changed |= ui
                        .add(egui::DragValue::new(v).speed(0.005).max_decimals(3))
                        .changed();
                }
            });
            ui.end_row();
            ui.label("grasp");
            egui::ComboBox::from_id_salt("grasp preset")
                .selected_text(p.grasp_preset.name())
                .show_ui(ui, |ui| {
                    for preset in crate::hand::Preset::ALL {
                        changed |= ui
                            .selectable_value(&mut p.grasp_preset, preset, preset.name())
                            .changed();
                    }
                });
            ui.end_row();
            ui.label("approach from, contact (s)");
            ui.horizontal(|ui| {
                changed |= ui
                    .add(
                        egui::DragValue::new(&mut p.approach_start)
                            .range(0.0..=duration)
                            .speed(0.01),
                    )
                    .changed();
                changed |= ui
                    .add(
                        egui::DragValue::new(&mut p.contact)
                            .range(0.0..=duration)
                            .speed(0.01),
                    )
                    .changed();
            });
            ui.end_row();
            match &mut p.motion {
                ParamMotion::Translate {
                    direction,
                    distance,
                } => {
                    ui.label("move direction, distance (m)");
                    ui.horizontal(|ui| {
                        for v in direction.iter_mut() {
                            changed |= ui
                                .add(
                                    egui::DragValue::new(v)
                                        .range(-1.0..=1.0)
                                        .speed(0.01)
                                        .max_decimals(2),
                                )
                                .changed();
                        }
                        changed |= ui
                            .add(
                                egui::DragValue::new(distance)
                                    .range(0.0..=2.0)
                                    .speed(0.005)
                                    .max_decimals(3),
                            )
                            .changed();
                    });
                }
                ParamMotion::Hinge {
                    pivot,
                    angle_degrees,
                } => {
                    ui.label("hinge pivot (m), angle (°)");
                    ui.horizontal(|ui| {
                        for v in pivot.iter_mut() {
                            changed |= ui
                                .add(egui::DragValue::new(v).speed(0.005).max_decimals(3))
                                .changed();
                        }
                        changed |= ui
                            .add(egui::DragValue::new(angle_degrees).range(-180.0..=180.0))
                            .changed();
                    });
                }
            }
            ui.end_row();
            ui.label("motion takes (s)");
            ui.horizontal(|ui| {
                changed |= ui
                    .add(
                        egui::DragValue::new(&mut p.motion_seconds)
                            .range(0.05..=duration.max(0.05))
                            .speed(0.01),
                    )
                    .changed();
                changed |= ui.checkbox(&mut p.release, "release").changed();
            });
            ui.end_row();
        });
    if let Err(e) = p.check(duration) {
        ui.colored_label(egui::Color32::from_rgb(230, 160, 60), e);
        return false;
    }
    changed
}
