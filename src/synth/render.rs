//! Rendering and writing synthetic clips: the three streams of a [`ClipPlan`] through `streams`, and a run's
//! folder in DWM's processed layout plus our action files and a manifest.
//!
//! ```text
//! DIR/videos/<stem>.mp4            interaction (ground truth)
//! DIR/videos_static/<stem>.mp4     static scene, same camera path (fixed camera: frame 0 repeated)
//! DIR/videos_hands/<stem>.mp4      DWM hand-mesh stream
//! DIR/prompts_rewrite/<stem>.txt   one sentence
//! DIR/actions/<stem>.json          the handtwin.action (camera path + hand tracks)
//! DIR/synth.json                   the manifest: settings and one entry per complete clip
//! ```
//!
//! Every file is written atomically, and a clip enters `synth.json` (rewritten atomically after each clip) only
//! once all of its files are complete.

use super::behaviour::{Behaviour, ClipPlan, plan_clip};
use super::room::{ObjectKind, ROOM_STYLES};
use super::{Split, SynthConfig, Timing};
use crate::action::{TrackError, write_atomically};
use crate::hand::{HandModelError, HandModels, ManoInputError, Side};
use crate::streams::{InteractionRequest, InteractionStreams, StreamError, StreamRenderer};
use crate::video::{
    Ffmpeg, Frames, FramesError, GROUND_TRUTH_DIR, HANDS_DIR, Mp4Options, PROMPTS_REWRITE_DIR,
    STATIC_DIR, VideoError,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const ACTIONS_DIR: &str = "actions";
pub const MANIFEST_FILE: &str = "synth.json";
pub const MANIFEST_FORMAT: &str = "handtwin.synth";

#[derive(Debug, Error)]
pub enum SynthError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Frames(#[from] FramesError),
    #[error("clip {index}: the planned action is invalid: {source}")]
    Track { index: usize, source: TrackError },
    #[error("loading the bundled hand model: {0}")]
    HandModel(#[from] HandModelError),
    #[error("clip {index}: posing the hands: {source}")]
    Pose {
        index: usize,
        source: ManoInputError,
    },
    #[error("synth settings: {0}")]
    Config(#[from] super::ConfigError),
    #[error("the thread writing the clips panicked")]
    WriterPanicked,
    #[error("{}: {source}; check that the folder is writable", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One clip's entry in `synth.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestClip {
    pub stem: String,
    pub index: usize,
    pub seed: u64,
    /// Which of its room's variants this clip is (0 in manifests written before variants existed).
    #[serde(default)]
    pub variant: usize,
    /// Which of its room's alternatives this clip is (0 in manifests written before alternatives existed).
    #[serde(default)]
    pub alternative: usize,
    pub behaviour: Behaviour,
    pub object_kind: ObjectKind,
    pub target: String,
    pub room_style: usize,
    pub room_style_name: String,
    pub fixed_camera: bool,
    pub acting_hand: Side,
    pub both_hands: bool,
    pub prompt: String,
    /// Seconds from the first frame to the grasp and to the end of the target's motion (absent in manifests
    /// written before they were recorded).
    #[serde(default)]
    pub grasp_seconds: Option<f64>,
    #[serde(default)]
    pub moved_seconds: Option<f64>,
}

/// `synth.json`: how the run was made and its complete clips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub seed: u64,
    pub split: Split,
    pub held_out_rule: String,
    pub width: u32,
    pub height: u32,
    pub frame_count: usize,
    pub fps: f64,
    pub horizontal_fov_degrees: f32,
    pub fixed_camera_fraction: f64,
    /// How behaviours are timed (manifests written before the choice existed were `scripted`).
    #[serde(default)]
    pub timing: Timing,
    /// Clips per room ([`SynthConfig::variants`]; 1 in manifests written before the choice existed).
    #[serde(default = "one")]
    pub variants: usize,
    /// Alternatives per room ([`SynthConfig::alternatives`]; 1 in manifests written before the choice existed).
    #[serde(default = "one")]
    pub alternatives: usize,
    pub clips: Vec<ManifestClip>,
}

fn one() -> usize {
    1
}

impl Manifest {
    pub fn new(seed: u64, split: Split, config: &SynthConfig) -> Self {
        Self {
            format: MANIFEST_FORMAT.into(),
            version: 1,
            seed,
            split,
            held_out_rule: "(room_style + object_kind) % 5 == 0".into(),
            width: config.width,
            height: config.height,
            frame_count: config.frame_count,
            fps: config.fps,
            horizontal_fov_degrees: config.horizontal_fov_degrees,
            fixed_camera_fraction: config.fixed_camera_fraction,
            timing: config.timing,
            variants: config.variants,
            alternatives: config.alternatives,
            clips: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        // Plain numbers, strings and enums always serialise.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

impl ManifestClip {
    pub fn from_plan(plan: &ClipPlan) -> Self {
        Self {
            stem: plan.stem.clone(),
            index: plan.index,
            seed: plan.seed,
            variant: plan.variant,
            alternative: plan.alternative,
            behaviour: plan.behaviour,
            object_kind: plan.object_kind,
            target: plan.target.description.clone(),
            room_style: plan.room_style,
            room_style_name: ROOM_STYLES[plan.room_style % ROOM_STYLES.len()].name.into(),
            fixed_camera: plan.fixed_camera,
            acting_hand: plan.acting,
            both_hands: plan.both_hands,
            prompt: plan.prompt.clone(),
            // Milliseconds are plenty, and keep the manifest readable.
            grasp_seconds: Some(to_milliseconds(plan.grasp_seconds)),
            moved_seconds: Some(to_milliseconds(plan.moved_seconds)),
        }
    }
}

fn to_milliseconds(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Renders the three streams of a planned clip. For a fixed camera the static video is frame 0 repeated.
pub fn render_clip(
    renderer: &mut StreamRenderer,
    models: &HandModels,
    plan: &ClipPlan,
) -> Result<InteractionStreams, SynthError> {
    let action = &plan.action;
    let cameras = action.camera_frames();
    let hands = action
        .hand_meshes(models, action.frame_count, action.fps)
        .map_err(|source| SynthError::Pose {
            index: plan.index,
            source,
        })?;
    renderer.set_procedural_scene(&plan.scene);
    let mut streams = renderer.render_interaction(
        &InteractionRequest {
            cameras: &cameras,
            hands: &hands,
            moved_parts: &plan.moved_parts,
            skin_color: plan.skin_color,
            fps: action.fps,
        },
        &mut |_, _| {},
    )?;
    if plan.fixed_camera {
        streams.static_video = repeat_first_frame(&streams.static_video)?;
    }
    Ok(streams)
}

fn repeat_first_frame(frames: &Frames) -> Result<Frames, FramesError> {
    let first = frames.frame(0).unwrap_or_default();
    let data = first.repeat(frames.frame_count());
    Frames::new(frames.width(), frames.height(), frames.fps(), data)
}

/// Plans a clip and maps a planning error to [`SynthError`].
pub fn plan(
    seed: u64,
    index: usize,
    split: Split,
    config: &SynthConfig,
) -> Result<ClipPlan, SynthError> {
    config.check()?;
    plan_clip(seed, index, split, config).map_err(|source| SynthError::Track { index, source })
}

/// Writes one rendered clip's five files (each atomically).
pub fn write_clip(
    dir: &Path,
    plan: &ClipPlan,
    streams: &InteractionStreams,
    ffmpeg: &Ffmpeg,
) -> Result<(), SynthError> {
    let options = Mp4Options::near_lossless();
    let stem = &plan.stem;
    let action_path = dir.join(ACTIONS_DIR).join(format!("{stem}.json"));
    plan.action.save(&action_path).map_err(|e| SynthError::Io {
        path: action_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let prompt_path = dir.join(PROMPTS_REWRITE_DIR).join(format!("{stem}.txt"));
    write_atomically(&prompt_path, format!("{}\n", plan.prompt).as_bytes())
        .map_err(io(&prompt_path))?;
    let video = |sub: &str| dir.join(sub).join(format!("{stem}.mp4"));
    ffmpeg.write(&streams.static_video, &video(STATIC_DIR), &options)?;
    ffmpeg.write(&streams.hand_video, &video(HANDS_DIR), &options)?;
    ffmpeg.write(&streams.interaction, &video(GROUND_TRUTH_DIR), &options)?;
    Ok(())
}

/// Creates the output folders.
pub fn create_layout(dir: &Path) -> Result<(), SynthError> {
    for sub in [
        GROUND_TRUTH_DIR,
        STATIC_DIR,
        HANDS_DIR,
        PROMPTS_REWRITE_DIR,
        ACTIONS_DIR,
    ] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
    }
    Ok(())
}

/// Generates `clips` clips of run `seed` into `dir` (which must exist or be creatable), rewriting `synth.json`
/// after every clip. Encoding and writing run on a second thread while the next clip renders.
/// `progress(done, total)` after each clip is rendered.
pub fn generate(
    dir: &Path,
    seed: u64,
    clips: usize,
    split: Split,
    config: &SynthConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Manifest, SynthError> {
    config.check()?;
    create_layout(dir)?;
    let models = HandModels::bundled()?;
    let mut renderer = StreamRenderer::new(None)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let empty = Manifest::new(seed, split, config);
    write_atomically(&manifest_path, empty.to_json().as_bytes()).map_err(io(&manifest_path))?;
    let (sender, receiver) = crossbeam_channel::bounded::<(ClipPlan, InteractionStreams)>(1);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> Result<Manifest, SynthError> {
            let ffmpeg = Ffmpeg::from_env();
            let mut manifest = empty;
            for (plan, streams) in receiver {
                write_clip(dir, &plan, &streams, &ffmpeg)?;
                manifest.clips.push(ManifestClip::from_plan(&plan));
                write_atomically(&manifest_path, manifest.to_json().as_bytes())
                    .map_err(io(&manifest_path))?;
            }
            Ok(manifest)
        });
        let rendered = (|| -> Result<(), SynthError> {
            for index in 0..clips {
                let plan = plan(seed, index, split, config)?;
                let streams = render_clip(&mut renderer, &models, &plan)?;
                if sender.send((plan, streams)).is_err() {
                    // The writer stopped on an error, which its join below returns.
                    break;
                }
                progress(index + 1, clips);
            }
            Ok(())
        })();
        drop(sender);
        let written = writer.join().map_err(|_| SynthError::WriterPanicked)?;
        let manifest = written?;
        rendered?;
        Ok(manifest)
    })
}
