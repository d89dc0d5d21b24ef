//! `world_model`: see ARCHITECTURE.md.
pub mod checkpoint;
pub mod resample;
pub mod vae;
