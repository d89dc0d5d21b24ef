//! `worker`: see ARCHITECTURE.md.
