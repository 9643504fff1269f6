//! Kafka → Sluice → Kafka: the page-view tumbling count as a SQL job between two topics of a
//! real Kafka-protocol broker (tansu; `scripts/test.sh` starts it and sets
//! `SLUICE_KAFKA_BOOTSTRAP`). Without the variable the tests print a notice and do nothing.
//! The input is produced and the output read once with rdkafka, once with a third-party client,
//! Python's confluent-kafka through `scripts/kafka-client.py` (`scripts/test.sh` installs it and
//! sets `SLUICE_KAFKA_PYTHONPATH`; with the variable set, a failing client fails the test).
//!
//! tansu lets `read_committed` consumers see records of aborted transactions. This job runs
//! without failures, so it aborts nothing; a duplicate or a missing window in the output would
//! be the job's fault either way.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

/// The 3000 page views of the job, 10 ms apart: 30 one-second windows of 7 URLs.
fn views_input() -> Vec<String> {
    (0..3000_i64).map(|i| format!(r#"{{"ts": {}, "url": "/{}"}}"#, i * 10, i % 7)).collect()
}

/// Produces `lines` round-robin over `partitions` partitions with rdkafka.
fn produce(bootstrap: &str, topic: &str, partitions: i32, lines: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for (i, value) in lines.iter().enumerate() {
        let partition = i32::try_from(i).unwrap_or(0) % partitions;
        producer.send(BaseRecord::<(), str>::to(topic).partition(partition).payload(value)).expect("send");
    }
    producer.flush(Duration::from_secs(20)).expect("flush");
}

/// `scripts/kafka-client.py` with confluent-kafka on the path, if the tests have it.
fn python_client() -> Option<(String, PathBuf)> {
    let path = std::env::var("SLUICE_KAFKA_PYTHONPATH").ok().filter(|p| !p.is_empty())?;
    Some((path, PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-client.py")))
}

fn python(client: &(String, PathBuf), args: &[&str], stdin: &[String]) -> Vec<String> {
    let mut child = Command::new("python3")
        .arg(&client.1)
        .args(args)
        .env("PYTHONPATH", &client.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = child.stdin.take().expect("stdin");
    for line in stdin {
        writeln!(input, "{line}").expect("write to the client");
    }
    drop(input);
    let out = child.wait_with_output().expect("client output");
    assert!(out.status.success(), "kafka-client.py {args:?} failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Runs the job from `views` (3 partitions) to `counts` (1 partition), twice, and checks the
/// output after each run with `consume`.
fn page_view_job(bootstrap: &str, views: &str, counts: &str, consume: &dyn Fn(usize) -> Vec<String>) {
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
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RunOptions {
        data_dir: Some(dir.path().join("data")),
        base_dir: Some(dir.path().to_path_buf()),
        job_name: Some("kafka-views".into()),
        ..RunOptions::default()
    };
    let script = compile(&job).expect("compile");
    let first = script.spawn(&options).expect("spawn").join().expect("run");
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
    assert_eq!(parse(&consume(want.len())), want, "every window once, with its exact count");

    // Run again: it resumes from its last checkpoint (at the end of the bounded input) and
    // writes nothing more.
    let again = script.spawn(&options).expect("spawn").join().expect("run");
    assert!(again[0].1.restored_from.is_some(), "the rerun resumes from the last checkpoint");
    assert_eq!(parse(&consume(want.len())), want, "and adds nothing");
}

#[test]
fn page_view_counts_from_kafka_to_kafka_exactly_once() {
    let Ok(bootstrap) = std::env::var("SLUICE_KAFKA_BOOTSTRAP") else {
        eprintln!("SKIPPED: SLUICE_KAFKA_BOOTSTRAP is not set (scripts/kafka-broker.sh start)");
        return;
    };
    let (views, counts) = (unique("views"), unique("counts"));
    create_topic(&bootstrap, &views, 3);
    create_topic(&bootstrap, &counts, 1);
    produce(&bootstrap, &views, 3, &views_input());
    page_view_job(&bootstrap, &views, &counts, &|n| consume(&bootstrap, &counts, n));
}

#[test]
fn page_view_counts_with_a_python_client_on_both_sides() {
    let Ok(bootstrap) = std::env::var("SLUICE_KAFKA_BOOTSTRAP") else {
        eprintln!("SKIPPED: SLUICE_KAFKA_BOOTSTRAP is not set (scripts/kafka-broker.sh start)");
        return;
    };
    let Some(client) = python_client() else {
        eprintln!("SKIPPED: SLUICE_KAFKA_PYTHONPATH is not set (scripts/kafka-broker.sh client)");
        return;
    };
    let (views, counts) = (unique("views"), unique("counts"));
    create_topic(&bootstrap, &views, 3);
    create_topic(&bootstrap, &counts, 1);
    python(&client, &[&bootstrap, "produce", &views, "3"], &views_input());
    page_view_job(&bootstrap, &views, &counts, &|n| {
        python(&client, &[&bootstrap, "consume", &counts, &n.to_string()], &[])
    });
}
