//! Random sequences of checkpoint operations against a model of what the store must report.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use sluice_checkpoint::{CheckpointStore, Target};

use crate::{info, runtime, snapshot};

#[derive(Debug, Clone)]
enum Op {
    /// Begin the next id, write `files` state files, commit or leave it incomplete.
    Checkpoint { files: u32, commit: bool },
    /// Abort the existing checkpoint picked by the index.
    Abort(usize),
    /// `retain_last(n)`.
    Retain(usize),
    /// Flip a byte of a state file of the picked checkpoint.
    CorruptFile(usize),
    /// Flip a byte of the picked checkpoint's manifest.
    CorruptManifest(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u32, prop::bool::weighted(0.75)).prop_map(|(files, commit)| Op::Checkpoint { files, commit }),
        1 => any::<usize>().prop_map(Op::Abort),
        2 => (1..4usize).prop_map(Op::Retain),
        1 => any::<usize>().prop_map(Op::CorruptFile),
        1 => any::<usize>().prop_map(Op::CorruptManifest),
    ]
}

/// What the model knows of one checkpoint in the store.
#[derive(Debug, Clone, Copy)]
struct Entry {
    files: u32,
    /// `None`: no manifest; `Some(false)`: a damaged one.
    manifest: Option<bool>,
    files_ok: bool,
}

impl Entry {
    fn verifies(&self) -> bool {
        self.manifest == Some(true) && self.files_ok
    }
}

fn pick(model: &BTreeMap<u64, Entry>, i: usize) -> Option<u64> {
    if model.is_empty() {
        return None;
    }
    model.keys().nth(i % model.len()).copied()
}

/// Flips the first byte of `path` in the in-memory store.
async fn flip(store: &InMemory, path: &Path) {
    let bytes = store.get(path).await.unwrap().bytes().await.unwrap();
    let mut bytes = bytes.to_vec();
    bytes[0] ^= 0xFF;
    store.put(path, PutPayload::from(Bytes::from(bytes))).await.unwrap();
}

async fn run(ops: Vec<Op>) {
    let memory = Arc::new(InMemory::new());
    let store =
        CheckpointStore::with_store(Arc::clone(&memory) as Arc<dyn ObjectStore>, Path::default(), "job")
            .unwrap();
    let mut model: BTreeMap<u64, Entry> = BTreeMap::new();
    let mut next_id = 1;
    for op in ops {
        match op {
            Op::Checkpoint { files, commit } => {
                let id = next_id;
                next_id += 1;
                let w = store.begin(id).await.unwrap();
                for task in 0..files {
                    w.put_state("agg", task, snapshot(task % 2, 3)).await.unwrap();
                }
                if commit {
                    w.commit(info()).await.unwrap();
                }
                if commit || files > 0 {
                    model.insert(id, Entry { files, manifest: commit.then_some(true), files_ok: true });
                }
            }
            Op::Abort(i) => {
                if let Some(id) = pick(&model, i) {
                    store.abort(id).await.unwrap();
                    model.remove(&id);
                }
            }
            Op::Retain(n) => {
                let complete: Vec<u64> =
                    model.iter().filter(|(_, e)| e.manifest == Some(true)).map(|(id, _)| *id).collect();
                let kept: Vec<u64> = complete.iter().rev().take(n).rev().copied().collect();
                let newest = complete.last().copied().unwrap_or(0);
                let deleted: Vec<u64> =
                    model.keys().copied().filter(|id| *id < newest && !kept.contains(id)).collect();
                let retained = store.retain_last(n).await.unwrap();
                assert_eq!((&retained.kept, &retained.deleted), (&kept, &deleted));
                for id in deleted {
                    model.remove(&id);
                }
            }
            Op::CorruptFile(i) => {
                if let Some(id) = pick(&model, i) {
                    let entry = model.get_mut(&id).unwrap();
                    if entry.files > 0 && entry.files_ok {
                        flip(&memory, &Path::from(format!("job/chk-{id}/agg-0.snap"))).await;
                        entry.files_ok = false;
                    }
                }
            }
            Op::CorruptManifest(i) => {
                if let Some(id) = pick(&model, i) {
                    let entry = model.get_mut(&id).unwrap();
                    if entry.manifest == Some(true) {
                        flip(&memory, &Path::from(format!("job/chk-{id}/_manifest"))).await;
                        entry.manifest = Some(false);
                    }
                }
            }
        }

        let ids: Vec<u64> = model.keys().copied().collect();
        assert_eq!(store.checkpoint_ids().await.unwrap(), ids);
        let expected = model.iter().rev().find(|(_, e)| e.verifies()).map(|(id, _)| *id);
        let latest = store.latest_complete().await.unwrap();
        assert_eq!(latest.checkpoint.as_ref().map(|m| m.checkpoint_id), expected);
        let skipped: Vec<u64> = latest.skipped.iter().map(|(id, _)| *id).collect();
        let expected_skipped: Vec<u64> =
            model.keys().rev().copied().take_while(|id| Some(*id) != expected).collect();
        assert_eq!(skipped, expected_skipped);
        if let Some(id) = expected {
            let manifest = store.verify(&Target::Checkpoint(id)).await.unwrap();
            assert_eq!(manifest.files.len() as u32, model[&id].files);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_store_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        runtime().block_on(run(ops));
    }
}
