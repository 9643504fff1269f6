//! Writing and reading back a checkpoint of 1M keys through the local store.
//!
//! ```sh
//! cargo bench -p sluice-checkpoint --bench checkpoint                      # 1M keys
//! BENCH_KEYS=10000000 cargo bench -p sluice-checkpoint --bench checkpoint
//! ```
//!
//! State: N entries `(key: String of 20 bytes, count: u64)` over the default 128 key groups,
//! as 4 task snapshot files (sluice-state format, encoded once before timing). Then, each the
//! best of 3 runs into a fresh directory under the system temp dir:
//! - **write**: `begin`, the 4 `put_state` concurrently (the local store writes each to a
//!   temporary file and renames it; no fsync), `commit`;
//! - **latest_complete**: list, read and check the manifest, read back and CRC-check every
//!   state file — what recovery does before restoring;
//! - **retain_last(1)** deleting one older checkpoint of the same size.

use std::time::{Duration, Instant};

use sluice_checkpoint::{CheckpointInfo, CheckpointStore};
use sluice_state::snapshot::{SnapshotHeader, SnapshotWriter};
use sluice_state::KeyGroups;

const TASKS: u32 = 4;

type BoxError = Box<dyn std::error::Error>;

/// The snapshot file of task `task`: its share of `keys` keys.
fn snapshot(task: u32, keys: u64) -> Result<Vec<u8>, BoxError> {
    let groups = KeyGroups::default();
    let range = groups.range_for_task(task, TASKS)?;
    let header = SnapshotHeader::new("agg", "count(string)", groups, range);
    let mut writer = SnapshotWriter::new(format!("agg-{task}"), Vec::new(), header)?;
    let mine = keys / u64::from(TASKS);
    let per_group = mine.div_ceil(u64::from(range.len()));
    let mut written = 0;
    for group in range.iter() {
        writer.begin_group(group)?;
        for _ in 0..per_group.min(mine - written) {
            let key = format!("/products/p{:09}", u64::from(task) * mine + written);
            writer.entry(&(key, written))?;
            written += 1;
        }
    }
    Ok(writer.finish()?.0)
}

fn report(what: &str, keys: u64, bytes: u64, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{what:<18} {:>8.1} ms  {:>6.2} M keys/s  {:>7.1} MB/s",
        secs * 1e3,
        keys as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

fn main() -> Result<(), BoxError> {
    let keys: u64 = std::env::var("BENCH_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let files: Vec<Vec<u8>> = (0..TASKS).map(|t| snapshot(t, keys)).collect::<Result<_, _>>()?;
    let bytes: u64 = files.iter().map(|f| f.len() as u64).sum();
    println!("{keys} keys in {TASKS} state files, {:.1} MB", bytes as f64 / 1e6);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let info = CheckpointInfo { parallelism: TASKS, max_key_groups: 128, ..CheckpointInfo::default() };

    let (mut write, mut read, mut retain) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for run in 0..3 {
        let dir = std::env::temp_dir().join(format!("sluice-checkpoint-bench-{}-{run}", std::process::id()));
        let store = CheckpointStore::open(dir.to_str().ok_or("temp dir is not UTF-8")?, "bench")?;
        rt.block_on(async {
            for id in 1..=2 {
                let start = Instant::now();
                let writer = store.begin(id).await?;
                let puts = files.iter().zip(0..).map(|(f, task)| writer.put_state("agg", task, f.clone()));
                for result in futures_util::future::join_all(puts).await {
                    result?;
                }
                writer.commit(info.clone()).await?;
                write = write.min(start.elapsed());
            }
            let start = Instant::now();
            let latest = store.latest_complete().await?;
            read = read.min(start.elapsed());
            if latest.checkpoint.map(|m| m.checkpoint_id) != Some(2) {
                return Err::<(), BoxError>("checkpoint 2 does not verify".into());
            }
            let start = Instant::now();
            store.retain_last(1).await?;
            retain = retain.min(start.elapsed());
            Ok(())
        })?;
        std::fs::remove_dir_all(&dir)?;
    }
    report("write", keys, bytes, write);
    report("latest_complete", keys, bytes, read);
    report("retain_last(1)", keys, bytes, retain);
    Ok(())
}
