//! Two-phase (local/global) aggregation gives the same output as single-phase: same windows,
//! same values (float sums up to rounding), same late rows with the same reasons — for every
//! built-in aggregate and a user-defined one.
//!
//! Compared where the single-phase output is deterministic: parallelism 1 (one source task over
//! 1-3 partitions), and parallelism 2 with one partition (one source task, two keyed tasks).

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use proptest::prelude::*;
use sluice_dataflow::exchange::Exchange;
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::{avg, count, count_col, count_distinct, first, last, max, min, sum, udaf};
use sluice_dataflow::window::{WindowKind, WindowSpec};
use sluice_dataflow::{JobReport, Pipeline, TwoPhase};

/// One event: (key, ts, v (nullable), f, s).
type Event = (u8, i64, Option<i64>, f64, String);

fn schema(int_key: bool) -> SchemaRef {
    let key = if int_key { DataType::Int64 } else { DataType::Utf8 };
    Arc::new(Schema::new(vec![
        Field::new("k", key, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, false),
        Field::new("s", DataType::Utf8, false),
    ]))
}

fn batch(events: &[Event], int_key: bool) -> RecordBatch {
    let key: Arc<dyn Array> = if int_key {
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| i64::from(e.0))))
    } else {
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| format!("key{}", e.0))))
    };
    RecordBatch::try_new(
        schema(int_key),
        vec![
            key,
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.1))),
            Arc::new(events.iter().map(|e| e.2).collect::<Int64Array>()),
            Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.3))),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.4.as_str()))),
        ],
    )
    .expect("batch")
}

/// A cell of an output row; floats compared with a tolerance.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Cell {
    Null,
    I(i64),
    F(f64),
    S(String),
}

fn cells(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let row: Vec<Cell> = b
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    _ if c.is_null(r) => Cell::Null,
                    DataType::Int64 => Cell::I(c.as_primitive::<Int64Type>().value(r)),
                    DataType::Timestamp(..) => Cell::I(c.as_primitive::<TimestampMillisecondType>().value(r)),
                    DataType::Float64 => Cell::F(c.as_primitive::<Float64Type>().value(r)),
                    DataType::Utf8 => Cell::S(c.as_string::<i32>().value(r).to_string()),
                    dt => panic!("unexpected output type {dt}"),
                })
                .collect();
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows
}

fn same(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|pair| match pair {
                    (Cell::F(p), Cell::F(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0),
                    (p, q) => p == q,
                })
        })
}

struct Run {
    report: JobReport,
    rows: Vec<Vec<Cell>>,
    late: Vec<Vec<Cell>>,
}

#[allow(clippy::too_many_arguments)]
fn run(
    parts: &[Vec<Event>],
    int_key: bool,
    spec: &WindowSpec,
    bound: u64,
    rows_per_batch: usize,
    parallelism: usize,
    mode: TwoPhase,
) -> Run {
    let partitions =
        parts.iter().map(|p| p.chunks(rows_per_batch).map(|c| batch(c, int_key)).collect()).collect();
    let source = VecSource::new(schema(int_key), partitions).expect("source");
    let (out, late) = (CollectSink::new(), CollectSink::new());
    let report = Pipeline::new("two_phase")
        .parallelism(parallelism)
        .two_phase(mode)
        .source(source)
        .event_time("ts", Duration::from_millis(bound))
        .key_by(["k"])
        .window(*spec)
        .aggregate([
            count(),
            count_col("v"),
            sum("v"),
            sum("f"),
            min("v"),
            max("s"),
            min("f"),
            avg("v"),
            count_distinct("s"),
            first("v"),
            last("s"),
            udaf("s", crate::udaf::Longest),
        ])
        .sink(out.clone())
        .late_output(late.clone())
        .run()
        .expect("run");
    Run { report, rows: cells(&out.batches()), late: cells(&late.batches()) }
}

fn events() -> impl Strategy<Value = Vec<Vec<Event>>> {
    (1..=3usize).prop_flat_map(|partitions| {
        prop::collection::vec(
            prop::collection::vec(
                (0..5u8, 0..8i64, -30..=30i64, prop::option::weighted(0.9, -50..50i64), -9..9i32, 0..6u8),
                0..60,
            )
            .prop_map(|raw| {
                let mut base = 0;
                raw.into_iter()
                    .map(|(k, step, noise, v, f, s)| {
                        base += step;
                        (k, base + noise, v, f64::from(f) * 0.1, format!("s{s}"))
                    })
                    .collect()
            }),
            partitions,
        )
    })
}

