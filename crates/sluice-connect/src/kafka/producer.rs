//! A producer that remembers the first failed delivery, and the Kafka transactions of an
//! exactly-once [`KafkaSink`](super::KafkaSink).
//!
//! # Transactions
//! Kafka has no *prepared* state: a transaction is open or committed or aborted, and only the
//! producer that opened it can commit it. Processing goes on after a checkpoint's barrier, so
//! the rows of the next checkpoint must not join the transaction waiting for its checkpoint to
//! complete. The sink therefore keeps a small pool of transactional producers, ids
//! `<prefix>-<slot>`: at a barrier the current one is flushed (every record acknowledged) and
//! set aside as *pending* under its id, and the next free one (or a new slot) begins a
//! transaction for the rows that follow; when the checkpoint completes the pending one commits
//! and returns to the pool. Slots are reused, so the ids are stable across restarts (two, 0 and
//! 1, while commits keep up).
//!
//! On start ([`Transactions::recover`]) the sink opens the slots the checkpoint names and the
//! first [`FENCED_SLOTS`]: `init_transactions` on an id fences a zombie producer of an earlier
//! attempt and aborts its open transaction. What recovery cannot do is commit a transaction
//! the crashed attempt left pending (see ARCHITECTURE.md, "Running on Kafka"), but it can tell:
//!
//! # The commit marker
//! Each checkpoint's transaction also commits, with `send_offsets_to_transaction`, an offset
//! for the consumer group `<prefix>` on partition 0 of the output topic whose value is the
//! checkpoint id. It becomes visible with the transaction's records or not at all. The ids
//! `pre_commit` returns are `<prefix>-<slot>@<checkpoint>`; on recovery from a checkpoint that
//! lists one, a marker below that checkpoint means its transaction never committed and was
//! just aborted: its output is lost, and recovery fails saying so instead of going on.
//! [`Transactions::recoverable`] tells the runtime beforehand, so that it resumes from the
//! newest checkpoint whose transaction did commit instead (ARCHITECTURE.md, "Running on Kafka").
//!
//! # Naming each transaction
//! Each transaction has a number, `epoch * 10^6 + n`: the `n`-th transaction begun by the
//! attempt that started at `epoch` (Unix ms), so numbers grow across attempts. Every record
//! carries `<prefix> <number>` in header [`TXN_HEADER`], and each transaction also commits its
//! number as the offset of group `<prefix>.txn` on partition 0 of the output topic. So a
//! consumer can tell which records committed on a broker whose `read_committed` is
//! unreliable (tansu): after an attempt died, its transactions numbered above that marker
//! (read before the next attempt starts) were aborted.
//!
//! # The input's offsets
//! With [`Transactions::commit_offsets_of`], the transaction of checkpoint `n` also commits the
//! source's next offsets of checkpoint `n` for its consumer group, and for group
//! `<group>.done` the end offset of each partition read to its bounded end: the group's
//! offsets move with the output, and every instance of a scaled-out job can tell which
//! partitions are finished. (Offsets only: some brokers drop commit metadata.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use sluice_dataflow::Result;

use super::groups::{offsets, Groups};
use super::{error, KafkaConfig};
use crate::error as errors;

/// How many slots recovery fences even when the checkpoint names fewer.
pub(crate) const FENCED_SLOTS: usize = 2;

/// The record header naming the transaction a record was written in (see the module docs).
pub const TXN_HEADER: &str = "sluice.txn";

/// Records the first delivery failure, for the next flush to report.
#[derive(Clone, Default)]
pub(crate) struct Deliveries {
    failed: Arc<Mutex<Option<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut failed) = self.failed.lock() {
                failed.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

impl Deliveries {
    /// The first delivery failure since the last call.
    pub(crate) fn take_failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|mut f| f.take())
    }
}

/// A producer with its delivery record.
pub(crate) type KafkaProducer = BaseProducer<Deliveries>;

/// A producer for `config`, transactional with `transactional_id` if given.
pub(crate) fn producer(
    config: &KafkaConfig,
    context: &str,
    transactional_id: Option<&str>,
) -> Result<KafkaProducer> {
    let mut overrides = vec![];
    if let Some(id) = transactional_id {
        overrides.push(("transactional.id", id));
    }
    config
        .client(&overrides)
        .create_with_context(Deliveries::default())
        .map_err(|e| error(&format!("{context}: creating the producer"), &e))
}

