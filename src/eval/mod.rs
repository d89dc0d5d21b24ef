//! `eval`: see ARCHITECTURE.md.
