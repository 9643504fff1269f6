//! Asking the brokers where partitions begin and end, and where a group stands.
//!
//! # The end of a partition
//! The end offset (the "high watermark", one past the last record) comes from `ListOffsets`
//! (librdkafka's `query_watermark_offsets`). Some Kafka-protocol brokers answer it wrongly: the
//! tansu broker used by the tests returns the base offset of the last record batch + 1, short
//! of the end when that batch holds more than one record. So [`ends`] does not trust the
//! answer alone: it reads each non-empty partition from the answer - 1 until the client reports
//! the partition's end (`enable.partition.eof`, which librdkafka raises when the fetch
//! position reaches the high watermark of a *Fetch* response), and takes one past the last
//! offset seen if that is further. On a correct broker this reads one record per partition.
//! A record appended meanwhile may be included: the bound is "the end at about the start".
//!
//! # The offset for a timestamp
//! Likewise, `ListOffsets` by timestamp may answer with the base offset of the batch holding
//! the first record at or after the timestamp (tansu again). [`for_timestamp`] reads from the
//! answer and takes the first record whose timestamp is at or after the one asked for.

use std::collections::BTreeMap;
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_dataflow::Result;

use super::{error, KafkaConfig};
use crate::error as errors;

/// A consumer that never commits, used for metadata and offset queries.
pub(crate) fn consumer(config: &KafkaConfig, context: &str, eof: bool) -> Result<BaseConsumer> {
    let eof = if eof { "true" } else { "false" };
    let mut overrides = vec![("enable.auto.commit", "false"), ("enable.partition.eof", eof)];
    // librdkafka refuses to assign partitions without a group id, even though an assigning
    // consumer never joins the group; the name is only seen by the broker if it commits.
    if config.get("group.id").is_none() {
        overrides.push(("group.id", "sluice-assign"));
    }
    // librdkafka's default (1 s) stops fetching a partition for a whole second whenever its
    // queue holds `queued.min.messages`: a job reading faster than one fetch stalls every
    // ~170,000 records (measured by the kafka_throughput bench).
    if config.get("fetch.queue.backoff.ms").is_none() {
        overrides.push(("fetch.queue.backoff.ms", "10"));
    }
    config.client(&overrides).create::<BaseConsumer>().map_err(|e| error(context, &e))
}

/// The number of partitions of `topic`; an error if it does not exist.
pub(crate) fn partition_count(config: &KafkaConfig, topic: &str, context: &str) -> Result<usize> {
    let consumer = consumer(config, context, false)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), config.request_timeout())
        .map_err(|e| error(&format!("{context}: fetching metadata"), &e))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(errors::user(format!("{context}: topic `{topic}` does not exist")));
    };
    if let Some(e) = t.error() {
        return Err(error(&format!("{context}: topic `{topic}`"), &KafkaError::MetadataFetch(e.into())));
    }
    if t.partitions().is_empty() {
        return Err(errors::user(format!("{context}: topic `{topic}` does not exist (no partitions)")));
    }
    Ok(t.partitions().len())
}

/// The first retained offset of each of `partitions`.
pub(crate) fn starts(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[usize],
    context: &str,
) -> Result<BTreeMap<usize, u64>> {
    let consumer = consumer(config, context, false)?;
    let mut out = BTreeMap::new();
    for &p in partitions {
        let (low, _) = consumer
            .fetch_watermarks(topic, kafka_partition(p)?, config.request_timeout())
            .map_err(|e| error(&format!("{context}: offsets of {topic}/{p}"), &e))?;
        out.insert(p, to_offset(low));
    }
    Ok(out)
}

/// One past the last record of each of `partitions`; see the [module docs](self).
pub(crate) fn ends(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[usize],
    context: &str,
) -> Result<BTreeMap<usize, u64>> {
    let consumer = consumer(config, context, true)?;
    let mut ends = BTreeMap::new();
    let mut scan = TopicPartitionList::new();
    for &p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, kafka_partition(p)?, config.request_timeout())
            .map_err(|e| error(&format!("{context}: offsets of {topic}/{p}"), &e))?;
        ends.insert(p, to_offset(high));
        if high > low {
            scan.add_partition_offset(topic, kafka_partition(p)?, Offset::Offset(high - 1))
                .map_err(|e| error(context, &e))?;
        }
    }
    if scan.count() == 0 {
        return Ok(ends);
    }
    let what = format!("finding the end offsets of topic `{topic}`");
    scan_until(&consumer, &scan, config, context, &what, |event| match event {
        Event::Record(m) => {
            let p = usize::try_from(m.partition()).unwrap_or(usize::MAX);
            if let Some(end) = ends.get_mut(&p) {
                *end = (*end).max(to_offset(m.offset()) + 1);
            }
            false
        }
        Event::End(_) => true,
    })?;
    Ok(ends)
}

