//! [`CheckpointWriter`]: the state files of one checkpoint, then its manifest.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{CheckpointError, Result};
use crate::layout::{self, Target, MANIFEST};
use crate::manifest::{CheckpointInfo, Manifest, StateFile};
use crate::store::CheckpointStore;

/// Writes one checkpoint (or savepoint): state files, possibly from several tasks at once
/// (`put_state` takes `&self`), then [`commit`](Self::commit) writes the manifest that makes it
/// complete. Dropping the writer without committing leaves an incomplete checkpoint, which
/// readers skip and [`CheckpointStore::retain_last`] deletes once a newer one completes;
/// [`abort`](Self::abort) deletes it at once.
#[derive(Debug)]
pub struct CheckpointWriter {
    store: CheckpointStore,
    target: Target,
    id: u64,
    dir: Path,
    /// Every state file asked for, by name.
    uploads: Mutex<BTreeMap<String, Upload>>,
}

/// Where the upload of one state file stands.
#[derive(Debug)]
enum Upload {
    /// Started and not finished (or its future was dropped).
    InFlight,
    Done(StateFile),
    /// Failed: may be retried with another `put_state`.
    Failed,
}

impl CheckpointWriter {
    pub(crate) fn new(store: CheckpointStore, target: Target, id: u64, dir: Path) -> Self {
        CheckpointWriter { store, target, id, dir, uploads: Mutex::new(BTreeMap::new()) }
    }

    /// What is being written.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Stores the state of task `task` of `operator` (a snapshot file, in the
    /// [`sluice_state::snapshot`] format) as `<operator>-<task>.snap`, and returns its record.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidName`] for an operator name that cannot be part of a file
    /// name, [`CheckpointError::AlreadyExists`] if this checkpoint already has that file,
    /// [`CheckpointError::Store`] if the upload fails: retry the same `put_state`, or
    /// [`abort`](Self::abort) the checkpoint; [`commit`](Self::commit) refuses while a state
    /// file has failed.
    pub async fn put_state(&self, operator: &str, task: u32, bytes: impl Into<Bytes>) -> Result<StateFile> {
        layout::check_name("operator", operator)?;
        let name = layout::state_file_name(operator, task);
        let path = self.dir.clone().join(name.as_str());
        {
            let mut uploads = self.uploads();
            if let Some(Upload::InFlight | Upload::Done(_)) = uploads.get(&name) {
                return Err(CheckpointError::AlreadyExists { path: path.to_string() });
            }
            // Absent, or failed before and retried now.
            uploads.insert(name.clone(), Upload::InFlight);
        }
        let bytes: Bytes = bytes.into();
        let file = StateFile { name: name.clone(), size: bytes.len() as u64, crc32c: crc32c::crc32c(&bytes) };
        let result = self.store.store.put(&path, PutPayload::from_bytes(bytes)).await;
        match result {
            Ok(_) => {
                self.uploads().insert(name, Upload::Done(file.clone()));
                Ok(file)
            }
            Err(e) => {
                self.uploads().insert(name, Upload::Failed);
                Err(self.store.store_err("put", &path, e))
            }
        }
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the manifest — `info`, the job, the id, the time and every state file written
    /// (sorted by name) — making the checkpoint complete.
    ///
    /// # Errors
    /// [`CheckpointError::Unfinished`] if a state file's upload failed (and was not retried
    /// successfully) or was dropped before it finished: the checkpoint would lack its state.
    /// [`CheckpointError::AlreadyExists`] if a manifest is already there (another writer of
    /// the same id), [`CheckpointError::Store`] if the upload fails; the checkpoint is then
    /// incomplete and the previous complete one stays the latest.
    pub async fn commit(self, info: CheckpointInfo) -> Result<Manifest> {
        let mut files = Vec::new();
        let mut unfinished = Vec::new();
        for (name, upload) in self.uploads.into_inner().unwrap_or_else(PoisonError::into_inner) {
            match upload {
                Upload::Done(file) => files.push(file),
                Upload::InFlight | Upload::Failed => unfinished.push(name),
            }
        }
        if !unfinished.is_empty() {
            return Err(CheckpointError::Unfinished {
                path: self.dir.to_string(),
                files: unfinished.join(", "),
            });
        }
        let created_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let manifest =
            Manifest { checkpoint_id: self.id, job: self.store.job.clone(), created_at_ms, info, files };
        let path = self.dir.clone().join(MANIFEST);
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.store.put_opts(&path, PutPayload::from(manifest.encode()), options).await {
            Ok(_) => Ok(manifest),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(CheckpointError::AlreadyExists { path: path.to_string() })
            }
            Err(e) => Err(self.store.store_err("put", &path, e)),
        }
    }

    /// Gives up the checkpoint and deletes what was written of it.
    ///
    /// # Errors
    /// [`CheckpointError::Store`] if listing or a deletion fails.
    pub async fn abort(self) -> Result<()> {
        self.store.delete_target(&self.target).await
    }
}
