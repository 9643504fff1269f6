//! User-defined aggregates through `Pipeline::run`: inputs from Int64, Float64, Utf8 and Boolean
//! columns, nulls skipped, nullable and non-null outputs, merged across panes (hop windows) and
//! across tasks (two-phase aggregation), and a clear error for a column of the wrong type.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use sluice_dataflow::aggregate::Aggregate;
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::{count, udaf, AggExpr};
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{DataflowError, Pipeline, TwoPhase};

/// Requests slower than a threshold.
struct SlowRequests {
    threshold_ms: i64,
}

impl Aggregate for SlowRequests {
    type Input<'a> = i64;
    type Acc = u64;
    type Output = u64;
    fn init(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, latency: i64) {
        *acc += u64::from(latency > self.threshold_ms);
    }
    fn merge(&self, acc: &mut u64, other: &u64) {
        *acc += other;
    }
    fn finish(&self, acc: u64) -> u64 {
        acc
    }
}

/// The longest string (ties: the largest), `None` when every value was null.
pub struct Longest;

impl Aggregate for Longest {
    type Input<'a> = &'a str;
    type Acc = Option<String>;
    type Output = Option<String>;
    fn init(&self) -> Option<String> {
        None
    }
    fn add(&self, acc: &mut Option<String>, v: &str) {
        if acc.as_ref().is_none_or(|a| (v.len(), v) > (a.len(), a.as_str())) {
            *acc = Some(v.to_string());
        }
    }
    fn merge(&self, acc: &mut Option<String>, other: &Option<String>) {
        if let Some(o) = other {
            self.add(acc, o);
        }
    }
    fn finish(&self, acc: Option<String>) -> Option<String> {
        acc
    }
    fn acc_heap_bytes(&self, acc: &Option<String>) -> usize {
        acc.as_ref().map_or(0, String::capacity)
    }
}

/// Share of true values.
struct ShareTrue;

