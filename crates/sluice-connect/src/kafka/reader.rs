//! The reader of a [`KafkaSource`](super::KafkaSource): one client assigned some partitions,
//! records buffered per partition, batches of one partition at a time (see the source's docs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::{Field, SchemaRef};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_dataflow::source::{Poll, SourceReader};
use sluice_dataflow::Result;
use sluice_format::JsonDecoder;
use sluice_types::{PartitionId, Record, StoredRecord};

use super::{error, offsets};
use crate::dead_letter::DeadLetters;
use crate::source::log_metadata::{self, LogMetadata};
use crate::source::position::LogPosition;

/// Where one partition's reading stands.
pub(crate) struct PartState {
    pub(crate) index: usize,
    /// The offset after the last record returned by `poll`.
    pub(crate) next: u64,
    /// Where a bounded read ends.
    pub(crate) stop: Option<u64>,
    /// The client's position reached `stop` (records past it are dropped, the partition paused).
    pub(crate) at_stop: bool,
    /// `PartitionEnd` was returned.
    pub(crate) ended: bool,
    /// Records fetched, not returned yet.
    pub(crate) buffer: VecDeque<StoredRecord>,
}

pub(crate) struct KafkaReader {
    pub(crate) consumer: BaseConsumer,
    pub(crate) topic: Arc<str>,
    pub(crate) context: String,
    pub(crate) parts: Vec<PartState>,
    /// Partition to try first on the next poll.
    pub(crate) cursor: usize,
    pub(crate) decoder: JsonDecoder,
    pub(crate) dead_letters: DeadLetters,
    /// The records of the batch being returned (reused).
    pub(crate) batch: Vec<StoredRecord>,
    pub(crate) schema: SchemaRef,
    pub(crate) metadata: Vec<(Field, LogMetadata)>,
}

impl KafkaReader {
    fn part(&mut self, kafka_partition: i32) -> Option<&mut PartState> {
        let p = usize::try_from(kafka_partition).ok()?;
        self.parts.iter_mut().find(|s| s.index == p)
    }

    /// Takes one message or event from the client, waiting at most `timeout`. Whether one came.
    fn fetch(&mut self, timeout: Duration) -> Result<bool> {
        let (partition, record) = match self.consumer.poll(timeout) {
            None => return Ok(false),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                self.reached_end(p);
                return Ok(true);
            }
            Some(Err(e)) => return Err(error(&format!("{}: reading", self.context), &e)),
            Some(Ok(m)) => {
                let mut record =
                    Record::new(m.payload().map(bytes::Bytes::copy_from_slice).unwrap_or_default(), 0);
                record.timestamp = m.timestamp().to_millis().unwrap_or(0);
                record.key = m.key().map(bytes::Bytes::copy_from_slice);
                (m.partition(), StoredRecord { offset: offsets::to_offset(m.offset()), record })
            }
        };
        let Some(part) = self.part(partition) else { return Ok(true) };
        match part.stop {
            Some(stop) if record.offset >= stop => part.at_stop = true,
            _ if record.offset < record_next(part) => {} // already buffered or returned
            _ => part.buffer.push_back(record),
        }
        if part.at_stop || part.stop.is_some_and(|stop| record_next(part) >= stop) {
            self.pause(partition);
        }
        Ok(true)
    }

    /// The client's fetch position reached the partition's high watermark.
    fn reached_end(&mut self, partition: i32) {
        let position = self.consumer.position().ok().and_then(|tpl| {
            tpl.elements().iter().find(|e| e.partition() == partition).and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(offsets::to_offset(o)),
                _ => None,
            })
        });
        if let Some(part) = self.part(partition) {
            // Control records of transactions take offsets no message carries: the position,
            // not the last message, says whether the bound is reached.
            if part.stop.is_some_and(|stop| position.is_some_and(|pos| pos >= stop)) {
                part.at_stop = true;
            }
        }
    }

    fn pause(&self, partition: i32) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        // Pausing only saves fetching records past the bound, which are dropped anyway.
        let _ = self.consumer.pause(&tpl);
    }

    /// The next batch or partition end from what is buffered, taking partitions in turns.
    fn take(&mut self, max_rows: usize) -> Result<Option<Poll>> {
        let n = self.parts.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let Some(p) = self.parts.get_mut(i) else { continue };
            if p.ended {
                continue;
            }
            if p.buffer.is_empty() {
                if p.stop.is_some_and(|stop| p.next >= stop) || p.at_stop {
                    p.ended = true;
                    self.cursor = i + 1;
                    return Ok(Some(Poll::PartitionEnd(p.index)));
                }
                continue;
            }
            self.batch.clear();
            let take = p.buffer.len().min(max_rows);
            self.batch.extend(p.buffer.drain(..take));
            p.next = self.batch.last().map_or(p.next, |r| r.offset + 1);
            let index = p.index;
            self.cursor = i + 1;
            let id = PartitionId(u32::try_from(index).unwrap_or(u32::MAX));
            let (decoder, source) = (&mut self.decoder, (&self.topic, id));
            let decoded = log_metadata::decode(
                decoder,
                &self.dead_letters,
                source,
                &self.batch,
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

/// The offset after the last record buffered or returned.
fn record_next(part: &PartState) -> u64 {
    part.buffer.back().map_or(part.next, |r| r.offset + 1)
}

impl SourceReader for KafkaReader {
    fn partitions(&self) -> Vec<usize> {
        self.parts.iter().map(|p| p.index).collect()
    }

    fn poll(&mut self, max_rows: usize, timeout: Duration) -> Result<Poll> {
        let max_rows = max_rows.max(1);
        let deadline = Instant::now() + timeout;
        loop {
            if self.parts.iter().all(|p| p.ended) {
                return Ok(Poll::End);
            }
            // PERF: drain what the client has prefetched before building a batch.
            let mut drained = 0;
            while drained < max_rows && self.fetch(Duration::ZERO)? {
                drained += 1;
            }
            if let Some(poll) = self.take(max_rows)? {
                return Ok(poll);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Poll::Idle);
            }
            // In whole milliseconds, rounded up: the client turns a wait under 1 ms into a busy
            // loop (it polls librdkafka with the remaining whole milliseconds until the time is up).
            let micros = u64::try_from((deadline - now).as_micros()).unwrap_or(u64::MAX);
            self.fetch(Duration::from_millis(micros.div_ceil(1000)))?;
        }
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        Some(
            self.parts
                .iter()
                .map(|p| (p.index, LogPosition { next: p.next, stop: p.stop }.encode_kafka()))
                .collect(),
        )
    }
}
