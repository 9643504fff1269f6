//! Consumer-group committed offsets, stored durably, one file per group.
//!
//! A committed offset is the offset of the NEXT record the group will read (Kafka's convention):
//! after processing offset 41 a consumer commits 42 and, after a restart, resumes at 42. A
//! partition with no commit has no entry; where to start then is the reader's policy.
//!
//! # On-disk format
//! `<data_dir>/groups/<group>.json` holds all the group's offsets, partitions as string keys:
//! `{"version":1,"offsets":{"page_views":{"0":123,"1":7}}}`. Files are replaced whole
//! (`durable::write_atomically`), so a crash leaves the old or the new file, never a torn one. A
//! file that does not parse is [`LogError::Corrupt`], any other `version`
//! [`LogError::UnsupportedVersion`]; neither is ever reset to empty, because lost commits would
//! silently make a group re-read (or skip) data.
//!
//! # Concurrency
//! Several processes may commit for one group (each CLI call is a process of its own). Every
//! read-modify-write holds an exclusive advisory lock on `<group>.lock`, so concurrent commits
//! merge instead of overwriting each other. Readers take no lock: the atomic rename already
//! shows them a whole file.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_types::{Offset, PartitionId};

use crate::durable::{create_dir_durably, write_atomically};
use crate::error::{LogError, Result};
use crate::names::validate_name;

/// Version of the group file format this build writes and reads.
const FORMAT_VERSION: u16 = 1;

/// The JSON document in `<group>.json`; partitions keyed by number, values the next offset.
// Unknown fields are rejected rather than ignored: a commit rewrites the whole file, so anything
// this build does not understand would otherwise be dropped without a trace.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    version: u16,
    offsets: BTreeMap<String, BTreeMap<u32, Offset>>,
}

/// Just the version, read first so a newer file is reported as such, not as a parse error.
#[derive(Deserialize)]
struct VersionProbe {
    version: u16,
}

/// Committed offsets of consumer groups, one file per group under `<data_dir>/groups/`.
#[derive(Debug)]
pub struct GroupStore {
    dir: PathBuf,
}

