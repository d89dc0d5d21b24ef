//! `worker`: the background generation thread. It owns one loaded model (loaded once, swapped when a job asks
//! for another model or device), takes jobs from a channel, and reports events back:
//! queued → started → progress… → exactly one of done / failed / cancelled, for every submitted job.
//!
//! - Supersede: a new job replaces one still waiting in the queue (the waiting one is cancelled); a running
//!   job goes on unless cancelled.
//! - Cancel: a waiting job is dropped at once; a running job stops at its next progress callback.
//! - A panic inside the model becomes a failed event; the model is dropped and reloaded for the next job, and
//!   the worker keeps serving.
//! - On the CPU, inference runs in a thread pool one core smaller than the machine, leaving a core to the UI.

mod dwm;

pub use dwm::{DwmLoader, device, dtype};

use crate::video::Frames;
use crate::world_model::composite::{Composite, CompositeSettings, composite};
use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub type JobId = u64;

/// Which model to run, on which device. Jobs with a different spec swap the loaded model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// The diffusers-format model directory.
    pub directory: PathBuf,
    /// The DWM LoRA folder (LoRA + non-LoRA weights), if the model directory is a base model.
    pub lora: Option<PathBuf>,
    /// "cpu", "cuda" or "metal".
    pub device: String,
    /// "f32", "bf16" or "f16".
    pub dtype: String,
    /// Where the weights live between uses (`--offload`).
    pub offload: crate::world_model::offload::Offload,
    /// Plan as if the device had this many bytes free (`--device-memory`); else the driver is asked (GPUs only).
    pub device_memory: Option<u64>,
}

/// Sampling settings of one generation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationSettings {
    pub steps: usize,
    pub guidance_scale: f64,
    pub seed: u64,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            steps: 50,
            guidance_scale: 6.0,
            seed: 42,
        }
    }
}

/// The inputs of one generation: DWM's two conditioning videos and a prompt.
#[derive(Clone, Debug)]
pub struct JobInput {
    pub static_video: Frames,
    pub hand_video: Frames,
    pub prompt: String,
    pub settings: GenerationSettings,
}

/// A step report from the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepProgress {
    pub step: usize,
    pub total: usize,
}

/// What the model should do after a progress report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// A loaded world model.
pub trait Model: Send {
    /// Runs one generation, calling `progress` after each step; returns `Ok(None)` when `progress` said stop.
    fn generate(
        &mut self,
        input: &JobInput,
        progress: &mut dyn FnMut(StepProgress) -> Control,
    ) -> Result<Option<Frames>, String>;

    /// The model's no-action output for a static video: its VAE round trip at its own size, resized back, the
    /// reference the residual composite subtracts (`world_model::composite`). `Ok(None)`: the model has none (a
    /// test double); the composite then measures the residual against the static video itself.
    fn reconstruct(&mut self, _static_video: &Frames) -> Result<Option<Frames>, String> {
        Ok(None)
    }
}

/// Loads models for the worker (the real pipeline, or a fake in tests).
pub trait ModelLoader: Send + 'static {
    fn load(&self, spec: &ModelSpec) -> Result<Box<dyn Model>, String>;
}

/// Why a job ended without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// The user cancelled it.
    Cancelled,
    /// A newer job replaced it while it waited.
    Superseded,
    /// The worker was shut down.
    Shutdown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timings {
    pub load: Duration,
    pub generate: Duration,
    /// The static video's reconstruction (zero when it came from the cache).
    pub reconstruct: Duration,
}

#[derive(Clone, Debug)]
pub enum Event {
    Queued {
        job: JobId,
    },
    /// The job left the queue; `loading_model` tells whether a model load comes first.
    Started {
        job: JobId,
        loading_model: bool,
    },
    Progress {
        job: JobId,
        step: usize,
        total: usize,
        elapsed: Duration,
        eta: Option<Duration>,
    },
    Done {
        job: JobId,
        frames: Frames,
        /// The model's reconstruction of the job's static video (`Model::reconstruct`), computed once per static
        /// video and model; `None` when the model has none or it failed (a warning says why).
        reconstruction: Option<Frames>,
        /// The residual composite (`world_model::composite`, default settings): the static video with only what
        /// the model changed put in, and its mask. Against the static video itself when there is no
        /// reconstruction.
        composite: Box<Composite>,
        timings: Timings,
    },
    Failed {
        job: JobId,
        message: String,
    },
    Cancelled {
        job: JobId,
        reason: CancelReason,
    },
}

impl Event {
    pub fn job(&self) -> JobId {
        match self {
            Event::Queued { job }
            | Event::Started { job, .. }
            | Event::Progress { job, .. }
            | Event::Done { job, .. }
            | Event::Failed { job, .. }
            | Event::Cancelled { job, .. } => *job,
        }
    }

    /// Done, failed or cancelled: the last event of a job.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Event::Done { .. } | Event::Failed { .. } | Event::Cancelled { .. }
        )
    }
}

