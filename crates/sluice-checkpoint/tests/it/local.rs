//! The store on a local directory: round trips, fallback past damaged checkpoints, retention,
//! savepoints.

use std::path::Path;

use sluice_checkpoint::{CheckpointError, CheckpointStore, Manifest, Target};
use sluice_state::snapshot::SnapshotReader;

use crate::{info, runtime, snapshot};

/// Writes checkpoint `id` with two state files of `keys` keys each.
async fn checkpoint(store: &CheckpointStore, id: u64, keys: u64) -> Manifest {
    let w = store.begin(id).await.unwrap();
    // The two tasks upload concurrently, as an engine's would.
    let (a, b) =
        tokio::join!(w.put_state("agg", 1, snapshot(1, keys)), w.put_state("agg", 0, snapshot(0, keys)));
    a.unwrap();
    b.unwrap();
    w.commit(info()).await.unwrap()
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_checkpoint_round_trips_through_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap(), "pageviews").unwrap();
    runtime().block_on(async {
        let empty = store.latest_complete().await.unwrap();
        assert!(empty.checkpoint.is_none() && empty.skipped.is_empty());
        assert!(store.checkpoint_ids().await.unwrap().is_empty());
        let written = checkpoint(&store, 1, 500).await;
        assert!(dir.path().join("pageviews/chk-1/_manifest").is_file());
        assert!(dir.path().join("pageviews/chk-1/agg-0.snap").is_file());

        // A second handle, as after a restart, through a file:// URL.
        let url = format!("file://{}", dir.path().display());
        let reopened = CheckpointStore::open(&url, "pageviews").unwrap();
        let latest = reopened.latest_complete().await.unwrap();
        assert!(latest.skipped.is_empty());
        let manifest = latest.checkpoint.unwrap();
        assert_eq!(manifest, written);
        assert_eq!(manifest.info, info());
        let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["agg-0.snap", "agg-1.snap"]);

        for (task, file) in manifest.files.iter().enumerate() {
            let bytes = reopened.read_state(&Target::Checkpoint(1), file).await.unwrap();
            assert_eq!(bytes, snapshot(task as u32, 500));
            let mut reader = SnapshotReader::open(file.name.clone(), &bytes[..]).unwrap();
            let mut entries = 0;
            while let Some(section) = reader.next_section().unwrap() {
                entries += section.entries();
            }
            assert_eq!(entries, 500);
        }
    });
}

#[test]
fn latest_complete_falls_back_past_missing_and_corrupt_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap(), "pv").unwrap();
    let rt = runtime();
    let first = rt.block_on(checkpoint(&store, 1, 50));
    rt.block_on(checkpoint(&store, 2, 60));
    rt.block_on(checkpoint(&store, 3, 70));
    // 4 never completes: its writer is dropped after one file.
    rt.block_on(async {
        let w = store.begin(4).await.unwrap();
        w.put_state("agg", 0, snapshot(0, 80)).await.unwrap();
    });
    let job = dir.path().join("pv");
    flip_byte(&job.join("chk-3/agg-1.snap"), 100);
    flip_byte(&job.join("chk-2/_manifest"), 30);

    let latest = rt.block_on(store.latest_complete()).unwrap();
    assert_eq!(latest.checkpoint, Some(first));
    let skipped: Vec<(u64, String)> = latest.skipped.iter().map(|(id, e)| (*id, e.to_string())).collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(skipped[0].0, 4);
    assert!(skipped[0].1.contains("pv/chk-4/_manifest does not exist"), "{}", skipped[0].1);
    assert_eq!(skipped[1].0, 3);
    assert!(skipped[1].1.contains("pv/chk-3/agg-1.snap is corrupt: CRC32C"), "{}", skipped[1].1);
    assert_eq!(skipped[2].0, 2);
    assert!(skipped[2].1.contains("pv/chk-2/_manifest is corrupt"), "{}", skipped[2].1);

    // A truncated state file is caught by its size.
    let file = job.join("chk-1/agg-0.snap");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
    let latest = rt.block_on(store.latest_complete()).unwrap();
    assert_eq!(latest.checkpoint, None);
    assert!(latest.skipped[3].1.to_string().contains("bytes, the manifest says"), "{:?}", latest.skipped[3]);
}