impl GroupStore {
    /// Opens (creating if needed) the group directory `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub(crate) fn open(dir: PathBuf) -> Result<Self> {
        // The directory is created by the first commit, so that a read-only open writes nothing.
        Ok(GroupStore { dir })
    }

    /// The offsets `group` committed for `topic`, by partition; empty if it never committed.
    ///
    /// # Errors
    /// An invalid name, an unreadable group file, or a corrupt or newer one.
    pub fn committed(&self, group: &str, topic: &str) -> Result<BTreeMap<PartitionId, Offset>> {
        validate_name(topic)?;
        Ok(self.describe(group)?.remove(topic).unwrap_or_default())
    }

    /// Records `offsets` (each the next offset to read) for `group` on `topic`, merged into what
    /// the group already committed: other topics and partitions are kept. An empty map changes
    /// nothing and writes nothing.
    ///
    /// # Errors
    /// An invalid name, a corrupt or newer group file, or a failed lock or write; the file then
    /// holds the old commits or (if only the final directory fsync failed) the new ones.
    pub fn commit(&self, group: &str, topic: &str, offsets: &BTreeMap<PartitionId, Offset>) -> Result<()> {
        validate_name(group)?;
        validate_name(topic)?;
        if offsets.is_empty() {
            return Ok(());
        }
        self.locked(group, |path| {
            let mut file = load(path)?;
            let merged = file.offsets.entry(topic.to_owned()).or_default();
            merged.extend(offsets.iter().map(|(p, o)| (p.0, *o)));
            store(path, &file)
        })
    }

    /// Names of the groups that have committed, sorted.
    ///
    /// # Errors
    /// The group directory cannot be listed.
    pub fn groups(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        if !self.dir.is_dir() {
            return Ok(names);
        }
        for entry in fs::read_dir(&self.dir).map_err(LogError::io(&self.dir))? {
            let file_name = entry.map_err(LogError::io(&self.dir))?.file_name();
            // Skips leftover `<group>.json.tmp` (crash mid-write) and `<group>.lock` files, and
            // anything whose stem no group could have (not a valid name).
            match file_name.to_str().and_then(|n| n.strip_suffix(".json")) {
                Some(name) if validate_name(name).is_ok() => names.push(name.to_owned()),
                _ => {}
            }
        }
        names.sort();
        Ok(names)
    }

    /// Everything `group` committed (topic -> partition -> next offset); empty if nothing.
    ///
    /// # Errors
    /// An invalid name, an unreadable group file, or a corrupt or newer one.
    pub fn describe(&self, group: &str) -> Result<BTreeMap<String, BTreeMap<PartitionId, Offset>>> {
        validate_name(group)?;
        let mut all = BTreeMap::new();
        for (topic, parts) in load(&self.path(group))?.offsets {
            all.insert(topic, parts.into_iter().map(|(p, o)| (PartitionId(p), o)).collect());
        }
        Ok(all)
    }

    /// Removes `topic`'s offsets from every group, for when the topic is deleted. A group left
    /// with no offsets keeps its (empty) file and stays listed by [`GroupStore::groups`].
    ///
    /// # Errors
    /// An invalid name, or any group file that cannot be read, parsed, locked or rewritten;
    /// groups handled before the failure stay updated.
    pub fn forget_topic(&self, topic: &str) -> Result<()> {
        validate_name(topic)?;
        self.groups()?.iter().try_for_each(|group| {
            self.locked(group, |path| {
                let mut file = load(path)?;
                file.offsets.remove(topic).map_or(Ok(()), |_| store(path, &file))
            })
        })
    }

    fn path(&self, group: &str) -> PathBuf {
        self.dir.join(format!("{group}.json"))
    }

    /// Runs the read-modify-write `f` on `group`'s file while holding the group's exclusive
    /// lock, blocking until other writers (threads or processes) are done.
    fn locked<T>(&self, group: &str, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        create_dir_durably(&self.dir)?;
        let lock_path = self.dir.join(format!("{group}.lock"));
        // The lock file holds no data, so it needs no fsync. It is never deleted: removing it
        // while another process waits on it would let two writers lock two different inodes.
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path);
        let lock = lock.map_err(LogError::io(&lock_path))?;
        lock.lock().map_err(LogError::io(&lock_path))?;
        let result = f(&self.path(group));
        // Closing the file (also on panic) would release the lock too; this just makes it explicit.
        if let Err(e) = lock.unlock() {
            tracing::warn!(path = %lock_path.display(), "unlock group lock file: {e}");
        }
        result
    }
}

/// Reads a group file; a missing file is a group that never committed.
fn load(path: &Path) -> Result<GroupFile> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(GroupFile { version: FORMAT_VERSION, offsets: BTreeMap::new() })
        }
        Err(e) => return Err(LogError::io(path)(e)),
    };
    let corrupt = |reason: String| LogError::Corrupt { path: path.to_owned(), position: 0, reason };
    let probe: VersionProbe =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not a group offsets file: {e}")))?;
    if probe.version != FORMAT_VERSION {
        let (found, supported) = (probe.version, FORMAT_VERSION);
        return Err(LogError::UnsupportedVersion { path: path.to_owned(), found, supported });
    }
    serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("invalid group offsets: {e}")))
}

