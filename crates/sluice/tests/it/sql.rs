//! `sluice run FILE.sql` and `sluice explain FILE.sql` through the real binary.

use super::Sluice;

const TABLE: &str = "
CREATE TABLE page_views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');
";

const VIEWS: &str = r#"{"ts": "2026-01-01 10:00:01", "user_id": 1, "url": "/", "referrer": null}
{"ts": "2026-01-01 10:00:03.500", "user_id": 2, "url": "/docs", "referrer": "/"}
{"ts": 1767261899999, "user_id": 1, "url": "/", "referrer": null}
{"ts": "2026-01-01T10:07:30Z", "user_id": 6, "url": "/", "referrer": null}
"#;

/// Writes `job.sql` and the input into the temp dir; returns the job's path.
fn job(s: &Sluice, sql: &str) -> String {
    std::fs::write(s.path("page_views.jsonl"), VIEWS).expect("write input");
    let path = s.path("job.sql");
    std::fs::write(&path, sql).expect("write job");
    path.to_str().expect("utf-8 path").to_string()
}

fn run_in_dir(s: &Sluice, args: &[&str]) -> std::process::Output {
    s.command(args).current_dir(s.path("")).output().expect("run sluice")
}

#[test]
fn run_prints_window_counts_to_a_print_table() {
    let s = Sluice::new();
    let sql = format!(
        "{TABLE}
CREATE TABLE counts (window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'print');
INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;"
    );
    let path = job(&s, &sql);
    let out = run_in_dir(&s, &["run", &path, "--parallelism", "2"]);
    assert!(out.status.success(), "{out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            r#"{"window_start":"2026-01-01 10:00:00.000","window_end":"2026-01-01 10:05:00.000","url":"/","views":2}"#,
            r#"{"window_start":"2026-01-01 10:00:00.000","window_end":"2026-01-01 10:05:00.000","url":"/docs","views":1}"#,
            r#"{"window_start":"2026-01-01 10:05:00.000","window_end":"2026-01-01 10:10:00.000","url":"/","views":1}"#,
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 rows in, 3 windows out, 0 late"), "{stderr}");
}

#[test]
fn errors_name_file_line_column_and_hint() {
    let s = Sluice::new();
    let sql = format!(
        "{TABLE}
CREATE TABLE counts (url STRING, views BIGINT) WITH ('connector' = 'print');
INSERT INTO counts SELECT url, COUNT(*) FROM page_views GROUP BY url;"
    );
    let path = job(&s, &sql);
    let out = run_in_dir(&s, &["run", &path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(&format!("error: {path}:8:1: a non-windowed aggregation")), "{stderr}");
    assert!(stderr.contains("\n  hint: aggregate over a window TVF"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran: {out:?}");
}

#[test]
fn explain_prints_the_plan_without_running() {
    let s = Sluice::new();
    let sql = format!(
        "{TABLE}
CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');
INSERT INTO counts
SELECT window_start, url, COUNT(*) FROM TABLE(HOP(TABLE page_views, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE))
WHERE url <> '/health'
GROUP BY window_start, window_end, url;"
    );
    let path = job(&s, &sql);
    let out = run_in_dir(&s, &["explain", &path]);
    assert!(out.status.success(), "{out:?}");
    let plan = String::from_utf8_lossy(&out.stdout);
    for part in ["WHERE url != /health", "key by: url", "HOP(slide 60000 ms, size 300000 ms)", "sink: counts"]
    {
        assert!(plan.contains(part), "`{part}` missing:\n{plan}");
    }
    assert!(!s.path("out.json").exists(), "explain must not run the job");
}
