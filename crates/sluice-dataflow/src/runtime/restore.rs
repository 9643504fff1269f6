//! Starting a job with checkpointing on: which checkpoint it resumes from, what that
//! checkpoint holds, and the checkpoint written at a first start.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use sluice_checkpoint::{CheckpointInfo, CheckpointStore, Manifest, Target};
use sluice_state::KeyGroups;

use super::checkpoint::{
    checkpoint_error, Ack, Completion, Control, Coordinator, JobLinks, Shared, TaskLink, SOURCE, WATERMARK,
};
use super::keyed_task::KeyedCheckpoint;
use super::source_task::SourceTask;
use crate::checkpoint::{Checkpointing, Restore};
use crate::error::{DataflowError, Result};
use crate::message::MAIN;
use crate::operator::{Operator, StateScope};
use crate::sink::Sink;
use crate::source::{Source, SourceReader};

/// What a job resumes from.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// The checkpoint's id (in its own store).
    pub(crate) id: u64,
    /// Where it was read from, for messages.
    pub(crate) what: String,
    /// Source positions by global partition.
    pub(crate) positions: BTreeMap<usize, Vec<u8>>,
    /// Largest event time read, by global partition.
    pub(crate) max_event_times: BTreeMap<usize, i64>,
    /// The keyed tasks' watermark at the checkpoint, if known.
    pub(crate) watermark: Option<i64>,
    /// Pending transactions per sink port.
    pub(crate) sinks: BTreeMap<String, Vec<String>>,
    /// State files: `(operator id, task, bytes)`.
    pub(crate) files: Vec<(String, u32, Vec<u8>)>,
}

impl Restored {
    /// The state files of operator `op`, as `(file name, bytes)`.
    pub(crate) fn state_of(&self, op: &str) -> Vec<(String, &[u8])> {
        self.files
            .iter()
            .filter(|(o, _, _)| o == op)
            .map(|(o, task, bytes)| (format!("{o}-{task}.snap"), bytes.as_slice()))
            .collect()
    }
}

/// How a job with checkpointing starts.
pub(crate) struct Start {
    pub(crate) restored: Option<Restored>,
    /// The first id this run may use.
    pub(crate) next_id: u64,
    /// Whether to write a checkpoint before processing: at a first start (it fixes the
    /// sources' bounds) and after a restore from elsewhere (so that a crash before the first
    /// periodic checkpoint resumes from the same state, not from an older checkpoint of the job).
    pub(crate) write_initial: bool,
}

/// Whether the sinks can recover the transactions a checkpoint lists, per port
/// ([`Sink::recoverable`]).
pub(crate) type Recoverable<'a> = dyn FnMut(&BTreeMap<String, Vec<String>>) -> Result<bool> + 'a;

/// Finds what the job resumes from and reads it.
pub(crate) fn load(
    rt: &tokio::runtime::Runtime,
    c: &Checkpointing,
    key_groups: KeyGroups,
    recoverable: &mut Recoverable<'_>,
) -> Result<Start> {
    let store_err = |e: sluice_checkpoint::CheckpointError| checkpoint_error(e.to_string());
    let ids = rt.block_on(c.store.checkpoint_ids()).map_err(store_err)?;
    let mut next_id = ids.last().map_or(1, |id| id + 1);
    let (found, write_initial) = match &c.restore {
        Restore::Fresh => (None, true),
        Restore::Latest => {
            let mut failed = None;
            let latest = rt
                .block_on(c.store.latest_complete_where(|m| match recoverable(&m.info.sinks) {
                    Ok(ok) => ok,
                    Err(e) => {
                        failed = Some(e);
                        true
                    }
                }))
                .map_err(store_err)?;
            if let Some(e) = failed {
                return Err(e);
            }
            for (id, why) in &latest.skipped {
                tracing::warn!(checkpoint = id, error = %why, "passing over a damaged or incomplete checkpoint");
            }
            for id in &latest.refused {
                tracing::warn!(checkpoint = id, "passing over a checkpoint whose output never committed");
            }
            if latest.checkpoint.is_none() && !latest.refused.is_empty() {
                return Err(checkpoint_error(format!(
                    "no checkpoint of job `{}` to resume from: the output of every one kept ({:?}) never \
                     committed, and older ones are deleted; keep more ('state.checkpoints.num-retained'), or \
                     start over with --fresh",
                    c.store.job(),
                    latest.refused
                )));
            }
            let first = latest.checkpoint.is_none();
            (latest.checkpoint.map(|m| (c.store.clone(), Target::Checkpoint(m.checkpoint_id), m)), first)
        }
        Restore::From { store, target } => {
            let manifest = rt.block_on(store.verify(target)).map_err(|e| {
                checkpoint_error(format!("cannot restore from {target} of job `{}`: {e}", store.job()))
            })?;
            (Some((store.clone(), target.clone(), manifest)), true)
        }
    };
    let Some((store, target, manifest)) = found else {
        return Ok(Start { restored: None, next_id, write_initial });
    };
    if manifest.info.max_key_groups != key_groups.max() {
        return Err(incompatible(format!(
            "{target} splits state into {} key groups, this build uses {}",
            manifest.info.max_key_groups,
            key_groups.max()
        )));
    }
    next_id = next_id.max(manifest.checkpoint_id + 1);
    let restored = read(rt, &store, &target, &manifest)?;
    Ok(Start { restored: Some(restored), next_id, write_initial })
}

