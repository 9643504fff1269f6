//! `sluice topic create | list | describe | delete`.

use super::Sluice;

#[test]
fn create_list_describe_delete() {
    let s = Sluice::new();
    let out = s.ok(&["topic", "create", "page_views", "--partitions", "3", "--retention-ms", "604800000"]);
    assert_eq!(out, "created topic page_views with 3 partitions\n");
    s.ok(&[
        "topic",
        "create",
        "alerts",
        "--partitions",
        "1",
        "--retention-bytes",
        "1000000",
        "--segment-bytes",
        "65536",
    ]);

    let list = s.ok(&["topic", "list"]);
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, [["alerts", "1", "partitions"], ["page_views", "3", "partitions"]]);

    s.produce("page_views", &[r#"{"n":1}"#, r#"{"n":2}"#], &["--partition", "1"]);
    let describe = s.ok(&["topic", "describe", "page_views"]);
    let lines: Vec<&str> = describe.lines().collect();
    assert_eq!(lines.len(), 6, "{describe}");
    assert!(lines[0]
        .starts_with("topic page_views: 3 partitions, retention-ms 604800000, retention-bytes unlimited"));
    assert!(lines[1].split_whitespace().eq([
        "partition",
        "start",
        "end",
        "records",
        "segments",
        "bytes",
        "newest",
        "timestamp"
    ]));
    // partition, start, end, records, segments, bytes, newest timestamp
    let p1: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(p1[..5], ["1", "0", "2", "2", "1"], "{describe}");
    assert!(p1[5].parse::<u64>().unwrap() > 0);
    assert!(p1[6].ends_with('Z'), "{describe}");
    let p0: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(p0[..5], ["0", "0", "0", "0", "1"]);
    assert_eq!(p0[6], "-");
    let total: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(total[..3], ["total", "2", "3"], "{describe}");
    assert_eq!(total[4], p1[6]);

    let alerts = s.ok(&["topic", "describe", "alerts"]);
    assert!(alerts.starts_with("topic alerts: 1 partitions, retention-ms unlimited, retention-bytes 1000000, segment-bytes 65536"), "{alerts}");

    assert_eq!(s.ok(&["topic", "delete", "page_views"]), "deleted topic page_views\n");
    assert_eq!(s.ok(&["topic", "list"]).split_whitespace().next(), Some("alerts"));
    assert_eq!(s.ok(&["topic", "list"]).lines().count(), 1);
    assert!(s.fails(&["topic", "describe", "page_views"]).contains("page_views"));
    assert!(s.fails(&["topic", "delete", "page_views"]).contains("page_views"));
}

#[test]
fn segments_roll_at_segment_bytes() {
    let s = Sluice::new();
    s.ok(&["topic", "create", "small", "--partitions", "1", "--segment-bytes", "4096"]);
    let (file, lines) = s.generate("views.jsonl", 2000, 3);
    s.ok(&["produce", "small", "--file", file.to_str().unwrap(), "--batch", "20"]);
    let describe = s.ok(&["topic", "describe", "small"]);
    let p0: Vec<&str> = describe.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(p0[2], "2000");
    assert!(p0[4].parse::<u64>().unwrap() > 10, "{describe}");
    assert_eq!(s.consume("small", &[]), lines);
}

#[test]
fn data_dir_from_environment() {
    let s = Sluice::new();
    let mut create = super::bare_command(&["topic", "create", "t", "--partitions", "2"]);
    let out = create.env("SLUICE_DATA_DIR", s.data_dir()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(s.data_dir().join("topics/t/topic.json").is_file());
    assert_eq!(s.ok(&["topic", "list"]).split_whitespace().collect::<Vec<_>>(), ["t", "2", "partitions"]);
}

#[test]
fn creating_an_existing_or_invalid_topic_fails() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    assert!(s.fails(&["topic", "create", "t", "--partitions", "1"]).contains("already exists"));
    assert!(s.fails(&["topic", "create", "a/b", "--partitions", "1"]).contains("a/b"));
    assert!(s.fails(&["topic", "create", "z", "--partitions", "0"]).contains("partitions"));
    assert!(s
        .fails(&["topic", "create", "z", "--partitions", "1", "--segment-bytes", "10"])
        .contains("segment_bytes"));
}
