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
//! Transactions are also numbered per attempt: `<prefix> <pid> <n>` is the `n`-th transaction
//! this process began for the sink. Every record carries it in header [`TXN_HEADER`], and the
//! marker offset's metadata is `<pid> <n>` of the transaction it committed with. A consumer can
//! so tell which records committed on a broker whose `read_committed` is unreliable: those of
//! transaction `n` of process `pid` committed iff a marker named `pid n' >= n` became visible.
//!
//! # The input's offsets
//! With [`Transactions::commit_offsets_of`], the transaction of checkpoint `n` also commits the
//! source's next offsets of checkpoint `n` for its consumer group, with metadata
//! `sluice checkpoint <n>`: the group's committed offsets are then always those of the output's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice_dataflow::Result;

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
fn txn_error(context: &str, what: &str, e: &KafkaError) -> sluice_dataflow::DataflowError {
    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::InvalidTransactionTimeout) {
        return errors::user(format!(
            "{context}: {what}: the broker refuses the transaction timeout: set \
             'properties.transaction.timeout.ms' at most to the broker's transaction.max.timeout.ms ({e})"
        ));
    }
    error(&format!("{context}: {what}"), e)
}

/// The transactional producers of an exactly-once sink; see the [module docs](self).
pub(crate) struct Transactions {
    config: KafkaConfig,
    topic: String,
    /// A consumer of group `<prefix>`, for the group metadata of the marker commits.
    marker: Option<BaseConsumer>,
    prefix: String,
    context: String,
    /// The producer of the open transaction, and its slot.
    current: Option<(usize, KafkaProducer)>,
    /// Transactions begun by this process; the open one's name (`<prefix> <pid> <n>`).
    begun: u64,
    label: String,
    /// The input's offsets to commit with checkpoint `.0`'s transaction: topic, group, offsets.
    offsets: Option<(u64, TopicPartitionList)>,
    input: Option<(String, BaseConsumer)>,
    /// Flushed transactions waiting for their checkpoint, by transactional id.
    pending: BTreeMap<String, (usize, KafkaProducer)>,
    /// Initialized producers without a transaction.
    free: Vec<(usize, KafkaProducer)>,
    /// The next slot never opened.
    next_slot: usize,
}

