//! Generate from the timeline: capture both streams for the current path (if not captured yet), submit them to
//! the background worker, show per-step progress with an ETA while the viewport stays interactive, and put the
//! generated clip into the composite view.

use super::messages::CaptureStreams;
use super::messages::Generate;
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use super::results::Results;
use crate::viewer::composite::CompositeMode;
use crate::worker::{Event, GenerationSettings, JobId, JobInput, ModelLoader, ModelSpec, Worker};
use crate::world_model::memory::{MemoryEstimate, gib};
use crate::world_model::offload::Offload;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use std::path::PathBuf;
use std::time::Duration;

/// What the user chose for generation.
#[derive(Resource)]
pub struct GenerationChoices {
    pub model: Option<PathBuf>,
    pub lora: Option<PathBuf>,
    pub device: String,
    /// Where the weights wait between uses on a GPU (`--offload`).
    pub offload: Offload,
    /// The chosen model's peak GPU memory per offload setting, in bf16 at its own size (`handtwin model-info`);
    /// `None` when its folder cannot be read.
    pub memory: Option<MemoryEstimate>,
    pub settings: GenerationSettings,
    pub prompt: String,
    /// The most sampling steps the chosen model was trained for (`handtwin.json`'s `min_training_timestep` on its
    /// scheduler), with that timestep; `None` when it has no limit. The panel warns above it.
    pub step_limit: Option<(usize, usize)>,
    /// The frame count the chosen model runs clips at (others are resampled to it and back).
    pub model_frames: usize,
    /// The chosen model's family, read from its folder when it is chosen (not on every frame the panel draws).
    pub family: Option<crate::world_model::ModelFamily>,
}

impl Default for GenerationChoices {
    /// The bundled tiny DWM with the sampling settings its folder recommends, so generation works out of the box.
    fn default() -> Self {
        let mut choices = Self {
            model: None,
            lora: None,
            device: "cpu".into(),
            offload: Offload::None,
            memory: None,
            settings: GenerationSettings::default(),
            prompt: String::new(),
            step_limit: None,
            model_frames: 49,
            family: None,
        };
        if let Some(dir) = crate::world_model::model_dir::bundled_model_dir() {
            choices.set_model(dir);
        }
        choices
    }
}

impl GenerationChoices {
    /// Chooses the model folder and takes its recommended sampling settings (`handtwin.json`) and step limit.
    pub fn set_model(&mut self, dir: PathBuf) {
        use crate::world_model::model_dir::SamplingDefaults;
        self.step_limit = None;
        match SamplingDefaults::for_model(&dir) {
            Ok(defaults) => {
                self.settings.steps = defaults.steps;
                self.settings.guidance_scale = defaults.guidance_scale;
                match defaults.max_trained_steps(&dir) {
                    Ok(limit) => {
                        self.step_limit = limit.zip(defaults.min_training_timestep);
                    }
                    Err(error) => tracing::warn!("{error}; cannot check the sampling steps"),
                }
            }
            Err(error) => {
                let dwm = SamplingDefaults::DWM;
                self.settings.steps = dwm.steps;
                self.settings.guidance_scale = dwm.guidance_scale;
                tracing::warn!("{error}; using DWM's sampling settings");
            }
        }
        self.model_frames = crate::world_model::model_dir::native_frames(&dir);
        self.family = Some(crate::world_model::ModelFamily::of_dir(&dir));
        self.model = Some(dir);
        self.refresh_memory();
    }

    /// Chooses (or clears) the LoRA folder.
    pub fn set_lora(&mut self, lora: Option<PathBuf>) {
        self.lora = lora;
        self.refresh_memory();
    }

    fn refresh_memory(&mut self) {
        self.memory = self.model.as_ref().and_then(|dir| {
            crate::world_model::memory::estimate_for_directory(dir, self.lora.as_deref(), 2)
                .map_err(|error| tracing::warn!("{error}; no memory estimate"))
                .ok()
                .flatten()
        });
    }
}

/// The worker and the job in flight.
#[derive(Resource)]
pub struct Generation {
    worker: Worker,
    pub job: Option<JobId>,
    pub progress: Option<(usize, usize, Duration, Option<Duration>)>,
    pub loading_model: bool,
    /// Submit as soon as the running capture finishes.
    generate_after_capture: bool,
    picking: Option<(Task<Option<rfd::FileHandle>>, bool)>,
    /// The cache key of the job in flight.
    job_key: Option<u64>,
    /// Generations that ended with a clip in `Results` (from the worker or the cache), and requests that ended
    /// without one (failed, cancelled, no model, a capture that failed): what the Candidates panel waits on.
    pub finished: u64,
    pub failed: u64,
}