/// Waits until every record sent is acknowledged; an error for the first failed delivery.
pub(crate) fn flush(producer: &KafkaProducer, config: &KafkaConfig, context: &str) -> Result<()> {
    producer.flush(config.request_timeout()).map_err(|e| error(&format!("{context}: flushing"), &e))?;
    match producer.context().take_failure() {
        Some(e) => Err(sluice_dataflow::DataflowError::connector(
            format!("{context}: a record was not delivered: {e}"),
            sluice_types::ErrorKind::External,
            sluice_types::Retry::WithBackoff,
        )),
        None => Ok(()),
    }
}

/// A transaction error, explaining a transaction timeout the broker refuses.
pub(crate) fn txn_error(context: &str, what: &str, e: &KafkaError) -> sluice_dataflow::DataflowError {
    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::InvalidTransactionTimeout) {
        return errors::user(format!(
            "{context}: {what}: the broker refuses the transaction timeout: set \
             'properties.transaction.timeout.ms' at most to the broker's transaction.max.timeout.ms ({e})"
        ));
    }
    error(&format!("{context}: {what}"), e)
}

/// The group of the commit marker that names the last committed transaction (`<prefix>` + this).
pub const TXN_MARKER_SUFFIX: &str = ".txn";
/// The group whose committed offsets mark the input partitions read to their end
/// (the input's group + this).
pub(crate) const DONE_SUFFIX: &str = ".done";

/// The input's progress at a checkpoint, to commit with its output.
struct Progress {
    checkpoint: u64,
    /// The input's next offsets.
    offsets: TopicPartitionList,
    /// Partitions read to their end: `(partition, end offset)`.
    done: Vec<(i32, u64)>,
}

/// The transactional producers of an exactly-once sink; see the [module docs](self).
pub(crate) struct Transactions {
    config: KafkaConfig,
    topic: String,
    groups: Groups,
    prefix: String,
    context: String,
    /// The producer of the open transaction, and its slot.
    current: Option<(usize, KafkaProducer)>,
    /// This attempt's start (epoch ms) and the transactions it began; the open one's number.
    epoch: u64,
    begun: u64,
    number: u64,
    label: String,
    /// The input `(topic, group)` whose offsets commit with the output, and its progress at
    /// the last stored checkpoint.
    input: Option<(String, String)>,
    progress: Option<Progress>,
    /// Flushed transactions waiting for their checkpoint, by transactional id, with numbers.
    pending: BTreeMap<String, (usize, KafkaProducer)>,
    /// Initialized producers without a transaction.
    free: Vec<(usize, KafkaProducer)>,
    /// The next slot never opened.
    next_slot: usize,
    /// The output partition the markers are committed on.
    marker_partition: i32,
}

impl Transactions {
    /// Commit the markers on output partition `p` (the one a sink with a fixed partition
    /// writes to) instead of 0.
    pub(crate) fn marker_partition(&mut self, p: i32) {
        self.marker_partition = p;
    }

    pub(crate) fn new(config: KafkaConfig, topic: &str, prefix: &str, context: &str) -> Transactions {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        Transactions {
            groups: Groups::new(config.clone(), context),
            config,
            topic: topic.to_string(),
            prefix: prefix.to_string(),
            context: context.to_string(),
            current: None,
            epoch,
            begun: 0,
            number: 0,
            label: String::new(),
            input: None,
            progress: None,
            pending: BTreeMap::new(),
            free: Vec::new(),
            next_slot: 0,
            marker_partition: 0,
        }
    }

    fn id(&self, slot: usize) -> String {
        format!("{}-{slot}", self.prefix)
    }

    /// The slot and checkpoint of a pending id `<prefix>-<slot>@<checkpoint>`.
    fn parse(&self, id: &str) -> Option<(usize, u64)> {
        let (slot, checkpoint) = id.strip_prefix(&self.prefix)?.strip_prefix('-')?.split_once('@')?;
        Some((slot.parse().ok()?, checkpoint.parse().ok()?))
    }

