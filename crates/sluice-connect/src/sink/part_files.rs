//! [`PartFileSink`]: result rows as JSON lines in a directory of part files, exactly once (the
//! filesystem sink of Flink, with two-phase commit by rename).
//!
//! # Files
//! ```text
//! <dir>/.<prefix>-open.json.inprogress    rows since the last barrier (hidden)
//! <dir>/.<prefix>-<id>.json.inprogress    closed on checkpoint <id>'s barrier (hidden)
//! <dir>/<prefix>-<id>.json                committed: checkpoint <id> completed
//! ```
//!
//! Rows go to the open file, created at the first row after a barrier (an interval without
//! rows makes no file). On checkpoint `id`'s barrier, [`pre_commit`](Sink::pre_commit)
//! flushes, fsyncs and closes it and renames it to its checkpoint's hidden name; when the
//! checkpoint completes, [`commit`](Sink::commit) renames it to `<prefix>-<id>.json`. A rename
//! is atomic, so a reader listing the directory and skipping hidden files (as
//! [`FileSource`](crate::FileSource) does) sees whole part files, each once, and only those of
//! completed checkpoints. [`recover`](Sink::recover) renames the pending ones a restarted job's
//! checkpoint lists and deletes every other in-progress file of this prefix.
//!
//! Commit is idempotent: a pending part whose in-progress file is gone was renamed already
//! (or its committed file was moved away by a downstream reader, which is not an error).
//!
//! # Without checkpoints
//! A job without checkpoints never calls `pre_commit`: [`finish`](Sink::finish) then commits
//! the open file directly, as `<prefix>-<n>.json` with `n` one more than the last checkpoint id
//! seen (1 when there was none), so the output appears when the job ends. With checkpoints
//! the runtime commits a last checkpoint before `finish`, which then finds no open file; rows
//! after the last barrier, if any, are committed the same way (at-least-once should the process
//! die right then). Parts closed by `pre_commit` but not committed stay hidden: only a
//! completed checkpoint (or `recover`) may commit them. A re-run without checkpoints replaces
//! its earlier `<prefix>-1.json`.
//!
//! Part names assume that checkpoint ids grow across restarts of a job, as the runtime numbers
//! them after the checkpoint it restores. A `pre_commit` whose part name is committed already
//! (a checkpoint id used twice, or a fresh run into the directory of an earlier one) fails with
//! an error naming the file rather than overwrite it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::Result;
use sluice_format::JsonEncoder;

use crate::error;

/// Writes each row as a JSON line into part files committed with checkpoints; see the
/// [module docs](self).
#[derive(Debug)]
pub struct PartFileSink {
    dir: PathBuf,
    prefix: String,
    encoder: JsonEncoder,
    buf: Vec<u8>,
    /// The open in-progress file, once a row came after the last barrier.
    open: Option<BufWriter<File>>,
    /// The highest checkpoint id seen.
    last_id: u64,
}

