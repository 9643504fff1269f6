//! Count, sum and average.

use std::marker::PhantomData;

use super::Aggregate;

/// Number of records. Input: `()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count;

impl Aggregate for Count {
    type Input<'a> = ();
    type Acc = u64;
    type Output = u64;

    #[inline]
    fn init(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, acc: &mut u64, (): ()) {
        *acc += 1;
    }
    fn merge(&self, acc: &mut u64, other: &u64) {
        *acc += other;
    }
    fn finish(&self, acc: u64) -> u64 {
        acc
    }
}

/// A number that [`Sum`] and [`Avg`] can add up: `i64`, `u64` or `f64`.
///
/// Integers are summed exactly in a 128-bit accumulator, so intermediate overflow cannot happen
/// (it would take 2^64 records), and the sum is *saturated* to the type's range only at the end:
/// `[i64::MAX, 1, -1]` sums to `i64::MAX`, not to an overflow error or a wrapped value. `f64` is
/// summed in record order (merge order for panes and sessions), which is deterministic.
pub trait Summable: Copy {
    /// The accumulator.
    type Total: Copy + Default + std::fmt::Debug;
    /// `total += value`.
    fn accumulate(total: &mut Self::Total, value: Self);
    /// `total += other`.
    fn combine(total: &mut Self::Total, other: Self::Total);
    /// The sum, saturated to `Self`'s range.
    fn total(total: Self::Total) -> Self;
    /// The sum as `f64`, for averages.
    fn as_f64(total: Self::Total) -> f64;
}

macro_rules! summable_int {
    ($ty:ty, $wide:ty) => {
        impl Summable for $ty {
            type Total = $wide;
            #[inline]
            fn accumulate(total: &mut $wide, value: $ty) {
                // Cannot wrap: |value| < 2^64 and the total has 127 bits.
                *total = total.wrapping_add(<$wide>::from(value));
            }
            fn combine(total: &mut $wide, other: $wide) {
                *total = total.saturating_add(other);
            }
            fn total(total: $wide) -> $ty {
                <$ty>::try_from(total).unwrap_or(if total > 0 { <$ty>::MAX } else { <$ty>::MIN })
            }
            #[allow(clippy::cast_precision_loss)]
            fn as_f64(total: $wide) -> f64 {
                total as f64
            }
        }
    };
}
summable_int!(i64, i128);
summable_int!(u64, u128);

impl Summable for f64 {
    type Total = f64;
    #[inline]
    fn accumulate(total: &mut f64, value: f64) {
        *total += value;
    }
    fn combine(total: &mut f64, other: f64) {
        *total += other;
    }
    fn total(total: f64) -> f64 {
        total
    }
    fn as_f64(total: f64) -> f64 {
        total
    }
}

/// Sum of the inputs. `Sum<i64>` saturates at the end instead of overflowing (see [`Summable`]).
pub struct Sum<T>(PhantomData<T>);

/// Arithmetic mean of the inputs, as `f64`; `None` over no input.
pub struct Avg<T>(PhantomData<T>);

macro_rules! marker_impls {
    ($name:ident) => {
        impl<T> $name<T> {
            /// The aggregate function.
            #[must_use]
            pub const fn new() -> Self {
                $name(PhantomData)
            }
        }
        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $name<T> {}
        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}<{}>", stringify!($name), std::any::type_name::<T>())
            }
        }
    };
}
marker_impls!(Sum);
marker_impls!(Avg);

impl<T: Summable> Aggregate for Sum<T> {
    type Input<'a>
        = T
    where
        Self: 'a;
    type Acc = T::Total;
    type Output = T;

    #[inline]
    fn init(&self) -> T::Total {
        T::Total::default()
    }
    #[inline]
    fn add(&self, acc: &mut T::Total, value: T) {
        T::accumulate(acc, value);
    }
    fn merge(&self, acc: &mut T::Total, other: &T::Total) {
        T::combine(acc, *other);
    }
    fn finish(&self, acc: T::Total) -> T {
        T::total(acc)
    }
}

impl<T: Summable> Aggregate for Avg<T> {
    type Input<'a>
        = T
    where
        Self: 'a;
    /// (sum, count)
    type Acc = (T::Total, u64);
    type Output = Option<f64>;

    #[inline]
    fn init(&self) -> Self::Acc {
        (T::Total::default(), 0)
    }
    #[inline]
    fn add(&self, acc: &mut Self::Acc, value: T) {
        T::accumulate(&mut acc.0, value);
        acc.1 += 1;
    }
    fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
        T::combine(&mut acc.0, other.0);
        acc.1 += other.1;
    }
    #[allow(clippy::cast_precision_loss)]
    fn finish(&self, (sum, count): Self::Acc) -> Option<f64> {
        (count > 0).then(|| T::as_f64(sum) / count as f64)
    }
}
