//! Kafka-compatible default partitioning of keyed records.
//!
//! A record with a key goes to `toPositive(murmur2(key)) % partitions`, exactly as Kafka's Java
//! producer does (`BuiltInPartitioner.partitionForKey`). Matching it bit for bit means a topic
//! mirrored between Sluice and Kafka keeps every key on the same partition number, so per-key
//! ordering survives the move. Records without a key are not partitioned here: the caller picks a
//! partition for them (round robin or sticky).
//!
//! Changing either function changes where existing keys land; treat them as a wire format.

use sluice_types::PartitionId;

/// Kafka's 32-bit murmur2 hash, `org.apache.kafka.common.utils.Utils.murmur2`.
///
/// Returns the same signed `int` the Java client computes for the same bytes. Java's `int`
/// arithmetic wraps and its `>>>` is a logical shift, so the hash is computed on `u32` with
/// wrapping multiplication and reinterpreted as `i32` at the end.
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java mixes in `data.length`, an `int`; Java arrays never exceed `i32::MAX` bytes, and for
    // longer Rust slices truncating to 32 bits is as good a mix-in as any.
    #[allow(clippy::cast_possible_truncation)]
    let mut h = SEED ^ (data.len() as u32);

    let (words, tail) = data.as_chunks::<4>();
    for word in words {
        let mut k = u32::from_le_bytes(*word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // Java's `switch (length % 4)` falls through from case 3 to case 1: the one to three tail
    // bytes are xored in little-endian order, then multiplied by `m` once, only if there are any.
    if !tail.is_empty() {
        let k = tail.iter().rev().fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
        h = (h ^ k).wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h.cast_signed()
}

/// The partition Kafka's default partitioner chooses for `key` in a topic of `partitions`
/// partitions: `(murmur2(key) & 0x7fffffff) % partitions`.
///
/// Kafka clears the sign bit (`Utils.toPositive`) rather than taking `abs`, which would leave
/// `i32::MIN` negative; doing the same keeps the results identical.
///
/// `partitions` must be at least 1. Every topic has at least one partition (topic creation
/// rejects 0), so callers pass a validated count; a stray 0 is treated as 1 and yields
/// partition 0 instead of a division-by-zero panic.
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: u32) -> PartitionId {
    let positive = murmur2(key).cast_unsigned() & 0x7fff_ffff;
    // `max(1)` only guards the division; see the doc above for why 0 never arrives here.
    PartitionId(positive % partitions.max(1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Kafka's own vectors: `UtilsTest.testMurmur2` in
    /// apache/kafka `clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java`.
    const KAFKA_VECTORS: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
    ];

    /// librdkafka's Java-compatibility vectors (`unittest_murmur2` in
    /// confluentinc/librdkafka `src/rdmurmur2.c`). They add the empty key and tails of one,
    /// two and three bytes, which Kafka's list does not cover fully.
    const LIBRDKAFKA_VECTORS: [(&[u8], i32); 11] = [
        (b"kafka", 0xd067_cf64_u32.cast_signed()),
        (b"giberish123456789", 0x8f55_2b0c_u32.cast_signed()),
        (b"1234", 0x9fc9_7b14_u32.cast_signed()),
        (b"234", 0xe7c0_09ca_u32.cast_signed()),
        (b"34", 0x8739_30da_u32.cast_signed()),
        (b"4", 0x5a4b_5ca1_u32.cast_signed()),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c_u32.cast_signed()),
        (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377_u32.cast_signed()),
        (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e_u32.cast_signed()),
        (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f_u32.cast_signed()),
        (b"", 275_646_681),
    ];

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        for (key, expected) in KAFKA_VECTORS {
            assert_eq!(murmur2(key), expected, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_matches_librdkafka_java_vectors() {
        for (key, expected) in LIBRDKAFKA_VECTORS {
            assert_eq!(murmur2(key), expected, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_for_key_follows_kafka_formula() {
        // Expected values worked out from the verified hashes above, sign bit cleared:
        // "foobar" -790332482 -> 1357151166, "21" -973932308 -> 1173551340,
        // "abc" 479470107 (already positive), "a-little-bit-long-string" -> 1161502112.
        let cases: [(&[u8], u32, u32); 8] = [
            (b"foobar", 12, 6),
            (b"foobar", 100, 66),
            (b"21", 12, 0),
            (b"21", 7, 3),
            (b"abc", 12, 3),
            (b"abc", 1, 0),
            (b"a-little-bit-long-string", 12, 8),
            (b"a-little-bit-long-string", 100, 12),
        ];
        for (key, partitions, expected) in cases {
            assert_eq!(
                partition_for_key(key, partitions),
                PartitionId(expected),
                "key {:?} over {partitions} partitions",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn zero_partitions_does_not_panic() {
        assert_eq!(partition_for_key(b"foobar", 0), PartitionId(0));
    }

    proptest! {
        #[test]
        fn partition_is_always_in_range(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            partitions in 1u32..10_000,
        ) {
            prop_assert!(partition_for_key(&key, partitions).0 < partitions);
        }
    }
}
