use super::*;

#[test]
fn bounded_out_of_orderness_tracks_max_minus_bound() {
    let mut g = BoundedOutOfOrderness::new(10).unwrap();
    assert_eq!(g.current(), Watermark::MIN);
    assert_eq!(g.observe(100), Watermark(90));
    assert_eq!(g.observe(95), Watermark(90), "an older event does not move it back");
    assert_eq!(g.observe(130), Watermark(120));
    g.end_of_input();
    assert_eq!(g.current(), Watermark::MAX);
    assert_eq!(g.observe(140), Watermark::MAX, "the end is final");
}

#[test]
fn bounded_out_of_orderness_saturates_and_never_says_end() {
    let mut g = BoundedOutOfOrderness::new(1_000).unwrap();
    assert_eq!(g.observe(i64::MIN + 5), Watermark::MIN);
    let mut g = BoundedOutOfOrderness::new(0).unwrap();
    assert_eq!(g.observe(i64::MAX), Watermark(i64::MAX - 1));
}

#[test]
fn negative_bound_is_refused() {
    let err = BoundedOutOfOrderness::new(-1).unwrap_err();
    assert_eq!(err.to_string(), "out-of-orderness bound must be >= 0, got -1");
    assert_eq!(err.kind(), sluice_types::ErrorKind::User);
}

#[test]
fn generator_trait_drives_both_modes() {
    fn feed(g: &mut impl WatermarkGenerator) -> Watermark {
        g.on_record(1_000, 50);
        g.on_tick(70);
        g.current()
    }
    assert_eq!(feed(&mut BoundedOutOfOrderness::new(100).unwrap()), Watermark(900));
    assert_eq!(feed(&mut ProcessingTime::new()), Watermark(70));
}

#[test]
fn processing_time_is_monotone() {
    let mut p = ProcessingTime::default();
    assert_eq!(p.current(), Watermark::MIN);
    assert_eq!(p.advance(100), Watermark(100));
    assert_eq!(p.advance(90), Watermark(100), "a clock step back does not regress");
    p.end_of_input();
    assert_eq!(p.advance(200), Watermark::MAX);
}

#[test]
fn combiner_is_the_minimum_over_inputs() {
    let mut c = WatermarkCombiner::new(3, None, 0).unwrap();
    assert_eq!(c.update(0, Watermark(50), 0), None);
    assert_eq!(c.update(1, Watermark(20), 0), None);
    assert_eq!(c.current(), Watermark::MIN, "input 2 has said nothing");
    assert_eq!(c.update(2, Watermark(30), 0), Some(Watermark(20)));
    assert_eq!(c.update(1, Watermark(40), 0), Some(Watermark(30)));
    assert_eq!(c.update(2, Watermark(60), 0), Some(Watermark(40)));
    assert_eq!(c.input_watermark(0), Watermark(50));
}

#[test]
fn combiner_ignores_per_input_regressions() {
    let mut c = WatermarkCombiner::new(1, None, 0).unwrap();
    assert_eq!(c.update(0, Watermark(50), 0), Some(Watermark(50)));
    assert_eq!(c.update(0, Watermark(10), 0), None);
    assert_eq!(c.input_watermark(0), Watermark(50));
    assert_eq!(c.current(), Watermark(50));
}

#[test]
fn idle_input_stops_holding_back_and_comes_back_with_data() {
    let mut c = WatermarkCombiner::new(2, Some(100), 0).unwrap();
    c.update(0, Watermark(10), 5);
    c.update(1, Watermark(5), 5);
    assert_eq!(c.current(), Watermark(5));
    c.update(0, Watermark(40), 80);
    assert_eq!(c.tick(104), None, "input 1 silent for 99 ms: not idle yet");
    assert_eq!(c.tick(105), Some(Watermark(40)), "silent for 100 ms: idle");
    assert!(c.is_idle(1));
    assert!(!c.is_idle(0));
    // Input 0 is silent too since t=80: at t=180 everything is idle and the watermark holds.
    assert_eq!(c.tick(180), None);
    assert!(c.is_idle(0));
    assert_eq!(c.current(), Watermark(40));
    // Input 1 comes back below the combined watermark: active again, no regression.
    assert_eq!(c.update(1, Watermark(30), 200), None);
    assert!(!c.is_idle(1));
    assert_eq!(c.current(), Watermark(40));
    assert_eq!(c.update(1, Watermark(70), 210), Some(Watermark(70)), "input 0 still idle");
    assert_eq!(c.update(0, Watermark(60), 220), None, "input 0 back, below: holds at 70");
    assert_eq!(c.update(0, Watermark(90), 230), None, "input 1 at 70 is now the minimum");
    assert_eq!(c.update(1, Watermark(95), 240), Some(Watermark(90)));
}

#[test]
fn explicit_idleness_without_timeout() {
    let mut c = WatermarkCombiner::new(2, None, 0).unwrap();
    c.update(0, Watermark(10), 0);
    assert_eq!(c.tick(i64::MAX), None, "no timeout: never idle by itself");
    assert_eq!(c.mark_idle(1), Some(Watermark(10)));
    assert_eq!(c.mark_active(1, 5), None);
    c.update(0, Watermark(20), 6);
    assert_eq!(c.current(), Watermark(10), "input 1 active again at MIN holds it");
}

#[test]
fn ended_inputs_count_as_max() {
    let mut c = WatermarkCombiner::new(2, Some(10), 0).unwrap();
    c.update(0, Watermark(10), 0);
    c.update(1, Watermark(20), 0);
    assert_eq!(c.finish(0), Some(Watermark(20)));
    assert_eq!(c.update(0, Watermark(500), 1), None, "updates after the end are ignored");
    // The last live input idles: the watermark holds, it does not jump to MAX.
    assert_eq!(c.tick(100), None);
    assert_eq!(c.current(), Watermark(20));
    assert_eq!(c.update(1, Watermark::MAX, 101), Some(Watermark::MAX));
    assert_eq!(c.current(), Watermark::MAX);
}

#[test]
fn combiner_rejects_bad_parameters() {
    assert!(WatermarkCombiner::new(0, None, 0).is_err());
    assert!(WatermarkCombiner::new(1, Some(0), 0).is_err());
}

#[test]
#[should_panic(expected = "input 3 does not exist")]
fn unknown_input_panics() {
    let mut c = WatermarkCombiner::new(2, None, 0).unwrap();
    c.update(3, Watermark(1), 0);
}
