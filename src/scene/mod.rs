//! `scene`: see ARCHITECTURE.md.
