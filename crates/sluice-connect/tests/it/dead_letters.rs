//! Malformed records go to the dead letters with the error and their position, and are
//! counted; the job goes on. In strict mode the first one fails the job, naming its position.

use sluice_connect::{FileFormat, FileSource, LogSource, StdinSource};

use super::*;

fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).expect("a dead letter is JSON")
}

#[test]
fn log_records_are_dead_lettered_with_topic_partition_and_offset() {
    let (_dir, log) = open_log();
    create(&log, "views", 1);
    append(
        &log,
        "views",
        &[
            (0, "k", view(0, "/a", 1)),
            (1, "k", "{not json".to_string()),
            (2, "k", r#"{"url":"/b"}"#.to_string()),
            (3, "k", view(3, "/c", 1)),
        ],
    );
    let dead = memory();
    let source = LogSource::new(&log, "views", views_schema()).expect("source").dead_letters(dead.clone());
    assert_eq!(rows(&collect(source)).len(), 2);
    assert_eq!(dead.count(), 2);
    let lines: Vec<serde_json::Value> = dead.lines().iter().map(|l| parse(l)).collect();
    assert_eq!(lines[0]["position"], "views/0@1");
    assert_eq!(lines[0]["raw"], "{not json");
    assert_eq!(lines[1]["position"], "views/0@2");
    assert_eq!(lines[1]["error"], "required field `ts` is missing or null");
}

#[test]
fn file_lines_are_dead_lettered_with_path_and_line_to_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("views.jsonl");
    let good = view(1, "/a", 1);
    std::fs::write(&path, format!("{good}\n{{\"ts\":\"soon\",\"url\":\"/x\"}}\n{good}\n")).expect("write");
    let dead_path = dir.path().join("dead.jsonl");
    let dead = DeadLetters::file(&dead_path).expect("dead letters");
    let source = FileSource::new(&path, FileFormat::JsonLines, views_schema())
        .expect("source")
        .dead_letters(dead.clone());
    assert_eq!(rows(&collect(source)).len(), 2);
    assert_eq!(dead.count(), 1);
    let written = std::fs::read_to_string(&dead_path).expect("dead-letter file");
    let letter = parse(written.lines().next().expect("one line"));
    assert_eq!(letter["position"], format!("{}:2", path.display()));
    assert!(letter["error"].as_str().is_some_and(|e| e.contains("ts")), "{letter}");
}

#[test]
fn dead_letters_to_a_topic_are_keyed_by_position() {
    let (_dir, log) = open_log();
    create(&log, "dead", 1);
    let dead = DeadLetters::topic(&log, "dead").expect("dead letters");
    let input = std::io::Cursor::new(format!("{}\nnope\n", view(1, "/a", 1)).into_bytes());
    let source = StdinSource::from_reader(views_schema(), input).expect("source").dead_letters(dead.clone());
    assert_eq!(rows(&collect(source)).len(), 1);
    let stored = log.topic("dead").expect("topic").partitions()[0].read(0, 1 << 20).expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].record.key.as_deref(), Some(&b"stdin:2"[..]));
    assert_eq!(parse(std::str::from_utf8(&stored[0].record.value).expect("utf-8"))["raw"], "nope");
    assert_eq!(dead.target(), "topic dead");
}

#[test]
fn strict_mode_fails_the_job_naming_the_position() {
    let (_dir, log) = open_log();
    create(&log, "views", 1);
    append(&log, "views", &[(0, "k", view(0, "/a", 1)), (1, "k", "oops".to_string())]);
    let source = LogSource::new(&log, "views", views_schema()).expect("source").strict(true);
    let err =
        Pipeline::new("strict").source(source).sink(CollectSink::new()).run().expect_err("strict fails");
    let message = err.to_string();
    assert!(message.contains("views/0@1"), "{message}");
    assert!(message.contains("malformed"), "{message}");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v.csv");
    std::fs::write(&path, "ts,url\n1,/a\nx,/b\n").expect("write");
    let format = FileFormat::Csv { header: true, delimiter: b',' };
    let source = FileSource::new(&path, format, views_schema()).expect("source").strict(true);
    let err =
        Pipeline::new("strict").source(source).sink(CollectSink::new()).run().expect_err("strict fails");
    assert!(err.to_string().contains("v.csv:3"), "{err}");
}
