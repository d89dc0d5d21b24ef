//! `world_model`: see ARCHITECTURE.md.