impl PartFileSink {
    /// A sink writing part files `<prefix>-<id>.json` into `dir` (created if missing).
    /// `prefix` must be unique per job and sink among the writers of `dir`: recovery deletes
    /// every in-progress file it names.
    ///
    /// # Errors
    /// `prefix` is not made of ASCII letters, digits, `.`, `_`, `-` (at most 228 of them), or
    /// the directory cannot be created.
    pub fn new(dir: impl AsRef<Path>, prefix: &str) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        sluice_log::validate_name(&format!("{prefix}-{}", u64::MAX)).map_err(|e| {
            error::user(format!("file sink {}: part file prefix `{prefix}`: {e}", dir.display()))
        })?;
        std::fs::create_dir_all(&dir).map_err(|e| error::io("cannot create directory", &dir, &e))?;
        Ok(PartFileSink {
            dir,
            prefix: prefix.to_string(),
            encoder: JsonEncoder::new(),
            buf: Vec::new(),
            open: None,
            last_id: 0,
        })
    }

    /// The directory part files go to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn open_path(&self) -> PathBuf {
        self.dir.join(format!(".{}-open.json.inprogress", self.prefix))
    }

    /// The committed name of checkpoint `id`'s part.
    fn part_name(&self, id: u64) -> String {
        format!("{}-{id}.json", self.prefix)
    }

    /// The in-progress path of the part `name`.
    fn in_progress(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.inprogress"))
    }

    /// The checkpoint id of a committed part name of this sink, `<prefix>-<digits>.json`.
    fn part_id(&self, name: &str) -> Option<u64> {
        let n = name.strip_prefix(&self.prefix)?.strip_prefix('-')?.strip_suffix(".json")?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    }

    /// Flushes, fsyncs and closes the open file and renames it to `to`. False if none is open.
    fn close_open(&mut self, to: &Path) -> Result<bool> {
        let Some(out) = self.open.take() else { return Ok(false) };
        let from = self.open_path();
        let file = out.into_inner().map_err(|e| error::io("cannot write to", &from, e.error()))?;
        // DURABILITY: the part's bytes are on disk before its name says it is complete.
        file.sync_all().map_err(|e| error::io("cannot sync", &from, &e))?;
        drop(file);
        std::fs::rename(&from, to).map_err(|e| error::io("cannot rename", &from, &e))?;
        Ok(true)
    }

    /// Renames the pending parts `names` that are still in progress.
    fn commit_parts(&self, names: &[String]) -> Result<()> {
        for name in names {
            if self.part_id(name).is_none() {
                return Err(error::user(format!(
                    "file sink {}: `{name}` is not a part file of prefix `{}`",
                    self.dir.display(),
                    self.prefix
                )));
            }
            let from = self.in_progress(name);
            match std::fs::rename(&from, self.dir.join(name)) {
                Ok(()) => {}
                // Renamed already: commit is idempotent.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(error::io("cannot rename", &from, &e)),
            }
        }
        sync_dir(&self.dir)
    }
}

/// DURABILITY: fsyncs `dir`, so that files created, renamed or deleted in it stay so.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| error::io("cannot sync directory", dir, &e))
}

impl Sink for PartFileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.buf.clear();
        self.encoder.encode(batch, &mut self.buf).map_err(|e| error::format(&e))?;
        let path = self.open_path();
        let out = match &mut self.open {
            Some(out) => out,
            None => {
                let file = File::create(&path).map_err(|e| error::io("cannot create", &path, &e))?;
                self.open.insert(BufWriter::with_capacity(1 << 16, file))
            }
        };
        out.write_all(&self.buf).map_err(|e| error::io("cannot write to", &path, &e))
    }

    fn finish(&mut self) -> Result<()> {
        let to = self.dir.join(self.part_name(self.last_id.saturating_add(1)));
        if self.close_open(&to)? {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn delivery(&self) -> Delivery {
        Delivery::ExactlyOnce
    }

    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        self.last_id = self.last_id.max(id);
        let name = self.part_name(id);
        if self.open.is_some() && self.dir.join(&name).exists() {
            // Renaming over it would lose a committed checkpoint's rows.
            return Err(error::user(format!(
                "file sink: part file {} exists already: checkpoint {id} was committed by an earlier run \
                 (checkpoint ids must grow across restarts; write a fresh run into another directory)",
                self.dir.join(&name).display()
            )));
        }
        if !self.close_open(&self.in_progress(&name))? {
            return Ok(Vec::new());
        }
        sync_dir(&self.dir)?;
        Ok(vec![name])
    }

    fn commit(&mut self, _id: u64, pending: &[String]) -> Result<()> {
        self.commit_parts(pending)
    }

    fn recover(&mut self, pending: &[String]) -> Result<()> {
        self.commit_parts(pending)?;
        let highest = pending.iter().filter_map(|n| self.part_id(n)).max().unwrap_or(0);
        self.last_id = self.last_id.max(highest);
        let list = |e: std::io::Error| error::io("cannot list", &self.dir, &e);
        let open = format!(".{}-open.json.inprogress", self.prefix);
        for entry in std::fs::read_dir(&self.dir).map_err(list)? {
            let name = entry.map_err(list)?.file_name().to_string_lossy().into_owned();
            let part = name.strip_prefix('.').and_then(|n| n.strip_suffix(".inprogress"));
            let ours = name == open || part.is_some_and(|p| self.part_id(p).is_some());
            if ours && !part.is_some_and(|p| pending.iter().any(|n| n == p)) {
                let path = self.dir.join(&name);
                std::fs::remove_file(&path).map_err(|e| error::io("cannot delete", &path, &e))?;
            }
        }
        sync_dir(&self.dir)
    }
}
