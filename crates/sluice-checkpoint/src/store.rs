//! [`CheckpointStore`]: one job's checkpoints and savepoints in an object store.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{CheckpointError, Result};
use crate::layout::{self, Target, MANIFEST};
use crate::manifest::{Manifest, StateFile};
use crate::writer::CheckpointWriter;

/// One job's checkpoints and savepoints, in a local directory or any `object_store` store.
///
/// Cheap to clone: clones share the store.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// `<root>/<job>`.
    pub(crate) job_dir: Path,
    pub(crate) job: String,
    /// Where the store is, as given to [`CheckpointStore::open`] (the root path otherwise).
    pub(crate) location: String,
}

/// What [`CheckpointStore::latest_complete`] found.
#[derive(Debug)]
pub struct Latest {
    /// The newest checkpoint whose manifest and state files all check out, if any.
    pub checkpoint: Option<Manifest>,
    /// Newer checkpoints passed over, newest first, and why: no manifest (incomplete), a
    /// corrupt manifest or state file, a manifest of another job.
    pub skipped: Vec<(u64, CheckpointError)>,
    /// Newer complete checkpoints the caller's test refused, newest first
    /// ([`CheckpointStore::latest_complete_where`]).
    pub refused: Vec<u64>,
}

/// What [`CheckpointStore::retain_last`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Retained {
    /// Complete checkpoints kept, oldest first.
    pub kept: Vec<u64>,
    /// Checkpoints deleted (complete ones past the last N, incomplete ones older than the
    /// newest complete one), oldest first.
    pub deleted: Vec<u64>,
}

impl CheckpointStore {
    /// Opens the checkpoints of `job` at `location`: a URL the built-in stores understand
    /// (`file:///data/checkpoints`; `s3://bucket/path` with the `s3` feature, configured by the
    /// `AWS_*` environment variables — `AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for S3-compatible
    /// servers), or a local directory path, created if missing.
    ///
    /// # Errors
    /// [`CheckpointError::Open`] for a bad URL, an unsupported scheme or a directory that
    /// cannot be created; [`CheckpointError::InvalidName`] for a job name that cannot be a
    /// path segment.
    pub fn open(location: &str, job: &str) -> Result<CheckpointStore> {
        let open_err = |reason: String| CheckpointError::Open { location: location.to_owned(), reason };
        if location.contains("://") {
            let url = url::Url::parse(location).map_err(|e| open_err(e.to_string()))?;
            if url.scheme() == "file" {
                let dir = url.to_file_path().map_err(|()| open_err("not a local path".into()))?;
                return Self::open_dir(&dir, location, job);
            }
            // Credentials, region, endpoint: the usual `AWS_*` (and other stores') variables.
            let env = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
            let (store, root) =
                object_store::parse_url_opts(&url, env).map_err(|e| open_err(e.to_string()))?;
            let mut opened = Self::with_store(Arc::from(store), root, job)?;
            opened.location = location.trim_end_matches('/').to_owned();
            return Ok(opened);
        }
        Self::open_dir(std::path::Path::new(location), location, job)
    }

