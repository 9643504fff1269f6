//! What the user sees when something is wrong: a clear `error: ` line and a non-zero status,
//! never a panic.

use std::io::{Read, Seek, SeekFrom, Write};

use super::{bare_command, Sluice};

#[test]
fn unknown_topic() {
    let s = Sluice::new();
    s.create_topic("real", 1);
    assert!(s.fails(&["consume", "imaginary"]).contains("imaginary"));
    assert!(s.fails_with_input(&["produce", "imaginary"], b"{}\n").contains("imaginary"));
    assert!(s.fails(&["topic", "describe", "imaginary"]).contains("imaginary"));
}

#[test]
fn bad_json_line_names_the_line_and_keeps_earlier_lines() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let input = b"{\"n\":1}\n\n{\"n\":2}\n{\"n\":3}\n{\"n\": oops}\n{\"n\":5}\n";
    let err = s.fails_with_input(&["produce", "t", "--batch", "2"], input);
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("invalid JSON"), "{err}");
    assert!(err.contains("3 records"), "{err}");
    assert_eq!(s.consume("t", &[]), [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);

    let path = s.path("bad.jsonl");
    std::fs::write(&path, "[1]\n{\"n\":2} trailing\n").unwrap();
    let err = s.fails(&["produce", "t", "--file", path.to_str().unwrap()]);
    assert!(err.contains("line 2 of") && err.contains("bad.jsonl") && err.contains("1 records"), "{err}");
}

#[test]
fn oversized_line_names_the_line() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let input = format!("{{}}\n\"{}\"\n", "x".repeat(9 << 20));
    let err = s.fails_with_input(&["produce", "t"], input.as_bytes());
    assert!(err.contains("line 2") && err.contains("larger than the limit"), "{err}");
    assert_eq!(s.consume("t", &[]), ["{}"]);
}

#[test]
fn bad_timestamp_field_names_the_line() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let err = s.fails_with_input(&["produce", "t", "--timestamp", "ts"], b"{\"ts\":1}\n{\"ts\":\"soon\"}\n");
    assert!(err.contains("line 2") && err.contains("\"ts\"") && err.contains("RFC 3339"), "{err}");
    let err = s.fails_with_input(&["produce", "t", "--timestamp", "ts"], b"{\"other\":1}\n");
    assert!(err.contains("line 1") && err.contains("no field \"ts\""), "{err}");
    let err = s.fails_with_input(&["produce", "t", "--timestamp", "ts"], b"{\"ts\":1.5}\n");
    assert!(err.contains("line 1") && err.contains("1.5"), "{err}");
    assert_eq!(s.consume("t", &[]).len(), 1);
}

#[test]
fn bad_from_value() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let run = s.run(&["consume", "t", "--from", "last-tuesday"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(run.stderr.contains("last-tuesday") && run.stderr.contains("RFC 3339"), "{run:?}");
    assert!(s.fails(&["consume", "t", "--from", "committed"]).contains("--group"));
}

#[test]
fn bad_flags_exit_2() {
    let s = Sluice::new();
    for args in [&["topic", "create", "t"][..], &["produce"], &["consume", "t", "--max", "-1"], &["nonsense"]]
    {
        let run = s.run(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
    }
    let run = s.run(&["produce", "t", "--durability", "sometimes"]);
    assert!(run.stderr.contains("every-batch"), "{run:?}");
}

#[test]
fn unwritable_data_dir() {
    let s = Sluice::new();
    let file = s.path("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let under_file = file.join("data");
    let run = |args: &[&str], dir: &std::path::Path| {
        let out = bare_command(args).arg("--data-dir").arg(dir).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run(&["topic", "create", "t", "--partitions", "1"], &under_file);
    assert!(err.starts_with("error: ") && err.contains(under_file.to_str().unwrap()), "{err}");
    assert!(err.contains("cannot open data directory"), "{err}");
    let proc_dir = std::path::Path::new("/proc/x");
    let err = run(&["produce", "t"], proc_dir);
    assert!(err.contains("/proc/x"), "{err}");
    let err = run(&["consume", "t"], proc_dir);
    assert!(err.contains("/proc/x") && err.contains("does not exist"), "{err}");
}

#[test]
fn missing_input_file_and_bad_partition() {
    let s = Sluice::new();
    s.create_topic("t", 2);
    let err = s.fails(&["produce", "t", "--file", "/nonexistent/input.jsonl"]);
    assert!(err.contains("/nonexistent/input.jsonl"), "{err}");
    assert!(s.fails_with_input(&["produce", "t", "--partition", "2"], b"{}\n").contains("partition 2"));
    assert!(s.fails(&["consume", "t", "--partition", "7"]).contains("partition 7"));
}

#[test]
fn corrupt_segment_names_file_and_position() {
    let s = Sluice::new();
    s.create_topic("t", 1);
    let lines: Vec<String> = (0..10).map(|i| format!(r#"{{"marker":"MARKER-{i}"}}"#)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    s.produce("t", &refs, &["--batch", "1"]); // ten batches
    let segment = super::segment_files(&s.data_dir(), "t", 0).remove(0);

    // Flip one byte inside the value of the fourth record: its batch's checksum no longer
    // matches, and valid batches follow, so this is damage, not a torn tail.
    let mut bytes = Vec::new();
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&segment).unwrap();
    f.read_to_end(&mut bytes).unwrap();
    let at = bytes.windows(8).position(|w| w == b"MARKER-3").expect("values are stored as is");
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(b"X").unwrap();
    drop(f);

    let err = s.fails(&["consume", "t"]);
    assert!(err.contains(segment.to_str().unwrap()), "{err}");
    assert!(err.contains("byte"), "{err}");
    let err = s.fails_with_input(&["produce", "t"], b"{}\n");
    assert!(err.contains(segment.to_str().unwrap()), "{err}");
}

/// A relative `--data-dir` that does not exist yet is created in the current directory (its
/// `parent()` is the empty path, which used to fail the parent-directory fsync).
#[test]
fn a_new_relative_data_dir_is_created() {
    let s = Sluice::new();
    let out = bare_command(&["--data-dir", "fresh", "topic", "create", "events", "--partitions", "1"])
        .current_dir(s.path(""))
        .output()
        .expect("run sluice");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.path("fresh").join("topics").join("events").is_dir());
}