enum Command {
    Submit {
        job: JobId,
        spec: ModelSpec,
        input: Box<JobInput>,
    },
    Cancel {
        job: JobId,
    },
    Shutdown,
}

/// The UI side of the worker: submit and cancel jobs, read events.
pub struct Worker {
    commands: Sender<Command>,
    events: Receiver<Event>,
    next_job: JobId,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker thread. `inference_threads`: the size of the thread pool models run in (`None`: one less
    /// than the machine's cores, at least one).
    pub fn spawn(
        loader: impl ModelLoader,
        inference_threads: Option<usize>,
    ) -> std::io::Result<Self> {
        let (command_tx, command_rx) = unbounded();
        let (event_tx, event_rx) = unbounded();
        let threads = inference_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1)
        });
        let thread = std::thread::Builder::new()
            .name("handtwin-worker".into())
            .spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("handtwin-infer-{i}"))
                    .build();
                let mut state = WorkerState {
                    loader,
                    model: None,
                    commands: command_rx,
                    events: event_tx,
                    queue: VecDeque::new(),
                    reconstruction: None,
                };
                match pool {
                    Ok(pool) => pool.install(|| state.serve()),
                    Err(_) => state.serve(),
                }
            })?;
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            next_job: 1,
            thread: Some(thread),
        })
    }

    /// Submits a job; a job still waiting in the queue is superseded by it.
    pub fn submit(&mut self, spec: ModelSpec, input: JobInput) -> JobId {
        let job = self.next_job;
        self.next_job += 1;
        // If the worker thread is gone, `events` will report nothing more; `is_alive` tells the UI.
        self.commands
            .send(Command::Submit {
                job,
                spec,
                input: Box::new(input),
            })
            .ok();
        job
    }

    pub fn cancel(&self, job: JobId) {
        self.commands.send(Command::Cancel { job }).ok();
    }

    /// Events so far, without waiting.
    pub fn try_events(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// The event channel, for code that wants to block on it.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    pub fn is_alive(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.commands.send(Command::Shutdown).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

struct WorkerState<L: ModelLoader> {
    loader: L,
    model: Option<(ModelSpec, Box<dyn Model>)>,
    commands: Receiver<Command>,
    events: Sender<Event>,
    /// At most one waiting job (a newer submit supersedes it).
    queue: VecDeque<(JobId, ModelSpec, Box<JobInput>)>,
    /// The last reconstruction: the model it came from, a hash of its static video, the frames.
    reconstruction: Option<(ModelSpec, u64, Frames)>,
}

/// What handling a command asks of the running job.
enum Effect {
    None,
    CancelRunning,
    Shutdown,
}

impl<L: ModelLoader> WorkerState<L> {
    fn emit(&self, event: Event) {
        // The UI side dropped its receiver: nothing left to tell.
        self.events.send(event).ok();
    }

    fn serve(&mut self) {
        loop {
            if let Some((job, spec, input)) = self.queue.pop_front() {
                if self.run(job, &spec, &input) {
                    return;
                }
                continue;
            }
            let Ok(command) = self.commands.recv() else {
                return;
            };
            if let Effect::Shutdown = self.handle(command, None) {
                self.shutdown();
                return;
            }
        }
    }

    fn shutdown(&mut self) {
        while let Some((job, ..)) = self.queue.pop_front() {
            self.emit(Event::Cancelled {
                job,
                reason: CancelReason::Shutdown,
            });
        }
    }

    /// Applies a command; `running` is the job being generated, if any.
    fn handle(&mut self, command: Command, running: Option<JobId>) -> Effect {
        match command {
            Command::Submit { job, spec, input } => {
                while let Some((old, ..)) = self.queue.pop_front() {
                    self.emit(Event::Cancelled {
                        job: old,
                        reason: CancelReason::Superseded,
                    });
                }
                self.emit(Event::Queued { job });
                self.queue.push_back((job, spec, input));
                Effect::None
            }
            Command::Cancel { job } => {
                if running == Some(job) {
                    return Effect::CancelRunning;
                }
                if let Some(position) = self.queue.iter().position(|(queued, ..)| *queued == job) {
                    self.queue.remove(position);
                    self.emit(Event::Cancelled {
                        job,
                        reason: CancelReason::Cancelled,
                    });
                }
                Effect::None
            }
            Command::Shutdown => Effect::Shutdown,
        }
    }

    /// Runs one job to its terminal event. Returns true when the worker must shut down.
    fn run(&mut self, job: JobId, spec: &ModelSpec, input: &JobInput) -> bool {
        let needs_load = self.model.as_ref().is_none_or(|(loaded, _)| loaded != spec);
        self.emit(Event::Started {
            job,
            loading_model: needs_load,
        });
        let load_start = Instant::now();
        if needs_load {
            // Free the old model before loading the new one: two large models may not fit together.
            self.model = None;
            match catch_unwind(AssertUnwindSafe(|| self.loader.load(spec))) {
                Ok(Ok(model)) => self.model = Some((spec.clone(), model)),
                Ok(Err(message)) => {
                    self.emit(Event::Failed {
                        job,
                        message: format!("could not load the model: {message}"),
                    });
                    return false;
                }
                Err(panic) => {
                    let message = format!("the model loader crashed: {}", panic_message(&panic));
                    self.emit(Event::Failed { job, message });
                    return false;
                }
            }
        }
        let load = load_start.elapsed();
        let Some((_, mut model)) = self.model.take() else {
            self.emit(Event::Failed {
                job,
                message: "no model is loaded".into(),
            });
            return false;
        };

        let start = Instant::now();
        let mut stop: Option<CancelReason> = None;
        let mut shutdown = false;
        let result = {
            let mut progress = |step: StepProgress| {
                let elapsed = start.elapsed();
                let eta = (step.step > 0).then(|| {
                    elapsed.mul_f64(step.total.saturating_sub(step.step) as f64 / step.step as f64)
                });
                self.emit(Event::Progress {
                    job,
                    step: step.step,
                    total: step.total,
                    elapsed,
                    eta,
                });
                loop {
                    match self.commands.try_recv() {
                        Ok(command) => match self.handle(command, Some(job)) {
                            Effect::None => {}
                            Effect::CancelRunning => stop = stop.or(Some(CancelReason::Cancelled)),
                            Effect::Shutdown => {
                                shutdown = true;
                                stop = Some(CancelReason::Shutdown);
                            }
                        },
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            shutdown = true;
                            stop = Some(CancelReason::Shutdown);
                            break;
                        }
                    }
                }
                if stop.is_some() {
                    Control::Stop
                } else {
                    Control::Continue
                }
            };
            catch_unwind(AssertUnwindSafe(|| model.generate(input, &mut progress)))
        };
        match result {
            Ok(Ok(Some(frames))) if stop.is_none() => {
                let generate = start.elapsed();
                let reconstruct_start = Instant::now();
                let reconstruction = self.reconstruction(spec, model.as_mut(), &input.static_video);
                let reconstruct = reconstruct_start.elapsed();
                self.model = Some((spec.clone(), model));
                let reference = reconstruction.as_ref().unwrap_or(&input.static_video);
                match composite(
                    &input.static_video,
                    &input.hand_video,
                    &frames,
                    reference,
                    &CompositeSettings::default(),
                ) {
                    Ok(composite) => self.emit(Event::Done {
                        job,
                        frames,
                        reconstruction,
                        composite: Box::new(composite),
                        timings: Timings {
                            load,
                            generate,
                            reconstruct,
                        },
                    }),
                    Err(error) => self.emit(Event::Failed {
                        job,
                        message: format!("the generated clip does not fit its inputs: {error}"),
                    }),
                }
            }
            Ok(Ok(_)) => {
                self.model = Some((spec.clone(), model));
                self.emit(Event::Cancelled {
                    job,
                    reason: stop.unwrap_or(CancelReason::Cancelled),
                });
            }
            Ok(Err(message)) => {
                self.model = Some((spec.clone(), model));
                self.emit(Event::Failed { job, message });
            }
            Err(panic) => {
                // The model's state is unknown after a panic: drop it, reload for the next job.
                drop(model);
                self.emit(Event::Failed {
                    job,
                    message: format!("the model crashed: {}", panic_message(&panic)),
                });
            }
        }
        if shutdown {
            self.shutdown();
        }
        shutdown
    }
}

