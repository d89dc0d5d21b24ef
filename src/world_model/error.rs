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

/// A diffusers `config.json` (scheduler, transformer, text encoder): parsed, then checked against what this
/// implementation computes as the reference does. `source_name` names the file (or the string's origin) in
/// errors.
pub trait ConfigFile: serde::de::DeserializeOwned {
    /// Rejects every value this implementation would not compute as the reference does.
    fn check(&self, source_name: &str) -> Result<()>;

    fn from_json(text: &str, source_name: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text)
            .map_err(|error| config_error(source_name, "(document)", error))?;
        config.check(source_name)?;
        Ok(config)
    }

    fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| WorldModelError::File {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        Self::from_json(&text, &path.display().to_string())
    }
}
