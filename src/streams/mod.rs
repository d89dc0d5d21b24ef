//! `streams`: see ARCHITECTURE.md.
