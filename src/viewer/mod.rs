//! `viewer`: see ARCHITECTURE.md.
