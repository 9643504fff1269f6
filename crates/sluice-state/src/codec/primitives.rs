//! Codecs of integers, floats, `bool`, `String`, `Option` and tuples.

use super::{encode_len, CodecError, Decoder, StateCodec};

macro_rules! fixed_width {
    ($($ty:ty),*) => {$(
        impl StateCodec for $ty {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }

            #[inline]
            fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
                Ok(<$ty>::from_le_bytes(input.array(stringify!($ty))?))
            }
        }
    )*};
}

fixed_width!(u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl StateCodec for u8 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }

    #[inline]
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let [byte] = input.array("u8")?;
        Ok(byte)
    }

    fn encode_slice(items: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(items);
    }

    fn decode_vec(len: usize, input: &mut Decoder<'_>) -> Result<Vec<u8>, CodecError> {
        Ok(input.take(len, "bytes")?.to_vec())
    }
}

impl StateCodec for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out);
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let at = input.position();
        let value = u64::decode(input)?;
        usize::try_from(value).map_err(|_| CodecError {
            what: "usize",
            offset: at,
            reason: format!("{value} does not fit this platform's usize"),
        })
    }
}

impl StateCodec for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out);
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let at = input.position();
        let value = i64::decode(input)?;
        isize::try_from(value).map_err(|_| CodecError {
            what: "isize",
            offset: at,
            reason: format!("{value} does not fit this platform's isize"),
        })
    }
}

impl StateCodec for bool {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }

    #[inline]
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        match input.array::<1>("bool")? {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => Err(input.error("bool", format!("byte {other} is neither 0 nor 1"))),
        }
    }
}

impl StateCodec for String {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }

    #[inline]
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let len = input.read_len("String length")?;
        let at = input.position();
        let bytes = input.take(len, "String")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(CodecError { what: "String", offset: at, reason: format!("not UTF-8: {e}") }),
        }
    }
}

impl<T: StateCodec> StateCodec for Option<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }

    #[inline]
    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        match input.array::<1>("Option tag")? {
            [0] => Ok(None),
            [1] => Ok(Some(T::decode(input)?)),
            [other] => Err(input.error("Option tag", format!("byte {other} is neither 0 nor 1"))),
        }
    }
}

impl<T: StateCodec> StateCodec for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }

    fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
        T::decode(input).map(Box::new)
    }
}

macro_rules! tuple {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: StateCodec),+> StateCodec for ($($name,)+) {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                $(self.$idx.encode(out);)+
            }

            #[inline]
            fn decode(input: &mut Decoder<'_>) -> Result<Self, CodecError> {
                Ok(($($name::decode(input)?,)+))
            }
        }
    };
}

tuple!(A.0);
tuple!(A.0, B.1);
tuple!(A.0, B.1, C.2);
tuple!(A.0, B.1, C.2, D.3);
tuple!(A.0, B.1, C.2, D.3, E.4);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
