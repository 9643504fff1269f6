use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Debug;

use proptest::collection::{btree_map, btree_set, hash_map, hash_set, vec};
use proptest::option;
use proptest::prelude::*;

use super::{decode_all, encode_len, encode_to_vec, Decoder, StateCodec};

/// Round trip, plus: every strict prefix fails to decode as a whole value.
fn check<T: StateCodec + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(value);
    prop_assert!(!bytes.is_empty());
    prop_assert_eq!(&decode_all::<T>(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?, value);
    for cut in 0..bytes.len() {
        prop_assert!(decode_all::<T>(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
    }
    Ok(())
}

proptest! {
    #[test]
    fn integers_and_floats(a: u8, b: u16, c: u32, d: u64, e: i8, f: i16, g: i32, h: i64, i: u128, j: i128) {
        check(&(a, b, c, d, e, f, g, h))?;
        check(&(i, j, usize::from(b), isize::from(f)))?;
    }

    #[test]
    fn floats_keep_their_bits(x: f64, y: f32) {
        let (x2, y2) = decode_all::<(f64, f32)>(&encode_to_vec(&(x, y))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((x.to_bits(), y.to_bits()), (x2.to_bits(), y2.to_bits()));
    }

    #[test]
    fn strings_bytes_options(s in ".{0,20}", bytes in vec(any::<u8>(), 0..40), o: Option<i64>, flag: bool) {
        check(&(s.clone(), bytes, o, flag))?;
        check(&Some(Box::new(s)))?;
    }

    #[test]
    fn collections(
        v in vec((any::<u32>(), ".{0,6}"), 0..8),
        d in vec(any::<i16>(), 0..8),
        m in hash_map(".{0,6}", vec(any::<i64>(), 0..4), 0..6),
        s in hash_set(any::<i64>(), 0..8),
        bm in btree_map(any::<i64>(), option::of(".{0,6}"), 0..6),
        bs in btree_set(".{0,6}", 0..6),
    ) {
        check(&v)?;
        check(&VecDeque::from(d))?;
        check(&(m, s))?;
        check(&(bm, bs))?;
    }

    #[test]
    fn lengths_round_trip(len in 0usize..70_000, extra in 0usize..3) {
        let mut out = Vec::new();
        encode_len(len, &mut out);
        let prefix = out.len();
        out.resize(prefix + len + extra, 0);
        let mut input = Decoder::new(&out);
        prop_assert_eq!(input.read_len("len").map_err(|e| TestCaseError::fail(e.to_string()))?, len);
        prop_assert_eq!(input.position(), prefix);
        // One byte short of the claimed length is refused.
        if len > 0 {
            out.truncate(prefix + len - 1);
            prop_assert!(Decoder::new(&out).read_len("len").is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_all::<(String, Vec<u64>, HashMap<String, BTreeSet<i32>>)>(&bytes);
        let _ = decode_all::<Vec<Option<(bool, f64, Vec<u8>)>>>(&bytes);
    }
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    // A Vec<u64> claiming 2^40 elements in 6 bytes.
    let mut bytes = Vec::new();
    encode_len(1 << 40, &mut bytes);
    let err = decode_all::<Vec<u64>>(&bytes).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("cannot decode Vec length at byte 0: length 1099511627776 exceeds the 0 bytes left")
    );
    // Eleven continuation bytes.
    let err = decode_all::<String>(&[0xff; 11]).err();
    assert!(err.is_some_and(|e| e.reason.contains("overflows") || e.reason.contains("longer")));
}

#[test]
fn invalid_tags_and_utf8_and_duplicates_are_errors() {
    assert!(decode_all::<bool>(&[2]).is_err());
    assert!(decode_all::<Option<u8>>(&[7, 1]).is_err());
    let err = decode_all::<String>(&[2, 0xc3, 0x28]).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("String at byte 1: not UTF-8")));
    // A set holding 5 twice.
    let mut bytes = Vec::new();
    encode_len(2, &mut bytes);
    5i32.encode(&mut bytes);
    5i32.encode(&mut bytes);
    assert!(decode_all::<HashSet<i32>>(&bytes).is_err());
    assert!(decode_all::<BTreeSet<i32>>(&bytes).is_err());
    // Trailing bytes.
    assert!(decode_all::<u8>(&[1, 2]).is_err());
}
