//! `hand`: see ARCHITECTURE.md.
