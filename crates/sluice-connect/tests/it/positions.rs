//! Checkpoint positions of the replayable sources: read some batches, take the readers'
//! positions, restore a new source from them (at another parallelism) and check that it reads
//! exactly the rest — every record once, the bounded end kept, damaged positions refused.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use sluice_connect::{FileFormat, FileSource, LogSource};
use sluice_dataflow::source::{Poll, SourceReader};
use sluice_log::StartFrom;
use std::path::Path;

use super::*;

/// The `user_id` of every row returned, polling each reader at most `polls` times (`None`:
/// to the end) with batches of `max_rows`; then every reader's positions.
pub(crate) fn read(
    readers: &mut [Box<dyn SourceReader>],
    polls: Option<usize>,
    max_rows: usize,
) -> (Vec<i64>, BTreeMap<usize, Vec<u8>>) {
    let mut ids = Vec::new();
    for reader in readers.iter_mut() {
        let mut n = 0;
        while polls.is_none_or(|p| n < p) {
            n += 1;
            match reader.poll(max_rows, Duration::from_millis(1)).expect("poll") {
                Poll::Batch { batch, .. } => {
                    let users = batch.column_by_name("user_id").expect("user_id").as_primitive::<Int64Type>();
                    ids.extend(users.iter().flatten());
                }
                Poll::End => break,
                Poll::Idle | Poll::PartitionEnd(_) => {}
            }
        }
    }
    let positions = readers.iter().flat_map(|r| r.positions().expect("replayable")).collect();
    (ids, positions)
}

/// `ids` sorted, checked to hold no duplicate.
fn once(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "some record was read twice");
    ids
}

/// `n` views per URL into `topic`, user ids `first..`, keyed by URL.
fn fill(log: &Log, topic: &str, urls: &[&str], n: i64, first: i64) {
    let mut id = first;
    for url in urls {
        let rows: Vec<_> = (0..n)
            .map(|i| {
                id += 1;
                (i, *url, view(i, url, id - 1))
            })
            .collect();
        append(log, topic, &rows);
    }
}

#[test]
fn log_source_resumes_after_the_last_row_returned_and_keeps_its_bound() {
    let (_dir, log) = open_log();
    create(&log, "views", 3);
    fill(&log, "views", &["/a", "/b", "/c", "/d", "/e"], 60, 0);
    let source = || LogSource::new(&log, "views", views_schema()).expect("source").dead_letters(memory());
    assert!(source().replayable());

    let mut first = Box::new(source()).split(2).expect("split");
    let (head, positions) = read(&mut first, Some(3), 7);
    assert_eq!(positions.len(), 3, "every partition has a position");
    assert!(!head.is_empty() && head.len() < 300);
    // Appended after the first start: outside the bound, never read.
    fill(&log, "views", &["/late"], 40, 1000);

    let mut restored = source().start(StartFrom::Latest); // restore wins over the start
    restored.restore(&positions).expect("restore");
    let mut rest = Box::new(restored).split(3).expect("split");
    let (tail, end_positions) = read(&mut rest, None, 5);
    let all = once(head.into_iter().chain(tail).collect());
    assert_eq!(all, (0..300).collect::<Vec<_>>());

    // Restoring from the end reads nothing more, however much was appended.
    fill(&log, "views", &["/later"], 10, 2000);
    let mut done = source();
    done.restore(&end_positions).expect("restore");
    assert!(read(&mut Box::new(done).split(1).expect("split"), None, 100).0.is_empty());
}

#[test]
fn a_position_taken_before_any_poll_fixes_the_bound() {
    let (_dir, log) = open_log();
    create(&log, "views", 2);
    fill(&log, "views", &["/a", "/b", "/c"], 10, 0);
    let source = || LogSource::new(&log, "views", views_schema()).expect("source");
    let (_, initial) = read(&mut Box::new(source()).split(2).expect("split"), Some(0), 1);
    fill(&log, "views", &["/a", "/b"], 10, 100);
    let mut restored = source();
    restored.restore(&initial).expect("restore");
    let got = once(read(&mut Box::new(restored).split(1).expect("split"), None, 4).0);
    assert_eq!(got, (0..30).collect::<Vec<_>>());
}

#[test]
fn a_following_source_resumes_and_follows() {
    let (_dir, log) = open_log();
    create(&log, "views", 2);
    fill(&log, "views", &["/a", "/b"], 10, 0);
    let source = || LogSource::new(&log, "views", views_schema()).expect("source").follow();
    let (head, positions) = read(&mut Box::new(source()).split(1).expect("split"), Some(2), 3);
    fill(&log, "views", &["/c"], 5, 20);
    let mut restored = source();
    restored.restore(&positions).expect("restore");
    let (tail, _) = read(&mut Box::new(restored).split(2).expect("split"), Some(20), 100);
    assert_eq!(once(head.into_iter().chain(tail).collect()), (0..25).collect::<Vec<_>>());
}

