//! Writing through a temporary sibling that replaces the target only once it is complete, so a failed or
//! interrupted write never leaves a half-written video where a finished one is expected.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::VideoError;

/// A temporary file or folder next to `target`, removed on drop unless [`PendingOutput::commit`] moved it into
/// place.
pub(crate) struct PendingOutput {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingOutput {
    /// Picks a hidden temporary name in the target's folder (same file system, so the final rename is atomic).
    /// `suffix` keeps the extension when a program infers something from it.
    pub(crate) fn next_to(target: &Path, suffix: &str) -> Result<Self, VideoError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let Some(name) = target.file_name() else {
            return Err(VideoError::BadOption {
                path: target.to_path_buf(),
                message: "the output path has no file name".into(),
            });
        };
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(VideoError::NotFound { path: parent });
        }
        let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = parent.join(format!(
            ".{}.partial-{}-{serial}{suffix}",
            name.to_string_lossy(),
            std::process::id()
        ));
        Ok(Self {
            temp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    pub(crate) fn temp(&self) -> &Path {
        &self.temp
    }

    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished file into place, replacing an older one.
    pub(crate) fn commit(mut self) -> Result<(), VideoError> {
        std::fs::rename(&self.temp, &self.target)
            .map_err(|source| VideoError::io(&self.target, source))?;
        self.committed = true;
        Ok(())
    }

    /// Moves a finished folder into place. A folder cannot be renamed over a non-empty one, so the old folder
    /// (which the caller has checked holds only files handtwin writes) is moved aside first and removed after.
    pub(crate) fn commit_folder(mut self) -> Result<(), VideoError> {
        let mut aside = self.temp.clone().into_os_string();
        aside.push(".old");
        let aside = PathBuf::from(aside);
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &aside)
                .map_err(|source| VideoError::io(&self.target, source))?;
        }
        if let Err(source) = std::fs::rename(&self.temp, &self.target) {
            if had_old {
                // Put the old folder back so a failed write leaves things as they were.
                let _ = std::fs::rename(&aside, &self.target);
            }
            return Err(VideoError::io(&self.target, source));
        }
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&aside).map_err(|source| VideoError::io(&aside, source))?;
        }
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temporary may never have been created.
            if self.temp.is_dir() {
                let _ = std::fs::remove_dir_all(&self.temp);
            } else {
                let _ = std::fs::remove_file(&self.temp);
            }
        }
    }
}
