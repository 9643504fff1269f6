//! Integration tests of the checkpoint store (one test binary, one module per concern).

mod faulty;
mod local;
mod model;
#[cfg(feature = "s3")]
mod s3;

use sluice_checkpoint::CheckpointInfo;
use sluice_state::snapshot::{SnapshotHeader, SnapshotWriter};
use sluice_state::KeyGroups;

/// The runtime the tests drive the async API with (as a synchronous engine would).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A real snapshot file: task `task` of 2 of a counting operator, `keys` entries `(key, count)`
/// spread over its key groups.
pub fn snapshot(task: u32, keys: u64) -> Vec<u8> {
    let groups = KeyGroups::default();
    let range = groups.range_for_task(task, 2).unwrap();
    let header = SnapshotHeader::new("agg", "count(u64)", groups, range);
    let mut writer = SnapshotWriter::new(format!("agg-{task}"), Vec::new(), header).unwrap();
    let per_group = keys.div_ceil(u64::from(range.len()));
    let mut key = 0;
    for group in range.iter() {
        writer.begin_group(group).unwrap();
        for _ in 0..per_group.min(keys - key) {
            writer.entry(&(key, key * 3 + u64::from(task))).unwrap();
            key += 1;
        }
    }
    writer.finish().unwrap().0
}

/// Checkpoint info as an engine with one log source and one transactional sink fills it.
pub fn info() -> CheckpointInfo {
    let mut info = CheckpointInfo { parallelism: 2, max_key_groups: 128, ..CheckpointInfo::default() };
    info.sources.insert(
        "pageviews".into(),
        vec![("0".into(), 1042u64.to_le_bytes().to_vec()), ("1".into(), 977u64.to_le_bytes().to_vec())],
    );
    info.sinks.insert("counts".into(), vec!["sluice-pv-7".into()]);
    info
}
