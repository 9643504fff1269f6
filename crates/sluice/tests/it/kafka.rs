//! `sluice run` on a job between two Kafka topics (the binary's default `kafka` feature),
//! against the tansu test broker, with the README's Python client (`scripts/kafka-client.py`)
//! creating the topics, producing the input and reading the output `read_committed`.
//! `scripts/test.sh` sets `SLUICE_KAFKA_BOOTSTRAP` and `SLUICE_KAFKA_PYTHONPATH`; without them
//! the test prints a notice and does nothing.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Sluice;

/// Runs `scripts/kafka-client.py ARGS` with `stdin`; its output lines.
pub(super) fn client(pythonpath: &str, args: &[&str], stdin: &str) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write to the client");
    let out = child.wait_with_output().expect("client output");
    assert!(out.status.success(), "kafka-client.py {args:?} failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn run_counts_page_views_from_a_kafka_topic_into_another_exactly_once() {
    let (Ok(bootstrap), Ok(pythonpath)) =
        (std::env::var("SLUICE_KAFKA_BOOTSTRAP"), std::env::var("SLUICE_KAFKA_PYTHONPATH"))
    else {
        eprintln!("SKIPPED: SLUICE_KAFKA_BOOTSTRAP / SLUICE_KAFKA_PYTHONPATH are not set (scripts/test.sh)");
        return;
    };
    let tag = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let (views, counts) = (format!("cli-views-{tag}"), format!("cli-counts-{tag}"));
    client(&pythonpath, &[&bootstrap, "create", &views, "2"], "");
    client(&pythonpath, &[&bootstrap, "create", &counts, "1"], "");
    // 600 views a second apart over 3 URLs: 10 one-minute windows of 20 views per URL.
    let input: String =
        (0..600).map(|i| format!("{{\"ts\": {}, \"url\": \"/{}\"}}\n", i * 1000, i % 3)).collect();
    client(&pythonpath, &[&bootstrap, "produce", &views, "2"], &input);

    let s = Sluice::new();
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '200 ms';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('connector' = 'kafka', 'topic' = '{views}', 'properties.bootstrap.servers' = '{bootstrap}',
        'scan.bounded.mode' = 'latest-offset', 'format' = 'json');
CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'kafka', 'topic' = '{counts}', 'properties.bootstrap.servers' = '{bootstrap}',
        'key.fields' = 'url', 'sink.delivery-guarantee' = 'exactly-once');
INSERT INTO counts
SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, url;"
    );
    // The job's name (its file's) makes the default transactional id prefix: unique per run,
    // so that runs sharing a broker do not fence each other.
    let job = s.path(&format!("views-{tag}.sql"));
    std::fs::write(&job, sql).expect("write job");
    let job = job.to_str().expect("utf-8 path");
    let out = s.command(&["run", job]).output().expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("600 rows in, 30 windows out, 0 late"), "{stderr}");

    let mut want: Vec<String> = (0..10)
        .flat_map(|m| {
            (0..3).map(move |u| {
                format!(r#"{{"window_start":"1970-01-01 00:{m:02}:00.000","url":"/{u}","views":20}}"#)
            })
        })
        .collect();
    want.sort();
    let read = || {
        let mut got = client(&pythonpath, &[&bootstrap, "consume", &counts, "30"], "");
        got.sort();
        got
    };
    assert_eq!(read(), want);
    // A second run resumes from the job's last checkpoint, at the end of its bounded input.
    let again = s.command(&["run", job]).output().expect("run sluice");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(read(), want, "the rerun adds nothing");
}
