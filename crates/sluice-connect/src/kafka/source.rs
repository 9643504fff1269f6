//! [`KafkaSource`]: the partitions of a Kafka topic.
//!
//! Each Kafka partition is one source partition (same number), so watermarks are kept per
//! Kafka partition. A reader assigns itself its partitions (no group subscription, no
//! rebalances) at concrete offsets, polls the client, buffers records per partition and
//! returns at most `max_rows` of one partition per batch, decoded from JSON; malformed records
//! go to the dead letters as `topic/partition@offset`.
//!
//! # Where it starts ([`StartupMode`], Flink's `scan.startup.mode`)
//! Earliest retained offset (the default), the end, the committed offsets of `group.id`
//! (partitions without one follow `auto.offset.reset`: `earliest`, the default, or `latest`),
//! or the first record at or after a timestamp. Every start is resolved to a concrete offset
//! when the job starts, so every position is a number.
//!
//! # How it ends
//! Unbounded by default. [`bounded_latest`](KafkaSource::bounded_latest) (Flink's
//! `scan.bounded.mode` = `latest-offset`) ends each partition at its end offset found at the
//! *first* start (see `offsets` for how the end is found on brokers whose `ListOffsets` is
//! wrong); the bound travels in every checkpoint position, so a restart stops at the same place.
//!
//! # Checkpoints
//! Replayable: a partition's position is the offset after the last record a `poll` returned
//! (records buffered but not returned do not count) and the bound. [`Source::restore`] wins
//! over the startup mode. A position below the partition's first retained offset is an error.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow_schema::{Field, SchemaRef};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use sluice_dataflow::source::{spread_partitions, Source, SourceReader};
use sluice_dataflow::Result;
use sluice_format::JsonDecoder;

use super::reader::{KafkaReader, PartState};
use super::{error, offsets, KafkaConfig};
use crate::dead_letter::DeadLetters;
use crate::error as errors;
use crate::source::log_metadata::{self, LogMetadata};
use crate::source::position::LogPosition;

/// Where a [`KafkaSource`] starts reading each partition on a first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// The first retained offset (`earliest-offset`).
    Earliest,
    /// The end: only records appended after the start (`latest-offset`).
    Latest,
    /// The committed offsets of the consumer group `group.id` (`group-offsets`).
    GroupOffsets,
    /// The first record with a timestamp at or after this one, in epoch ms (`timestamp`).
    Timestamp(i64),
}

/// A Kafka topic as a pipeline source; see the [module docs](self).
///
/// Defaults: from the earliest offset, unbounded, dead letters on stderr, not strict.
#[must_use]
pub struct KafkaSource {
    config: KafkaConfig,
    topic: String,
    partitions: usize,
    schema: SchemaRef,
    full_schema: SchemaRef,
    metadata: Vec<(Field, LogMetadata)>,
    startup: StartupMode,
    bounded: bool,
    strict: bool,
    dead_letters: DeadLetters,
    restored: BTreeMap<usize, LogPosition>,
    /// The partitions read, if not all (an instance's share of a consumer group's).
    only: Option<Vec<usize>>,
}

impl KafkaSource {
    /// Reads `topic` from the brokers of `config`, decoding each value as a JSON object of
    /// `schema`.
    ///
    /// # Errors
    /// The brokers cannot be reached, the topic does not exist, or `schema` has a type the
    /// JSON decoder does not support.
    pub fn new(config: KafkaConfig, topic: &str, schema: SchemaRef) -> Result<Self> {
        JsonDecoder::new(SchemaRef::clone(&schema)).map_err(|e| errors::format(&e))?;
        let context = format!("kafka source `{topic}`");
        let partitions = offsets::partition_count(&config, topic, &context)?;
        Ok(KafkaSource {
            config,
            topic: topic.to_string(),
            partitions,
            full_schema: SchemaRef::clone(&schema),
            schema,
            metadata: Vec::new(),
            startup: StartupMode::Earliest,
            bounded: false,
            strict: false,
            dead_letters: DeadLetters::stderr(),
            restored: BTreeMap::new(),
            only: None,
        })
    }

    /// Where each partition starts on a first run. Default = [`StartupMode::Earliest`].
    pub fn startup(mut self, mode: StartupMode) -> Self {
        self.startup = mode;
        self
    }