    /// The checkpoint id of the last committed transaction, from the marker.
    fn committed_checkpoint(&mut self) -> Result<Option<u64>> {
        let (prefix, topic) = (self.prefix.clone(), self.topic.clone());
        let at = self.marker_partition;
        Ok(self.groups.committed(&prefix, &topic, [at])?.get(&at).copied())
    }

    /// A producer for `slot` whose `init_transactions` fenced earlier ones with its id.
    fn open(&self, slot: usize) -> Result<KafkaProducer> {
        let id = self.id(slot);
        let p = producer(&self.config, &self.context, Some(&id))?;
        p.init_transactions(self.config.request_timeout())
            .map_err(|e| txn_error(&self.context, &format!("initializing transactional id `{id}`"), &e))?;
        Ok(p)
    }

    /// The producer of the open transaction, beginning one if needed.
    pub(crate) fn current(&mut self) -> Result<&KafkaProducer> {
        if self.current.is_none() {
            let (slot, p) = match self.free.pop() {
                Some(free) => free,
                None => {
                    let slot = self.next_slot;
                    self.next_slot += 1;
                    (slot, self.open(slot)?)
                }
            };
            p.begin_transaction().map_err(|e| txn_error(&self.context, "beginning a transaction", &e))?;
            self.begun += 1;
            self.number = self.epoch.saturating_mul(1_000_000).saturating_add(self.begun);
            self.label = format!("{} {}", self.prefix, self.number);
            self.current = Some((slot, p));
        }
        match &self.current {
            Some((_, p)) => Ok(p),
            None => Err(errors::user(format!("{}: no open transaction", self.context))),
        }
    }

    /// The open transaction's name, `<prefix> <number>` (for [`TXN_HEADER`]).
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Checkpoint `checkpoint`'s barrier: adds the markers to the open transaction, flushes it
    /// and sets it aside; returns its id (none if nothing is open).
    pub(crate) fn pre_commit(&mut self, checkpoint: u64) -> Result<Vec<String>> {
        let Some((slot, p)) = self.current.take() else { return Ok(Vec::new()) };
        let (prefix, topic) = (self.prefix.clone(), self.topic.clone());
        let at = self.marker_partition;
        self.groups.send(&p, &prefix, &offsets(&topic, [(at, checkpoint)])?)?;
        self.groups.send(
            &p,
            &format!("{prefix}{TXN_MARKER_SUFFIX}"),
            &offsets(&topic, [(at, self.number)])?,
        )?;
        flush(&p, &self.config, &self.context)?;
        let id = format!("{}@{checkpoint}", self.id(slot));
        tracing::debug!(transaction = %id, number = self.number, "pre-committed");
        self.pending.insert(id.clone(), (slot, p));
        Ok(vec![id])
    }

    /// From now on, commit `topic`'s offsets for consumer `group` with each checkpoint's output.
    pub(crate) fn commit_offsets_of(&mut self, topic: &str, group: &str) {
        self.input = Some((topic.to_string(), group.to_string()));
    }

    /// Checkpoint `checkpoint` stored the input at these positions: they commit with its
    /// transaction (if the input's offsets are committed at all).
    pub(crate) fn positions(&mut self, checkpoint: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        let Some((topic, _)) = &self.input else { return Ok(()) };
        let (mut next, mut done) = (Vec::new(), Vec::new());
        for (partition, bytes) in positions {
            let pos = crate::source::position::LogPosition::decode_kafka(bytes, &self.context, *partition)?;
            let p = super::offsets::kafka_partition(*partition)?;
            next.push((p, pos.next));
            if let Some(stop) = pos.stop.filter(|&stop| pos.next >= stop) {
                done.push((p, stop));
            }
        }
        self.progress = Some(Progress { checkpoint, offsets: offsets(topic, next)?, done });
        Ok(())
    }

    /// Adds the input's progress to `p`'s transaction.
    fn send_progress(&mut self, p: &KafkaProducer, progress: &Progress) -> Result<()> {
        let Some((topic, group)) = self.input.clone() else { return Ok(()) };
        self.groups.send(p, &group, &progress.offsets)?;
        if !progress.done.is_empty() {
            let done = offsets(&topic, progress.done.iter().copied())?;
            self.groups.send(p, &format!("{group}{DONE_SUFFIX}"), &done)?;
        }
        Ok(())
    }

