//! Several aggregates at once: a tuple of aggregates is an aggregate.

use super::Aggregate;

macro_rules! tuple_aggregate {
    ($($agg:ident $idx:tt),+) => {
        impl<$($agg: Aggregate),+> Aggregate for ($($agg,)+) {
            type Input<'a>
                = ($($agg::Input<'a>,)+)
            where
                Self: 'a;
            type Acc = ($($agg::Acc,)+);
            type Output = ($($agg::Output,)+);

            fn init(&self) -> Self::Acc {
                ($(self.$idx.init(),)+)
            }
            #[inline]
            fn add(&self, acc: &mut Self::Acc, input: Self::Input<'_>) {
                $(self.$idx.add(&mut acc.$idx, input.$idx);)+
            }
            fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
                $(self.$idx.merge(&mut acc.$idx, &other.$idx);)+
            }
            fn finish(&self, acc: Self::Acc) -> Self::Output {
                ($(self.$idx.finish(acc.$idx),)+)
            }
            fn acc_heap_bytes(&self, acc: &Self::Acc) -> usize {
                0 $(+ self.$idx.acc_heap_bytes(&acc.$idx))+
            }
        }
    };
}

tuple_aggregate!(A 0);
tuple_aggregate!(A 0, B 1);
tuple_aggregate!(A 0, B 1, C 2);
tuple_aggregate!(A 0, B 1, C 2, D 3);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
