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
    let dir = parent_dir(path);
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
    fsync_dir(parent_dir(dir))
}

/// The directory holding `path`: its parent, or `.` for a relative path of one component
/// (whose `parent()` is the empty path, which cannot be opened).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod test {
    use std::path::Path;

    use super::parent_dir;

    #[test]
    fn a_relative_single_component_path_lives_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("data")), Path::new("."));
        assert_eq!(parent_dir(Path::new("data/topics")), Path::new("data"));
        assert_eq!(parent_dir(Path::new("/")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/srv/data")), Path::new("/srv"));
    }
}