fn read(
    rt: &tokio::runtime::Runtime,
    store: &CheckpointStore,
    target: &Target,
    m: &Manifest,
) -> Result<Restored> {
    let what = format!("{target} of job `{}` in {}", store.job(), store.location());
    let mut r = Restored {
        id: m.checkpoint_id,
        what: what.clone(),
        sinks: m.info.sinks.clone(),
        ..Restored::default()
    };
    for (key, value) in m.info.sources.get(SOURCE).into_iter().flatten() {
        let damaged = || checkpoint_error(format!("{what}: bad source entry `{key}`"));
        if key == WATERMARK {
            let wm: [u8; 8] = value.as_slice().try_into().map_err(|_| damaged())?;
            r.watermark = Some(i64::from_le_bytes(wm));
        } else if let Some(p) = key.strip_prefix('p') {
            r.positions.insert(p.parse().map_err(|_| damaged())?, value.clone());
        } else if let Some(p) = key.strip_prefix('t') {
            let ts: [u8; 8] = value.as_slice().try_into().map_err(|_| damaged())?;
            r.max_event_times.insert(p.parse().map_err(|_| damaged())?, i64::from_le_bytes(ts));
        } else {
            return Err(damaged());
        }
    }
    for file in &m.files {
        let (op, task) = file
            .name
            .strip_suffix(".snap")
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(op, task)| Some((op.to_string(), task.parse::<u32>().ok()?)))
            .ok_or_else(|| checkpoint_error(format!("{what}: unexpected state file `{}`", file.name)))?;
        let bytes = rt
            .block_on(store.read_state(target, file))
            .map_err(|e| checkpoint_error(format!("{what}: {e}")))?;
        r.files.push((op, task, bytes.to_vec()));
    }
    Ok(r)
}

/// Checks that every operator with state in `restored` exists in the job (`ops`).
pub(crate) fn check_operators(restored: &Restored, ops: &[String]) -> Result<()> {
    for (op, _, _) in &restored.files {
        if !ops.contains(op) {
            return Err(incompatible(format!(
                "{} holds state of operator `{op}`, which this job does not have (its keyed operators: {})",
                restored.what,
                if ops.is_empty() { "none".to_string() } else { ops.join(", ") }
            )));
        }
    }
    Ok(())
}

fn incompatible(message: String) -> DataflowError {
    DataflowError::State { message, kind: sluice_types::ErrorKind::User, retry: sluice_types::Retry::No }
}

/// Writes checkpoint `id`: state files, then the manifest (the checkpoint is complete), then
/// the same as savepoint `savepoint` if given; returns the location of the last written.
pub(crate) fn write(
    rt: &tokio::runtime::Runtime,
    store: &CheckpointStore,
    id: u64,
    info: CheckpointInfo,
    files: &[(&str, u32, &[u8])],
    savepoint: Option<&str>,
) -> Result<String> {
    let location = rt.block_on(async {
        let writer = store.begin(id).await?;
        for &(op, task, bytes) in files {
            writer.put_state(op, task, bytes.to_vec()).await?;
        }
        writer.commit(info.clone()).await?;
        let mut location = format!("{}/{}/chk-{id}", store.location(), store.job());
        if let Some(name) = savepoint {
            let writer = store.begin_savepoint(name, id).await?;
            for &(op, task, bytes) in files {
                writer.put_state(op, task, bytes.to_vec()).await?;
            }
            writer.commit(info).await?;
            location = format!("{}/{}/savepoints/{name}", store.location(), store.job());
        }
        Ok::<_, sluice_checkpoint::CheckpointError>(location)
    });
    location.map_err(|e| checkpoint_error(e.to_string()))
}