fn spec() -> impl Strategy<Value = WindowSpec> {
    let tumbling = (1..40i64, -20..20i64).prop_map(|(size, offset)| WindowKind::Tumbling { size, offset });
    let hop = (1..12i64, 1..=4i64, -20..20i64).prop_map(|(slide, n, offset)| WindowKind::Hop {
        size: slide * n,
        slide,
        offset,
    });
    (prop_oneof![tumbling, hop], prop_oneof![Just(0i64), 0..20i64])
        .prop_map(|(kind, lateness)| WindowSpec::new(kind, lateness).expect("spec"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn two_phase_matches_single_phase(
        parts in events(),
        spec in spec(),
        int_key in any::<bool>(),
        bound in prop_oneof![Just(0u64), 0..40u64],
        rows_per_batch in 1..12usize,
    ) {
        let input: usize = parts.iter().map(Vec::len).sum();
        let mut cases = vec![(parts.clone(), 1)];
        // One partition at parallelism 2: two keyed tasks, one source task.
        cases.push((vec![parts.concat()], 2));
        for (parts, parallelism) in cases {
            let single = run(&parts, int_key, &spec, bound, rows_per_batch, parallelism, TwoPhase::Never);
            let double = run(&parts, int_key, &spec, bound, rows_per_batch, parallelism, TwoPhase::Always);
            prop_assert!(same(&single.rows, &double.rows), "rows differ:\n{:?}\n{:?}", single.rows, double.rows);
            prop_assert_eq!(&single.late, &double.late, "late rows differ");
            prop_assert_eq!(single.report.records_late, double.report.records_late);
            prop_assert_eq!(single.report.records_late as usize, single.late.len());
            prop_assert_eq!(single.report.records_in as usize, input);
            prop_assert_eq!(single.report.rows_pre_aggregated, 0);
            // Every row not late was either pre-aggregated or sent raw; some were pre-aggregated
            // whenever any row was on time.
            let on_time = input - single.late.len();
            prop_assert!(double.report.rows_pre_aggregated as usize <= on_time);
            prop_assert!(on_time == 0 || double.report.rows_pre_aggregated > 0);
        }
    }
}

/// A keyed task whose first rows arrive after watermarks judges them against those watermarks
/// (its window state starts at the watermark it has seen, not at the minimum), in both modes.
#[test]
fn a_keyed_task_judges_its_first_rows_against_earlier_watermarks() {
    // Two keys that the exchange sends to different keyed tasks.
    let mut exchange = Exchange::new(&schema(false), &["k".to_string()], 2).expect("exchange");
    let names: Vec<String> = (0..16).map(|k| format!("key{k}")).collect();
    let targets = exchange.targets(&[Arc::new(StringArray::from(names.clone())) as _]).expect("targets");
    let a = targets.iter().position(|&t| t == 0).expect("a key for task 0") as u8;
    let b = targets.iter().position(|&t| t == 1).expect("a key for task 1") as u8;
    // Batch 1 only has key `a` (watermark 23 after it); batch 2 has key `b`'s first row, at
    // 13: window [-2, 14) closed at 23 (lateness 4), so it is late, whichever task owns `b`.
    let parts = vec![vec![
        (a, -28i64, Some(-23i64), 0.7, "s4".to_string()),
        (a, 23, Some(29), 0.6, "s1".to_string()),
        (b, 13, Some(-46), 0.4, "s1".to_string()),
    ]];
    let spec = WindowSpec::new(WindowKind::Tumbling { size: 16, offset: 14 }, 4).expect("spec");
    for mode in [TwoPhase::Never, TwoPhase::Always] {
        let r = run(&parts, false, &spec, 0, 2, 2, mode);
        assert_eq!(r.report.records_late, 1, "{mode:?}");
        let reason = r.late[0].last().cloned();
        assert_eq!(
            reason,
            Some(Cell::S(
                "event at 13 is late: window [-2, 14) closed at watermark 23 (allowed lateness 4 ms)".into()
            )),
            "{mode:?}"
        );
        assert_eq!(r.rows.len(), 2, "{mode:?}: two windows of key `a`");
    }
}

/// A map before `key_by` that moves the key column: raw rows and partials still meet in the
/// keyed task that owns their key, in both modes.
#[test]
fn a_map_that_moves_the_key_column_before_key_by() {
    let parts: Vec<Vec<Event>> = (0..2)
        .map(|p| (0..400).map(|i| ((i % 7) as u8, i * 10 + p, Some(i), 0.5, format!("s{}", i % 3))).collect())
        .collect();
    let reorder =
        |b: RecordBatch| -> sluice_dataflow::Result<RecordBatch> { Ok(b.project(&[4, 3, 2, 1, 0])?) };
    let run = |parallelism: usize, mode: TwoPhase| {
        let partitions = parts.iter().map(|p| p.chunks(16).map(|c| batch(c, false)).collect()).collect();
        let out = CollectSink::new();
        let report = Pipeline::new("reordered")
            .parallelism(parallelism)
            .two_phase(mode)
            .source(VecSource::new(schema(false), partitions).expect("source"))
            .event_time("ts", Duration::from_secs(60))
            .map(reorder)
            .key_by(["k"])
            .window(WindowSpec::tumbling(500).expect("spec"))
            .aggregate([count(), sum("v")])
            .sink(out.clone())
            .run()
            .expect("run");
        assert_eq!(report.records_late, 0);
        cells(&out.batches())
    };
    let expected = run(1, TwoPhase::Never);
    // 800 rows over 4 s: 8 windows of 500 ms, 7 keys, every (window, key) once.
    assert_eq!(expected.len(), 8 * 7);
    for parallelism in [2, 3] {
        assert_eq!(run(parallelism, TwoPhase::Never), expected, "parallelism {parallelism}, single-phase");
        assert_eq!(run(parallelism, TwoPhase::Auto), expected, "parallelism {parallelism}, two-phase");
    }
}
