//! Exact count of distinct values.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;
use std::marker::PhantomData;

use super::Aggregate;

/// Number of distinct inputs, exactly: the accumulator is the set of values seen.
///
/// Takes `&T` and copies a value only the first time it is seen in the window. Memory grows with
/// the number of distinct values per window and key; [`Aggregate::acc_heap_bytes`] reports the
/// set's table (not heap data owned by the values, such as string bytes).
pub struct CountDistinct<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> CountDistinct<T> {
    /// The aggregate function.
    #[must_use]
    pub const fn new() -> Self {
        CountDistinct(PhantomData)
    }
}

impl<T: ?Sized> Default for CountDistinct<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> Clone for CountDistinct<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for CountDistinct<T> {}

impl<T: ?Sized> std::fmt::Debug for CountDistinct<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountDistinct<{}>", std::any::type_name::<T>())
    }
}

impl<T> Aggregate for CountDistinct<T>
where
    T: ?Sized + Hash + Eq + ToOwned,
    T::Owned: Hash + Eq,
{
    type Input<'a>
        = &'a T
    where
        Self: 'a;
    type Acc = HashSet<T::Owned>;
    type Output = u64;

    fn init(&self) -> Self::Acc {
        HashSet::new()
    }
    #[inline]
    fn add(&self, acc: &mut Self::Acc, value: &T) {
        if !acc.contains(value) {
            acc.insert(value.to_owned());
        }
    }
    fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
        for value in other {
            self.add(acc, value.borrow());
        }
    }
    fn finish(&self, acc: Self::Acc) -> u64 {
        acc.len() as u64
    }
    fn acc_heap_bytes(&self, acc: &Self::Acc) -> usize {
        // hashbrown: one control byte per bucket plus the slots.
        acc.capacity() * (std::mem::size_of::<T::Owned>() + 1)
    }
}
