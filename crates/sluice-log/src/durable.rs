//! Small durability primitives shared by every file the log writes.
//!
//! DURABILITY: a file's data is durable after `sync_data`; a newly created, renamed or deleted
//! name is durable only after its directory is fsynced as well.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{LogError, Result};

/// Fsyncs a directory so that entries created, renamed or removed in it survive power loss.
///
/// # Errors
/// The directory cannot be opened or synced.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(LogError::io(dir))?;
    f.sync_all()
        .inspect_err(|e| tracing::error!(path = %dir.display(), "fsync directory: {e}"))
        .map_err(LogError::io(dir))
}

/// Replaces `path` with `bytes` atomically: write a temporary sibling, fsync it, rename it over
/// `path`, fsync the directory. A reader sees the old content or the new, never a mix.
///
/// # Errors
/// Any step fails; the old file is then left as it was.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(LogError::io(&tmp))?;
        f.write_all(bytes).map_err(LogError::io(&tmp))?;
        f.sync_data().map_err(LogError::io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(LogError::io(path))?;
    fsync_dir(dir)
}

/// Creates `dir` and its parents, fsyncing the parent of the new directory.
///
/// # Errors
/// The directory cannot be created.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(LogError::io(dir))?;
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}