impl<L: ModelLoader> WorkerState<L> {
    /// The model's reconstruction of a static video, from the one-entry cache when the same model already
    /// reconstructed the same video (a user generating several actions on one camera path).
    fn reconstruction(
        &mut self,
        spec: &ModelSpec,
        model: &mut dyn Model,
        static_video: &Frames,
    ) -> Option<Frames> {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        static_video.as_bytes().hash(&mut hasher);
        (
            static_video.width(),
            static_video.height(),
            static_video.fps().to_bits(),
        )
            .hash(&mut hasher);
        let key = hasher.finish();
        if let Some((cached_spec, cached_key, frames)) = &self.reconstruction
            && cached_spec == spec
            && *cached_key == key
        {
            return Some(frames.clone());
        }
        match catch_unwind(AssertUnwindSafe(|| model.reconstruct(static_video))) {
            Ok(Ok(Some(frames))) => {
                self.reconstruction = Some((spec.clone(), key, frames.clone()));
                Some(frames)
            }
            Ok(Ok(None)) => None,
            Ok(Err(message)) => {
                tracing::warn!(
                    "the static video's reconstruction failed ({message}); the composite measures the residual against the static video"
                );
                None
            }
            Err(panic) => {
                tracing::warn!(
                    "the static video's reconstruction crashed ({}); the composite measures the residual against the static video",
                    panic_message(&panic)
                );
                None
            }
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
