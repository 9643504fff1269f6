//! Random scenarios, and the system under test driven record by record as the runtime will.

use proptest::prelude::*;
use sluice_dataflow::aggregate::{Avg, Count, CountDistinct, First, Last, Max, Min, Sum};
use sluice_dataflow::time::{BoundedOutOfOrderness, Watermark, WatermarkCombiner};
use sluice_dataflow::window::{Window, WindowAggregator, WindowResult, WindowSpec, WindowState};

/// Every built-in at once, in one accumulator.
pub type Agg = (Count, Sum<i64>, Min<i64>, Max<i64>, CountDistinct<i64>, First<i64>, Last<i64>, Avg<i64>);
/// count, sum, min, max, distinct, first, last, avg
pub type Out = (u64, i64, Option<i64>, Option<i64>, u64, Option<i64>, Option<i64>, Option<f64>);

pub fn agg() -> Agg {
    (Count, Sum::new(), Min::new(), Max::new(), CountDistinct::new(), First::new(), Last::new(), Avg::new())
}

/// One input record.
#[derive(Debug, Clone)]
pub struct Event {
    pub key: u8,
    pub ts: i64,
    pub value: i64,
    pub partition: usize,
}

/// A stream spread over partitions, each with its out-of-orderness bound.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub events: Vec<Event>,
    pub bounds: Vec<i64>,
}

/// One emitted row and the watermark whose `advance` emitted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub watermark: Watermark,
    pub window: Window,
    pub key: u8,
    pub value: Out,
}

/// What a run produced: rows in emission order, and the indexes of the late events.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Emitted>,
    pub late: Vec<usize>,
}

/// Out-of-order streams: a drifting base time plus noise, small keys and values (so distinct
/// counts, min and max are interesting), 1 to 3 partitions with random bounds.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (1..=3usize).prop_flat_map(|partitions| {
        let bounds = prop::collection::vec(prop_oneof![Just(0i64), 0..50i64], partitions);
        let events = prop::collection::vec((0..4u8, 0..12i64, -40..=40i64, -5..=5i64, 0..partitions), 0..80);
        (bounds, events).prop_map(|(bounds, raw)| {
            let mut base = 0;
            let events = raw
                .into_iter()
                .map(|(key, step, noise, value, partition)| {
                    base += step;
                    Event { key, ts: base + noise, value, partition }
                })
                .collect();
            Scenario { events, bounds }
        })
    })
}

pub fn lateness() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), 0..30i64]
}

/// Runs the scenario with `u8` keys passed by value.
pub fn run(spec: &WindowSpec, scenario: &Scenario) -> Outcome {
    let state = WindowAggregator::<u8, Agg>::new(spec, agg());
    drive(state, scenario, |state, event, input| state.add(event.key, event.ts, input), |key| *key)
}

/// Runs the scenario with `String` keys passed borrowed.
pub fn run_borrowed(spec: &WindowSpec, scenario: &Scenario) -> Outcome {
    let state = WindowAggregator::<String, Agg>::new(spec, agg());
    drive(
        state,
        scenario,
        |state, event, input| state.add_borrowed(format!("k{}", event.key).as_str(), event.ts, input),
        |key: &String| key[1..].parse().expect("k<digit>"),
    )
}

/// The runtime's loop: per record, add (against the watermark before it), then feed the
/// partition's generator and the combiner, and advance the window state when the combined
/// watermark moves. At the end every partition finishes, one after the other.
pub fn drive<K, W>(
    mut state: W,
    scenario: &Scenario,
    mut add: impl FnMut(
        &mut W,
        &Event,
        <Agg as sluice_dataflow::aggregate::Aggregate>::Input<'_>,
    ) -> Result<(), sluice_dataflow::window::Late>,
    key_of: impl Fn(&K) -> u8,
) -> Outcome
where
    W: WindowState<K, Agg>,
{
    let mut generators: Vec<_> =
        scenario.bounds.iter().map(|&b| BoundedOutOfOrderness::new(b).unwrap()).collect();
    let mut combiner = WatermarkCombiner::new(generators.len(), None, 0).unwrap();
    let mut outcome = Outcome::default();
    let mut buffer = Vec::new();
    let mut advance = |state: &mut W, wm: Watermark, outcome: &mut Outcome| {
        state.advance(wm, &mut buffer);
        outcome.rows.extend(buffer.drain(..).map(|r: WindowResult<K, Out>| Emitted {
            watermark: wm,
            window: r.window,
            key: key_of(&r.key),
            value: r.value,
        }));
    };
    for (i, event) in scenario.events.iter().enumerate() {
        let (order, value) = (i as u64, &event.value);
        let input = ((), event.value, value, value, value, (order, value), (order, value), event.value);
        if let Err(late) = add(&mut state, event, input) {
            assert_eq!(late.ts, event.ts);
            assert_eq!(late.watermark, state.watermark());
            outcome.late.push(i);
        }
        let wm = generators[event.partition].observe(event.ts);
        if let Some(wm) = combiner.update(event.partition, wm, i as i64) {
            advance(&mut state, wm, &mut outcome);
        }
    }
    for partition in 0..generators.len() {
        if let Some(wm) = combiner.finish(partition) {
            advance(&mut state, wm, &mut outcome);
        }
    }
    assert_eq!(state.watermark(), Watermark::MAX);
    assert_eq!((state.open_windows(), state.state_entries()), (0, 0), "everything emitted at the end");
    outcome
}
