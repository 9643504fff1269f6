//! A SQL job with checkpoints on: it takes them into `<data-dir>/checkpoints/<job>/`, and a
//! rerun of a job that ran to its end resumes from its last one and adds nothing.

use std::path::Path;

use sluice_sql::{compile, RunOptions};

const JOB: &str = "
SET 'execution.checkpointing.interval' = '50 ms';
SET 'sluice.source.rows-per-second' = '2000';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/', 'format' = 'json');
INSERT INTO counts
SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, url;
";

/// The rows in the visible files of `dir`, sorted.
fn visible_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).expect("output directory") {
        let path = entry.expect("entry").path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
        if !hidden {
            let text = std::fs::read_to_string(&path).expect("part file");
            rows.extend(text.lines().map(str::to_string));
        }
    }
    rows.sort();
    rows
}

#[test]
fn a_checkpointed_job_resumes_and_adds_nothing_after_its_end() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let lines: Vec<String> =
        (0..1000).map(|i| format!(r#"{{"ts": {}, "url": "/{}"}}"#, i * 10, i % 7)).collect();
    std::fs::write(dir.path().join("views.jsonl"), lines.join("\n") + "\n")?;
    let options = RunOptions {
        data_dir: Some(dir.path().join("data")),
        base_dir: Some(dir.path().to_path_buf()),
        job_name: Some("views".into()),
        ..RunOptions::default()
    };
    let script = compile(JOB)?;
    let first = script.spawn(&options)?.join()?;
    assert!(first[0].1.checkpoints > 0, "a 0.5 s job with a 50 ms interval checkpoints");
    assert!(dir.path().join("data/checkpoints/views").is_dir());
    let rows = visible_rows(&dir.path().join("out"));
    assert_eq!(rows.len(), 7 * 10, "10 one-second windows of 7 URLs");

    let again = script.spawn(&options)?.join()?;
    assert!(again[0].1.restored_from.is_some(), "the rerun resumes from the last checkpoint");
    assert_eq!(visible_rows(&dir.path().join("out")), rows, "and writes nothing more");
    Ok(())
}
