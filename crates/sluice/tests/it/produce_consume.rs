//! Produce and consume round trips: values, keys and partitions, timestamps, groups, metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use super::Sluice;

#[test]
fn values_round_trip_byte_identical() {
    let s = Sluice::new();
    s.create_topic("raw", 1);
    let input = "{\"a\": 1,   \"b\" : [1.50, 2e3] }\r\n\
                 \n\
                 \"just a string with \\\"escapes\\\" and é ✓\"\n\
                 \x20\x20\t\n\
                 [1,2,3]\n\
                 \x20{\"padded\":true}\x20\n\
                 null\n\
                 {\"no\":\"final newline\"}";
    let path = s.path("input.jsonl");
    std::fs::write(&path, input).unwrap();
    let out = s.ok(&["produce", "raw", "--file", path.to_str().unwrap()]);
    assert_eq!(out, "appended 6 records to raw\n  partition 0: 6 records\n");
    let expected = [
        "{\"a\": 1,   \"b\" : [1.50, 2e3] }",
        "\"just a string with \\\"escapes\\\" and é ✓\"",
        "[1,2,3]",
        " {\"padded\":true} ",
        "null",
        "{\"no\":\"final newline\"}",
    ];
    assert_eq!(s.consume("raw", &[]), expected);
}

#[test]
fn generated_page_views_round_trip() {
    let s = Sluice::new();
    s.create_topic("views", 1);
    let (file, lines) = s.generate("views.jsonl", 20_000, 11);
    let out =
        s.ok(&["produce", "views", "--file", file.to_str().unwrap(), "--key", "url", "--timestamp", "ts"]);
    assert!(out.starts_with("appended 20000 records to views\n"), "{out}");
    let consumed = s.ok(&["consume", "views"]);
    assert_eq!(consumed.as_bytes(), std::fs::read(&file).unwrap(), "consumed bytes differ from the input");
    assert_eq!(consumed.lines().count(), lines.len());
}

#[test]
fn gen_is_deterministic_per_seed() {
    let s = Sluice::new();
    let (_, a) = s.generate("a", 500, 42);
    let (_, b) = s.generate("b", 500, 42);
    let (_, c) = s.generate("c", 500, 43);
    assert_eq!(a, b);
    assert_ne!(a, c);
    for line in &a {
        let v: Value = serde_json::from_str(line).unwrap();
        let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["ts", "user_id", "url", "referrer"]));
    }
}

