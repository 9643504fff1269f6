//! Codecs of vectors, sets and maps: a varint length, then the elements.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

use super::{encode_len, CodecError, Decoder, StateCodec, PREALLOC_LIMIT};

impl<T: StateCodec> StateCodec for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        T::encode_slice(self, out);
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("Vec length")?;
        T::decode_vec(len, input)
    }
}

impl<T: StateCodec> StateCodec for VecDeque<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        let (a, b) = self.as_slices();
        T::encode_slice(a, out);
        T::encode_slice(b, out);
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("VecDeque length")?;
        T::decode_vec(len, input).map(VecDeque::from)
    }
}

fn duplicate(input: &Decoder<'_>, what: &'static str) -> CodecError {
    input.error(what, "repeated key".into())
}

impl<K, V, S> StateCodec for HashMap<K, V, S>
where
    K: StateCodec + Hash + Eq,
    V: StateCodec,
    S: BuildHasher + Default,
{
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("HashMap length")?;
        let mut map = HashMap::with_capacity_and_hasher(len.min(PREALLOC_LIMIT), S::default());
        for _ in 0..len {
            let k = K::decode(input)?;
            let v = V::decode(input)?;
            if map.insert(k, v).is_some() {
                return Err(duplicate(input, "HashMap"));
            }
        }
        Ok(map)
    }
}

impl<T, S> StateCodec for HashSet<T, S>
where
    T: StateCodec + Hash + Eq,
    S: BuildHasher + Default,
{
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for item in self {
            item.encode(out);
        }
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("HashSet length")?;
        let mut set = HashSet::with_capacity_and_hasher(len.min(PREALLOC_LIMIT), S::default());
        for _ in 0..len {
            if !set.insert(T::decode(input)?) {
                return Err(duplicate(input, "HashSet"));
            }
        }
        Ok(set)
    }
}

impl<K: StateCodec + Ord, V: StateCodec> StateCodec for BTreeMap<K, V> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("BTreeMap length")?;
        let mut map = BTreeMap::new();
        for _ in 0..len {
            let k = K::decode(input)?;
            let v = V::decode(input)?;
            if map.insert(k, v).is_some() {
                return Err(duplicate(input, "BTreeMap"));
            }
        }
        Ok(map)
    }
}

impl<T: StateCodec + Ord> StateCodec for BTreeSet<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for item in self {
            item.encode(out);
        }
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("BTreeSet length")?;
        let mut set = BTreeSet::new();
        for _ in 0..len {
            if !set.insert(T::decode(input)?) {
                return Err(duplicate(input, "BTreeSet"));
            }
        }
        Ok(set)
    }
}
