//! The checkpoint coordinator: triggers barriers, collects what the tasks report, writes each
//! checkpoint through the store on its own thread, and tells the sink task when to commit.
//! The protocol is described in [`crate::checkpoint`]; restoring is in [`super::restore`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sluice_checkpoint::{CheckpointInfo, CheckpointStore};
use sluice_state::KeyGroups;
use sluice_types::{ErrorKind, Retry};

use super::metrics::Metrics;
use super::{record, ABORTED};
use crate::error::{DataflowError, Result};
use crate::message::Barrier;

/// The source name positions are recorded under in the manifest.
pub(crate) const SOURCE: &str = "source";
/// The key of the keyed tasks' watermark among the source entries.
pub(crate) const WATERMARK: &str = "watermark";

/// Requests to the coordinator from a [`JobHandle`](super::JobHandle).
#[derive(Debug)]
pub(crate) enum Control {
    /// Take a savepoint (`name`), or just a checkpoint (`None`); with `stop`, stop the job
    /// after it.
    Savepoint { name: Option<String>, stop: bool, reply: Sender<Result<String>> },
}

/// Where a source task stands at a barrier (or at its end).
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceSnap {
    /// `(global partition, position)` from the reader.
    pub(crate) positions: Vec<(usize, Vec<u8>)>,
    /// `(global partition, largest event time read)` for the watermark generators.
    pub(crate) max_event_times: Vec<(usize, i64)>,
    /// The last watermark the task sent downstream; `None` while it is idle (then it does not
    /// hold the keyed tasks' watermark back).
    pub(crate) watermark: Option<i64>,
}

/// Source positions: `(global partition, position)`.
pub(crate) type Positions = Vec<(usize, Vec<u8>)>;

/// A keyed task's state files: `(operator id, bytes)`.
pub(crate) type StateFiles = Vec<(String, Vec<u8>)>;

/// The job-wide things the coordinator updates.
pub(crate) struct JobLinks {
    pub(crate) state: Arc<AtomicU8>,
    pub(crate) first_error: Arc<Mutex<Option<DataflowError>>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) stopped_at: Arc<Mutex<Option<u64>>>,
}

/// What tasks report to the coordinator.
#[derive(Debug)]
pub(crate) enum Ack {
    /// Source task `task` sent checkpoint `id`'s barrier.
    Source { id: u64, task: usize, snap: SourceSnap },
    /// Source task `task` reached the end of its input (it sends no more barriers).
    SourceFinished { task: usize, snap: SourceSnap },
    /// Keyed task `task` aligned checkpoint `id`: its operators' state, as `(operator id, bytes)`.
    Keyed { id: u64, task: usize, files: StateFiles },
    /// Keyed task `task` ended (its state is empty: every window was emitted).
    KeyedFinished { task: usize },
    /// The sink task pre-committed checkpoint `id`; `pending` are every transaction not yet
    /// committed, per sink port. With `last`, the sink waits for this checkpoint and exits.
    Sink { id: u64, pending: BTreeMap<String, Vec<String>>, last: bool },
    /// A task could not take its part of checkpoint `id`.
    Failed { id: u64, error: String },
}

/// The coordinator's answer to the sink task.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub(crate) id: u64,
    /// `None` once stored; else why it was not.
    pub(crate) error: Option<String>,
    /// The sources' positions it holds, `(global partition, position)`.
    pub(crate) positions: Vec<(usize, Vec<u8>)>,
}

/// What every task shares with the coordinator.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The newest checkpoint the sources must take.
    requested: AtomicU64,
    /// The id of a checkpoint that stops the job (0: none).
    stop_id: AtomicU64,
    /// The next unused checkpoint id.
    next_id: AtomicU64,
    /// The newest checkpoint whose transactions the sinks committed (0: none yet this run).
    pub(crate) committed: AtomicU64,
}

impl Shared {
    pub(crate) fn new(next_id: u64) -> Self {
        Shared {
            requested: AtomicU64::new(0),
            stop_id: AtomicU64::new(0),
            next_id: AtomicU64::new(next_id),
            committed: AtomicU64::new(0),
        }
    }

