//! Property tests: the window operators against the naive reference on random out-of-order
//! streams with random bounds, lateness and window parameters.

use proptest::prelude::*;
use sluice_dataflow::window::{WindowKind, WindowSpec};

use crate::harness::{lateness, run, run_borrowed, scenario, Outcome, Scenario};
use crate::reference;

/// Checks that hold for every window kind.
fn check_common(
    spec: &WindowSpec,
    scenario: &Scenario,
    actual: &Outcome,
    expected: &Outcome,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&actual.late, &expected.late, "late events differ");
    prop_assert_eq!(&actual.rows, &expected.rows, "emitted rows differ");
    // The whole output stream is ordered by (end, start, key), each (window, key) once.
    for pair in actual.rows.windows(2) {
        let key = |r: &crate::harness::Emitted| (r.window.end, r.window.start, r.key);
        prop_assert!(key(&pair[0]) < key(&pair[1]), "order: {:?} then {:?}", pair[0], pair[1]);
    }
    prop_assert_eq!(&run_borrowed(spec, scenario), actual, "borrowed keys behave like owned keys");
    Ok(())
}

/// Each accepted event is in exactly one window: counts + late = input.
fn check_conservation(scenario: &Scenario, actual: &Outcome) -> Result<(), TestCaseError> {
    let counted: u64 = actual.rows.iter().map(|r| r.value.0).sum();
    prop_assert_eq!(counted + actual.late.len() as u64, scenario.events.len() as u64);
    Ok(())
}

proptest! {
    #[test]
    fn tumbling_matches_reference(
        scenario in scenario(), size in 1..40i64, offset in -60..60i64, lateness in lateness(),
    ) {
        let spec = WindowSpec::new(WindowKind::Tumbling { size, offset }, lateness).unwrap();
        let actual = run(&spec, &scenario);
        let expected = reference::aligned(size, size, offset, lateness, &scenario);
        check_common(&spec, &scenario, &actual, &expected)?;
        check_conservation(&scenario, &actual)?;
    }

    #[test]
    fn hop_matches_reference(
        scenario in scenario(),
        (size, slide) in (1..15i64).prop_flat_map(|slide| (slide..=slide * 4, Just(slide))),
        offset in -60..60i64,
        lateness in lateness(),
    ) {
        let spec = WindowSpec::new(WindowKind::Hop { size, slide, offset }, lateness).unwrap();
        let actual = run(&spec, &scenario);
        let expected = reference::aligned(size, slide, offset, lateness, &scenario);
        check_common(&spec, &scenario, &actual, &expected)?;
        // Each event is counted in every one of its windows still open when it arrives.
        let before = reference::Timeline::of(&scenario).before;
        let spec_windows: u64 = scenario.events.iter().zip(&before)
            .map(|(e, &wm)| spec.windows_for(e.ts).filter(|w| !reference::closed(w.end, lateness, wm)).count() as u64)
            .sum();
        prop_assert_eq!(actual.rows.iter().map(|r| r.value.0).sum::<u64>(), spec_windows);
    }

    #[test]
    fn sessions_match_reference(scenario in scenario(), gap in 1..30i64, lateness in lateness()) {
        let spec = WindowSpec::new(WindowKind::Session { gap }, lateness).unwrap();
        let actual = run(&spec, &scenario);
        let expected = reference::sessions(gap, lateness, &scenario);
        check_common(&spec, &scenario, &actual, &expected)?;
        check_conservation(&scenario, &actual)?;
        // A session starts at one of its key's accepted events and ends at one + gap.
        for row in &actual.rows {
            let accepted = |ts: i64| scenario.events.iter().enumerate()
                .any(|(i, e)| e.key == row.key && e.ts == ts && !actual.late.contains(&i));
            prop_assert!(accepted(row.window.start) && accepted(row.window.end - gap), "{:?}", row);
        }
    }
}