    /// Commits the pending transactions named in `ids`; ids not pending were committed before.
    /// The input's progress of the checkpoint goes with its transaction, or, if it had none,
    /// with the open one, or else with the next.
    pub(crate) fn commit(&mut self, ids: &[String]) -> Result<()> {
        let timeout = self.config.request_timeout();
        tracing::debug!(?ids, pending = ?self.pending.keys().collect::<Vec<_>>(), "commit");
        for id in ids {
            if let Some((slot, p)) = self.pending.remove(id) {
                let checkpoint = self.parse(id).map(|(_, c)| c);
                if let Some(progress) = self.progress.take_if(|g| Some(g.checkpoint) == checkpoint) {
                    self.send_progress(&p, &progress)?;
                }
                let started = std::time::Instant::now();
                p.commit_transaction(timeout)
                    .map_err(|e| txn_error(&self.context, &format!("committing transaction `{id}`"), &e))?;
                tracing::debug!(transaction = %id, took = ?started.elapsed(), "committed");
                self.free.push((slot, p));
            }
        }
        // A checkpoint without output of its own: its progress goes with the open transaction,
        // or else waits for the next one. (Not a transaction of offsets alone: tansu never
        // completes such a commit.)
        if self.current.is_some() && self.progress.is_some() {
            if let (Some(current), Some(progress)) = (self.current.take(), self.progress.take()) {
                let sent = self.send_progress(&current.1, &progress);
                self.current = Some(current);
                sent?;
            }
        }
        Ok(())
    }

    /// Commits everything: the pending transactions and the open one (end of a job).
    pub(crate) fn finish(&mut self) -> Result<()> {
        if let Some((slot, p)) = self.current.take() {
            flush(&p, &self.config, &self.context)?;
            self.pending.insert(self.id(slot), (slot, p));
        }
        let ids: Vec<String> = self.pending.keys().cloned().collect();
        self.commit(&ids)
    }

    /// Whether the transactions `pending` (named by a checkpoint) committed: fences the slots
    /// they name (so that no zombie can still commit) and compares them with the marker.
    pub(crate) fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        let Some(checkpoint) = self.fence(pending)? else { return Ok(true) };
        Ok(self.committed_checkpoint()?.is_some_and(|m| m >= checkpoint))
    }

    /// Opens and fences the slots `pending` names and the first [`FENCED_SLOTS`]; the newest
    /// checkpoint `pending` names.
    fn fence(&mut self, pending: &[String]) -> Result<Option<u64>> {
        let parsed = pending
            .iter()
            .map(|id| {
                self.parse(id).ok_or_else(|| {
                    errors::user(format!(
                        "{}: the checkpoint names transaction `{id}`, not one of this sink's",
                        self.context
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let named = parsed.iter().map(|(slot, _)| slot + 1).max().unwrap_or(0);
        let slots = named.max(FENCED_SLOTS);
        for slot in self.next_slot..slots {
            let p = self.open(slot)?;
            self.free.push((slot, p));
        }
        self.next_slot = self.next_slot.max(slots);
        Ok(parsed.iter().map(|(_, c)| *c).max())
    }

    /// Opens and fences the slots of an earlier attempt (aborting their open transactions).
    ///
    /// # Errors
    /// Besides client errors: the checkpoint lists a transaction that never committed (its
    /// output was lost with the crash; see the [module docs](self)).
    pub(crate) fn recover(&mut self, pending: &[String]) -> Result<()> {
        // Fenced: no zombie can commit any more, so the marker is final.
        if let Some(checkpoint) = self.fence(pending)? {
            let committed = self.committed_checkpoint()?;
            if committed.is_none_or(|m| m < checkpoint) {
                return Err(errors::user(format!(
                    "{}: checkpoint {checkpoint}'s Kafka transaction was never committed (the last committed one \
                     is {}); Kafka cannot commit it after a crash, so its output is lost. Restart the job with \
                     --fresh, or from an earlier savepoint",
                    self.context,
                    committed.map_or_else(|| "none".to_string(), |m| format!("checkpoint {m}"))
                )));
            }
        }
        // Begin with the lowest slot, so that a job that keeps up uses slots 0 and 1.
        self.free.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(())
    }
}