#[test]
fn unusable_log_positions_are_errors_naming_the_problem() {
    let (_dir, log) = open_log();
    create(&log, "views", 2);
    fill(&log, "views", &["/a"], 4, 0);
    let source = || LogSource::new(&log, "views", views_schema()).expect("source");
    let (_, good) = read(&mut Box::new(source()).split(1).expect("split"), None, 10);
    let p0 = good.get(&0).cloned().expect("partition 0");

    let mut damaged = p0.clone();
    damaged.truncate(5);
    let cases = [
        (BTreeMap::from([(0, damaged)]), "truncated"),
        (BTreeMap::from([(7, p0.clone())]), "partition 7"),
        (BTreeMap::from([(0, vec![9, b'L'])]), "version 9"),
    ];
    for (positions, why) in cases {
        let err = source().restore(&positions).expect_err("refused");
        assert!(err.to_string().contains(why), "{err}");
    }

    // A position past the partition's end: the topic was recreated with fewer records.
    let mut past = p0;
    past[2..10].copy_from_slice(&1000u64.to_le_bytes());
    past[11..19].copy_from_slice(&1000u64.to_le_bytes());
    let mut restored = source();
    restored.restore(&BTreeMap::from([(0, past)])).expect("well-formed");
    let err = Box::new(restored).split(1).err().expect("refused at split");
    assert!(err.to_string().contains("offset 1000"), "{err}");
}

/// Writes `lines` lines of views into `dir/name` (user ids `first..`), with `header` first.
fn write_file(dir: &Path, name: &str, header: Option<&str>, lines: Vec<String>) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut text = header.map(|h| format!("{h}\n")).unwrap_or_default();
    text.push_str(&lines.join("\n"));
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn file_source_resumes_each_file_after_its_last_line_returned() {
    let dir = tempfile::tempdir().expect("dir");
    let mut id = 0;
    for (name, n) in [("a.jsonl", 25), ("b.jsonl", 3), ("c.jsonl", 40), ("d.jsonl", 0)] {
        let lines = (0..n).map(|i| {
            id += 1;
            view(i, "/x", id - 1)
        });
        write_file(dir.path(), name, None, lines.collect());
    }
    let source = || FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).expect("source");
    let (head, positions) = read(&mut Box::new(source()).split(3).expect("split"), Some(2), 6);
    assert_eq!(positions.len(), 4);
    let mut restored = source();
    assert!(restored.replayable());
    restored.restore(&positions).expect("restore");
    let (tail, _) = read(&mut Box::new(restored).split(1).expect("split"), None, 4);
    assert_eq!(once(head.into_iter().chain(tail).collect()), (0..68).collect::<Vec<_>>());
}

#[test]
fn csv_header_is_read_again_and_dead_letters_keep_their_line_numbers() {
    let dir = tempfile::tempdir().expect("dir");
    // Columns in another order than the schema's: a restored reader must match them by name.
    let mut lines: Vec<String> = (0..20).map(|i| format!("{i},/c{i},{}", i * 10)).collect();
    lines[14] = "oops,/bad,1".into();
    let path = write_file(dir.path(), "v.csv", Some("user_id,url,ts"), lines);
    let format = FileFormat::Csv { header: true, delimiter: b',' };
    let dead = memory();
    let source =
        || FileSource::new(&path, format, views_schema()).expect("source").dead_letters(dead.clone());
    let (head, positions) = read(&mut Box::new(source()).split(1).expect("split"), Some(2), 5);
    assert_eq!(head, (0..9).collect::<Vec<_>>(), "the header and 9 rows");
    let mut restored = source();
    restored.restore(&positions).expect("restore");
    let (tail, _) = read(&mut Box::new(restored).split(1).expect("split"), None, 5);
    let expected: Vec<i64> = (9..20).filter(|&i| i != 14).collect();
    assert_eq!(tail, expected);
    let letters = dead.lines();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].contains("v.csv:16"), "line 16 (the header is line 1): {}", letters[0]);
}

#[test]
fn a_file_that_changed_or_vanished_since_the_checkpoint_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "a.jsonl", None, (0..10).map(|i| view(i, "/a", i)).collect());
    write_file(dir.path(), "b.jsonl", None, vec![view(0, "/b", 100)]);
    let source = || FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).expect("source");
    let (_, positions) = read(&mut Box::new(source()).split(1).expect("split"), Some(2), 4);

    std::fs::write(&path, view(0, "/a", 0)).expect("shrink");
    let mut shrunk = source();
    shrunk.restore(&positions).expect("well-formed");
    let mut readers = Box::new(shrunk).split(1).expect("split");
    let err = (0..4).find_map(|_| readers[0].poll(10, Duration::ZERO).err()).expect("refused");
    assert!(err.to_string().contains("changed since the checkpoint"), "{err}");

    std::fs::remove_file(dir.path().join("b.jsonl")).expect("remove");
    let err = source().restore(&positions).expect_err("refused");
    assert!(err.to_string().contains("`b.jsonl`"), "{err}");

    let log_position =
        BTreeMap::from([(0, vec![1, b'L', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]);
    let err = source().restore(&log_position).expect_err("refused");
    assert!(err.to_string().contains("written by a log source"), "{err}");
}
