//! The Kafka source and sink against a real Kafka-protocol broker (tansu, started by
//! `scripts/kafka-broker.sh`; `scripts/test.sh` starts it and sets `SLUICE_KAFKA_BOOTSTRAP`).
//! Without the variable these tests print a notice and pass without running; with it, a broker
//! that cannot be reached fails them.
//!
//! Known tansu limits these tests take into account (see ARCHITECTURE.md, "Running on Kafka"):
//! `ListOffsets(LATEST)` answers short of the end and `ListOffsets(timestamp)` with a batch's
//! base offset (the bounded and startup tests check the source finds the right offsets
//! anyway); a `read_committed` consumer also sees aborted records (so no test here asserts
//! that aborted output is hidden: that would pass or fail by the broker's bug, not ours); a
//! fenced producer's commit times out instead of failing as fenced (the sink test says so).
//!
//! - `source`: bounds, positions and restore, startup modes, metadata, per-partition watermarks.
//! - `sink`: at-least-once and exactly-once delivery, fencing, the commit marker.

mod sink;
mod source;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_connect::{DeliveryGuarantee, KafkaConfig, KafkaSink, KafkaSource, LogMetadata, StartupMode};
use sluice_dataflow::sink::Sink;
use sluice_dataflow::source::{Poll, Source, SourceReader};

use super::{memory, rows, view, views_schema};

/// The broker's address, or `None` (with a notice) when the tests run without one.
pub(crate) fn bootstrap() -> Option<String> {
    match std::env::var("SLUICE_KAFKA_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("SKIPPED: SLUICE_KAFKA_BOOTSTRAP is not set (scripts/kafka-broker.sh start)");
            None
        }
    }
}

/// A topic name no other test (or earlier run on the same broker) uses.
pub(crate) fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{name}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Creates `topic` with `partitions` partitions.
pub(crate) fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results =
        futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new())).expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Produces `(partition, value)` records with a plain client, several records per batch
/// (`linger.ms`), so that the broker stores multi-record batches.
pub(crate) fn produce(bootstrap: &str, topic: &str, records: &[(i32, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "50")
        .create()
        .expect("producer");
    for (p, v) in records {
        producer.send(BaseRecord::<(), str>::to(topic).partition(*p).payload(v)).expect("send");
    }
    producer.flush(Duration::from_secs(20)).expect("flush");
}

/// Every record value of `topic` (`partitions` partitions), read from the beginning with
/// `read_committed` until `expected` have arrived, and for 2 s more (to see duplicates).
pub(crate) fn consume(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    // Anything beyond `expected` (duplicates) shows up within a moment.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// Polls every reader to its end; rows per partition.
pub(crate) fn drain(
    readers: &mut [Box<dyn SourceReader>],
    limit: Option<usize>,
) -> BTreeMap<usize, Vec<RecordBatch>> {
    let mut out: BTreeMap<usize, Vec<RecordBatch>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut taken = 0;
    for r in readers.iter_mut() {
        loop {
            assert!(Instant::now() < deadline, "the source did not end");
            if limit.is_some_and(|l| taken >= l) {
                break;
            }
            match r.poll(7, Duration::from_millis(100)).expect("poll") {
                Poll::Batch { partition, batch } => {
                    taken += batch.num_rows();
                    out.entry(partition).or_default().push(batch);
                }
                Poll::Idle | Poll::PartitionEnd(_) => {}
                Poll::End => break,
            }
        }
    }
    out
}

pub(crate) fn views(partitions: i32, n: i64) -> Vec<(i32, String)> {
    (0..n)
        .map(|i| (i32::try_from(i).unwrap_or(0) % partitions, view(i * 1000, &format!("/p{}", i % 5), i)))
        .collect()
}

/// Produces views `from..to` to partition 0 with record timestamps `(i + 1) * 1000` (a
/// timestamp of 0 would mean "now" to the client).
pub(crate) fn produce_timed(bootstrap: &str, topic: &str, from: i64, to: i64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for i in from..to {
        let v = view(i, "/t", i);
        producer
            .send(BaseRecord::<(), str>::to(topic).partition(0).payload(&v).timestamp((i + 1) * 1000))
            .expect("send");
    }
    producer.flush(Duration::from_secs(20)).expect("flush");
}

/// The `ts` values of `batches`, sorted.
pub(crate) fn ts_values(batches: &BTreeMap<usize, Vec<RecordBatch>>) -> Vec<i64> {
    let all: Vec<RecordBatch> = batches.values().flatten().cloned().collect();
    rows(&all).into_iter().map(|(ts, _)| ts).collect()
}
