//! [`LogSource`]: a topic of the embedded log.
//!
//! Each log partition is one source partition (same index). A reader reads its partitions in
//! turns with [`Partition::read_into`](sluice_log::Partition::read_into), at most `max_rows`
//! records per batch, decodes the record values as JSON into the job's schema, and sends the
//! malformed ones to the dead letters with their position `topic/partition@offset`.
//! [`metadata`](LogSource::metadata) appends columns holding each row's offset, partition or
//! log timestamp ([`LogMetadata`]) after the decoded ones.
//!
//! When every partition is caught up it blocks in
//! [`Topic::wait_for_any`](sluice_log::Topic::wait_for_any) (a condition variable in the
//! writing process) until data arrives or the poll timeout passes: following the tail costs no
//! CPU while nothing is appended.
//!
//! # How it ends
//! - **Bounded** (the default, Flink's `latest-offset` bound): the end offsets of every
//!   partition are captured when the job starts (`split`); each partition ends there.
//! - **Follow**: never ends; stop the job with its `JobHandle`.
//! - **Follow until** an [`EndOfInput`] is signalled: follows the tail, and once the signal is
//!   seen, captures the end offsets at that moment and ends there. A producer in the same
//!   process signals after its last append returned, so the job reads everything it appended
//!   and then every window closes.
//!
//! # Checkpoints
//! The source is replayable. A partition's position is the next offset to read — just after
//! the last record a `poll` returned: a poll returns every record it read, decoded or
//! dead-lettered, so nothing is read ahead — and the partition's end offset once known. A
//! bounded read's ends are captured at the *first* start and travel in every position, so a
//! restarted job stops where the first attempt would have, however much was appended since.
//! [`Source::restore`] wins over [`start`](LogSource::start) and the group's committed
//! offsets: a partition with a position resumes there, one without starts as on a first run.
//! A restored offset that the log no longer holds (deleted by retention, or past the end of a
//! recreated topic) is an error: the records the checkpoint needs are gone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::{Field, SchemaRef};
use sluice_dataflow::source::{spread_partitions, Poll, Source, SourceReader};
use sluice_dataflow::Result;
use sluice_format::JsonDecoder;
use sluice_log::{Consumer, Log, StartFrom, Topic};
use sluice_types::{Offset, PartitionId, StoredRecord};

use crate::dead_letter::DeadLetters;
use crate::error;
use crate::source::end_of_input::EndOfInput;
use crate::source::log_metadata::{self, LogMetadata};
use crate::source::position::LogPosition;

/// How a [`LogSource`] ends.
#[derive(Debug, Clone)]
enum Mode {
    Bounded,
    Follow,
    FollowUntil(EndOfInput),
}

/// A topic of the embedded log as a pipeline source; see the [module docs](self).
///
/// Defaults: from the earliest retained offset, bounded, dead letters on stderr, not strict.
#[must_use]
pub struct LogSource {
    log: Log,
    topic: Topic,
    schema: SchemaRef,
    /// The decoded columns and the metadata columns after them.
    full_schema: SchemaRef,
    metadata: Vec<(Field, LogMetadata)>,
    start: StartFrom,
    group: Option<String>,
    mode: Mode,
    strict: bool,
    dead_letters: DeadLetters,
    /// Positions of a checkpoint to resume from, by partition.
    restored: BTreeMap<usize, LogPosition>,
}

impl LogSource {
    /// Reads `topic` of `log`, decoding each record value as a JSON object of `schema`.
    ///
    /// # Errors
    /// If the topic does not exist, or `schema` has a field type the JSON decoder does not
    /// support.
    pub fn new(log: &Log, topic: &str, schema: SchemaRef) -> Result<Self> {
        let t = log.topic(topic).map_err(|e| error::log("log source", &e))?;
        JsonDecoder::new(SchemaRef::clone(&schema)).map_err(|e| error::format(&e))?;
        Ok(LogSource {
            log: log.clone(),
            topic: t,
            full_schema: SchemaRef::clone(&schema),
            schema,
            metadata: Vec::new(),
            start: StartFrom::Earliest,
            group: None,
            mode: Mode::Bounded,
            strict: false,
            dead_letters: DeadLetters::stderr(),
            restored: BTreeMap::new(),
        })
    }