    /// End each partition at its end offset at the first start. Default = unbounded.
    pub fn bounded_latest(mut self) -> Self {
        self.bounded = true;
        self
    }

    /// Read only these partitions (by Kafka partition number, which stays each one's source
    /// partition number: positions and watermarks are kept by it). Default = all.
    ///
    /// # Errors
    /// A partition the topic does not have, or none.
    pub fn only_partitions(mut self, partitions: impl IntoIterator<Item = usize>) -> Result<Self> {
        let mut only: Vec<usize> = partitions.into_iter().collect();
        only.sort_unstable();
        only.dedup();
        if only.is_empty() {
            return Err(errors::user(format!("{}: no partition to read", self.context())));
        }
        if let Some(p) = only.iter().find(|&&p| p >= self.partitions) {
            return Err(errors::user(format!(
                "{}: no partition {p}: the topic has {} partitions",
                self.context(),
                self.partitions
            )));
        }
        self.only = Some(only);
        Ok(self)
    }

    /// The partitions read.
    fn read_partitions(&self) -> Vec<usize> {
        self.only.clone().unwrap_or_else(|| (0..self.partitions).collect())
    }

    /// Fail the job on the first malformed record instead of dead-lettering it. Default = false.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Appends a column per `(field, metadata)` after the decoded columns: the record's
    /// offset, partition or Kafka timestamp. Default = none.
    ///
    /// # Errors
    /// A type that cannot hold the metadata, or a name taken.
    pub fn metadata(mut self, columns: impl IntoIterator<Item = (Field, LogMetadata)>) -> Result<Self> {
        self.metadata = columns.into_iter().collect();
        self.full_schema = log_metadata::schema(&self.schema, &self.metadata)?;
        Ok(self)
    }

    /// Where malformed records go. Default = [`DeadLetters::stderr`].
    pub fn dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.dead_letters = dead_letters;
        self
    }

    fn context(&self) -> String {
        format!("kafka source `{}`", self.topic)
    }

    /// The first-run start offset of every partition in `fresh`.
    fn start_offsets(&self, fresh: &[usize]) -> Result<BTreeMap<usize, u64>> {
        let context = self.context();
        let (config, topic) = (&self.config, self.topic.as_str());
        let or_reset = |found: BTreeMap<usize, Option<u64>>| -> Result<BTreeMap<usize, u64>> {
            let missing: Vec<usize> = found.iter().filter(|(_, o)| o.is_none()).map(|(&p, _)| p).collect();
            let fallback = match (missing.is_empty(), config.get("auto.offset.reset")) {
                (true, _) => BTreeMap::new(),
                (false, Some("latest" | "end" | "largest")) => {
                    offsets::ends(config, topic, &missing, &context)?
                }
                (false, _) => offsets::starts(config, topic, &missing, &context)?,
            };
            Ok(found.into_iter().map(|(p, o)| (p, o.or(fallback.get(&p).copied()).unwrap_or(0))).collect())
        };
        match self.startup {
            StartupMode::Earliest => offsets::starts(config, topic, fresh, &context),
            StartupMode::Latest => offsets::ends(config, topic, fresh, &context),
            StartupMode::GroupOffsets => or_reset(offsets::committed(config, topic, fresh, &context)?),
            StartupMode::Timestamp(ts) => {
                let found = offsets::for_timestamp(config, topic, fresh, ts, &context)?;
                let missing: Vec<usize> =
                    found.iter().filter(|(_, o)| o.is_none()).map(|(&p, _)| p).collect();
                let ends = offsets::ends(config, topic, &missing, &context)?;
                Ok(found.into_iter().map(|(p, o)| (p, o.or(ends.get(&p).copied()).unwrap_or(0))).collect())
            }
        }
    }
}