#[test]
fn same_key_same_partition_as_kafka() {
    let s = Sluice::new();
    s.create_topic("keyed", 4);
    let mut lines = Vec::new();
    for i in 0..200 {
        lines.push(format!(r#"{{"user":"user-{}","i":{i}}}"#, i % 10));
    }
    lines.push(r#"{"user":12,"i":200}"#.to_owned());
    lines.push(r#"{"user":null,"i":201}"#.to_owned());
    lines.push(r#"{"i":202}"#.to_owned());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = s.produce("keyed", &refs, &["--key", "user", "--batch", "7"]);
    assert!(out.starts_with("appended 203 records to keyed\n"), "{out}");

    let mut partitions_of: BTreeMap<Option<String>, BTreeSet<u64>> = BTreeMap::new();
    let mut last_i: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for line in s.consume("keyed", &["--with-metadata"]) {
        let v: Value = serde_json::from_str(&line).unwrap();
        let key = v["key"].as_str().map(str::to_owned);
        let partition = v["partition"].as_u64().unwrap();
        if let Some(k) = &key {
            let expected = sluice_log::partitioner::partition_for_key(k.as_bytes(), 4);
            assert_eq!(u64::from(expected.0), partition, "key {k}");
        }
        partitions_of.entry(key.clone()).or_default().insert(partition);
        // Records of one key keep their order.
        let i = v["value"]["i"].as_i64().unwrap();
        assert!(last_i.insert(key, i).is_none_or(|prev| prev < i));
    }
    for i in 0..10 {
        assert_eq!(partitions_of[&Some(format!("user-{i}"))].len(), 1);
    }
    assert!(partitions_of.contains_key(&Some("12".to_owned())), "numbers key by their JSON text");
    assert_eq!(partitions_of.keys().filter(|k| k.is_none()).count(), 1, "null and missing are keyless");
    assert_eq!(partitions_of.values().map(BTreeSet::len).sum::<usize>() - partitions_of[&None].len(), 11);
}

#[test]
fn forced_partition() {
    let s = Sluice::new();
    s.create_topic("p", 3);
    let out = s.produce(
        "p",
        &[r#"{"k":"a"}"#, r#"{"k":"b"}"#, r#"{"k":"c"}"#],
        &["--key", "k", "--partition", "2"],
    );
    assert_eq!(out, "appended 3 records to p\n  partition 2: 3 records\n");
    assert_eq!(s.consume("p", &["--partition", "2"]).len(), 3);
    assert!(s.consume("p", &["--partition", "0"]).is_empty());
}

#[test]
fn timestamps_from_a_field_and_from_time() {
    let s = Sluice::new();
    s.create_topic("events", 2);
    let lines = [
        r#"{"id":1,"at":1767225600000}"#,
        r#"{"id":2,"at":"2026-01-01T00:00:01Z"}"#,
        r#"{"id":3,"at":"2026-01-01T01:00:02.500+01:00"}"#,
        r#"{"id":4,"at":1767225603000}"#,
    ];
    s.produce("events", &lines, &["--timestamp", "at"]);

    let stamps: BTreeMap<i64, i64> = s
        .consume("events", &["--with-metadata"])
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["value"]["id"].as_i64().unwrap(), v["timestamp"].as_i64().unwrap()))
        .collect();
    let expected = BTreeMap::from([
        (1, 1_767_225_600_000),
        (2, 1_767_225_601_000),
        (3, 1_767_225_602_500),
        (4, 1_767_225_603_000),
    ]);
    assert_eq!(stamps, expected);

    let ids = |from: &str| -> BTreeSet<i64> {
        s.consume("events", &["--from", from])
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("2026-01-01T00:00:01Z"), BTreeSet::from([2, 3, 4]));
    assert_eq!(ids("2026-01-01T00:00:02.001Z"), BTreeSet::from([3, 4]));
    assert_eq!(ids("2026-01-01T01:00:03+01:00"), BTreeSet::from([4]));
    assert!(ids("2027-01-01T00:00:00Z").is_empty());
    assert_eq!(ids("2020-01-01T00:00:00Z").len(), 4);
}

#[test]
fn append_time_without_timestamp_field() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let before = chrono::Utc::now().timestamp_millis();
    s.produce("t", &[r#"{"ts":5}"#], &[]);
    let after = chrono::Utc::now().timestamp_millis();
    let v: Value = serde_json::from_str(&s.consume("t", &["--with-metadata"])[0]).unwrap();
    let ts = v["timestamp"].as_i64().unwrap();
    assert!((before..=after).contains(&ts), "{before} <= {ts} <= {after}");
}

#[test]
fn group_commits_and_resumes() {
    let s = Sluice::new();
    s.create_topic("g", 2);
    let lines: Vec<String> = (0..5).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    s.produce("g", &refs, &["--key", "i"]);

    let first = s.consume("g", &["--group", "report", "--max", "3"]);
    assert_eq!(first.len(), 3);
    let rest = s.consume("g", &["--group", "report"]);
    assert_eq!(rest.len(), 2);
    let mut all: Vec<String> = first.iter().chain(&rest).cloned().collect();
    all.sort();
    assert_eq!(all, lines);
    assert!(s.consume("g", &["--group", "report"]).is_empty());

    s.produce("g", &[r#"{"i":5}"#, r#"{"i":6}"#], &["--key", "i"]);
    let mut new = s.consume("g", &["--group", "report"]);
    new.sort();
    assert_eq!(new, [r#"{"i":5}"#, r#"{"i":6}"#]);

    // Another group, and explicit positions, are independent of "report".
    assert_eq!(s.consume("g", &["--group", "other"]).len(), 7);
    assert_eq!(s.consume("g", &["--group", "report", "--from", "earliest"]).len(), 7);
    assert!(s.consume("g", &["--group", "report", "--from", "latest"]).is_empty());
}

#[test]
fn max_and_latest() {
    let s = Sluice::new();
    s.create_topic("m", 1);
    s.produce("m", &["1", "2", "3", "4"], &[]);
    assert_eq!(s.consume("m", &["--max", "2"]), ["1", "2"]);
    assert!(s.consume("m", &["--max", "0"]).is_empty());
    assert_eq!(s.consume("m", &["--max", "10"]).len(), 4);
    assert!(s.consume("m", &["--from", "latest"]).is_empty());
    assert_eq!(s.consume("m", &["--from", "earliest", "--max", "1"]), ["1"]);
}

#[test]
fn with_metadata_shape() {
    let s = Sluice::new();
    s.create_topic("meta", 1);
    s.produce(
        "meta",
        &[r#"{"url":"/cart","ts":1767225600000,"x":[1, 2]}"#, r#"{"ts":1767225600001}"#],
        &["--key", "url", "--timestamp", "ts"],
    );
    let lines = s.consume("meta", &["--with-metadata"]);
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    let keys: BTreeSet<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["topic", "partition", "offset", "timestamp", "key", "value"]));
    assert!(lines[0].starts_with(
        r#"{"topic":"meta","partition":0,"offset":0,"timestamp":1767225600000,"key":"/cart","value":"#
    ));
    assert_eq!(first["topic"], "meta");
    assert_eq!(first["partition"], 0);
    assert_eq!(first["offset"], 0);
    assert_eq!(first["timestamp"], 1_767_225_600_000_i64);
    assert_eq!(first["key"], "/cart");
    assert_eq!(first["value"], serde_json::json!({"url": "/cart", "ts": 1_767_225_600_000_i64, "x": [1, 2]}));
    // The value is embedded as produced, not re-serialised.
    assert!(lines[0].contains(r#""value":{"url":"/cart","ts":1767225600000,"x":[1, 2]}"#), "{}", lines[0]);
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["offset"], 1);
    assert_eq!(second["key"], Value::Null);
}

#[test]
fn closed_stdout_ends_quietly() {
    let s = Sluice::new();
    s.create_topic("big", 1);
    let (file, lines) = s.generate("views.jsonl", 50_000, 5);
    s.ok(&["produce", "big", "--file", file.to_str().unwrap()]);
    let mut child =
        s.command(&["consume", "big"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), lines[0]);
    drop(stdout); // like `| head -n 1`
    let status = super::wait_timeout(&mut child, std::time::Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