impl Aggregate for ShareTrue {
    type Input<'a> = bool;
    type Acc = (u64, u64);
    type Output = f64;
    fn init(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, acc: &mut (u64, u64), v: bool) {
        acc.0 += u64::from(v);
        acc.1 += 1;
    }
    fn merge(&self, acc: &mut (u64, u64), other: &(u64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn finish(&self, acc: (u64, u64)) -> f64 {
        if acc.1 == 0 {
            0.0
        } else {
            acc.0 as f64 / acc.1 as f64
        }
    }
}

/// Largest float, as a float input with an i64 output (rounded).
struct MaxRounded;

impl Aggregate for MaxRounded {
    type Input<'a> = f64;
    type Acc = f64;
    type Output = i64;
    fn init(&self) -> f64 {
        f64::NEG_INFINITY
    }
    fn add(&self, acc: &mut f64, v: f64) {
        *acc = acc.max(v);
    }
    fn merge(&self, acc: &mut f64, other: &f64) {
        *acc = acc.max(*other);
    }
    fn finish(&self, acc: f64) -> i64 {
        acc.round() as i64
    }
}

fn input() -> RecordBatch {
    RecordBatch::try_from_iter([
        ("url", Arc::new(StringArray::from(vec!["/a", "/a", "/b", "/a", "/b", "/a"])) as _),
        ("ts", Arc::new(Int64Array::from(vec![1_000, 2_000, 3_000, 4_000, 61_000, 62_000])) as _),
        (
            "latency",
            Arc::new(Int64Array::from(vec![Some(120), Some(300), Some(90), None, Some(400), Some(900)])) as _,
        ),
        (
            "agent",
            Arc::new(StringArray::from(vec![
                Some("curl"),
                None,
                Some("firefox"),
                Some("edge"),
                None,
                Some("x"),
            ])) as _,
        ),
        ("ok", Arc::new(BooleanArray::from(vec![true, false, true, true, false, true])) as _),
        ("size", Arc::new(Float64Array::from(vec![1.4, 2.6, 0.2, 7.5, 3.3, 0.1])) as _),
    ])
    .expect("batch")
}

fn aggs() -> Vec<AggExpr> {
    vec![
        count().as_("n"),
        udaf("latency", SlowRequests { threshold_ms: 250 }).as_("slow"),
        udaf("agent", Longest).as_("longest_agent"),
        udaf("ok", ShareTrue).as_("ok_share"),
        udaf("size", MaxRounded),
    ]
}

/// (window_start, url) → (n, slow, longest agent, ok share, max size rounded)
type Row = (i64, String, i64, u64, Option<String>, f64, i64);

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let col = |name: &str| b.column_by_name(name).unwrap_or_else(|| panic!("column {name}"));
        for r in 0..b.num_rows() {
            let agent = col("longest_agent").as_string::<i32>();
            out.push((
                col("window_start").as_primitive::<arrow_array::types::TimestampMillisecondType>().value(r),
                col("url").as_string::<i32>().value(r).to_string(),
                col("n").as_primitive::<Int64Type>().value(r),
                col("slow").as_primitive::<UInt64Type>().value(r),
                agent.is_valid(r).then(|| agent.value(r).to_string()),
                col("ok_share").as_primitive::<Float64Type>().value(r),
                col("udaf_size").as_primitive::<Int64Type>().value(r),
            ));
        }
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out
}

fn run(spec: WindowSpec, parallelism: usize, mode: TwoPhase) -> Vec<Row> {
    let batch = input();
    // Two partitions, so that at parallelism 2 two source tasks pre-aggregate.
    let parts = vec![vec![batch.slice(0, 3)], vec![batch.slice(3, 3)]];
    let out = CollectSink::new();
    Pipeline::new("udaf")
        .parallelism(parallelism)
        .two_phase(mode)
        .source(VecSource::new(batch.schema(), parts).expect("source"))
        .event_time("ts", Duration::from_secs(120))
        .key_by(["url"])
        .window(spec)
        .aggregate(aggs())
        .sink(out.clone())
        .run()
        .expect("run");
    let rows = rows(&out.batches());
    let field = |name: &str| {
        out.batches()[0].schema().field_with_name(name).map(|f| (f.data_type().clone(), f.is_nullable())).ok()
    };
    assert_eq!(field("longest_agent"), Some((arrow_schema::DataType::Utf8, true)));
    assert_eq!(field("slow"), Some((arrow_schema::DataType::UInt64, false)));
    rows
}

#[test]
fn user_aggregates_run_in_a_pipeline() {
    let expected: Vec<Row> = vec![
        (0, "/a".into(), 3, 1, Some("edge".into()), 2.0 / 3.0, 8),
        (0, "/b".into(), 1, 0, Some("firefox".into()), 1.0, 0),
        (60_000, "/a".into(), 1, 1, Some("x".into()), 1.0, 0),
        (60_000, "/b".into(), 1, 1, None, 0.0, 3),
    ];
    let spec = WindowSpec::tumbling(60_000).expect("spec");
    for (parallelism, mode) in [(1, TwoPhase::Never), (1, TwoPhase::Always), (2, TwoPhase::Auto)] {
        assert_eq!(run(spec, parallelism, mode), expected, "parallelism {parallelism}, {mode:?}");
    }
}

#[test]
fn user_aggregates_merge_panes_of_hop_windows() {
    // 2-minute windows every minute: each window merges two 1-minute panes.
    let spec = WindowSpec::hop(120_000, 60_000).expect("spec");
    let got = run(spec, 1, TwoPhase::Never);
    let both = got.iter().find(|r| r.0 == 0 && r.1 == "/a").expect("window [0, 120 s) of /a");
    assert_eq!((both.2, both.3, both.4.as_deref(), both.6), (4, 2, Some("edge"), 8));
    assert_eq!(got, run(spec, 2, TwoPhase::Always));
}

#[test]
fn a_user_aggregate_over_a_column_of_the_wrong_type_is_refused() {
    let batch = input();
    let err = Pipeline::new("udaf")
        .parallelism(1)
        .source(VecSource::new(batch.schema(), vec![vec![batch]]).expect("source"))
        .event_time("ts", Duration::from_secs(1))
        .key_by(["url"])
        .window(WindowSpec::tumbling(60_000).expect("spec"))
        .aggregate([udaf("agent", SlowRequests { threshold_ms: 1 }).as_("slow")])
        .sink(CollectSink::new())
        .run()
        .expect_err("Utf8 column for an i64 aggregate");
    let DataflowError::Operator { operator, source } = err else { panic!("{err}") };
    assert_eq!(operator, "window_aggregate");
    assert_eq!(
        source.to_string(),
        "schema: aggregate `slow`: column `agent` is Utf8, the aggregate reads Int64"
    );
}
