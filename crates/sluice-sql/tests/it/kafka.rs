//! Kafka → Sluice → Kafka: the page-view tumbling count as a SQL job between two topics of a
//! real Kafka-protocol broker (tansu; `scripts/test.sh` starts it and sets
//! `SLUICE_KAFKA_BOOTSTRAP`). Without the variable the test prints a notice and does nothing.
//!
//! tansu lets `read_committed` consumers see records of aborted transactions. This job runs
//! without failures, so it aborts nothing; a duplicate or a missing window in the output would
//! be the job's fault either way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_sql::{compile, RunOptions};

fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{name}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results =
        futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new())).expect("create");
    for r in results {
        r.expect("topic created");
    }
}

/// Every value of `topic`'s one partition, read committed, until `expected` came and 2 s more.
fn consume(bootstrap: &str, topic: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while settle.is_none_or(|s| Instant::now() < s) && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        if out.len() >= expected && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    out
}

#[test]
fn page_view_counts_from_kafka_to_kafka_exactly_once() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(bootstrap) = std::env::var("SLUICE_KAFKA_BOOTSTRAP") else {
        eprintln!("SKIPPED: SLUICE_KAFKA_BOOTSTRAP is not set (scripts/kafka-broker.sh start)");
        return Ok(());
    };
    let (views, counts) = (unique("views"), unique("counts"));
    create_topic(&bootstrap, &views, 3);
    create_topic(&bootstrap, &counts, 1);
    // 3000 views, 10 ms apart: 30 one-second windows of 7 URLs, over 3 partitions.
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "20").create()?;
    for i in 0..3000_i64 {
        let value = format!(r#"{{"ts": {}, "url": "/{}"}}"#, i * 10, i % 7);
        let partition = i32::try_from(i % 3)?;
        producer
            .send(BaseRecord::<(), str>::to(&views).partition(partition).payload(&value))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(20))?;

    let job = format!(
        "
SET 'execution.checkpointing.interval' = '100 ms';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'kafka', 'topic' = '{views}', 'properties.bootstrap.servers' = '{bootstrap}',
        'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'json');
CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'kafka', 'topic' = '{counts}', 'properties.bootstrap.servers' = '{bootstrap}',
        'key.fields' = 'url', 'value.format' = 'json',
        'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = '{counts}');
INSERT INTO counts
SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, url;
"
    );
    let dir = tempfile::tempdir()?;
    let options = RunOptions {
        data_dir: Some(dir.path().join("data")),
        base_dir: Some(dir.path().to_path_buf()),
        job_name: Some("kafka-views".into()),
        ..RunOptions::default()
    };
    let script = compile(&job)?;
    let first = script.spawn(&options)?.join()?;
    assert!(first[0].1.checkpoints > 0, "the job checkpoints");

    let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for i in 0..3000_i64 {
        *expected.entry((i * 10 / 1000, format!("/{}", i % 7))).or_default() += 1;
    }
    let parse = |rows: &[String]| -> Vec<(i64, String, i64)> {
        let mut out: Vec<(i64, String, i64)> = rows
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).expect("JSON row");
                let start = v["window_start"].as_str().expect("window_start").to_string();
                let second: i64 = start[17..19].parse().expect("seconds");
                (second, v["url"].as_str().expect("url").to_string(), v["views"].as_i64().expect("views"))
            })
            .collect();
        out.sort();
        out
    };
    let want: Vec<(i64, String, i64)> = expected.into_iter().map(|((s, u), c)| (s, u, c)).collect();
    let got = parse(&consume(&bootstrap, &counts, want.len()));
    assert_eq!(got, want, "every window once, with its exact count");

    // Run again: it resumes from its last checkpoint (at the end of the bounded input) and
    // writes nothing more.
    let again = script.spawn(&options)?.join()?;
    assert!(again[0].1.restored_from.is_some(), "the rerun resumes from the last checkpoint");
    assert_eq!(parse(&consume(&bootstrap, &counts, want.len())), want, "and adds nothing");
    Ok(())
}
