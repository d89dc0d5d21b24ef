//! The error type of the world-model networks, schedulers and the parity runner.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WorldModelError {
    /// A config.json value we cannot honour: names the file, the key and why.
    #[error("{source_name}: key `{key}`: {reason}")]
    Config {
        source_name: String,
        key: String,
        reason: String,
    },
    /// A file that could not be read or parsed.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// A tensor given to a network or scheduler that does not fit it (shape, size, timestep).
    #[error("{what}: {reason}")]
    Input { what: String, reason: String },
    /// A parity case that is malformed or asks for something this build cannot run.
    #[error("parity case {case}: {reason}")]
    Parity { case: PathBuf, reason: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, WorldModelError>;

pub(crate) fn config_error(source_name: &str, key: &str, reason: impl ToString) -> WorldModelError {
    WorldModelError::Config {
        source_name: source_name.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// A file-level error: the path and what was wrong with it.
pub(crate) fn file_error(path: &std::path::Path, reason: impl ToString) -> WorldModelError {
    WorldModelError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

pub(crate) fn input_error(what: &str, reason: impl ToString) -> WorldModelError {
    WorldModelError::Input {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}