/// A job's checkpointing from spawn to the coordinator's start.
pub(crate) struct Setup {
    settings: Checkpointing,
    rt: tokio::runtime::Runtime,
    begin: Start,
    key_groups: KeyGroups,
    shared: Arc<Shared>,
    acks: (Sender<Ack>, Receiver<Ack>),
    completions: Sender<Completion>,
    /// The sink task's end of `completions`, until it takes it.
    completed: Option<Receiver<Completion>>,
}

impl Setup {
    /// Finds what the job resumes from and rewinds `source` to it.
    pub(crate) fn open(
        settings: Option<Checkpointing>,
        source: &mut dyn Source,
        key_groups: KeyGroups,
        recoverable: &mut Recoverable<'_>,
    ) -> Result<Option<Setup>> {
        let Some(settings) = settings else { return Ok(None) };
        if !source.replayable() {
            return Err(DataflowError::InvalidPipeline(
                "exactly-once checkpoints need a source that can be rewound (a log topic or files); \
                 this one cannot be read twice"
                    .into(),
            ));
        }
        // Timers and I/O for network stores (S3); the local store needs neither.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| checkpoint_error(format!("cannot start the checkpoint I/O runtime: {e}")))?;
        let begin = load(&rt, &settings, key_groups, recoverable)?;
        if let Some(r) = &begin.restored {
            source
                .restore(&r.positions)
                .map_err(|e| checkpoint_error(format!("cannot rewind the source to {}: {e}", r.what)))?;
            tracing::info!(from = %r.what, "resuming");
        }
        let shared = Arc::new(Shared::new(begin.next_id));
        let (completions, completed) = std::sync::mpsc::channel();
        Ok(Some(Setup {
            settings,
            rt,
            begin,
            key_groups,
            shared,
            acks: std::sync::mpsc::channel(),
            completions,
            completed: Some(completed),
        }))
    }

    /// The checkpoint the job resumed from.
    pub(crate) fn restored_from(&self) -> Option<u64> {
        self.begin.restored.as_ref().map(|r| r.id)
    }

    /// Checks the restored state against the job's operators and, at a first start (or after
    /// a restore from elsewhere), writes a checkpoint of where the readers start.
    pub(crate) fn start(
        &mut self,
        readers: &[Box<dyn SourceReader>],
        operator_ids: &[String],
        keyed_tasks: usize,
    ) -> Result<()> {
        if let Some(r) = &self.begin.restored {
            check_operators(r, operator_ids)?;
        }
        if !self.begin.write_initial {
            return Ok(());
        }
        let mut sources = Vec::new();
        for reader in readers {
            let positions = reader.positions().ok_or_else(|| {
                DataflowError::InvalidPipeline(
                    "the source cannot report its positions for a checkpoint".into(),
                )
            })?;
            for (partition, position) in positions {
                sources.push((format!("p{partition}"), position));
            }
        }
        let restored = self.begin.restored.as_ref();
        for (partition, ts) in restored.iter().flat_map(|r| &r.max_event_times) {
            sources.push((format!("t{partition}"), ts.to_le_bytes().to_vec()));
        }
        if let Some(wm) = restored.and_then(|r| r.watermark) {
            sources.push((WATERMARK.to_string(), wm.to_le_bytes().to_vec()));
        }
        sources.sort();
        let info = CheckpointInfo {
            parallelism: u32::try_from(keyed_tasks).unwrap_or(u32::MAX),
            max_key_groups: self.key_groups.max(),
            sources: BTreeMap::from([(SOURCE.to_string(), sources)]),
            sinks: BTreeMap::new(),
        };
        let files: Vec<(&str, u32, &[u8])> = restored
            .iter()
            .flat_map(|r| &r.files)
            .map(|(op, task, bytes)| (op.as_str(), *task, bytes.as_slice()))
            .collect();
        let id = self.shared.allocate();
        write(&self.rt, &self.settings.store, id, info, &files, None)?;
        Ok(())
    }

