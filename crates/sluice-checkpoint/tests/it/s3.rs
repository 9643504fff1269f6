//! Checkpoints in an S3-compatible store (feature `s3`): the same write, verify, fall back and
//! clean-up path as on a local directory, against a real S3 server (moto, started by
//! `scripts/s3-server.sh`; `scripts/test.sh` exports `SLUICE_S3_ENDPOINT`). Without the variable
//! the test says it is skipped; with it, an unreachable server fails it.

use sluice_checkpoint::{CheckpointStore, Target};

use super::{info, runtime, snapshot};

/// Opens the job's store in bucket `sluice-test`, configured as a user would: `AWS_*` variables.
fn store(job: &str) -> Option<CheckpointStore> {
    let Ok(endpoint) = std::env::var("SLUICE_S3_ENDPOINT") else {
        eprintln!("SKIPPED: SLUICE_S3_ENDPOINT is not set (scripts/test.sh starts an S3 test server)");
        return None;
    };
    // SAFETY of the process environment: set before any thread of this test reads it; every
    // test of this module sets the same values.
    for (k, v) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var(k).as_deref() != Ok(v) {
            std::env::set_var(k, v);
        }
    }
    Some(CheckpointStore::open("s3://sluice-test/checkpoints", job).expect("open the S3 store"))
}

#[test]
fn checkpoints_round_trip_through_s3() {
    let Some(store) = store("s3-round-trip") else { return };
    let rt = runtime();
    let states = [snapshot(0, 500), snapshot(1, 500)];
    for id in 1..=3u64 {
        let writer = rt.block_on(store.begin(id)).expect("begin");
        for (task, bytes) in states.iter().enumerate() {
            rt.block_on(writer.put_state("agg", task as u32, bytes.clone())).expect("put state");
        }
        rt.block_on(writer.commit(info())).expect("commit");
    }
    // An incomplete newer checkpoint: state files, no manifest.
    let writer = rt.block_on(store.begin(4)).expect("begin");
    rt.block_on(writer.put_state("agg", 0, states[0].clone())).expect("put state");
    drop(writer);

    let latest = rt.block_on(store.latest_complete()).expect("latest");
    let manifest = latest.checkpoint.expect("a complete checkpoint");
    assert_eq!(manifest.checkpoint_id, 3);
    assert_eq!(latest.skipped.len(), 1, "checkpoint 4 has no manifest");
    assert_eq!(manifest.info, info());
    for (task, bytes) in states.iter().enumerate() {
        let file = manifest.file(&format!("agg-{task}.snap")).expect("state file");
        let read = rt.block_on(store.read_state(&Target::Checkpoint(3), file)).expect("read");
        assert_eq!(read.as_ref(), bytes.as_slice());
    }
    let retained = rt.block_on(store.retain_last(1)).expect("retain");
    assert_eq!(retained.kept, vec![3]);
    assert_eq!(rt.block_on(store.checkpoint_ids()).expect("ids"), vec![3, 4]);
    assert!(store.location().starts_with("s3://sluice-test"));
}
