//! `world_model`: see ARCHITECTURE.md.
pub mod checkpoint;
pub mod model_dir;
pub mod resample;
pub mod tokenizer;
