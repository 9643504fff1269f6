//! Files (JSON lines and CSV; one file or a directory, one partition per file) and stdin.

use sluice_connect::{FileFormat, FileSource, StdinSource};

use super::*;

#[test]
fn json_lines_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("views.jsonl");
    let lines: Vec<String> = (0..100).map(|i| view(i, "/a", i)).collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let source = FileSource::new(&path, FileFormat::JsonLines, views_schema()).expect("source");
    assert_eq!(source.partitions(), 1);
    let got = rows(&collect(source));
    assert_eq!(got.len(), 100);
    assert_eq!(got.last(), Some(&(99, "/a".to_string())));
}

#[test]
fn a_directory_is_one_partition_per_file_skipping_hidden_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, url) in [("a.jsonl", "/a"), ("b.jsonl", "/b"), ("c.jsonl", "/c")] {
        let lines: Vec<String> = (0..10).map(|i| view(i, url, i)).collect();
        std::fs::write(dir.path().join(name), lines.join("\n")).expect("write");
        // no final newline
    }
    std::fs::write(dir.path().join(".hidden"), "garbage").expect("write");
    let source = FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).expect("source");
    assert_eq!(source.partitions(), 3);
    assert_eq!(rows(&collect(source)).len(), 30);
}

#[test]
fn an_empty_directory_or_missing_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).err().expect("error");
    assert!(err.to_string().contains("no files"), "{err}");
    let missing = dir.path().join("nope.jsonl");
    let err = FileSource::new(&missing, FileFormat::JsonLines, views_schema()).err().expect("error");
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
}

#[test]
fn csv_with_a_header_in_any_column_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("views.csv");
    std::fs::write(&path, "url,user_id,ts\n/a,1,1000\n/b,2,2000\n\n/c,,3000\n").expect("write");
    let format = FileFormat::Csv { header: true, delimiter: b',' };
    let got = rows(&collect(FileSource::new(&path, format, views_schema()).expect("source")));
    assert_eq!(got, vec![(1000, "/a".into()), (2000, "/b".into()), (3000, "/c".into())]);
}

#[test]
fn stdin_reads_json_lines_to_eof() {
    let input: Vec<String> = (0..50).map(|i| view(i, "/s", i)).collect();
    let reader = std::io::Cursor::new((input.join("\n") + "\n").into_bytes());
    let source = StdinSource::from_reader(views_schema(), reader).expect("source");
    assert_eq!(rows(&collect(source)).len(), 50);
}

#[test]
fn a_window_over_several_files_counts_every_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    for f in 0..4 {
        let lines: Vec<String> = (0..250).map(|i| view(i * 100, &format!("/{}", i % 7), i)).collect();
        std::fs::write(dir.path().join(format!("{f}.jsonl")), lines.join("\n")).expect("write");
    }
    let source = FileSource::new(dir.path(), FileFormat::JsonLines, views_schema()).expect("source");
    let out = CollectSink::new();
    let report = Pipeline::new("files")
        .parallelism(2)
        .batch_size(64)
        .source(source)
        .event_time("ts", Duration::from_secs(1))
        .key_by(["url"])
        .window(sluice_dataflow::window::WindowSpec::tumbling(10_000).expect("spec"))
        .aggregate([sluice_dataflow::ops::count().as_("n")])
        .sink(out.clone())
        .run()
        .expect("run");
    assert_eq!(report.records_in, 1000);
    assert_eq!(report.records_late, 0, "files are read in turns, so none runs ahead");
    let total: i64 = out
        .batches()
        .iter()
        .map(|b| b.column(3).as_primitive::<Int64Type>().values().iter().sum::<i64>())
        .sum();
    assert_eq!(total, 1000);
}
