//! A SQL job with checkpoints on: it takes them into `<data-dir>/checkpoints/<job>/`, and a
//! rerun of a job that ran to its end resumes from its last one and adds nothing.

use std::path::Path;

use sluice_sql::{compile, RunOptions};

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

/// A temp dir with `views.jsonl` holding `events` page views 10 ms apart over 7 URLs, and the
/// options of job `views` run there.
fn setup(events: usize) -> Result<(tempfile::TempDir, RunOptions), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let lines: Vec<String> =
        (0..events).map(|i| format!(r#"{{"ts": {}, "url": "/{}"}}"#, i * 10, i % 7)).collect();
    std::fs::write(dir.path().join("views.jsonl"), lines.join("\n") + "\n")?;
    let options = RunOptions {
        data_dir: Some(dir.path().join("data")),
        base_dir: Some(dir.path().to_path_buf()),
        job_name: Some("views".into()),
        ..RunOptions::default()
    };
    Ok((dir, options))
}

#[test]
fn a_checkpointed_job_resumes_and_adds_nothing_after_its_end() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, options) = setup(1000)?;
    let script = compile(&variant("", "", "COUNT(*)"))?;
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

/// The page-view count from `views.jsonl` to part files in `out/`, checkpointed every 50 ms
/// and paced to 2000 rows/s, with room for changes: `{filter}` after `FROM`, `{columns}` in
/// the output, `{aggregate}` instead of `COUNT(*)`.
fn variant(filter: &str, columns: &str, aggregate: &str) -> String {
    format!(
        "
SET 'execution.checkpointing.interval' = '50 ms';
SET 'sluice.source.rows-per-second' = '2000';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE counts (window_start TIMESTAMP(3), {columns} url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/', 'format' = 'json');
INSERT INTO counts
SELECT window_start, {columns} url, {aggregate}
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '1' SECOND)) {filter}
GROUP BY window_start, window_end, url;
"
    )
}

/// A savepoint restores into the job with an added filter and a new output column; a job
/// whose aggregate changed is refused, naming the operator whose state does not fit.
#[test]
fn a_savepoint_restores_into_compatible_changes_only() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, options) = setup(3000)?;
    let running = compile(&variant("", "", "COUNT(*)"))?.spawn(&options)?;
    std::thread::sleep(std::time::Duration::from_millis(400));
    let saved = running.control().savepoint("v1", true, std::time::Duration::from_secs(20))?;
    running.join()?;
    let savepoint = dir.path().join("data/checkpoints/views/savepoints/v1");
    assert!(saved.iter().any(|p| Path::new(p) == savepoint), "{saved:?}");
    let from = RunOptions { from_savepoint: Some(savepoint), ..options.clone() };

    let changed = variant("WHERE url <> '/3'", "window_end TIMESTAMP(3),", "COUNT(*)").replacen(
        "SELECT window_start, window_end TIMESTAMP(3),",
        "SELECT window_start, window_end,",
        1,
    );
    let report = compile(&changed)?.spawn(&RunOptions { fresh: false, ..from.clone() })?.join()?;
    assert!(report[0].1.restored_from.is_some(), "the compatible job resumed from the savepoint");

    let other = variant("", "", "COUNT(DISTINCT url)");
    let err = match compile(&other)?.spawn(&from) {
        Ok(job) => job.join().err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    }
    .expect("an incompatible job is refused");
    assert!(err.contains("window_aggregate") && err.contains("does not fit"), "{err}");
    Ok(())
}