/// Replaces a group file with `file`.
fn store(path: &Path, file: &GroupFile) -> Result<()> {
    let bytes = serde_json::to_vec(file).map_err(|e| LogError::io(path)(e.into()))?;
    // DURABILITY: tmp + fsync + rename + fsync dir; a crash leaves the old or the new commits.
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

    fn offsets(pairs: &[(u32, Offset)]) -> BTreeMap<PartitionId, Offset> {
        pairs.iter().map(|&(p, o)| (PartitionId(p), o)).collect()
    }

    fn store() -> TestResult<(GroupStore, tempfile::TempDir)> {
        let tmp = tempfile::tempdir()?;
        // As after the first commit (a fresh store creates its directory lazily).
        fs::create_dir(tmp.path().join("groups"))?;
        Ok((GroupStore::open(tmp.path().join("groups"))?, tmp))
    }

    #[test]
    fn round_trip_and_reopen() -> TestResult {
        let (s, tmp) = store()?;
        assert!(s.committed("g", "t")?.is_empty());
        s.commit("g", "t", &offsets(&[(0, 42), (3, 7)]))?;
        assert_eq!(s.committed("g", "t")?, offsets(&[(0, 42), (3, 7)]));
        let reopened = GroupStore::open(tmp.path().join("groups"))?;
        assert_eq!(reopened.committed("g", "t")?, offsets(&[(0, 42), (3, 7)]));
        assert_eq!(reopened.groups()?, ["g"]);
        Ok(())
    }

    #[test]
    fn commit_merges_with_other_topics_and_partitions() -> TestResult {
        let (s, _tmp) = store()?;
        s.commit("g", "a", &offsets(&[(0, 1), (1, 1)]))?;
        s.commit("g", "b", &offsets(&[(0, 5)]))?;
        s.commit("g", "a", &offsets(&[(1, 9), (2, 3)]))?;
        let all = s.describe("g")?;
        assert_eq!(all.get("a"), Some(&offsets(&[(0, 1), (1, 9), (2, 3)])));
        assert_eq!(all.get("b"), Some(&offsets(&[(0, 5)])));
        Ok(())
    }

    #[test]
    fn corrupt_or_newer_files_are_errors_never_resets() -> TestResult {
        let (s, tmp) = store()?;
        let path = tmp.path().join("groups/g.json");
        fs::write(&path, b"{\"version\":1,\"offs")?;
        let err = s.committed("g", "t").err().ok_or("corrupt file was accepted")?;
        assert!(matches!(&err, LogError::Corrupt { path: p, .. } if *p == path), "{err}");
        assert!(err.to_string().contains("g.json"), "{err}");
        // A commit must fail too rather than overwrite the damaged file with fresh offsets.
        assert!(s.commit("g", "t", &offsets(&[(0, 1)])).is_err());
        assert_eq!(fs::read(&path)?, b"{\"version\":1,\"offs");

        fs::write(&path, br#"{"version":2,"offsets":{},"x":1}"#)?;
        let err = s.describe("g").err().ok_or("version 2 was accepted")?;
        assert!(matches!(err, LogError::UnsupportedVersion { found: 2, supported: 1, .. }));
        Ok(())
    }

    #[test]
    fn forget_topic_removes_it_from_every_group() -> TestResult {
        let (s, _tmp) = store()?;
        s.commit("g1", "gone", &offsets(&[(0, 1)]))?;
        s.commit("g1", "kept", &offsets(&[(0, 2)]))?;
        s.commit("g2", "gone", &offsets(&[(1, 3)]))?;
        s.forget_topic("gone")?;
        assert_eq!(s.describe("g1")?.keys().collect::<Vec<_>>(), ["kept"]);
        assert!(s.describe("g2")?.is_empty());
        assert_eq!(s.groups()?, ["g1", "g2"]);
        Ok(())
    }

    #[test]
    fn invalid_names_are_rejected_and_stray_files_ignored() -> TestResult {
        let (s, tmp) = store()?;
        let err = s.commit("../evil", "t", &offsets(&[(0, 1)])).err().ok_or("accepted")?;
        assert!(matches!(err, LogError::InvalidName { .. }), "{err}");
        assert!(s.committed("g", "a/b").is_err());
        for stray in ["g.json.tmp", "g.lock", "notes.txt", "bad name.json"] {
            fs::write(tmp.path().join("groups").join(stray), b"")?;
        }
        assert!(s.groups()?.is_empty());
        Ok(())
    }

    #[test]
    fn concurrent_commits_to_one_group_all_survive() -> TestResult {
        let (s, _tmp) = store()?;
        let s = &s;
        // Even partitions from one thread, odd from the other, interleaved: without the lock a
        // read-modify-write would drop the other thread's partition (or race on the tmp file).
        let every_other = |first: u32| {
            move || (0..40).try_for_each(|i| s.commit("g", "t", &offsets(&[(2 * i + first, 1)])))
        };
        std::thread::scope(|scope| {
            let (even, odd) = (scope.spawn(every_other(0)), scope.spawn(every_other(1)));
            [even.join(), odd.join()]
                .into_iter()
                .try_for_each(|r| r.unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        assert_eq!(s.committed("g", "t")?.len(), 80);
        Ok(())
    }
}