    fn open_dir(dir: &std::path::Path, location: &str, job: &str) -> Result<CheckpointStore> {
        let open_err = |reason: String| CheckpointError::Open { location: location.to_owned(), reason };
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        // Automatic cleanup removes the folders a deleted checkpoint leaves empty.
        let local = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| open_err(e.to_string()))?
            .with_automatic_cleanup(true);
        let mut opened = Self::with_store(Arc::new(local), Path::default(), job)?;
        opened.location = location.trim_end_matches('/').to_owned();
        Ok(opened)
    }

    /// The checkpoints of `job` under `root` in `store` (any `object_store` store, or a wrapper
    /// of one).
    ///
    /// # Errors
    /// [`CheckpointError::InvalidName`] for a job name that cannot be a path segment.
    pub fn with_store(store: Arc<dyn ObjectStore>, root: Path, job: &str) -> Result<CheckpointStore> {
        layout::check_name("job", job)?;
        let location = root.to_string();
        Ok(CheckpointStore { store, job_dir: root.join(job), job: job.to_owned(), location })
    }

    /// Where the store is: the location given to [`Self::open`] (a directory or URL), or the
    /// root path for [`Self::with_store`]. The job's folder is `<location>/<job>`.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The job's name.
    #[must_use]
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Starts checkpoint `id`. Ids must be new: use one above [`Self::checkpoint_ids`].
    ///
    /// # Errors
    /// [`CheckpointError::AlreadyExists`] if anything is stored under the id (a complete
    /// checkpoint, or the leftovers of a failed attempt: [`Self::abort`] them first);
    /// [`CheckpointError::Store`] if the store cannot be listed.
    pub async fn begin(&self, id: u64) -> Result<CheckpointWriter> {
        self.begin_target(Target::Checkpoint(id), id).await
    }

    /// Starts savepoint `name`, of the state at checkpoint id `id`.
    ///
    /// # Errors
    /// As [`Self::begin`], and [`CheckpointError::InvalidName`] for a bad name.
    pub async fn begin_savepoint(&self, name: &str, id: u64) -> Result<CheckpointWriter> {
        layout::check_name("savepoint", name)?;
        self.begin_target(Target::Savepoint(name.to_owned()), id).await
    }

    async fn begin_target(&self, target: Target, id: u64) -> Result<CheckpointWriter> {
        let dir = target.dir(&self.job_dir);
        let existing = self.list(&dir).await?;
        if !existing.is_empty() {
            return Err(CheckpointError::AlreadyExists { path: dir.to_string() });
        }
        Ok(CheckpointWriter::new(self.clone(), target, id, dir))
    }

    /// The ids of every checkpoint folder, complete or not, in increasing order.
    ///
    /// # Errors
    /// [`CheckpointError::Store`] if the store cannot be listed.
    pub async fn checkpoint_ids(&self) -> Result<Vec<u64>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.job_dir))
            .await
            .map_err(|e| self.store_err("list", &self.job_dir, e))?;
        let mut ids: Vec<u64> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(layout::checkpoint_id))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads and checks the manifest of `target` (not its state files: see [`Self::verify`]).
    ///
    /// # Errors
    /// [`CheckpointError::NotFound`] if there is no manifest (the checkpoint is incomplete),
    /// [`CheckpointError::Corrupt`] / [`CheckpointError::UnsupportedVersion`] for a bad one,
    /// [`CheckpointError::Mismatch`] for a manifest of another job or id (savepoints may have
    /// any id), [`CheckpointError::Store`] if the store fails.
    pub async fn load(&self, target: &Target) -> Result<Manifest> {
        let path = target.dir(&self.job_dir).join(MANIFEST);
        let bytes = self.get(&path).await?;
        let manifest = Manifest::decode(&bytes, path.as_ref())?;
        let mismatch = |reason| CheckpointError::Mismatch { path: path.to_string(), reason };
        if manifest.job != self.job {
            return Err(mismatch(format!("written by job {:?}, read as job {:?}", manifest.job, self.job)));
        }
        if let Target::Checkpoint(id) = target {
            if manifest.checkpoint_id != *id {
                return Err(mismatch(format!("manifest of checkpoint {}", manifest.checkpoint_id)));
            }
        }
        Ok(manifest)
    }

    /// Reads one state file of `target`, checking its size and CRC32C against the manifest's
    /// record of it.
    ///
    /// # Errors
    /// [`CheckpointError::Corrupt`] if the bytes do not match, [`CheckpointError::NotFound`]
    /// if the file is missing, [`CheckpointError::Store`] if the store fails.
    pub async fn read_state(&self, target: &Target, file: &StateFile) -> Result<Bytes> {
        let path = target.dir(&self.job_dir).join(file.name.as_str());
        let bytes = self.get(&path).await?;
        let corrupt = |reason| CheckpointError::Corrupt { path: path.to_string(), reason };
        if bytes.len() as u64 != file.size {
            return Err(corrupt(format!("{} bytes, the manifest says {}", bytes.len(), file.size)));
        }
        let crc = crc32c::crc32c(&bytes);
        if crc != file.crc32c {
            return Err(corrupt(format!("CRC32C {crc:#010x}, the manifest says {:#010x}", file.crc32c)));
        }
        Ok(bytes)
    }

    /// Loads `target`'s manifest and reads back every state file, checking each: what a
    /// restore would read. Costs a full read of the checkpoint.
    ///
    /// # Errors
    /// The first failure of [`Self::load`] or [`Self::read_state`].
    pub async fn verify(&self, target: &Target) -> Result<Manifest> {
        let manifest = self.load(target).await?;
        for file in &manifest.files {
            self.read_state(target, file).await?;
        }
        Ok(manifest)
    }

    /// The newest checkpoint that [verifies](Self::verify), passing over newer ones that are
    /// incomplete or damaged and saying why (also logged as warnings).
    ///
    /// # Errors
    /// A store failure ([`CheckpointError::Store`]) is returned, not passed over: falling back
    /// to an older checkpoint because the store was briefly unreachable would replay output
    /// the newer one's sinks may already have committed. Retry instead.
    pub async fn latest_complete(&self) -> Result<Latest> {
        self.latest_complete_where(|_| true).await
    }

    /// The newest complete checkpoint that `accept` takes: like [`Self::latest_complete`], but
    /// a complete checkpoint `accept` refuses is passed over too (listed in
    /// [`Latest::refused`]). For a job whose sinks can only resume from a checkpoint whose
    /// output committed.
    ///
    /// # Errors
    /// As [`Self::latest_complete`].
    pub async fn latest_complete_where(&self, mut accept: impl FnMut(&Manifest) -> bool) -> Result<Latest> {
        let mut skipped = Vec::new();
        let mut refused = Vec::new();
        for id in self.checkpoint_ids().await?.into_iter().rev() {
            match self.verify(&Target::Checkpoint(id)).await {
                Ok(manifest) if accept(&manifest) => {
                    return Ok(Latest { checkpoint: Some(manifest), skipped, refused })
                }
                Ok(_) => refused.push(id),
                Err(e @ CheckpointError::Store { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(job = %self.job, checkpoint = id, error = %e, "skipping checkpoint");
                    skipped.push((id, e));
                }
            }
        }
        Ok(Latest { checkpoint: None, skipped, refused })
    }

    /// Keeps the `n` newest complete checkpoints (manifest present and valid) and deletes
    /// older complete ones and every incomplete one older than the newest complete one.
    /// Incomplete checkpoints newer than that may still be in progress and are left alone.
    /// Savepoints are never touched.
    ///
    /// Only manifests are read, not state files: keep `n >= 2` so that a state file damaged
    /// after its checkpoint completed still leaves [`Self::latest_complete`] a checkpoint to
    /// fall back to.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidConfig`] for `n == 0`; [`CheckpointError::Store`] if listing
    /// or a deletion fails (what was deleted before stays deleted; rerunning finishes).
    pub async fn retain_last(&self, n: usize) -> Result<Retained> {
        if n == 0 {
            return Err(CheckpointError::InvalidConfig(
                "retain_last(0) would delete every checkpoint".into(),
            ));
        }
        let ids = self.checkpoint_ids().await?;
        let mut complete = Vec::new();
        for &id in &ids {
            match self.load(&Target::Checkpoint(id)).await {
                Ok(_) => complete.push(id),
                Err(e @ CheckpointError::Store { .. }) => return Err(e),
                Err(_) => {}
            }
        }
        let kept: Vec<u64> = complete.iter().rev().take(n).rev().copied().collect();
        let Some(&newest) = complete.last() else {
            return Ok(Retained::default());
        };
        let mut deleted = Vec::new();
        for id in ids {
            if id < newest && !kept.contains(&id) {
                self.abort(id).await?;
                deleted.push(id);
            }
        }
        Ok(Retained { kept, deleted })
    }

    /// Deletes checkpoint `id`, complete or not: the manifest first, so that a crash halfway
    /// leaves an incomplete checkpoint rather than a complete one with missing files.
    ///
    /// # Errors
    /// [`CheckpointError::Store`] if listing or a deletion fails.
    pub async fn abort(&self, id: u64) -> Result<()> {
        self.delete_target(&Target::Checkpoint(id)).await
    }

    /// Deletes savepoint `name`.
    ///
    /// # Errors
    /// As [`Self::abort`].
    pub async fn delete_savepoint(&self, name: &str) -> Result<()> {
        layout::check_name("savepoint", name)?;
        self.delete_target(&Target::Savepoint(name.to_owned())).await
    }

    pub(crate) async fn delete_target(&self, target: &Target) -> Result<()> {
        let dir = target.dir(&self.job_dir);
        let mut paths = self.list(&dir).await?;
        // The manifest sorts first by the leading '_', but make the order explicit.
        paths.sort_by_key(|p| p.filename() != Some(MANIFEST));
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store_err("delete", &path, e)),
            }
        }
        Ok(())
    }

    /// Every object under `dir`.
    pub(crate) async fn list(&self, dir: &Path) -> Result<Vec<Path>> {
        self.store
            .list(Some(dir))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.store_err("list", dir, e))
    }

    async fn get(&self, path: &Path) -> Result<Bytes> {
        let result = match self.store.get(path).await {
            Ok(result) => result.bytes().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| match e {
            object_store::Error::NotFound { .. } => CheckpointError::NotFound { path: path.to_string() },
            e => self.store_err("get", path, e),
        })
    }

    pub(crate) fn store_err(
        &self,
        op: &'static str,
        path: &Path,
        source: object_store::Error,
    ) -> CheckpointError {
        CheckpointError::Store {
            store: self.store.to_string(),
            op,
            path: path.to_string(),
            source: Box::new(source),
        }
    }
}
