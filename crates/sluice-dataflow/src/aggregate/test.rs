use super::*;

/// Adds `inputs` to a fresh accumulator.
fn fold<A: Aggregate + 'static>(agg: &A, inputs: impl IntoIterator<Item = A::Input<'static>>) -> A::Acc {
    let mut acc = agg.init();
    for input in inputs {
        agg.add(&mut acc, input);
    }
    acc
}

#[test]
fn count() {
    assert_eq!(Count.finish(fold(&Count, [(), (), ()])), 3);
    assert_eq!(Count.finish(Count.init()), 0);
}

#[test]
fn sum_i64_is_exact_then_saturates() {
    let sum = Sum::<i64>::new();
    assert_eq!(sum.finish(fold(&sum, [1, 2, -10])), -7);
    // Intermediate overflow is harmless: the total fits.
    assert_eq!(sum.finish(fold(&sum, [i64::MAX, 1, -1])), i64::MAX);
    assert_eq!(sum.finish(fold(&sum, [i64::MAX, 5, -10])), i64::MAX - 5);
    assert_eq!(sum.finish(fold(&sum, [i64::MAX, i64::MAX])), i64::MAX, "saturated");
    assert_eq!(sum.finish(fold(&sum, [i64::MIN, -1])), i64::MIN, "saturated");
    let unsigned = Sum::<u64>::new();
    assert_eq!(unsigned.finish(fold(&unsigned, [u64::MAX, 1])), u64::MAX);
}

#[test]
fn sum_and_avg_f64() {
    let sum = Sum::<f64>::new();
    assert_eq!(sum.finish(fold(&sum, [0.5, 0.25])), 0.75);
    let avg = Avg::<f64>::new();
    assert_eq!(avg.finish(fold(&avg, [1.0, 2.0, 6.0])), Some(3.0));
    assert_eq!(avg.finish(avg.init()), None);
    let avg = Avg::<i64>::new();
    assert_eq!(avg.finish(fold(&avg, [i64::MAX, i64::MAX])), Some(i64::MAX as f64));
}

#[test]
fn min_max_borrow_and_skip_nan() {
    let min = Min::<str>::new();
    let max = Max::<str>::new();
    let words = ["pear", "apple", "zucchini", "fig"];
    assert_eq!(min.finish(fold(&min, words)), Some("apple".to_owned()));
    assert_eq!(max.finish(fold(&max, words)), Some("zucchini".to_owned()));
    let min = Min::<f64>::new();
    assert_eq!(min.finish(fold(&min, [&f64::NAN, &2.0, &f64::NAN, &1.5])), Some(1.5));
    assert_eq!(min.finish(fold(&min, [&f64::NAN])), None);
    let max = Max::<i64>::new();
    assert_eq!(max.finish(max.init()), None);
}

#[test]
fn count_distinct_is_exact() {
    let distinct = CountDistinct::<str>::new();
    let acc = fold(&distinct, ["a", "b", "a", "c", "b"]);
    assert!(distinct.acc_heap_bytes(&acc) > 0);
    assert_eq!(distinct.finish(acc), 3);
}

#[test]
fn first_and_last_follow_arrival_order_not_merge_order() {
    let first = First::<str>::new();
    let last = Last::<str>::new();
    // Two panes: the later pane (in event time) holds the earliest arrival.
    let early_pane = [(5, "e5"), (7, "e7")];
    let late_pane = [(1, "e1"), (9, "e9")];
    let mut acc = fold(&first, early_pane);
    first.merge(&mut acc, &fold(&first, late_pane));
    assert_eq!(first.finish(acc), Some("e1".to_owned()));
    let mut acc = fold(&last, early_pane);
    last.merge(&mut acc, &fold(&last, late_pane));
    assert_eq!(last.finish(acc), Some("e9".to_owned()));
    assert_eq!(first.finish(first.init()), None);
}

#[test]
fn tuples_compose_into_one_accumulator() {
    let agg = (Count, Sum::<i64>::new(), Avg::<i64>::new(), Max::<i64>::new());
    let inputs = [4_i64, 8, 3];
    let mut acc = agg.init();
    for x in &inputs {
        agg.add(&mut acc, ((), *x, *x, x));
    }
    assert_eq!(agg.finish(acc), (3, 15, Some(5.0), Some(8)));
}

/// Splitting the inputs in two accumulators and merging gives the same result as one
/// accumulator, for every built-in at once.
#[test]
fn merge_equals_sequential_add() {
    let agg = (
        Count,
        Sum::<i64>::new(),
        Min::<i64>::new(),
        Max::<i64>::new(),
        CountDistinct::<i64>::new(),
        First::<i64>::new(),
        Last::<i64>::new(),
        Avg::<i64>::new(),
    );
    let values: Vec<i64> = (0..40).map(|i| (i * 37 % 11) - 5).collect();
    let input = |i: usize| {
        (
            (),
            values[i],
            &values[i],
            &values[i],
            &values[i],
            (i as u64, &values[i]),
            (i as u64, &values[i]),
            values[i],
        )
    };
    for split in 0..=values.len() {
        let mut whole = agg.init();
        let (mut left, mut right) = (agg.init(), agg.init());
        for i in 0..values.len() {
            agg.add(&mut whole, input(i));
            agg.add(if i < split { &mut left } else { &mut right }, input(i));
        }
        // Merge in both directions: First/Last use the order, not the merge direction.
        let mut right_then_left = agg.init();
        agg.merge(&mut right_then_left, &right);
        agg.merge(&mut right_then_left, &left);
        agg.merge(&mut left, &right);
        let expected = agg.finish(whole);
        assert_eq!(agg.finish(left), expected, "split at {split}");
        assert_eq!(agg.finish(right_then_left), expected, "split at {split}, reversed");
    }
}
