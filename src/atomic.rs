//! Atomic file saves: a crash or a full disk never leaves a half-written file where a good one was. Shared by
//! every module that writes user or training files (`action`'s projects and actions, `synth`'s clips,
//! `world_model::train`'s checkpoints and exported models).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder (so the rename cannot cross file
/// systems) is written, flushed to disk (fsync), then renamed over `path`. Until the rename, the previous file is
/// untouched; after it, the new one is complete. The folder is fsynced too so the rename itself survives a crash
/// (where the platform allows opening a folder).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, bytes, |_| Ok(()))
}

/// [`write_atomically`] for writers that want a path rather than bytes (candle's safetensors `save`): `write`
/// creates the temporary file it is given, which is then fsynced and renamed over `path` the same way.
pub fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace_atomically(path, write, |_| Ok(()))
}

/// [`write_atomically`] with a hook run after the temporary file is complete and before the rename; tests use it
/// to simulate a crash (an error there aborts the save and removes the temporary file).
pub(crate) fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace_atomically(
        path,
        |temporary| {
            let mut file = std::fs::File::create(temporary)?;
            file.write_all(bytes)
        },
        before_rename,
    )
}

fn replace_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = (|| {
        write(&temporary)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        before_rename(&temporary)?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        std::fs::remove_file(&temporary).ok();
        return result;
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(folder) = std::fs::File::open(folder)
    {
        // Not every platform can fsync a folder; the file itself is already safe.
        folder.sync_all().ok();
    }
    Ok(())
}

/// `.<name>.tmp-<pid>` beside `path`: hidden, unique per process, in the same folder.
fn temporary_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has no file name to save to", path.display()),
        )
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(temporary_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_interrupted_save_leaves_the_previous_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project.json");
        write_atomically(&path, b"previous contents").unwrap();
        let mut saw_temporary = false;
        let result = write_atomically_with(&path, b"new contents that never land", |temporary| {
            // The new bytes are fully on disk in the temporary file when the "crash" happens.
            saw_temporary = std::fs::read(temporary).unwrap() == b"new contents that never land";
            Err(std::io::Error::other("simulated crash before rename"))
        });
        assert!(saw_temporary);
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"previous contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_path_writer_that_fails_leaves_the_previous_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.safetensors");
        write_file_atomically(&path, |temporary| std::fs::write(temporary, b"first")).unwrap();
        let result = write_file_atomically(&path, |temporary| {
            std::fs::write(temporary, b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
