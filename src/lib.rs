//! handtwin: make static digital twins interactive.
//!
//! See `ARCHITECTURE.md` for the module map and the data flow. The core modules (`hand`, `action`, `video`,
//! `world_model`, `worker`, and the pure parts of `scene`) build without Bevy; the GPU parts of `streams`, `viewer` and
//! scene loading need the `render` feature (on by default).

pub mod action;
pub mod alloc;
pub mod atomic;
pub mod cli;
pub mod eval;
pub mod hand;
pub mod rng;
pub mod scene;
pub mod synth;
pub mod video;
pub mod worker;
pub mod world_model;

#[cfg(feature = "render")]
pub mod shaders;
pub mod streams;
#[cfg(feature = "render")]
pub mod viewer;
