//! `synth.json`: a synth run's settings and its complete clips. Plain data, so the training data reader
//! (`world_model::train::data`) reads it without the renderer.

use super::behaviour::{Behaviour, ClipPlan};
use super::room::{ObjectKind, ROOM_STYLES};
use super::{Split, SynthConfig, Timing};
use crate::hand::Side;
use serde::{Deserialize, Serialize};

pub const MANIFEST_FILE: &str = "synth.json";
pub const MANIFEST_FORMAT: &str = "handtwin.synth";

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

/// Why a folder's `synth.json` could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a handtwin synth manifest: {reason}")]
    Parse { path: String, reason: String },
}

/// Reads `dir/synth.json` as `T`: the whole manifest or a view of the fields a reader needs.
fn read_manifest<T: serde::de::DeserializeOwned>(
    dir: &std::path::Path,
) -> Result<T, ManifestError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ManifestError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ManifestError::Parse {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A clip's room in `synth.json`: all `eval --swap-hands` needs (clips of one room share the seed), so a
/// hand-written manifest with only these fields serves too.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ClipRoom {
    pub stem: String,
    pub seed: u64,
    #[serde(default)]
    pub variant: usize,
}

#[derive(Deserialize)]
struct RoomsView {
    clips: Vec<ClipRoom>,
}

/// Every clip's room in `dir/synth.json`.
pub fn read_rooms(dir: &std::path::Path) -> Result<Vec<ClipRoom>, ManifestError> {
    read_manifest::<RoomsView>(dir).map(|view| view.clips)
}

impl Manifest {
    /// Reads `dir/synth.json`.
    pub fn read(dir: &std::path::Path) -> Result<Self, ManifestError> {
        read_manifest(dir)
    }

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
