//! `action`: see ARCHITECTURE.md.
