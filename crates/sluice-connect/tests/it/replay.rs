//! Property: however a source is split, however far its readers get and however often the job
//! is restored from their positions (each time at another parallelism), every record is read
//! exactly once — for the log source and for a directory of files, with malformed records
//! dead-lettered on the way.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sluice_connect::{FileFormat, FileSource, LogSource};
use sluice_dataflow::source::Source;
use sluice_types::PartitionId;

use super::positions::read;
use super::*;

/// One run of a checkpointed job: `(readers, polls per reader)` per attempt; the last attempt
/// reads to the end.
type Attempts = Vec<(usize, usize)>;

/// Runs `attempts` over sources made by `make`, restoring each from the previous positions;
/// returns every id read, in reading order.
fn replay<S: Source + 'static>(make: impl Fn() -> S, attempts: &Attempts, max_rows: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut positions = BTreeMap::new();
    for (i, &(readers, polls)) in attempts.iter().enumerate() {
        let mut source = make();
        source.restore(&positions).expect("restore");
        let mut split = Box::new(source).split(readers).expect("split");
        let last = i + 1 == attempts.len();
        let (read_ids, at) = read(&mut split, (!last).then_some(polls), max_rows);
        ids.extend(read_ids);
        positions = at;
    }
    ids
}

fn attempts() -> impl Strategy<Value = Attempts> {
    proptest::collection::vec((1usize..=4, 0usize..=5), 1..=4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_source_reads_every_record_once_across_restores(
        sizes in proptest::collection::vec(0usize..40, 1..=4),
        attempts in attempts(),
        max_rows in 1usize..12,
        bad_every in 5usize..20,
    ) {
        let (_dir, log) = open_log();
        create(&log, "views", u32::try_from(sizes.len()).unwrap_or(1));
        let topic = log.topic("views").expect("topic");
        let mut id = 0i64;
        let mut expected = Vec::new();
        for (p, &n) in sizes.iter().enumerate() {
            let records: Vec<Record> = (0..n)
                .map(|k| {
                    id += 1;
                    if (k + 1) % bad_every == 0 {
                        Record::new("{broken", 0)
                    } else {
                        expected.push(id - 1);
                        Record::new(view(k as i64, "/x", id - 1), 0)
                    }
                })
                .collect();
            topic.partition(PartitionId(p as u32)).expect("partition").append(&records).expect("append");
        }
        let dead = memory();
        let make = || LogSource::new(&log, "views", views_schema()).expect("source").dead_letters(dead.clone());
        let mut got = replay(make, &attempts, max_rows);
        got.sort_unstable();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn file_source_reads_every_line_once_across_restores(
        sizes in proptest::collection::vec(0usize..40, 1..=4),
        attempts in attempts(),
        max_rows in 1usize..12,
        final_newline in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("dir");
        let mut id = 0i64;
        let mut expected = Vec::new();
        for (f, &n) in sizes.iter().enumerate() {
            // Every 7th line is blank: it carries no row.
            let lines: Vec<String> = (0..n)
                .map(|k| {
                    id += 1;
                    if k % 7 == 3 {
                        String::new()
                    } else {
                        expected.push(id - 1);
                        view(k as i64, "/x", id - 1)
                    }
                })
                .collect();
            let mut text = lines.join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(dir.path().join(format!("part-{f}.jsonl")), text).expect("write");
        }
        let make = || FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).expect("source");
        let mut got = replay(make, &attempts, max_rows);
        got.sort_unstable();
        prop_assert_eq!(got, expected);
    }
}
