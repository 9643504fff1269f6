//! Invariants over generated input: compiling any text returns a result (never panics), and the
//! SQL tumbling count agrees with a direct count for any set of in-order events.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sluice_sql::{compile, RunOptions};

/// Fragments that make up half-valid scripts.
const FRAGMENTS: &[&str] = &[
    "CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = 'x', 'format' = 'json');",
    "CREATE TABLE o (a TIMESTAMP(3), k STRING, n BIGINT) WITH ('connector' = 'blackhole');",
    "INSERT INTO o SELECT window_start, k, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, k;",
    "INSERT INTO o SELECT ts, k, v FROM t WHERE v > 1;",
    "SELECT", "FROM", "TABLE(", "HOP(", "SESSION(", "DESCRIPTOR(ts)", "INTERVAL '5' SECOND", ",", "(", ")", ";",
    "GROUP BY", "window_start", "COUNT(DISTINCT v)", "SUM(v) FILTER (WHERE k = 'a')", "WATERMARK FOR", "'",
    "CREATE VIEW w AS SELECT * FROM t;", "SET 'a' = 'b';", "EXPLAIN", "`", "--", "\n", "ts AS", "METADATA",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn compile_never_panics(picks in prop::collection::vec(0..FRAGMENTS.len(), 0..12)) {
        let text: Vec<&str> = picks.iter().map(|&i| FRAGMENTS[i]).collect();
        let text = text.join(" ");
        if let Err(e) = compile(&text) {
            prop_assert!(!e.message.is_empty());
            let lines = text.lines().count().max(1) as u64;
            prop_assert!(e.pos.line <= lines + 1, "position {:?} beyond the text: {}", e.pos, e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn tumbling_count_matches_a_direct_count(
        gaps in prop::collection::vec((0_i64..20_000, 0_usize..3), 1..60),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let keys = ["a", "b", "c"];
        let (mut ts, mut lines, mut expected) = (0_i64, String::new(), BTreeMap::new());
        for (gap, k) in &gaps {
            ts += gap;
            lines.push_str(&format!("{{\"ts\": {ts}, \"k\": \"{}\"}}\n", keys[*k]));
            *expected.entry((ts - ts % 60_000, keys[*k].to_string())).or_insert(0_i64) += 1;
        }
        std::fs::write(dir.path().join("in.jsonl"), lines).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let sql = "
            CREATE TABLE t (ts BIGINT, k STRING, rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt)
              WITH ('connector' = 'filesystem', 'path' = 'in.jsonl', 'format' = 'json');
            CREATE TABLE o (s BIGINT, k STRING, n BIGINT)
              WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');
            INSERT INTO o
            SELECT CAST(window_start AS BIGINT), k, COUNT(*)
            FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(rt), INTERVAL '1' MINUTE))
            GROUP BY window_start, window_end, k;";
        let script = compile(sql).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let options = RunOptions { base_dir: Some(dir.path().to_path_buf()), parallelism: Some(2), ..RunOptions::default() };
        let reports = script.spawn(&options).and_then(|j| j.join()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reports[0].1.records_late, 0);
        let out = std::fs::read_to_string(dir.path().join("out.json")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut got = BTreeMap::new();
        for line in out.lines() {
            let v: Vec<&str> = line.trim_matches(|c| c == '{' || c == '}').split(',').collect();
            let field = |i: usize| v[i].split(':').nth(1).unwrap_or("").trim_matches('"').to_string();
            got.insert((field(0).parse::<i64>().unwrap_or(-1), field(1)), field(2).parse::<i64>().unwrap_or(-1));
        }
        prop_assert_eq!(got, expected);
    }
}