    /// The barrier a source task that last sent `last` must send now, if any.
    pub(crate) fn barrier_after(&self, last: u64) -> Option<Barrier> {
        let id = self.requested.load(Ordering::Acquire);
        (id > last).then(|| Barrier { id, stop: self.stop_id.load(Ordering::Acquire) == id })
    }

    /// Reserves a checkpoint id.
    pub(crate) fn allocate(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    fn trigger(&self, id: u64, stop: bool) {
        if stop {
            self.stop_id.store(id, Ordering::Release);
        }
        self.requested.store(id, Ordering::Release);
    }
}

/// A task's line to the coordinator.
#[derive(Debug, Clone)]
pub(crate) struct TaskLink {
    pub(crate) shared: Arc<Shared>,
    pub(crate) acks: Sender<Ack>,
}

impl TaskLink {
    /// Reports to the coordinator; a coordinator that is gone has stopped on an error already
    /// recorded, so losing the report is harmless.
    pub(crate) fn ack(&self, ack: Ack) {
        let _ = self.acks.send(ack);
    }
}

/// A checkpoint being collected.
struct Pending {
    id: u64,
    started: Instant,
    stop: bool,
    savepoint: Option<(Option<String>, Sender<Result<String>>)>,
    sources: Vec<Option<SourceSnap>>,
    keyed: Vec<Option<StateFiles>>,
    sink: Option<BTreeMap<String, Vec<String>>>,
}

/// The coordinator's settings and lines; run on its own thread with [`Coordinator::run`].
pub(crate) struct Coordinator {
    pub(crate) store: CheckpointStore,
    pub(crate) interval: Duration,
    pub(crate) retain: usize,
    pub(crate) max_failures: u32,
    pub(crate) parallelism: usize,
    pub(crate) key_groups: KeyGroups,
    pub(crate) shared: Arc<Shared>,
    pub(crate) acks: Receiver<Ack>,
    pub(crate) control: Receiver<Control>,
    pub(crate) completions: Sender<Completion>,
    pub(crate) finished_sources: Vec<Option<SourceSnap>>,
    pub(crate) finished_keyed: Vec<bool>,
    pub(crate) state: Arc<AtomicU8>,
    pub(crate) first_error: Arc<Mutex<Option<DataflowError>>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) stopped_at: Arc<Mutex<Option<u64>>>,
    pub(crate) rt: tokio::runtime::Runtime,
}

/// How often the coordinator looks at the clock and at requests while nothing arrives.
const TICK: Duration = Duration::from_millis(20);

