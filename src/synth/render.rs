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

use super::behaviour::{ClipPlan, plan_clip};
use super::{Split, SynthConfig};
use crate::action::{TrackError, write_atomically};
use crate::hand::{HandModelError, HandModels, ManoInputError};
use crate::streams::{InteractionRequest, InteractionStreams, StreamError, StreamRenderer};
use crate::video::{
    Ffmpeg, Frames, FramesError, GROUND_TRUTH_DIR, HANDS_DIR, Mp4Options, PROMPTS_REWRITE_DIR,
    STATIC_DIR, VideoError,
};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const ACTIONS_DIR: &str = "actions";
pub use super::manifest::{MANIFEST_FILE, MANIFEST_FORMAT, Manifest, ManifestClip};

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