    /// Settles the sinks' transactions: those of the restored checkpoint are committed, every
    /// other one an earlier attempt left is aborted.
    pub(crate) fn recover_sinks(
        &self,
        sink: &mut dyn Sink,
        sides: &mut [(&'static str, Box<dyn Sink>)],
    ) -> Result<()> {
        let pending = |port: &str| -> Vec<String> {
            self.begin.restored.as_ref().and_then(|r| r.sinks.get(port)).cloned().unwrap_or_default()
        };
        sink.recover(&pending(MAIN)).map_err(|e| e.in_operator("sink"))?;
        for (port, side) in sides.iter_mut() {
            side.recover(&pending(port)).map_err(|e| e.in_operator(port))?;
        }
        Ok(())
    }

    /// Keyed task `task`'s part: its operators restored from the checkpoint, and its link.
    pub(crate) fn keyed(
        &self,
        task: usize,
        tasks: usize,
        ops: &mut [(String, Box<dyn Operator>)],
        operator_ids: &[String],
    ) -> Result<KeyedCheckpoint> {
        let range = self
            .key_groups
            .range_for_task(u32::try_from(task).unwrap_or(u32::MAX), u32::try_from(tasks).unwrap_or(u32::MAX))
            .map_err(|e| DataflowError::InvalidPipeline(format!("keyed task {task} of {tasks}: {e}")))?;
        if let Some(r) = &self.begin.restored {
            for ((name, op), id) in ops.iter_mut().zip(operator_ids) {
                let files = r.state_of(id);
                let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), *b)).collect();
                let scope = StateScope { operator_id: id, key_groups: self.key_groups, range, task };
                op.restore(&scope, &files).map_err(|e| e.in_operator(name))?;
            }
        }
        Ok(KeyedCheckpoint {
            link: self.link(),
            task,
            key_groups: self.key_groups,
            range,
            operator_ids: operator_ids.to_vec(),
        })
    }

    /// A source task with its part in checkpoints.
    pub(crate) fn source(&self, task: SourceTask) -> SourceTask {
        let empty = BTreeMap::new();
        let restored = self.begin.restored.as_ref();
        let times = restored.map_or(&empty, |r| &r.max_event_times);
        let watermark = restored.and_then(|r| r.watermark).map(crate::time::Watermark);
        task.with_checkpoints(self.link(), times, watermark)
    }

    /// The sink task's link and its line for the coordinator's answers (there is one sink
    /// task: a second call gets a line nothing is sent on).
    pub(crate) fn sink_link(&mut self) -> (TaskLink, Receiver<Completion>) {
        let completed = self.completed.take().unwrap_or_else(|| std::sync::mpsc::channel().1);
        (self.link(), completed)
    }

    fn link(&self) -> TaskLink {
        TaskLink { shared: Arc::clone(&self.shared), acks: self.acks.0.clone() }
    }

    /// The coordinator, and the line for savepoint requests.
    pub(crate) fn coordinator(
        self,
        sources: usize,
        keyed_tasks: usize,
        job: JobLinks,
    ) -> (Coordinator, Sender<Control>) {
        let (control_tx, control_rx) = std::sync::mpsc::channel();
        let JobLinks { state, first_error, metrics, stopped_at } = job;
        let completions = self.completions;
        let coordinator = Coordinator {
            store: self.settings.store,
            interval: self.settings.interval,
            retain: self.settings.retain,
            max_failures: self.settings.max_failures,
            parallelism: keyed_tasks,
            key_groups: self.key_groups,
            shared: self.shared,
            acks: self.acks.1,
            control: control_rx,
            completions,
            finished_sources: vec![None; sources],
            finished_keyed: vec![false; keyed_tasks],
            state,
            first_error,
            metrics,
            stopped_at,
            rt: self.rt,
        };
        (coordinator, control_tx)
    }
}

/// The state names of the keyed operators: their names, with `.2`, `.3`... for repeats, and
/// characters a checkpoint file name cannot hold replaced by `_`.
pub(crate) fn operator_ids<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for name in names {
        let base: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let base = if base.is_empty() || base.starts_with('_') { format!("op{base}") } else { base };
        let mut id = base.clone();
        let mut n = 1;
        while ids.contains(&id) {
            n += 1;
            id = format!("{base}.{n}");
        }
        ids.push(id);
    }
    ids
}
