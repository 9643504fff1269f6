//! Two-phase aggregation at the level of the window state, record by record: a `LocalPanes`
//! that takes the rows certainly on time and hands its partials to the `AlignedWindows` before
//! each watermark gives the same rows, late events and emission order as the `AlignedWindows`
//! alone, for every built-in aggregate (first/last included: they depend on the order).

use std::borrow::Borrow;
use std::hash::Hash;

use proptest::prelude::*;
use sluice_dataflow::aggregate::Aggregate;
use sluice_dataflow::time::{TimestampMs, Watermark};
use sluice_dataflow::window::{
    AlignedWindows, Late, LocalPanes, WindowAggregator, WindowKind, WindowResult, WindowSpec, WindowState,
};

use crate::harness::{agg, drive, lateness, run, scenario, Agg};

/// The local half and the global half on one thread, as one `WindowState`.
struct TwoPhase {
    local: LocalPanes<u8, Agg>,
    global: AlignedWindows<u8, Agg>,
    partials: Vec<sluice_dataflow::window::PaneAcc<u8, <Agg as Aggregate>::Acc>>,
}

impl WindowState<u8, Agg> for TwoPhase {
    fn add(&mut self, key: u8, ts: TimestampMs, input: <Agg as Aggregate>::Input<'_>) -> Result<(), Late> {
        if self.local.add_borrowed(&key, ts, input) {
            return Ok(());
        }
        self.global.add(key, ts, input)
    }

    fn add_borrowed<Q>(
        &mut self,
        key: &Q,
        ts: TimestampMs,
        input: <Agg as Aggregate>::Input<'_>,
    ) -> Result<(), Late>
    where
        u8: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = u8>,
    {
        self.add(key.to_owned(), ts, input)
    }

    fn advance(&mut self, wm: Watermark, out: &mut Vec<WindowResult<u8, <Agg as Aggregate>::Output>>) {
        self.local.advance(wm, &mut self.partials);
        for p in self.partials.drain(..) {
            self.global
                .merge_pane(p.pane_start, p.key, p.acc)
                .expect("a partial is merged while its pane is open");
        }
        self.global.advance(wm, out);
    }

    fn watermark(&self) -> Watermark {
        self.global.watermark()
    }

    fn open_windows(&self) -> usize {
        self.global.open_windows()
    }

    fn state_entries(&self) -> usize {
        self.global.state_entries() + self.local.state_entries()
    }

    fn approx_state_bytes(&self, key_heap_bytes: impl Fn(&u8) -> usize) -> usize {
        self.global.approx_state_bytes(key_heap_bytes)
    }
}

proptest! {
    #[test]
    fn local_panes_then_merge_match_the_window_state(
        scenario in scenario(),
        (size, slide) in (1..15i64).prop_flat_map(|slide| (slide..=slide * 4, Just(slide))),
        offset in -60..60i64,
        lateness in lateness(),
    ) {
        let spec = WindowSpec::new(WindowKind::Hop { size, slide, offset }, lateness).unwrap();
        let WindowAggregator::Aligned(global) = WindowAggregator::<u8, Agg>::new(&spec, agg()) else {
            panic!("hop windows are aligned");
        };
        let local = LocalPanes::new(&spec, agg()).expect("aligned");
        let state = TwoPhase { local, global, partials: Vec::new() };
        let two_phase = drive(state, &scenario, |s, e, input| s.add(e.key, e.ts, input), |k| *k);
        prop_assert_eq!(two_phase, run(&spec, &scenario));
    }
}