    /// Where each partition starts. Default = [`StartFrom::Earliest`]. `Committed` needs a
    /// [`group`](Self::group).
    pub fn start(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// The consumer group whose committed offsets [`StartFrom::Committed`] resumes from.
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_string());
        self
    }

    /// Stop at the end offsets seen when the job starts. The default.
    pub fn bounded(mut self) -> Self {
        self.mode = Mode::Bounded;
        self
    }

    /// Follow the tail forever (stop the job through its handle).
    pub fn follow(mut self) -> Self {
        self.mode = Mode::Follow;
        self
    }

    /// Follow the tail until `end` is signalled, then read to the end offsets of that moment.
    pub fn follow_until(mut self, end: EndOfInput) -> Self {
        self.mode = Mode::FollowUntil(end);
        self
    }

    /// Fail the job on the first malformed record instead of dead-lettering it. Default = false.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Appends a column per `(field, metadata)` after the decoded columns, in order, holding
    /// each row's record offset, partition or log timestamp. Default = none.
    ///
    /// # Errors
    /// A type that cannot hold the metadata (see [`LogMetadata::accepts`]) or a name taken.
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
}

impl Source for LogSource {
    fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.full_schema)
    }

    fn partitions(&self) -> usize {
        self.topic.partition_count() as usize
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let name = self.topic.name().to_string();
        let context = format!("log source `{name}`");
        let starts = Consumer::new(&self.log, &name, None, self.group.as_deref(), self.start)
            .map_err(|e| error::log(&context, &e))?
            .positions()
            .clone();
        let ends = self.topic.end_offsets();
        let topic_name: Arc<str> = name.into();
        let mut readers: Vec<Box<dyn SourceReader>> = Vec::new();
        for owned in spread_partitions(self.partitions(), n) {
            let parts = owned
                .iter()
                .map(|&p| {
                    let id = PartitionId(u32::try_from(p).unwrap_or(u32::MAX));
                    if let Some(pos) = self.restored.get(&p) {
                        return self.resume(p, id, *pos);
                    }
                    let next = starts.get(&id).copied().unwrap_or(0);
                    let stop = match self.mode {
                        Mode::Bounded => Some(ends.get(p).copied().unwrap_or(next).max(next)),
                        Mode::Follow | Mode::FollowUntil(_) => None,
                    };
                    Ok(PartState { index: p, id, next, stop, ended: false })
                })
                .collect::<Result<Vec<_>>>()?;
            let decoder = JsonDecoder::new(SchemaRef::clone(&self.schema))
                .map_err(|e| error::format(&e))?
                .strict(self.strict);
            readers.push(Box::new(LogReader {
                topic: self.topic.clone(),
                topic_name: Arc::clone(&topic_name),
                parts,
                end: match &self.mode {
                    Mode::FollowUntil(end) => Some(end.clone()),
                    _ => None,
                },
                cursor: 0,
                decoder,
                dead_letters: self.dead_letters.clone(),
                buf: Vec::new(),
                avg_record_bytes: 128,
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
        let context = format!("log source `{}`", self.topic.name());
        let mut restored = BTreeMap::new();
        for (&p, bytes) in positions {
            if p >= self.partitions() {
                return Err(error::user(format!(
                    "{context}: the checkpoint has a position for partition {p}, the topic has {} partitions",
                    self.partitions()
                )));
            }
            let pos = LogPosition::decode(bytes, &context, p)?;
            if pos.stop.is_some_and(|stop| stop < pos.next) {
                return Err(error::user(format!(
                    "{context}: the checkpoint's position of partition {p} is damaged: next offset {} is past \
                     its end offset {}",
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

impl LogSource {
    /// Partition `p`'s reading state, resumed from the checkpoint's position `pos`.
    fn resume(&self, p: usize, id: PartitionId, pos: LogPosition) -> Result<PartState> {
        let partition = self.topic.partition(id).map_err(|e| error::log("log source", &e))?;
        let (start, end) = (partition.log_start_offset(), partition.end_offset());
        if pos.next < start || pos.next > end {
            return Err(error::user(format!(
                "log source `{}`: cannot resume partition {p} at offset {} from the checkpoint: the \
                 partition holds offsets {start}..{end} (deleted by retention, or the topic was recreated)",
                self.topic.name(),
                pos.next
            )));
        }
        let stop = match self.mode {
            // A checkpoint from a job that followed the tail has no bound: bound it now.
            Mode::Bounded => Some(pos.stop.unwrap_or(end).max(pos.next)),
            // The end was signalled before the checkpoint: keep the ends captured then.
            Mode::FollowUntil(_) => pos.stop,
            Mode::Follow => None,
        };
        Ok(PartState { index: p, id, next: pos.next, stop, ended: false })
    }
}

/// Where one partition's reading stands.
struct PartState {
    /// Source partition index (= the log partition's number).
    index: usize,
    id: PartitionId,
    /// Next offset to read.
    next: Offset,
    /// Where to end, once known.
    stop: Option<Offset>,
    /// `PartitionEnd` was returned.
    ended: bool,
}

struct LogReader {
    topic: Topic,
    topic_name: Arc<str>,
    parts: Vec<PartState>,
    end: Option<EndOfInput>,
    /// Partition to try first on the next poll.
    cursor: usize,
    decoder: JsonDecoder,
    dead_letters: DeadLetters,
    buf: Vec<StoredRecord>,
    /// Running estimate of a record's size, to read about `max_rows` records per read.
    avg_record_bytes: usize,
    /// The batches' schema: decoded columns, then metadata.
    schema: SchemaRef,
    metadata: Vec<(Field, LogMetadata)>,
}

impl LogReader {
    /// Once the end is signalled, each partition without a stop offset stops at its end now.
    fn capture_stops(&mut self) {
        if !self.end.as_ref().is_some_and(EndOfInput::is_signalled) {
            return;
        }
        self.end = None;
        for p in &mut self.parts {
            if p.stop.is_none() {
                let end = self.topic.partition(p.id).map_or(p.next, sluice_log::Partition::end_offset);
                p.stop = Some(end.max(p.next));
            }
        }
    }

    /// One pass over the partitions: the first batch or partition end found.
    fn try_read(&mut self, max_rows: usize) -> Result<Option<Poll>> {
        let n = self.parts.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let Some(p) = self.parts.get_mut(i) else { continue };
            if p.ended {
                continue;
            }
            let want = match p.stop {
                Some(stop) if p.next >= stop => {
                    p.ended = true;
                    self.cursor = i + 1;
                    return Ok(Some(Poll::PartitionEnd(p.index)));
                }
                Some(stop) => usize::try_from(stop - p.next).unwrap_or(usize::MAX).min(max_rows),
                None => max_rows,
            };
            let partition = self.topic.partition(p.id).map_err(|e| error::log("log source", &e))?;
            let fetch = want.saturating_mul(self.avg_record_bytes).clamp(4 << 10, 8 << 20);
            self.buf.clear();
            partition
                .read_into(p.next, fetch, &mut self.buf)
                .map_err(|e| error::log(&format!("reading {}/{}@{}", self.topic_name, p.id, p.next), &e))?;
            self.buf.truncate(want);
            let Some(last) = self.buf.last() else { continue };
            p.next = last.offset + 1;
            let (index, id) = (p.index, p.id);
            self.cursor = i + 1;
            let bytes: usize = self.buf.iter().map(|r| r.record.value.len()).sum();
            self.avg_record_bytes = (self.avg_record_bytes + bytes / self.buf.len()).div_ceil(2).max(16);

            let (decoder, source) = (&mut self.decoder, (&self.topic_name, id));
            let decoded = log_metadata::decode(
                decoder,
                &self.dead_letters,
                source,
                &self.buf,
                &self.schema,
                &self.metadata,
            )?;
            // Every record malformed: progress was made, look again.
            let Some(batch) = decoded else { return Ok(Some(Poll::Idle)) };
            return Ok(Some(Poll::Batch { partition: index, batch }));
        }
        Ok(None)
    }
}

impl SourceReader for LogReader {
    fn partitions(&self) -> Vec<usize> {
        self.parts.iter().map(|p| p.index).collect()
    }

    fn poll(&mut self, max_rows: usize, timeout: Duration) -> Result<Poll> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.parts.iter().all(|p| p.ended) {
                return Ok(Poll::End);
            }
            self.capture_stops();
            if let Some(poll) = self.try_read(max_rows.max(1))? {
                return Ok(poll);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Poll::Idle);
            }
            let waiting: BTreeMap<PartitionId, Offset> =
                self.parts.iter().filter(|p| !p.ended).map(|p| (p.id, p.next)).collect();
            // Returns early when data arrives; no busy loop while the tail is quiet.
            let _ = self.topic.wait_for_any(&waiting, deadline - now);
        }
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        Some(
            self.parts
                .iter()
                .map(|p| (p.index, LogPosition { next: p.next, stop: p.stop }.encode()))
                .collect(),
        )
    }
}
