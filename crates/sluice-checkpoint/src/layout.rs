//! Where a job's checkpoints and savepoints live in the store, and which names are allowed.
//!
//! ```text
//! <root>/<job>/chk-<id>/<operator>-<task>.snap   state files (sluice-state snapshot format)
//! <root>/<job>/chk-<id>/_manifest                written last: the checkpoint is complete
//! <root>/<job>/savepoints/<name>/...             the same, never cleaned up automatically
//! ```

use object_store::path::Path;

use crate::error::{CheckpointError, Result};

/// The manifest's file name inside a checkpoint or savepoint.
pub const MANIFEST: &str = "_manifest";
/// The folder of a job's savepoints.
pub const SAVEPOINTS: &str = "savepoints";
const CHECKPOINT_PREFIX: &str = "chk-";

/// A checkpoint or a savepoint: where a set of state files and their manifest live.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A periodic checkpoint, by id; cleaned up by [`crate::CheckpointStore::retain_last`].
    Checkpoint(u64),
    /// A savepoint, by name; kept until deleted by hand.
    Savepoint(String),
}

impl Target {
    /// The folder of the target under the job's folder.
    pub(crate) fn dir(&self, job: &Path) -> Path {
        match self {
            Target::Checkpoint(id) => job.clone().join(format!("{CHECKPOINT_PREFIX}{id}")),
            Target::Savepoint(name) => job.clone().join(SAVEPOINTS).join(name.as_str()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Checkpoint(id) => write!(f, "checkpoint {id}"),
            Target::Savepoint(name) => write!(f, "savepoint {name:?}"),
        }
    }
}

/// The checkpoint id of a folder name `chk-<id>`, if it is one (no sign, no leading zeros).
pub(crate) fn checkpoint_id(folder: &str) -> Option<u64> {
    let digits = folder.strip_prefix(CHECKPOINT_PREFIX)?;
    let id: u64 = digits.parse().ok()?;
    (id.to_string() == digits).then_some(id)
}

/// The file name of task `task`'s state of `operator`.
pub(crate) fn state_file_name(operator: &str, task: u32) -> String {
    format!("{operator}-{task}.snap")
}

/// Checks that `name` can be one path segment: 1 to 200 bytes of ASCII letters, digits, `_`,
/// `-` and `.`, not starting with `.` or `_` (the manifest's and hidden files' prefixes).
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    let invalid = |reason| Err(CheckpointError::InvalidName { what, name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 200 {
        return invalid("it must be 1 to 200 bytes long");
    }
    if name.starts_with('.') || name.starts_with('_') {
        return invalid("it must not start with '.' or '_'");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return invalid("only ASCII letters, digits, '_', '-' and '.' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn checkpoint_folders_parse_exactly() {
        assert_eq!(checkpoint_id("chk-0"), Some(0));
        assert_eq!(checkpoint_id("chk-42"), Some(42));
        for bad in ["chk-", "chk-042", "chk-+1", "chk--1", "chk-1a", "savepoints", "chk-99999999999999999999"]
        {
            assert_eq!(checkpoint_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_single_safe_segments() {
        for good in ["pageviews", "window-agg", "job_1.v2"] {
            assert!(check_name("job", good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "_manifest", "a/b", "a b", "é", &"x".repeat(201)] {
            let err = check_name("job", bad).unwrap_err();
            assert!(err.to_string().contains("invalid job name"), "{err}");
        }
    }

    #[test]
    fn targets_have_the_documented_folders() {
        let job = Path::from("pv");
        assert_eq!(Target::Checkpoint(3).dir(&job).as_ref(), "pv/chk-3");
        assert_eq!(
            Target::Savepoint("before-upgrade".into()).dir(&job).as_ref(),
            "pv/savepoints/before-upgrade"
        );
    }
}