#[test]
fn retain_last_keeps_exactly_n_complete_checkpoints_and_spares_savepoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap(), "pv").unwrap();
    let rt = runtime();
    rt.block_on(async {
        for id in 1..=5 {
            checkpoint(&store, id, 10).await;
        }
        // Incomplete 6 and 7: failed attempts; incomplete 9: in progress.
        store.begin(6).await.unwrap().put_state("agg", 0, snapshot(0, 1)).await.unwrap();
        store.begin(7).await.unwrap().put_state("agg", 0, snapshot(0, 1)).await.unwrap();
        checkpoint(&store, 8, 10).await;
        store.begin(9).await.unwrap().put_state("agg", 0, snapshot(0, 1)).await.unwrap();
        let sp = store.begin_savepoint("before-upgrade", 2).await.unwrap();
        sp.put_state("agg", 0, snapshot(0, 10)).await.unwrap();
        let savepoint = sp.commit(info()).await.unwrap();

        let retained = store.retain_last(3).await.unwrap();
        assert_eq!(retained.kept, [4, 5, 8]);
        assert_eq!(retained.deleted, [1, 2, 3, 6, 7]);
        assert_eq!(store.checkpoint_ids().await.unwrap(), [4, 5, 8, 9]);
        assert!(!dir.path().join("pv/chk-1").exists(), "empty folders are removed");

        let again = store.retain_last(3).await.unwrap();
        assert_eq!((again.kept, again.deleted), (vec![4, 5, 8], vec![]));
        assert_eq!(store.retain_last(1).await.unwrap().deleted, [4, 5]);
        assert!(matches!(store.retain_last(0).await, Err(CheckpointError::InvalidConfig(_))));

        let target = Target::Savepoint("before-upgrade".into());
        assert_eq!(store.verify(&target).await.unwrap(), savepoint);
        assert_eq!(savepoint.checkpoint_id, 2);
        store.delete_savepoint("before-upgrade").await.unwrap();
        assert!(matches!(store.load(&target).await, Err(CheckpointError::NotFound { .. })));
    });
}

#[test]
fn misuse_is_refused_with_the_object_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(dir.path().to_str().unwrap(), "pv").unwrap();
    let rt = runtime();
    rt.block_on(async {
        checkpoint(&store, 1, 10).await;
        let err = store.begin(1).await.unwrap_err();
        assert_eq!(err.to_string(), "checkpoint store: pv/chk-1 already exists");

        let w = store.begin(2).await.unwrap();
        w.put_state("agg", 0, snapshot(0, 1)).await.unwrap();
        let err = w.put_state("agg", 0, snapshot(0, 1)).await.unwrap_err();
        assert!(matches!(err, CheckpointError::AlreadyExists { .. }), "{err}");
        let err = w.put_state("../etc", 0, snapshot(0, 1)).await.unwrap_err();
        assert!(err.to_string().starts_with("invalid operator name \"../etc\""), "{err}");
        w.abort().await.unwrap();
        assert_eq!(store.checkpoint_ids().await.unwrap(), [1]);

        // Another job's manifest copied in is not taken for this job's.
        let other = CheckpointStore::open(dir.path().to_str().unwrap(), "other").unwrap();
        checkpoint(&other, 5, 10).await;
        std::fs::create_dir_all(dir.path().join("pv/chk-5")).unwrap();
        std::fs::copy(dir.path().join("other/chk-5/_manifest"), dir.path().join("pv/chk-5/_manifest"))
            .unwrap();
        let err = store.load(&Target::Checkpoint(5)).await.unwrap_err();
        assert!(err.to_string().contains("written by job \"other\", read as job \"pv\""), "{err}");
    });
    assert!(CheckpointStore::open(dir.path().to_str().unwrap(), "a/b").is_err());
    // A scheme no built-in store understands (S3 is one with the `s3` feature).
    let err = CheckpointStore::open("ftp://host/checkpoints", "pv").unwrap_err();
    assert!(err.to_string().starts_with("cannot open checkpoint store ftp://host/checkpoints"), "{err}");
}