/// The committed offsets of the consumer group `group.id` for `partitions` (`None` where the
/// group has none).
pub(crate) fn committed(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[usize],
    context: &str,
) -> Result<BTreeMap<usize, Option<u64>>> {
    if config.get("group.id").is_none() {
        return Err(errors::user(format!(
            "{context}: startup mode group-offsets needs a consumer group ('properties.group.id')"
        )));
    }
    let consumer = consumer(config, context, false)?;
    let numbers = partitions.iter().map(|&p| kafka_partition(p)).collect::<Result<Vec<_>>>()?;
    let found = committed_by(&consumer, topic, numbers, config.request_timeout(), context)?;
    Ok(partitions.iter().map(|&p| (p, i32::try_from(p).ok().and_then(|k| found.get(&k).copied()))).collect())
}

/// The committed offsets of `consumer`'s group on `topic`'s `partitions` that have one.
pub(crate) fn committed_by<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
    timeout: std::time::Duration,
    context: &str,
) -> Result<BTreeMap<i32, u64>> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| error(&format!("{context}: committed offsets of the group"), &e))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) if o >= 0 => Some((e.partition(), to_offset(o))),
            _ => None,
        })
        .collect())
}

/// For each of `partitions`, the first offset whose timestamp is at or after `timestamp_ms`,
/// or `None` if there is none (start at the end).
pub(crate) fn for_timestamp(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[usize],
    timestamp_ms: i64,
    context: &str,
) -> Result<BTreeMap<usize, Option<u64>>> {
    let consumer = consumer(config, context, false)?;
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(topic, kafka_partition(p)?, Offset::Offset(timestamp_ms))
            .map_err(|e| error(context, &e))?;
    }
    let found = consumer
        .offsets_for_times(tpl, config.request_timeout())
        .map_err(|e| error(&format!("{context}: offsets for timestamp {timestamp_ms}"), &e))?;
    // The answer may be the base offset of the batch holding the record (tansu): skip the
    // records before it that are older than the timestamp. On Kafka this reads one record.
    let mut scan = TopicPartitionList::new();
    let mut out = BTreeMap::new();
    for e in found.elements() {
        let p = usize::try_from(e.partition()).unwrap_or(usize::MAX);
        match e.offset() {
            Offset::Offset(o) if o >= 0 => {
                scan.add_partition_offset(topic, e.partition(), Offset::Offset(o))
                    .map_err(|e| error(context, &e))?;
            }
            _ => {
                out.insert(p, None);
            }
        }
    }
    if scan.count() == 0 {
        return Ok(out);
    }
    let reader = self::consumer(config, context, true)?;
    let what = format!("finding the offsets for timestamp {timestamp_ms}");
    scan_until(&reader, &scan, config, context, &what, |event| match event {
        Event::Record(m) => {
            let p = usize::try_from(m.partition()).unwrap_or(usize::MAX);
            let at_or_after = m.timestamp().to_millis().is_some_and(|t| t >= timestamp_ms);
            if !at_or_after || out.contains_key(&p) {
                return false;
            }
            out.insert(p, Some(to_offset(m.offset())));
            let mut done = TopicPartitionList::new();
            done.add_partition(topic, m.partition());
            let _ = reader.pause(&done);
            true
        }
        // Only older records: start at the end.
        Event::End(p) => out.insert(usize::try_from(p).unwrap_or(usize::MAX), None).is_none(),
    })?;
    Ok(out)
}

/// What a partition scan sees.
enum Event<'a> {
    /// A record.
    Record(rdkafka::message::BorrowedMessage<'a>),
    /// The end of a partition (`enable.partition.eof`).
    End(i32),
}

/// Assigns `consumer` to `scan` and polls it until `on_event` has said "this partition is
/// done" (returned true) once per partition, or the request timeout passes (an error saying
/// `what` took too long).
fn scan_until(
    consumer: &BaseConsumer,
    scan: &TopicPartitionList,
    config: &KafkaConfig,
    context: &str,
    what: &str,
    mut on_event: impl FnMut(Event<'_>) -> bool,
) -> Result<()> {
    consumer.assign(scan).map_err(|e| error(&format!("{context}: assigning partitions"), &e))?;
    let mut open = scan.count();
    let deadline = Instant::now() + config.request_timeout();
    while open > 0 {
        let now = Instant::now();
        if now >= deadline {
            return Err(errors::user(format!(
                "{context}: {what} took longer than {:?}",
                config.request_timeout()
            )));
        }
        let event = match consumer.poll(deadline - now) {
            None => continue,
            Some(Ok(m)) => Event::Record(m),
            Some(Err(KafkaError::PartitionEOF(p))) => Event::End(p),
            Some(Err(e)) => return Err(error(&format!("{context}: {what}"), &e)),
        };
        if on_event(event) {
            open -= 1;
        }
    }
    Ok(())
}

/// A source partition index as a Kafka partition number.
pub(crate) fn kafka_partition(p: usize) -> Result<i32> {
    i32::try_from(p).map_err(|_| errors::user(format!("partition {p} is out of Kafka's range")))
}

/// A Kafka offset (never negative for a record) as a `u64`.
pub(crate) fn to_offset(o: i64) -> u64 {
    u64::try_from(o).unwrap_or(0)
}
