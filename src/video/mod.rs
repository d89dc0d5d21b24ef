//! `video`: see ARCHITECTURE.md.
