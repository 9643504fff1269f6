//! The state codec: how keys, values and accumulators become snapshot bytes and back.
//!
//! # Encoding
//!
//! - Fixed-width integers and floats are little endian (`u64` is 8 bytes, `f64` its IEEE bits,
//!   so NaN payloads and `-0.0` survive); `bool` is one byte, 0 or 1; `usize`/`isize` are
//!   written as 64-bit.
//! - Lengths (of strings, byte vectors, collections) are unsigned LEB128 varints: one byte below
//!   128, at most ten.
//! - `String` and `Vec<u8>` are a length and the bytes; `Vec<T>`, sets and maps a length and the
//!   elements (maps: key then value); `Option<T>` a tag byte (0 = none, 1 = some) and the value;
//!   tuples their fields in order, with no framing.
//! - Hash maps and sets are written in iteration order, so two equal states may encode to
//!   different bytes; decoding gives equal values. `BTreeMap`/`BTreeSet` are in key order.
//!
//! # Decoding hostile bytes
//!
//! [`StateCodec::decode`] reads from a [`Decoder`], a cursor over a byte slice. It never panics
//! and never reads past the slice. Every encoding is **at least one byte long**, so a length
//! prefix larger than the bytes that remain is rejected before anything is allocated; and
//! collections preallocate at most [`PREALLOC_LIMIT`] elements, so the memory a decode takes is
//! bounded by a small multiple of its input. A map or set with a repeated key is an error, not
//! a silent overwrite. Errors name the type being decoded and the byte offset.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sluice_state::codec::{decode_all, StateCodec};
//!
//! let state: (String, Option<i64>, BTreeMap<u32, Vec<f64>>) =
//!     ("/home".into(), Some(-3), BTreeMap::from([(7, vec![0.5, 1.5])]));
//! let mut bytes = Vec::new();
//! state.encode(&mut bytes);
//! assert_eq!(decode_all::<(String, Option<i64>, BTreeMap<u32, Vec<f64>>)>(&bytes)?, state);
//! assert!(decode_all::<(String, Option<i64>, BTreeMap<u32, Vec<f64>>)>(&bytes[..5]).is_err());
//! # Ok::<(), sluice_state::codec::CodecError>(())
//! ```

mod collections;
mod primitives;

pub use crate::error::CodecError;

/// Most elements a collection preallocates while decoding, whatever its length prefix says.
pub const PREALLOC_LIMIT: usize = 4096;

/// A value that can be written to and read from a snapshot; see the [module docs](self) for
/// the encoding.
///
/// Implementations must write at least one byte, and `decode` must accept exactly what
/// `encode` wrote: `decode(encode(x)) == x` and consumes every byte written.
pub trait StateCodec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from `input`, advancing it.
    ///
    /// # Errors
    /// [`CodecError`] naming the type and offset when the bytes are not a valid encoding.
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError>;

    /// Encodes a slice's elements back to back (overridden by `u8` to copy the bytes at once).
    #[doc(hidden)]
    fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
        for item in items {
            item.encode(out);
        }
    }

    /// Decodes `len` elements (overridden by `u8`). `len` has been checked against the input.
    #[doc(hidden)]
    fn decode_vec(len: usize, input: &mut Decoder<'_>) -> Result<Vec<Self>, CodecError> {
        let mut items = Vec::with_capacity(len.min(PREALLOC_LIMIT));
        for _ in 0..len {
            items.push(Self::decode(input)?);
        }
        Ok(items)
    }
}

/// Decodes one `T` from `bytes`, which must hold exactly one encoding.
///
/// # Errors
/// [`CodecError`] if the bytes are not a valid encoding of `T` or bytes are left over.
pub fn decode_all<T: StateCodec>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut input = Decoder::new(bytes);
    let value = T::decode(&mut input)?;
    input.finish(std::any::type_name::<T>())?;
    Ok(value)
}

/// Encodes `value` into a new vector.
#[must_use]
pub fn encode_to_vec<T: StateCodec>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Appends `len` as an unsigned LEB128 varint.
#[inline]
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    let mut v = len as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over the bytes being decoded.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Whether every byte has been consumed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// [`CodecError`] naming `what` if fewer than `n` bytes are left.
    #[inline]
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(self.error(what, format!("needs {n} bytes, {} left", self.remaining()))),
        }
    }

    /// The next `N` bytes as an array.
    ///
    /// # Errors
    /// [`CodecError`] naming `what` if fewer than `N` bytes are left.
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A varint length (see [`encode_len`]) of elements that take at least one byte each: it
    /// must not exceed the bytes left.
    ///
    /// # Errors
    /// [`CodecError`] naming `what` for a malformed varint or a length beyond the input.
    pub fn read_len(&mut self, what: &'static str) -> Result<usize, CodecError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let [byte] = self.array::<1>(what)?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error_at(start, what, "length varint overflows 64 bits".into()));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return match usize::try_from(value) {
                    Ok(len) if len <= self.remaining() => Ok(len),
                    _ => Err(self.error_at(
                        start,
                        what,
                        format!("length {value} exceeds the {} bytes left", self.remaining()),
                    )),
                };
            }
        }
        Err(self.error_at(start, what, "length varint longer than 10 bytes".into()))
    }

    /// Checks that every byte was consumed.
    ///
    /// # Errors
    /// [`CodecError`] naming `what` if bytes are left over.
    pub fn finish(&self, what: &'static str) -> Result<(), CodecError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(what, format!("{} unexpected bytes after the value", self.remaining())))
        }
    }

    /// An error about `what` at the current position.
    #[must_use]
    pub fn error(&self, what: &'static str, reason: String) -> CodecError {
        self.error_at(self.pos, what, reason)
    }

    fn error_at(&self, offset: usize, what: &'static str, reason: String) -> CodecError {
        CodecError { what, offset, reason }
    }
}

#[cfg(test)]
mod test;
