//! End to end: JSON page views in a topic → per-URL tumbling count → a topic, checked against
//! a straightforward reference computed here. The disorder stays within the watermark bound,
//! so nothing is late and the reference is a plain count per (window, url).

use std::collections::BTreeMap;

use sluice_connect::{LogSink, LogSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;

use super::*;

const WINDOW: i64 = 10_000;

#[test]
fn page_views_per_url_tumbling_count_matches_the_reference() {
    let (_dir, log) = open_log();
    create(&log, "views", 3);
    create(&log, "counts", 2);

    // 5000 views over 20 URLs, 37 ms apart, each up to 2 s early (bound: 5 s), plus one
    // malformed record that must not change the counts.
    let mut x = 0x9e37_79b9_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut input = Vec::new();
    let mut reference: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for i in 0..5000_i64 {
        let url = format!("/page/{}", next() % 20);
        let ts = 1_000_000 + i * 37 - (next() % 2000) as i64;
        *reference.entry((ts - ts.rem_euclid(WINDOW), url.clone())).or_default() += 1;
        input.push((ts, url.clone(), view(ts, &url, i)));
    }
    for chunk in input.chunks(500) {
        let rows: Vec<(i64, &str, String)> =
            chunk.iter().map(|(ts, u, v)| (*ts, u.as_str(), v.clone())).collect();
        append(&log, "views", &rows);
    }
    append(&log, "views", &[(0, "/page/1", "{\"ts\":".to_string())]);

    let dead = memory();
    let source = LogSource::new(&log, "views", views_schema()).expect("source").dead_letters(dead.clone());
    let report = Pipeline::new("per_url")
        .parallelism(2)
        .batch_size(256)
        .source(source)
        .event_time("ts", Duration::from_secs(5))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count().as_("views")])
        .sink(LogSink::new(&log, "counts").expect("sink").key_columns(["url"]).timestamp_column("window_end"))
        .run()
        .expect("run");
    assert_eq!(report.records_in, 5000);
    assert_eq!(report.records_late, 0);
    assert_eq!(dead.count(), 1);

    let mut got: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for p in log.topic("counts").expect("topic").partitions() {
        for r in p.read(0, 64 << 20).expect("read") {
            let v: serde_json::Value = serde_json::from_slice(&r.record.value).expect("json");
            let end = r.record.timestamp;
            let url = v["url"].as_str().expect("url").to_string();
            assert_eq!(r.record.key.as_deref(), Some(url.as_bytes()));
            assert!(
                got.insert((end - WINDOW, url), v["views"].as_i64().expect("views")).is_none(),
                "one row per window and url"
            );
        }
    }
    assert_eq!(got, reference);
    assert_eq!(report.windows_emitted as usize, reference.len());
}