impl Source for KafkaSource {
    fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.full_schema)
    }

    fn partitions(&self) -> usize {
        self.partitions
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let context = self.context();
        let all = self.read_partitions();
        let fresh: Vec<usize> = all.iter().copied().filter(|p| !self.restored.contains_key(p)).collect();
        let starts = if fresh.is_empty() { BTreeMap::new() } else { self.start_offsets(&fresh)? };
        let retained = offsets::starts(&self.config, &self.topic, &all, &context)?;
        let ends = if self.bounded && !fresh.is_empty() {
            offsets::ends(&self.config, &self.topic, &fresh, &context)?
        } else {
            BTreeMap::new()
        };
        let mut positions = BTreeMap::new();
        for &p in &all {
            let pos = match self.restored.get(&p) {
                Some(pos) => {
                    let first = retained.get(&p).copied().unwrap_or(0);
                    if pos.next < first {
                        return Err(errors::user(format!(
                            "{context}: cannot resume partition {p} at offset {} from the checkpoint: its first \
                             retained offset is {first} (deleted by retention, or the topic was recreated)",
                            pos.next
                        )));
                    }
                    // A checkpoint of an unbounded run has no bound; a bounded run bounds it now.
                    let stop = match (self.bounded, pos.stop) {
                        (false, _) => None,
                        (true, Some(stop)) => Some(stop),
                        (true, None) => Some(
                            offsets::ends(&self.config, &self.topic, &[p], &context)?
                                .get(&p)
                                .copied()
                                .unwrap_or(pos.next),
                        ),
                    };
                    LogPosition { next: pos.next, stop: stop.map(|s| s.max(pos.next)) }
                }
                None => {
                    let next = starts.get(&p).copied().unwrap_or(0);
                    LogPosition {
                        next,
                        stop: self.bounded.then(|| ends.get(&p).copied().unwrap_or(next).max(next)),
                    }
                }
            };
            positions.insert(p, pos);
        }
        let topic: Arc<str> = self.topic.as_str().into();
        let mut readers: Vec<Box<dyn SourceReader>> = Vec::new();
        for owned in spread_partitions(all.len(), n) {
            let consumer = offsets::consumer(&self.config, &context, true)?;
            let mut tpl = TopicPartitionList::new();
            let mut parts = Vec::new();
            for p in owned.into_iter().filter_map(|i| all.get(i).copied()) {
                let pos = positions.get(&p).copied().unwrap_or(LogPosition { next: 0, stop: None });
                let next = i64::try_from(pos.next).unwrap_or(i64::MAX);
                tpl.add_partition_offset(&self.topic, offsets::kafka_partition(p)?, Offset::Offset(next))
                    .map_err(|e| error(&context, &e))?;
                parts.push(PartState {
                    index: p,
                    next: pos.next,
                    stop: pos.stop,
                    at_stop: false,
                    ended: false,
                    buffer: VecDeque::new(),
                });
            }
            consumer.assign(&tpl).map_err(|e| error(&format!("{context}: assigning partitions"), &e))?;
            let decoder = JsonDecoder::new(SchemaRef::clone(&self.schema))
                .map_err(|e| errors::format(&e))?
                .strict(self.strict);
            readers.push(Box::new(KafkaReader {
                consumer,
                topic: Arc::clone(&topic),
                context: context.clone(),
                parts,
                cursor: 0,
                decoder,
                dead_letters: self.dead_letters.clone(),
                batch: Vec::new(),
                schema: SchemaRef::clone(&self.full_schema),
                metadata: self.metadata.clone(),
            }));
        }
        Ok(readers)
    }

    fn replayable(&self) -> bool {
        true
    }

    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        let context = self.context();
        let read = self.read_partitions();
        let mut restored = BTreeMap::new();
        for (&p, bytes) in positions {
            if p >= self.partitions {
                return Err(errors::user(format!(
                    "{context}: the checkpoint has a position for partition {p}, the topic has {} partitions",
                    self.partitions
                )));
            }
            if !read.contains(&p) {
                return Err(errors::user(format!(
                    "{context}: the checkpoint has a position for partition {p}, which this source does not read \
                     (it reads {read:?})"
                )));
            }
            let pos = LogPosition::decode_kafka(bytes, &context, p)?;
            if pos.stop.is_some_and(|stop| stop < pos.next) {
                return Err(errors::user(format!(
                    "{context}: the checkpoint's position of partition {p} is damaged: next offset {} is past its \
                     end offset {}",
                    pos.next,
                    pos.stop.unwrap_or_default()
                )));
            }
            restored.insert(p, pos);
        }
        self.restored = restored;
        Ok(())
    }
}