impl Coordinator {
    /// Runs until the sink's last checkpoint, the job's abort, or every task is gone.
    pub(crate) fn run(mut self) -> Result<()> {
        let mut pending: Option<Pending> = None;
        let mut queued: VecDeque<(Option<String>, bool, Sender<Result<String>>)> = VecDeque::new();
        let mut next_due = Instant::now() + self.interval;
        let mut failures = 0u32;
        loop {
            if self.state.load(Ordering::Relaxed) == ABORTED {
                return Ok(());
            }
            while let Ok(Control::Savepoint { name, stop, reply }) = self.control.try_recv() {
                queued.push_back((name, stop, reply));
            }
            let all_finished = self.finished_sources.iter().all(Option::is_some);
            if pending.is_none() && !all_finished && (Instant::now() >= next_due || !queued.is_empty()) {
                let request = queued.pop_front();
                let stop = request.as_ref().is_some_and(|r| r.1);
                let id = self.shared.allocate();
                pending = Some(Pending {
                    id,
                    started: Instant::now(),
                    stop,
                    savepoint: request.map(|(name, _, reply)| (name, reply)),
                    sources: vec![None; self.finished_sources.len()],
                    keyed: vec![None; self.finished_keyed.len()],
                    sink: None,
                });
                self.shared.trigger(id, stop);
                next_due = Instant::now() + self.interval;
            }
            if all_finished {
                for (_, _, reply) in queued.drain(..) {
                    let _ = reply.send(Err(checkpoint_error("the job is finishing its input".into())));
                }
            }
            let wait =
                next_due.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(1), TICK);
            let ack = match self.acks.recv_timeout(wait) {
                Ok(ack) => ack,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            match ack {
                Ack::Source { id, task, snap } => {
                    if let Some(p) = pending.as_mut().filter(|p| p.id == id) {
                        if let Some(slot) = p.sources.get_mut(task) {
                            *slot = Some(snap);
                        }
                    }
                }
                Ack::SourceFinished { task, snap } => {
                    if let Some(slot) = self.finished_sources.get_mut(task) {
                        *slot = Some(snap);
                    }
                }
                Ack::Keyed { id, task, files } => {
                    if let Some(p) = pending.as_mut().filter(|p| p.id == id) {
                        if let Some(slot) = p.keyed.get_mut(task) {
                            *slot = Some(files);
                        }
                    }
                }
                Ack::KeyedFinished { task } => {
                    if let Some(slot) = self.finished_keyed.get_mut(task) {
                        *slot = true;
                    }
                }
                Ack::Failed { id, error } => {
                    if pending.as_ref().is_some_and(|p| p.id == id) {
                        let p = pending.take();
                        self.failed(p, &error, &mut failures)?;
                    }
                }
                Ack::Sink { id, pending: txns, last } => {
                    let is_current = pending.as_ref().is_some_and(|p| p.id == id);
                    let mut p = match pending.take() {
                        Some(mut p) if is_current => {
                            p.sink = Some(txns);
                            p
                        }
                        // The sink's final checkpoint: every source has finished.
                        other => {
                            // A checkpoint the input's end overtook: the final one covers it.
                            if let Some((_, reply)) = other.and_then(|mut o| o.savepoint.take()) {
                                let _ = reply
                                    .send(Err(checkpoint_error("the job finished its input first".into())));
                            }
                            Pending {
                                id,
                                started: Instant::now(),
                                stop: false,
                                savepoint: None,
                                sources: vec![None; self.finished_sources.len()],
                                keyed: vec![None; self.finished_keyed.len()],
                                sink: Some(txns),
                            }
                        }
                    };
                    let attempts = if last { self.max_failures + 1 } else { 1 };
                    let mut outcome = Err(checkpoint_error("not attempted".into()));
                    for attempt in 0..attempts {
                        if attempt > 0 {
                            std::thread::sleep(Duration::from_millis(100 << attempt.min(5)));
                            let _ = self.rt.block_on(self.store.abort(id));
                        }
                        outcome = self.store_checkpoint(&mut p);
                        if outcome.is_ok() {
                            break;
                        }
                    }
                    match outcome {
                        Ok((location, positions)) => {
                            failures = 0;
                            let _ = self.completions.send(Completion { id, error: None, positions });
                            if let Some((_, reply)) = p.savepoint.take() {
                                let _ = reply.send(Ok(location));
                            }
                            if p.stop {
                                *self.stopped_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
                            }
                        }
                        Err(e) => {
                            let _ = self.completions.send(Completion {
                                id,
                                error: Some(e.to_string()),
                                positions: Vec::new(),
                            });
                            self.failed(Some(p), &e.to_string(), &mut failures)?;
                        }
                    }
                    if last {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reports a failed checkpoint; stops the job after too many in a row.
    fn failed(&self, p: Option<Pending>, error: &str, failures: &mut u32) -> Result<()> {
        let Some(mut p) = p else { return Ok(()) };
        Metrics::add(&self.metrics.checkpoints_failed, 1);
        tracing::warn!(checkpoint = p.id, error, "checkpoint failed");
        if let Some((_, reply)) = p.savepoint.take() {
            let _ = reply.send(Err(checkpoint_error(format!("checkpoint {} failed: {error}", p.id))));
        }
        *failures += 1;
        if *failures > self.max_failures {
            let e = checkpoint_error(format!(
                "{failures} checkpoints in a row failed (tolerated: {}); the last, {}: {error}",
                self.max_failures, p.id
            ));
            self.state.store(ABORTED, Ordering::SeqCst);
            record(&self.first_error, e.clone_message());
            return Err(e);
        }
        Ok(())
    }

    /// Writes the state files, then the manifest, then cleans up; returns the savepoint's (or
    /// checkpoint's) location and the source positions stored.
    fn store_checkpoint(&self, p: &mut Pending) -> Result<(String, Positions)> {
        let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
        let mut positions = Vec::new();
        for (task, snap) in p.sources.iter().enumerate() {
            let snap = snap
                .as_ref()
                .or_else(|| self.finished_sources.get(task).and_then(Option::as_ref))
                .ok_or_else(|| checkpoint_error(format!("source task {task} did not report")))?;
            for (partition, position) in &snap.positions {
                sources.push((format!("p{partition}"), position.clone()));
                positions.push((*partition, position.clone()));
            }
            for (partition, ts) in &snap.max_event_times {
                sources.push((format!("t{partition}"), ts.to_le_bytes().to_vec()));
            }
        }
        // The keyed tasks' watermark: the minimum of what the active sources had sent. A restored
        // source task pre-aggregates only rows on time at this watermark (see `LocalPanes`).
        let active: Vec<i64> = p.sources.iter().flatten().filter_map(|s| s.watermark).collect();
        if let Some(wm) = active.iter().min() {
            sources.push((WATERMARK.to_string(), wm.to_le_bytes().to_vec()));
        }
        sources.sort();
        let mut files: Vec<(&str, u32, &[u8])> = Vec::new();
        for (task, state) in p.keyed.iter().enumerate() {
            match state {
                Some(state) => {
                    for (op, bytes) in state {
                        files.push((op, u32::try_from(task).unwrap_or(u32::MAX), bytes));
                    }
                }
                None if self.finished_keyed.get(task).copied().unwrap_or(false) => {}
                None => return Err(checkpoint_error(format!("keyed task {task} did not report"))),
            }
        }
        let info = CheckpointInfo {
            parallelism: u32::try_from(self.parallelism).unwrap_or(u32::MAX),
            max_key_groups: self.key_groups.max(),
            sources: BTreeMap::from([(SOURCE.to_string(), sources)]),
            sinks: p.sink.clone().unwrap_or_default(),
        };
        let bytes: usize = files.iter().map(|f| f.2.len()).sum();
        let store = &self.store;
        let savepoint = p.savepoint.as_ref().and_then(|(name, _)| name.as_deref());
        let location = super::restore::write(&self.rt, store, p.id, info, &files, savepoint)?;
        // Never delete the newest checkpoint whose output committed: a sink that cannot commit
        // after a crash (Kafka) resumes from it, however far the commits fall behind.
        let committed = self.shared.committed.load(Ordering::Acquire);
        let retain = match self.rt.block_on(store.checkpoint_ids()) {
            Ok(ids) => ids.iter().filter(|&&id| id >= committed).count().max(self.retain),
            Err(_) => self.retain,
        };
        if let Err(e) = self.rt.block_on(store.retain_last(retain)) {
            tracing::warn!(error = %e, "cannot clean up old checkpoints");
        }
        Metrics::add(&self.metrics.checkpoints, 1);
        self.metrics
            .last_checkpoint_ms
            .store(u64::try_from(p.started.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.metrics.last_checkpoint_bytes.store(bytes as u64, Ordering::Relaxed);
        tracing::debug!(checkpoint = p.id, bytes, "checkpoint complete");
        Ok((location, positions))
    }
}

pub(crate) fn checkpoint_error(message: String) -> DataflowError {
    DataflowError::State { message, kind: ErrorKind::Internal, retry: Retry::WithBackoff }
}

impl DataflowError {
    /// A copy with the same message (errors are not `Clone`).
    fn clone_message(&self) -> DataflowError {
        DataflowError::State { message: self.to_string(), kind: self.kind(), retry: self.retry() }
    }
}
