//! The worker against a fake model that sleeps and sometimes panics: random submit / cancel / supersede
//! sequences. In its own test binary so the resident-memory check sees only this test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::video::Frames;
use handtwin::worker::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static LIVE_MODELS: AtomicI64 = AtomicI64::new(0);

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct FakeModel {
    seed: Mutex<Rng>,
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        LIVE_MODELS.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Model for FakeModel {
    fn generate(
        &mut self,
        input: &JobInput,
        progress: &mut dyn FnMut(StepProgress) -> Control,
    ) -> Result<Option<Frames>, String> {
        let total = input.settings.steps;
        let fate = self.seed.lock().map(|mut rng| rng.below(20)).unwrap_or(0);
        for step in 1..=total {
            std::thread::sleep(Duration::from_micros(50 + 100 * (input.settings.seed % 3)));
            if fate == 0 && step == total.div_ceil(2) {
                panic!("fake model panicked at step {step}");
            }
            if progress(StepProgress { step, total }) == Control::Stop {
                return Ok(None);
            }
        }
        if fate == 1 {
            return Err("fake model failed".into());
        }
        Ok(Some(input.static_video.clone()))
    }
}

struct FakeLoader {
    loads: Arc<AtomicI64>,
}

impl ModelLoader for FakeLoader {
    fn load(&self, spec: &ModelSpec) -> Result<Box<dyn Model>, String> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if spec.directory.ends_with("missing") {
            return Err(format!(
                "{} has no model_index.json",
                spec.directory.display()
            ));
        }
        LIVE_MODELS.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeModel {
            seed: Mutex::new(Rng(spec.device.len() as u64 * 7919 + 13)),
        }))
    }
}

fn input(seed: u64, steps: usize) -> JobInput {
    let frames = Frames::black(1, 2, 2, 8.0).unwrap();
    JobInput {
        static_video: frames.clone(),
        hand_video: frames,
        prompt: String::new(),
        settings: GenerationSettings {
            steps,
            guidance_scale: 6.0,
            seed,
        },
    }
}

fn spec(directory: &str, device: &str) -> ModelSpec {
    ModelSpec {
        directory: directory.into(),
        lora: None,
        device: device.into(),
        dtype: "f32".into(),
        offload: Default::default(),
        device_memory: None,
    }
}

/// Checks one job's event history.
fn check_history(job: JobId, events: &[Event]) {
    let terminal = events.iter().filter(|e| e.is_terminal()).count();
    assert_eq!(
        terminal, 1,
        "job {job}: {terminal} terminal events in {events:?}"
    );
    assert!(
        events.last().is_some_and(Event::is_terminal),
        "job {job}: events after the end: {events:?}"
    );
    assert!(
        matches!(events.first(), Some(Event::Queued { .. })),
        "job {job} did not start with Queued"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Queued { .. }))
            .count(),
        1
    );
    let started = events
        .iter()
        .position(|e| matches!(e, Event::Started { .. }));
    if let Some(first_progress) = events
        .iter()
        .position(|e| matches!(e, Event::Progress { .. }))
    {
        assert!(
            started.is_some_and(|s| s < first_progress),
            "job {job}: progress before start"
        );
    }
    if matches!(events.last(), Some(Event::Done { .. })) {
        assert!(started.is_some(), "job {job} finished without starting");
    }
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn random_sequences_give_every_job_exactly_one_ending() {
    let before = resident_kib();
    let loads = Arc::new(AtomicI64::new(0));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    for sequence in 0..1000 {
        let mut worker = Worker::spawn(
            FakeLoader {
                loads: loads.clone(),
            },
            Some(1),
        )
        .unwrap();
        let mut submitted = Vec::new();
        for _ in 0..(1 + rng.below(8)) {
            match rng.below(10) {
                0..=4 => {
                    let directory = if rng.below(15) == 0 {
                        "models/missing"
                    } else {
                        "models/tiny"
                    };
                    let device = if rng.below(4) == 0 {
                        "cpu:other"
                    } else {
                        "cpu"
                    };
                    submitted.push(worker.submit(
                        spec(directory, device),
                        input(rng.next(), 1 + rng.below(6) as usize),
                    ));
                }
                5..=6 if !submitted.is_empty() => {
                    let job = submitted[rng.below(submitted.len() as u64) as usize];
                    worker.cancel(job);
                }
                7 => worker.cancel(9_999_999), // unknown jobs are ignored
                _ => std::thread::sleep(Duration::from_micros(rng.below(400))),
            }
        }
        // Wait for every job's ending; a deadlock shows up as a timeout.
        let mut histories: HashMap<JobId, Vec<Event>> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !submitted.iter().all(|job| {
            histories
                .get(job)
                .is_some_and(|h| h.iter().any(Event::is_terminal))
        }) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(
                !remaining.is_zero(),
                "sequence {sequence}: deadlock, histories {histories:?}"
            );
            if let Ok(event) = worker.events().recv_timeout(remaining) {
                histories.entry(event.job()).or_default().push(event);
            }
        }
        drop(worker);
        // Dropping joined the thread: nothing may arrive after the endings.
        for job in &submitted {
            let history = &histories[job];
            check_history(*job, history);
            let outcome = match history.last() {
                Some(Event::Done { .. }) => "done",
                Some(Event::Failed { .. }) => "failed",
                Some(Event::Cancelled {
                    reason: CancelReason::Superseded,
                    ..
                }) => "superseded",
                _ => "cancelled",
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        assert!(
            histories.keys().all(|job| submitted.contains(job)),
            "events for jobs never submitted"
        );
    }
    assert_eq!(LIVE_MODELS.load(Ordering::SeqCst), 0, "models leaked");
    for outcome in ["done", "failed", "superseded", "cancelled"] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "no {outcome} job in 1000 sequences: {outcomes:?}"
        );
    }
    if let (Some(before), Some(after)) = (before, resident_kib()) {
        eprintln!("outcomes {outcomes:?}; resident memory {before} KiB → {after} KiB");
        assert!(
            after < before + 64 * 1024,
            "resident memory grew from {before} KiB to {after} KiB"
        );
    }
}

#[test]
fn load_failure_is_reported_and_the_worker_survives() {
    let loads = Arc::new(AtomicI64::new(0));
    let mut worker = Worker::spawn(
        FakeLoader {
            loads: loads.clone(),
        },
        Some(1),
    )
    .unwrap();
    let bad = worker.submit(spec("models/missing", "cpu"), input(0, 2));
    let wait_end = |worker: &Worker, job: JobId| loop {
        let event = worker
            .events()
            .recv_timeout(Duration::from_secs(10))
            .expect("an event");
        if event.job() == job && event.is_terminal() {
            return event;
        }
    };
    match wait_end(&worker, bad) {
        Event::Failed { message, .. } => assert!(
            message.contains("models/missing has no model_index.json"),
            "{message}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
    let good = worker.submit(spec("models/tiny", "cpu"), input(0, 2));
    assert!(matches!(
        wait_end(&worker, good),
        Event::Done { .. } | Event::Failed { .. }
    ));
    // The same spec again reuses the loaded model.
    let loads_before = loads.load(Ordering::SeqCst);
    let again = worker.submit(spec("models/tiny", "cpu"), input(1, 2));
    wait_end(&worker, again);
    assert!(loads.load(Ordering::SeqCst) - loads_before <= 1);
    assert!(worker.is_alive());
}
