//! An object store that fails writes on demand, to check that failures are reported and leave
//! the previous checkpoint intact.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sluice_checkpoint::{CheckpointError, CheckpointStore, Target};
use sluice_types::Retry;

use crate::{info, runtime, snapshot};

/// Wraps a store; while `fail_puts` is set, every put fails as a full disk would. Puts are
/// counted so a test can fail the n-th one.
#[derive(Debug, Default)]
struct Faulty {
    inner: InMemory,
    fail_puts: AtomicBool,
    fail_after: AtomicUsize,
    puts: AtomicUsize,
}

impl std::fmt::Display for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

impl Faulty {
    fn check(&self, location: &Path) -> object_store::Result<()> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst);
        let after = self.fail_after.load(Ordering::SeqCst);
        if self.fail_puts.load(Ordering::SeqCst) && n >= after {
            let source = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
            return Err(object_store::Error::Generic {
                store: "Faulty",
                source: format!("writing {location}: {source}").into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Fails the `after`-th put from now on (0 = the next one), for each point of a checkpoint.
#[test]
fn a_failed_write_is_reported_and_the_previous_checkpoint_stays_latest() {
    for after in 0..3 {
        let faulty = Arc::new(Faulty::default());
        let store =
            CheckpointStore::with_store(Arc::clone(&faulty) as Arc<dyn ObjectStore>, Path::default(), "pv")
                .unwrap();
        runtime().block_on(async {
            let w = store.begin(1).await.unwrap();
            w.put_state("agg", 0, snapshot(0, 100)).await.unwrap();
            let first = w.commit(info()).await.unwrap();

            faulty.puts.store(0, Ordering::SeqCst);
            faulty.fail_after.store(after, Ordering::SeqCst);
            faulty.fail_puts.store(true, Ordering::SeqCst);
            let w = store.begin(2).await.unwrap();
            let result = async {
                w.put_state("agg", 0, snapshot(0, 200)).await?;
                w.put_state("agg", 1, snapshot(1, 200)).await?;
                w.commit(info()).await
            }
            .await;
            let err = result.unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, CheckpointError::Store { op: "put", .. }), "{err:?}");
            assert!(message.contains("pv/chk-2/") && message.contains("no space left"), "{message}");
            assert_eq!(err.retry(), Retry::WithBackoff);

            faulty.fail_puts.store(false, Ordering::SeqCst);
            let latest = store.latest_complete().await.unwrap();
            assert_eq!(latest.checkpoint.as_ref(), Some(&first));
            if after == 0 {
                // Nothing of checkpoint 2 reached the store.
                assert!(latest.skipped.is_empty(), "{:?}", latest.skipped);
            } else {
                assert_eq!(latest.skipped.len(), 1, "{:?}", latest.skipped);
                assert!(matches!(latest.skipped[0], (2, CheckpointError::NotFound { .. })));
            }
            let bytes = store.read_state(&Target::Checkpoint(1), &first.files[0]).await.unwrap();
            assert_eq!(bytes, snapshot(0, 100));

            // Retrying under the next id works once the store recovers.
            store.abort(2).await.unwrap();
            let w = store.begin(3).await.unwrap();
            w.put_state("agg", 0, snapshot(0, 300)).await.unwrap();
            w.commit(info()).await.unwrap();
            let retained = store.retain_last(1).await.unwrap();
            assert_eq!((retained.kept, retained.deleted), (vec![3], vec![1]));
        });
    }
}

/// A failed state file blocks the commit until a retry of it succeeds.
#[test]
fn commit_refuses_a_checkpoint_whose_state_file_failed_until_it_is_retried() {
    let faulty = Arc::new(Faulty::default());
    let store =
        CheckpointStore::with_store(Arc::clone(&faulty) as Arc<dyn ObjectStore>, Path::default(), "pv")
            .unwrap();
    runtime().block_on(async {
        let w = store.begin(1).await.unwrap();
        w.put_state("agg", 0, snapshot(0, 10)).await.unwrap();
        faulty.fail_puts.store(true, Ordering::SeqCst);
        assert!(w.put_state("agg", 1, snapshot(1, 10)).await.is_err());
        faulty.fail_puts.store(false, Ordering::SeqCst);
        let err = w.commit(info()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint store: cannot commit pv/chk-1: the upload of agg-1.snap failed or did not finish"
        );
        assert!(store.latest_complete().await.unwrap().checkpoint.is_none());

        let w = store.begin(2).await.unwrap();
        faulty.fail_puts.store(true, Ordering::SeqCst);
        assert!(w.put_state("agg", 1, snapshot(1, 10)).await.is_err());
        faulty.fail_puts.store(false, Ordering::SeqCst);
        w.put_state("agg", 1, snapshot(1, 10)).await.unwrap();
        let err = w.put_state("agg", 1, snapshot(1, 10)).await.unwrap_err();
        assert!(matches!(err, CheckpointError::AlreadyExists { .. }), "{err}");
        let manifest = w.commit(info()).await.unwrap();
        assert_eq!(manifest.files.len(), 1);
        assert_eq!(store.latest_complete().await.unwrap().checkpoint, Some(manifest));
    });
}
