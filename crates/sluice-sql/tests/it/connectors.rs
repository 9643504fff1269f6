//! The `sluice` connector (a topic of the embedded log) as source and sink, and `explain`.

use sluice_log::{Log, LogOptions, TopicConfig};
use sluice_sql::{compile, RunOptions};
use sluice_types::Record;

const JOB: &str = "
CREATE TABLE views (
  ts BIGINT, url STRING,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
) WITH ('connector' = 'sluice', 'topic' = 'views', 'format' = 'json',
        'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');

CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'sluice', 'topic' = 'counts', 'format' = 'json', 'key.fields' = 'url');

INSERT INTO counts
SELECT window_start, url, COUNT(*)
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(rt), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, url;
";

#[test]
fn log_topic_to_log_topic() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let log = Log::open(dir.path(), LogOptions::default())?;
        let views = log.create_topic("views", TopicConfig::new(2))?;
        log.create_topic("counts", TopicConfig::new(1))?;
        let rows = [(1_000, "/a"), (2_000, "/b"), (30_000, "/a"), (61_000, "/a"), (125_000, "/b")];
        let records = rows
            .iter()
            .map(|(ts, url)| Record::new(format!(r#"{{"ts":{ts},"url":"{url}"}}"#), *ts).with_key(*url));
        views.append(records.collect())?;
    }
    let script = compile(JOB)?;
    let options = RunOptions { data_dir: Some(dir.path().to_path_buf()), ..RunOptions::default() };
    let reports = script.spawn(&options)?.join()?;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].1.records_in, 5);

    let log = Log::open(dir.path(), LogOptions::default())?;
    let out = log.topic("counts")?.partitions()[0].read(0, 1 << 20)?;
    let mut lines: Vec<(String, String)> = out
        .iter()
        .map(|r| {
            let key =
                r.record.key.as_ref().map(|k| String::from_utf8_lossy(k).to_string()).unwrap_or_default();
            (key, String::from_utf8_lossy(&r.record.value).to_string())
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            ("/a".into(), r#"{"window_start":"1970-01-01 00:00:00.000","url":"/a","views":2}"#.into()),
            ("/a".into(), r#"{"window_start":"1970-01-01 00:01:00.000","url":"/a","views":1}"#.into()),
            ("/b".into(), r#"{"window_start":"1970-01-01 00:00:00.000","url":"/b","views":1}"#.into()),
            ("/b".into(), r#"{"window_start":"1970-01-01 00:02:00.000","url":"/b","views":1}"#.into()),
        ]
    );
    Ok(())
}

#[test]
fn a_missing_topic_fails_before_anything_runs() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    Log::open(dir.path(), LogOptions::default())?.create_topic("views", TopicConfig::new(1))?;
    let script = compile(JOB)?;
    let options = RunOptions { data_dir: Some(dir.path().to_path_buf()), ..RunOptions::default() };
    let Err(e) = script.spawn(&options) else {
        panic!("the counts topic does not exist: spawn must fail");
    };
    assert_eq!((e.pos.line, e.pos.column), (10, 33), "points at the topic option: {e}");
    assert!(e.message.contains("counts"), "{e}");
    Ok(())
}

#[test]
fn explain_shows_each_stage() -> Result<(), Box<dyn std::error::Error>> {
    let text = compile(JOB)?.explain();
    for part in [
        "INSERT 1 (line 12): counts <- views",
        "event time: rt (watermark: max - 1000 ms)",
        "key by: url",
        "window: TUMBLE(INTERVAL 60000 ms)",
        "sink: counts",
    ] {
        assert!(text.contains(part), "`{part}` missing from:\n{text}");
    }
    Ok(())
}

#[test]
fn explain_in_the_file_marks_the_script() -> Result<(), Box<dyn std::error::Error>> {
    let text = JOB.replace("INSERT INTO counts", "EXPLAIN INSERT INTO counts");
    let script = compile(&text)?;
    assert!(script.explain_only);
    assert!(script.explain().contains("INSERT 1"));
    assert!(!compile(JOB)?.explain_only);
    Ok(())
}