impl Transactions {
    pub(crate) fn new(config: KafkaConfig, topic: &str, prefix: &str, context: &str) -> Transactions {
        Transactions {
            config,
            topic: topic.to_string(),
            marker: None,
            prefix: prefix.to_string(),
            context: context.to_string(),
            current: None,
            begun: 0,
            label: String::new(),
            offsets: None,
            input: None,
            pending: BTreeMap::new(),
            free: Vec::new(),
            next_slot: 0,
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

    /// The consumer whose group metadata the marker commits carry.
    fn marker(&mut self) -> Result<&BaseConsumer> {
        if self.marker.is_none() {
            let consumer = self
                .config
                .client(&[("group.id", &self.prefix), ("enable.auto.commit", "false")])
                .create::<BaseConsumer>()
                .map_err(|e| error(&format!("{}: creating the marker consumer", self.context), &e))?;
            self.marker = Some(consumer);
        }
        match &self.marker {
            Some(c) => Ok(c),
            None => Err(errors::user(format!("{}: no marker consumer", self.context))),
        }
    }

    /// The checkpoint id of the last committed transaction, from the marker.
    fn committed_checkpoint(&mut self) -> Result<Option<u64>> {
        let (topic, timeout, context) =
            (self.topic.clone(), self.config.request_timeout(), self.context.clone());
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, 0);
        let committed = self
            .marker()?
            .committed_offsets(tpl, timeout)
            .map_err(|e| error(&format!("{context}: reading the commit marker"), &e))?;
        Ok(committed.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) => u64::try_from(o).ok(),
            _ => None,
        }))
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
            self.label = format!("{} {} {}", self.prefix, std::process::id(), self.begun);
            self.current = Some((slot, p));
        }
        match &self.current {
            Some((_, p)) => Ok(p),
            None => Err(errors::user(format!("{}: no open transaction", self.context))),
        }
    }

    /// The open transaction's name, `<prefix> <pid> <n>` (for [`TXN_HEADER`]).
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Checkpoint `checkpoint`'s barrier: adds the marker to the open transaction, flushes it
    /// and sets it aside; returns its id (none if nothing is open).
    pub(crate) fn pre_commit(&mut self, checkpoint: u64) -> Result<Vec<String>> {
        let Some((slot, p)) = self.current.take() else { return Ok(Vec::new()) };
        let mut tpl = TopicPartitionList::new();
        let marker = Offset::Offset(i64::try_from(checkpoint).unwrap_or(i64::MAX));
        tpl.add_partition_offset(&self.topic, 0, marker).map_err(|e| error(&self.context, &e))?;
        if let Some(mut e) = tpl.find_partition(&self.topic, 0) {
            e.set_metadata(format!("{} {}", std::process::id(), self.begun));
        }
        let timeout = self.config.request_timeout();
        let group = self.marker()?.group_metadata().ok_or_else(|| {
            errors::user(format!("{}: the marker consumer has no group metadata", self.context))
        })?;
        p.send_offsets_to_transaction(&tpl, &group, timeout)
            .map_err(|e| txn_error(&self.context, "adding the commit marker to the transaction", &e))?;
        flush(&p, &self.config, &self.context)?;
        let id = format!("{}@{checkpoint}", self.id(slot));
        self.pending.insert(id.clone(), (slot, p));
        Ok(vec![id])
    }

    /// From now on, commit `topic`'s offsets for consumer `group` with each checkpoint's output.
    pub(crate) fn commit_offsets_of(&mut self, topic: &str, group: &str) -> Result<()> {
        let consumer = self
            .config
            .client(&[("group.id", group), ("enable.auto.commit", "false")])
            .create::<BaseConsumer>()
            .map_err(|e| error(&format!("{}: creating a consumer of group `{group}`", self.context), &e))?;
        self.input = Some((topic.to_string(), consumer));
        Ok(())
    }

    /// Checkpoint `checkpoint` stored the input at these positions: they commit with its
    /// transaction (if the input's offsets are committed at all).
    pub(crate) fn positions(&mut self, checkpoint: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        let Some((topic, _)) = &self.input else { return Ok(()) };
        let mut tpl = TopicPartitionList::new();
        for (partition, bytes) in positions {
            let next = crate::source::position::LogPosition::decode_kafka(bytes, &self.context, *partition)?.next;
            let offset = Offset::Offset(i64::try_from(next).unwrap_or(i64::MAX));
            tpl.add_partition_offset(topic, super::offsets::kafka_partition(*partition)?, offset)
                .map_err(|e| error(&self.context, &e))?;
        }
        for mut e in tpl.elements() {
            e.set_metadata(format!("sluice checkpoint {checkpoint}"));
        }
        self.offsets = Some((checkpoint, tpl));
        Ok(())
    }

    /// Commits the pending transactions named in `ids`; ids not pending were committed before.
    pub(crate) fn commit(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            if let Some((slot, p)) = self.pending.remove(id) {
                let checkpoint = self.parse(id).map(|(_, c)| c);
                if let (Some((at, tpl)), Some((_, input))) = (&self.offsets, &self.input) {
                    if checkpoint == Some(*at) {
                        let group = input.group_metadata().ok_or_else(|| {
                            errors::user(format!("{}: the input's consumer has no group metadata", self.context))
                        })?;
                        p.send_offsets_to_transaction(tpl, &group, self.config.request_timeout()).map_err(|e| {
                            txn_error(&self.context, "adding the input's offsets to the transaction", &e)
                        })?;
                    }
                }
                p.commit_transaction(self.config.request_timeout())
                    .map_err(|e| txn_error(&self.context, &format!("committing transaction `{id}`"), &e))?;
                self.free.push((slot, p));
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