impl Generation {
    /// A generation is queued, running, or waiting for its capture.
    pub fn is_busy(&self) -> bool {
        self.job.is_some() || self.generate_after_capture
    }

    /// Cancels the job in flight, if any.
    pub fn cancel(&mut self) {
        if let Some(job) = self.job {
            self.worker.cancel(job);
        }
        self.generate_after_capture = false;
    }
}

pub struct GenerationPlugin<L: ModelLoader + Clone> {
    pub loader: L,
}

impl<L: ModelLoader + Clone + Sync> Plugin for GenerationPlugin<L> {
    fn build(&self, app: &mut App) {
        app.init_resource::<GenerationChoices>()
            .add_side_panel_section(60, generation_section);
        match Worker::spawn(self.loader.clone(), None) {
            Ok(worker) => {
                app.insert_resource(Generation {
                    worker,
                    job: None,
                    progress: None,
                    loading_model: false,
                    generate_after_capture: false,
                    picking: None,
                    job_key: None,
                    finished: 0,
                    failed: 0,
                });
            }
            Err(error) => {
                // Without a worker thread the app still views and captures; generation reports why it cannot run.
                tracing::error!("could not start the generation worker: {error}");
                return;
            }
        }
        app.add_systems(
            Update,
            (start_generation, poll_worker, finish_pick, log_frame_times),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn start_generation(
    mut requests: MessageReader<Generate>,
    mut generation: ResMut<Generation>,
    choices: Res<GenerationChoices>,
    mut results: ResMut<Results>,
    mut capture: MessageWriter<CaptureStreams>,
    mut notifications: ResMut<Notifications>,
    timeline: Res<super::timeline::Timeline>,
    context: (
        Res<crate::streams::StreamSettings>,
        Res<super::scene_view::CurrentScene>,
        Res<super::hands::HandRig>,
        Res<super::scene_view::ScenePlacementState>,
    ),
) {
    let (settings, scene, rig, placement) = context;
    let requested = requests.read().count() > 0;
    let after_capture = generation.generate_after_capture && !results.is_capturing();
    if !requested && !after_capture {
        return;
    }
    generation.generate_after_capture = false;
    let Some(model) = choices.model.clone() else {
        notifications.error("choose a model directory before generating".into());
        generation.failed += 1;
        return;
    };
    // Streams captured for another path, scene or settings are stale: capture again.
    let key = super::results::action_key(
        &timeline,
        &settings,
        &scene.source,
        &rig,
        &placement,
        scene.overlay.as_ref().map(|(_, p)| p.as_path()),
    );
    let fresh = results.streams_key == Some(key);
    let Some(streams) = results.streams.clone().filter(|_| fresh) else {
        if results.is_capturing() || requested {
            // Capture first (or wait for the running capture), then generate.
            capture.write(CaptureStreams);
            generation.generate_after_capture = true;
        } else {
            // The capture this generation waited for failed (its error is shown).
            generation.failed += 1;
        }
        return;
    };
    let input = JobInput {
        static_video: streams.static_video,
        hand_video: streams.hand_video,
        prompt: choices.prompt.clone(),
        settings: choices.settings.clone(),
    };
    // The CPU runs in f32; GPUs in bf16, as the reference does for the 5B model.
    let dtype = if choices.device == "cpu" {
        "f32"
    } else {
        "bf16"
    };
    let spec = ModelSpec {
        directory: model,
        lora: choices.lora.clone(),
        device: choices.device.clone(),
        dtype: dtype.into(),
        offload: choices.offload,
        device_memory: None,
    };
    let job_key = {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (
            key,
            &spec,
            &input.prompt,
            input.settings.steps,
            input.settings.guidance_scale.to_bits(),
            input.settings.seed,
        )
            .hash(&mut hasher);
        hasher.finish()
    };
    results.generated_b = results.generated.take();
    results.composite = None;
    if let Some(cached) = results.cache.get(&job_key).cloned() {
        notifications.info(
            "the same action and settings were generated before: showing the cached result".into(),
        );
        let (frames, composite) = cached;
        results.generated = Some(frames);
        results.composite = composite;
        results.mode = default_mode(results.composite.is_some());
        results.showing = true;
        results.invalidate();
        generation.finished += 1;
        return;
    }
    let job = generation.worker.submit(spec, input);
    generation.job = Some(job);
    generation.job_key = Some(job_key);
    generation.progress = None;
}

/// What a new generated clip is shown as: the residual composite (the sharp scene with only what the model
/// changed), or the raw output when there is no composite.
fn default_mode(has_composite: bool) -> CompositeMode {
    if has_composite {
        CompositeMode::Composite
    } else {
        CompositeMode::Generated
    }
}

fn poll_worker(
    mut generation: ResMut<Generation>,
    mut results: ResMut<Results>,
    mut notifications: ResMut<Notifications>,
) {
    for event in generation.worker.try_events() {
        if Some(event.job()) != generation.job {
            continue;
        }
        match event {
            Event::Queued { .. } => {}
            Event::Started { loading_model, .. } => generation.loading_model = loading_model,
            Event::Progress {
                step,
                total,
                elapsed,
                eta,
                ..
            } => {
                generation.loading_model = false;
                generation.progress = Some((step, total, elapsed, eta));
            }
            Event::Done {
                frames,
                composite,
                timings,
                ..
            } => {
                notifications.info(format!(
                    "generated {} frames in {:.1} s (model load {:.1} s, reconstruction of the static stream {:.1} s)",
                    frames.frame_count(),
                    timings.generate.as_secs_f64(),
                    timings.load.as_secs_f64(),
                    timings.reconstruct.as_secs_f64()
                ));
                let composite = Some(*composite);
                if let Some(key) = generation.job_key.take() {
                    results
                        .cache
                        .insert(key, (frames.clone(), composite.clone()));
                }
                results.generated = Some(frames);
                results.composite = composite;
                results.mode = default_mode(true);
                results.showing = true;
                results.invalidate();
                generation.job = None;
                generation.progress = None;
                generation.finished += 1;
            }
            Event::Failed { message, .. } => {
                notifications.error(format!("generation failed: {message}"));
                generation.job = None;
                generation.progress = None;
                generation.failed += 1;
            }
            Event::Cancelled { reason, .. } => {
                notifications.info(format!("generation cancelled ({reason:?})"));
                generation.job = None;
                generation.progress = None;
                generation.failed += 1;
            }
        }
    }
}

fn finish_pick(mut generation: ResMut<Generation>, mut choices: ResMut<GenerationChoices>) {
    let Some((task, is_lora)) = generation.picking.as_mut() else {
        return;
    };
    let is_lora = *is_lora;
    let Some(picked) = block_on(poll_once(task)) else {
        return;
    };
    generation.picking = None;
    if let Some(folder) = picked.map(|f| f.path().to_path_buf()) {
        if is_lora {
            choices.set_lora(Some(folder))
        } else {
            choices.set_model(folder)
        }
    }
}

/// The side panel's generation section.
pub(super) fn generation_ui(
    ui: &mut bevy_egui::egui::Ui,
    generation: &mut Generation,
    choices: &mut GenerationChoices,
    generate: &mut MessageWriter<Generate>,
    can_generate: bool,
) {
    use bevy_egui::egui;
    ui.strong("Generate (DWM)");
    let folder_name = |path: &Option<PathBuf>| {
        path.as_ref().map_or("none".to_string(), |p| {
            p.file_name().map_or(p.display().to_string(), |n| {
                n.to_string_lossy().into_owned()
            })
        })
    };
    ui.horizontal(|ui| {
                let family = match choices.family {
            Some(crate::world_model::ModelFamily::Wan) => " (Wan)",
            Some(crate::world_model::ModelFamily::CogVideoX) => " (CogVideoX)",
            None => "",
        };
        ui.label(format!("model: {}{family}", folder_name(&choices.model)));
        if ui.small_button("Choose…").clicked() && generation.picking.is_none() {
            let dialog = rfd::AsyncFileDialog::new().set_title(
                "Choose a model folder: a CogVideoX pipeline (model_index.json) or a Wan release (config.json, \
                 Wan2.1_VAE.pth)",
            );
            generation.picking = Some((
                AsyncComputeTaskPool::get().spawn(dialog.pick_folder()),
                false,
            ));
        }
    });
    ui.horizontal(|ui| {
        ui.label(format!("LoRA: {}", folder_name(&choices.lora)));
        if ui.small_button("Choose…").clicked() && generation.picking.is_none() {
            let dialog = rfd::AsyncFileDialog::new().set_title("Choose the DWM LoRA folder");
            generation.picking = Some((
                AsyncComputeTaskPool::get().spawn(dialog.pick_folder()),
                true,
            ));
        }
        if choices.lora.is_some() && ui.small_button("✖").clicked() {
            choices.set_lora(None);
        }
    });
    ui.add(egui::TextEdit::singleline(&mut choices.prompt).hint_text("prompt (optional)"));
    egui::Grid::new("generation_settings")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("steps");
            ui.add(egui::DragValue::new(&mut choices.settings.steps).range(1..=200));
            ui.end_row();
            ui.label("guidance");
            ui.add(
                egui::DragValue::new(&mut choices.settings.guidance_scale)
                    .range(1.0..=20.0)
                    .speed(0.1),
            );
            ui.end_row();
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut choices.settings.seed));
            ui.end_row();
            ui.label("device");
            egui::ComboBox::from_id_salt("device")
                .selected_text(choices.device.clone())
                .show_ui(ui, |ui| {
                    for device in ["cpu", "cuda", "metal"] {
                        ui.selectable_value(&mut choices.device, device.to_string(), device);
                    }
                });
            ui.end_row();
            if choices.device != "cpu" {
                // Each setting with the chosen model's estimated peak, so a user picks what fits the card.
                let label = |offload: Offload| match &choices.memory {
                    Some(memory) => format!("{offload} · {}", gib(memory.peak(offload).0)),
                    None => offload.to_string(),
                };
                ui.label("offload").on_hover_text(
                    "where the weights wait between uses: none (all on the GPU), model (each network moves to                      the GPU while it runs), sequential (the transformer's blocks stream through it); the                      figures are estimated peaks at the model's own size in bf16",
                );
                let selected = label(choices.offload);
                egui::ComboBox::from_id_salt("offload")
                    .selected_text(selected)
                    .show_ui(ui, |ui| {
                        for offload in Offload::ALL {
                            let text = label(offload);
                            ui.selectable_value(&mut choices.offload, offload, text);
                        }
                    });
                ui.end_row();
            }
        });
    if let Some((limit, min_timestep)) = choices.step_limit
        && choices.settings.steps > limit
    {
        ui.colored_label(
            egui::Color32::from_rgb(235, 170, 60),
            format!(
                "⚠ this model was trained only at timesteps ≥ {min_timestep}: use at most {limit} {}; more \
                 break its output",
                if limit == 1 { "step" } else { "steps" }
            ),
        );
    }
    match (&generation.job, &generation.progress) {
        (Some(job), progress) => {
            let text = match progress {
                Some((step, total, elapsed, eta)) => format!(
                    "step {step}/{total} · {:.0} s · eta {}",
                    elapsed.as_secs_f64(),
                    eta.map_or("?".to_string(), |e| format!("{:.0} s", e.as_secs_f64()))
                ),
                None if generation.loading_model => "loading the model…".to_string(),
                None => "starting…".to_string(),
            };
            let fraction =
                progress.map_or(0.0, |(step, total, _, _)| step as f32 / total.max(1) as f32);
            ui.add(egui::ProgressBar::new(fraction).text(text));
            if ui.button("Cancel").clicked() {
                generation.worker.cancel(*job);
            }
        }
        (None, _) if generation.generate_after_capture => {
            ui.label("capturing the streams first…");
        }
        (None, _) => {
            let enabled = can_generate && choices.model.is_some();
            let button = ui.add_enabled(enabled, egui::Button::new("Generate"));
            let button =
                button.on_disabled_hover_text("load a camera path and choose a model directory");
            if button.clicked() {
                generate.write(Generate);
            }
        }
    }
}

