//! The golden suite: every directory under `tests/golden/` is one case.
//!
//! A case holds `job.sql`, its input files, and either
//! - `expected/`: for each file there, the job must write a file of the same name (relative to
//!   the case directory) with the same lines, compared sorted (tasks emit in any order); or
//! - a header in `job.sql` naming the expected error:
//!   `-- error: KIND LINE:COL` (KIND as in `ErrorKind::name`), optionally followed by
//!   `-- message: TEXT` and `-- hint: TEXT` lines, each a substring the error must contain.
//!
//! The case runs in a copy of its directory, so relative paths in `WITH` options resolve there.
//!
//! Input for the `sluice` connector: `topics/NAME/N.txt` becomes partition N of topic NAME of
//! the embedded log in `sluice-data/` (as many partitions as files), one record per line written
//! `TIMESTAMP_MS VALUE` (the record's log timestamp, a space, its value).

use std::fs;
use std::path::{Path, PathBuf};

use sluice_sql::{compile, RunOptions, SqlError};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.join("job.sql").is_file())
        .collect();
    cases.sort();
    cases
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for e in fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Header lines `-- key: value`.
fn header(sql: &str, key: &str) -> Option<String> {
    let prefix = format!("-- {key}:");
    sql.lines()
        .take_while(|l| l.starts_with("--"))
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

/// Writes `dir/topics/` into the log in `dir/sluice-data`.
fn load_topics(dir: &Path) {
    let Ok(topics) = fs::read_dir(dir.join("topics")) else { return };
    let log = sluice_log::Log::open(dir.join("sluice-data"), sluice_log::LogOptions::default()).expect("log");
    for topic in topics {
        let topic = topic.expect("entry").path();
        let name = topic.file_name().and_then(|n| n.to_str()).expect("topic name").to_string();
        let files = fs::read_dir(&topic).expect("topic dir").count();
        let n = u32::try_from(files).expect("partitions");
        let t = log.create_topic(&name, sluice_log::TopicConfig::new(n)).expect("create topic");
        for (p, partition) in t.partitions().iter().enumerate() {
            let path = topic.join(format!("{p}.txt"));
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let records: Vec<sluice_types::Record> = text
                .lines()
                .map(|l| {
                    let (ts, value) = l.split_once(' ').expect("`TIMESTAMP_MS VALUE`");
                    sluice_types::Record::new(value.to_string(), ts.parse().expect("timestamp"))
                })
                .collect();
            partition.append(&records).expect("append");
        }
    }
}

fn run(dir: &Path, sql: &str) -> Result<(), SqlError> {
    load_topics(dir);
    let script = compile(sql)?;
    let options = RunOptions {
        data_dir: Some(dir.join("sluice-data")),
        base_dir: Some(dir.to_path_buf()),
        job_name: Some("golden".into()),
        ..RunOptions::default()
    };
    script.spawn(&options)?.join().map(|_| ())
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn check(case: &Path) -> Result<(), String> {
    let name = case.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let sql = fs::read_to_string(case.join("job.sql")).map_err(|e| e.to_string())?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    copy_dir(case, tmp.path());
    let result = run(tmp.path(), &sql);
    if let Some(expected) = header(&sql, "error") {
        let err = match result {
            Ok(()) => return Err(format!("{name}: expected error `{expected}`, the job succeeded")),
            Err(e) => e,
        };
        let got = format!("{} {}:{}", err.kind.name(), err.pos.line, err.pos.column);
        if got != expected {
            return Err(format!(
                "{name}: expected error `{expected}`, got `{got}`: {}",
                err.render("job.sql")
            ));
        }
        for (key, text) in [("message", &err.message), ("hint", &err.hint.clone().unwrap_or_default())] {
            if let Some(want) = header(&sql, key) {
                if !text.contains(&want) {
                    return Err(format!(
                        "{name}: the {key} should contain `{want}`: {}",
                        err.render("job.sql")
                    ));
                }
            }
        }
        return Ok(());
    }
    result.map_err(|e| format!("{name}: {}", e.render("job.sql")))?;
    let expected_dir = case.join("expected");
    let mut files: Vec<PathBuf> = fs::read_dir(&expected_dir)
        .map_err(|e| format!("{name}: no expected/ and no `-- error:` header: {e}"))?
        .map(|e| e.map(|e| e.path()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for want in files {
        let rel = want.strip_prefix(&expected_dir).map_err(|e| e.to_string())?;
        let got = tmp.path().join(rel);
        if !got.exists() {
            return Err(format!("{name}: the job wrote no {}", rel.display()));
        }
        let (w, g) = (sorted_lines(&want), sorted_lines(&got));
        if w != g {
            return Err(format!(
                "{name}: {} differs\n--- expected (sorted)\n{}\n--- got (sorted)\n{}",
                rel.display(),
                w.join("\n"),
                g.join("\n")
            ));
        }
    }
    Ok(())
}

#[test]
fn golden_suite() {
    let cases = cases();
    assert!(!cases.is_empty(), "no golden cases found");
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
