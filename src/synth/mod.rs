//! `synth`: procedural paired clips, DWM's data recipe in miniature. Each clip is a procedural room (from
//! `scene::primitives`), a scripted egocentric action (reach, grasp, then pull a drawer, open a door, pick an
//! object up and put it down, or push it), and three aligned videos rendered by `streams`: the interaction
//! (ground truth), the static scene along the same camera path, and DWM's hand-mesh stream.
//!
//! Everything here except [`render`] is pure: a clip's plan ([`plan_clip`]) depends only on the run seed, the
//! clip index, the split and the [`SynthConfig`], so any clip can be rebuilt alone.
//!
//! Held-out split: a clip is held out iff `(room_style + object_kind) % 5 == 0` ([`is_held_out`]); `train`
//! produces only the other combinations, `heldout` only those, so a model can be tested on combinations of room
//! style and object it has never seen.

mod behaviour;
pub mod manifest;
#[cfg(feature = "render")]
pub mod render;
mod rng;
mod room;

pub use behaviour::{Behaviour, ClipPlan, plan_clip};
pub use rng::Rng;
pub use room::{
    Grip, Motion, OBJECT_KIND_COUNT, ObjectKind, ROOM_STYLE_COUNT, ROOM_STYLES, RoomStyle, Target,
};

use serde::{Deserialize, Serialize};

/// Which combinations of room style and object kind a run produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Heldout,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Heldout => "heldout",
        }
    }

    /// Whether a (room style, object kind) combination belongs to this split.
    pub fn contains(self, room_style: usize, object_kind: usize) -> bool {
        is_held_out(room_style, object_kind) == (self == Split::Heldout)
    }
}

/// The held-out rule: `(room_style + object_kind) % 5 == 0`.
pub fn is_held_out(room_style: usize, object_kind: usize) -> bool {
    (room_style + object_kind).is_multiple_of(5)
}

/// When the acting hand grasps the target and when the target stops moving.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// Grasp at 30–40% of the clip, target still from 80–88%: every behaviour runs on nearly the same clock, so
    /// the prompt (or the object seen in the static video) tells a model when things move. The data sets of the
    /// bundled model up to its fifth version were made so, and a seed keeps giving the same bytes.
    #[default]
    Scripted,
    /// Grasp anywhere from 15% to 50% of the clip, the motion lasting 30–55% of it (ending by 90%): only the
    /// hands tell when the target moves and how far it has got. Drawn from a second generator of the clip's seed,
    /// so everything else about a clip (room, object, camera, hands' path) is the same as under `Scripted`.
    Varied,
}

impl Timing {
    pub fn name(self) -> &'static str {
        match self {
            Timing::Scripted => "scripted",
            Timing::Varied => "varied",
        }
    }
}

/// Size and length of the clips, how many have a fixed camera, and how behaviours are timed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthConfig {
    pub width: u32,
    pub height: u32,
    pub frame_count: usize,
    pub fps: f64,
    /// Horizontal field of view in degrees (DWM: 90).
    pub horizontal_fov_degrees: f32,
    /// Fraction of clips whose camera does not move (their static video is frame 0 repeated).
    pub fixed_camera_fraction: f64,
    pub timing: Timing,
    /// Clips per room (at least 1). With K, clips `r·K .. r·K + K − 1` are one room, camera path, prompt and
    /// hands' path acted K times on different clocks ([`Timing::Varied`] only): their static videos and prompts
    /// are identical, so only the hand video tells the clips apart. Clip `r·K` is clip `r` of a run with K = 1.
    pub variants: usize,
    /// Alternatives per room (at least 1). With K, clips `r·K .. r·K + K − 1` share room, camera path, static
    /// video and timing but act on different targets or in different ways (another drawer; the door opened a
    /// little, or opened and closed again; the object carried the other way or pushed): a benchmark with a known
    /// answer for ranking actions (`handtwin rank --benchmark`). Clip `r·K` is clip `r` of a run with K = 1.
    pub alternatives: usize,
}

/// A [`SynthConfig`] that cannot make clips.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("variants must be at least 1")]
    NoVariants,
    #[error("alternatives must be at least 1")]
    NoAlternatives,
    #[error(
        "a run has either variants (another clock) or alternatives (another action) per room, not both"
    )]
    VariantsAndAlternatives,
    #[error(
        "{0} variants per room need varied timing: under scripted timing every variant would be the same clip"
    )]
    VariantsNeedVariedTiming(usize),
}

impl SynthConfig {
    /// Checks the settings that [`plan_clip`] cannot honour.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.alternatives == 0 {
            return Err(ConfigError::NoAlternatives);
        }
        if self.alternatives > 1 && self.variants > 1 {
            return Err(ConfigError::VariantsAndAlternatives);
        }
        match (self.variants, self.timing) {
            (0, _) => Err(ConfigError::NoVariants),
            (k, Timing::Scripted) if k > 1 => Err(ConfigError::VariantsNeedVariedTiming(k)),
            _ => Ok(()),
        }
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            width: 96,
            height: 64,
            frame_count: 17,
            fps: 8.0,
            horizontal_fov_degrees: 90.0,
            fixed_camera_fraction: 0.25,
            timing: Timing::Scripted,
            variants: 1,
            alternatives: 1,
        }
    }
}

/// The seed of clip `index` of a run seeded `seed` (SplitMix64 of both, so neighbouring clips are unrelated).
pub fn clip_seed(seed: u64, index: usize) -> u64 {
    let mut rng = Rng::new(seed ^ 0x5EED_CAFE_F00D_u64.wrapping_mul(index as u64 + 1));
    rng.next_u64()
}

/// The file stem of clip `index`: `synth_s{seed}_{index:05}`.
pub fn clip_stem(seed: u64, index: usize) -> String {
    format!("synth_s{seed}_{index:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_rule_splits_combinations() {
        assert!(is_held_out(0, 0));
        assert!(is_held_out(2, 3));
        assert!(!is_held_out(1, 3));
        let held = (0..ROOM_STYLE_COUNT)
            .flat_map(|s| (0..OBJECT_KIND_COUNT).map(move |k| (s, k)))
            .filter(|&(s, k)| is_held_out(s, k))
            .count();
        assert!(held > 0 && held < ROOM_STYLE_COUNT * OBJECT_KIND_COUNT / 3);
        assert!(Split::Heldout.contains(0, 5) && !Split::Train.contains(0, 5));
    }

    #[test]
    fn clip_seeds_differ_and_repeat() {
        assert_eq!(clip_seed(7, 3), clip_seed(7, 3));
        assert_ne!(clip_seed(7, 3), clip_seed(7, 4));
        assert_ne!(clip_seed(7, 3), clip_seed(8, 3));
        assert_eq!(clip_stem(7, 3), "synth_s7_00003");
    }
}
