//! Min, max, first and last: aggregates that keep one value.

use std::borrow::Borrow;
use std::marker::PhantomData;

use super::Aggregate;

/// Smallest input. Takes `&T`, copies only a new minimum (reusing the old allocation).
///
/// Values that are not comparable with themselves (`f64::NAN`) are ignored; the result is `None`
/// when no comparable value was seen.
pub struct Min<T: ?Sized>(PhantomData<T>);

/// Largest input; see [`Min`] for inputs and NaN.
pub struct Max<T: ?Sized>(PhantomData<T>);

/// The first input in *arrival order*, like Flink's `FIRST_VALUE`.
///
/// The input is `(order, &value)` where `order` is the record's arrival position (the runtime
/// passes its arrival counter or the log offset; it must grow with arrival and be unique).
/// Carrying the order makes the result exact when hop panes and sessions are merged — Flink uses
/// the processing time of `accumulate` for this, which is not reproducible; Sluice's order is.
/// The smallest order wins. `None` over no input.
pub struct First<T: ?Sized>(PhantomData<T>);

/// The last input in arrival order, like Flink's `LAST_VALUE`: the largest `order` wins (see
/// [`First`]).
pub struct Last<T: ?Sized>(PhantomData<T>);

macro_rules! marker_impls {
    ($name:ident) => {
        impl<T: ?Sized> $name<T> {
            /// The aggregate function.
            #[must_use]
            pub const fn new() -> Self {
                $name(PhantomData)
            }
        }
        impl<T: ?Sized> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }
        impl<T: ?Sized> Clone for $name<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T: ?Sized> Copy for $name<T> {}
        impl<T: ?Sized> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}<{}>", stringify!($name), std::any::type_name::<T>())
            }
        }
    };
}
marker_impls!(Min);
marker_impls!(Max);
marker_impls!(First);
marker_impls!(Last);

/// Replaces `acc` with `value` when `acc` is empty or `better(value, current)`.
#[inline]
fn keep<T: ?Sized + ToOwned>(acc: &mut Option<T::Owned>, value: &T, better: impl Fn(&T, &T) -> bool) {
    match acc {
        Some(current) => {
            if better(value, (*current).borrow()) {
                value.clone_into(current);
            }
        }
        None => *acc = Some(value.to_owned()),
    }
}

macro_rules! extreme {
    ($name:ident, $op:tt) => {
        impl<T: ?Sized + PartialOrd + ToOwned> Aggregate for $name<T> {
            type Input<'a>
                = &'a T
            where
                Self: 'a;
            type Acc = Option<T::Owned>;
            type Output = Option<T::Owned>;

            fn init(&self) -> Self::Acc {
                None
            }
            #[inline]
            #[allow(clippy::eq_op)]
            fn add(&self, acc: &mut Self::Acc, value: &T) {
                // NaN and other values unordered with themselves are skipped.
                if value.partial_cmp(value).is_some() {
                    keep(acc, value, |new, current| new $op current);
                }
            }
            fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
                if let Some(value) = other {
                    keep(acc, value.borrow(), |new, current| new $op current);
                }
            }
            fn finish(&self, acc: Self::Acc) -> Self::Output {
                acc
            }
        }
    };
}
extreme!(Min, <);
extreme!(Max, >);

/// Replaces `acc` with `(order, value)` when `acc` is empty or `better(order, current order)`.
#[inline]
fn keep_ordered<T: ?Sized + ToOwned>(
    acc: &mut Option<(u64, T::Owned)>,
    order: u64,
    value: &T,
    better: impl Fn(u64, u64) -> bool,
) {
    match acc {
        Some((current_order, current)) => {
            if better(order, *current_order) {
                *current_order = order;
                value.clone_into(current);
            }
        }
        None => *acc = Some((order, value.to_owned())),
    }
}

macro_rules! positional {
    ($name:ident, $op:tt) => {
        impl<T: ?Sized + ToOwned> Aggregate for $name<T> {
            type Input<'a>
                = (u64, &'a T)
            where
                Self: 'a;
            /// (order, value)
            type Acc = Option<(u64, T::Owned)>;
            type Output = Option<T::Owned>;

            fn init(&self) -> Self::Acc {
                None
            }
            #[inline]
            fn add(&self, acc: &mut Self::Acc, (order, value): (u64, &T)) {
                keep_ordered(acc, order, value, |new, current| new $op current);
            }
            fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
                if let Some((order, value)) = other {
                    keep_ordered(acc, *order, value.borrow(), |new, current| new $op current);
                }
            }
            fn finish(&self, acc: Self::Acc) -> Self::Output {
                acc.map(|(_, value)| value)
            }
        }
    };
}
positional!(First, <);
positional!(Last, >);