/// Viewport frame times while a job runs, written when it ends to the file named by `HANDTWIN_FRAME_LOG`
/// (median, p99, max): the viewport must stay interactive while the model denoises on the worker thread.
fn log_frame_times(
    generation: Res<Generation>,
    time: Res<Time<Real>>,
    mut samples: Local<Vec<f64>>,
) {
    let Some(path) = std::env::var_os("HANDTWIN_FRAME_LOG") else {
        return;
    };
    if generation.job.is_some() {
        samples.push(time.delta_secs_f64() * 1000.0);
        return;
    }
    if samples.is_empty() {
        return;
    }
    let mut sorted = std::mem::take(&mut *samples);
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let line = format!(
        "frames {} median {:.1} ms p99 {:.1} ms max {:.1} ms\n",
        sorted.len(),
        at(0.5),
        at(0.99),
        sorted[sorted.len() - 1]
    );
    if let Err(error) = std::fs::write(&path, line) {
        tracing::warn!(
            "cannot write the frame log {}: {error}",
            std::path::Path::new(&path).display()
        );
    }
}

/// The side panel's generation section.
fn generation_section(
    InMut(ui): InMut<bevy_egui::egui::Ui>,
    generation: Option<ResMut<Generation>>,
    mut choices: ResMut<GenerationChoices>,
    mut generate: MessageWriter<Generate>,
    timeline: Res<super::timeline::Timeline>,
) {
    match generation {
        Some(mut generation) => generation_ui(
            ui,
            &mut generation,
            &mut choices,
            &mut generate,
            !timeline.frames.is_empty(),
        ),
        None => {
            ui.strong("Generate (DWM)");
            ui.label("unavailable: the generation thread did not start (see the log)");
        }
    }
}
