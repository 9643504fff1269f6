//! One pass over a JSON line: validate it and pick out the top-level fields `produce` needs.
//!
//! `produce` keeps a record's value as the exact bytes of its line, so it never needs a
//! `serde_json::Value`. Each line is parsed once: into [`serde::de::IgnoredAny`] when no field
//! is wanted (validation only, no allocation), else by a visitor that walks the top-level
//! object, skips every member it does not want, and keeps the wanted ones as borrowed
//! [`RawValue`]s — their exact JSON text, so a numeric key keeps its original spelling.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The top-level fields to pick out of each line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted<'f> {
    /// Field holding the record key.
    pub key: Option<&'f str>,
    /// Field holding the event time.
    pub timestamp: Option<&'f str>,
}

/// The wanted fields found in one line (`None`: absent, or the line is not an object). A field
/// that occurs twice keeps its last value, as `serde_json::Value` would.
#[derive(Debug, Default)]
pub struct Found<'a> {
    /// The key field's JSON text.
    pub key: Option<&'a RawValue>,
    /// The timestamp field's JSON text.
    pub timestamp: Option<&'a RawValue>,
}

impl<'f> Wanted<'f> {
    /// Validates `line` as one JSON value and returns the wanted fields.
    ///
    /// # Errors
    /// The line is not valid JSON (trailing characters included).
    pub fn scan<'a>(&self, line: &'a [u8]) -> serde_json::Result<Found<'a>> {
        if self.key.is_none() && self.timestamp.is_none() {
            serde_json::from_slice::<IgnoredAny>(line)?;
            return Ok(Found::default());
        }
        let mut de = serde_json::Deserializer::from_slice(line);
        let found = LineVisitor { wanted: *self }.deserialize(&mut de)?;
        de.end()?;
        Ok(found)
    }
}

/// Walks one JSON value, keeping the wanted members if it is an object.
struct LineVisitor<'f> {
    wanted: Wanted<'f>,
}

impl<'de> DeserializeSeed<'de> for LineVisitor<'_> {
    type Value = Found<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found::default();
        while let Some(role) = map.next_key_seed(KeyRole { wanted: self.wanted })? {
            match role {
                KeyRole::NONE => {
                    map.next_value::<IgnoredAny>()?;
                }
                (is_key, is_ts) => {
                    let raw: &'de RawValue = map.next_value()?;
                    if is_key {
                        found.key = Some(raw);
                    }
                    if is_ts {
                        found.timestamp = Some(raw);
                    }
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Found::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Found::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Found::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Found::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Found::default())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Found::default())
    }
}

/// Classifies an object member's name as (is the key field, is the timestamp field) without
/// allocating it.
struct KeyRole<'f> {
    wanted: Wanted<'f>,
}

impl KeyRole<'_> {
    const NONE: (bool, bool) = (false, false);
}

impl<'de> DeserializeSeed<'de> for KeyRole<'_> {
    type Value = (bool, bool);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyRole<'_> {
    type Value = (bool, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok((self.wanted.key == Some(name), self.wanted.timestamp == Some(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Wanted<'static> = Wanted { key: Some("url"), timestamp: Some("ts") };

    fn texts(found: &Found<'_>) -> (Option<String>, Option<String>) {
        (found.key.map(|r| r.get().to_owned()), found.timestamp.map(|r| r.get().to_owned()))
    }

    #[test]
    fn picks_top_level_fields_verbatim() {
        let line = br#"{"a":{"url":"inner"},"url":"/p\"1","n":[1,2],"ts":1.50e3}"#;
        let found = BOTH.scan(line).unwrap();
        assert_eq!(texts(&found), (Some(r#""/p\"1""#.into()), Some("1.50e3".into())));
    }

    #[test]
    fn same_field_for_key_and_timestamp() {
        let w = Wanted { key: Some("t"), timestamp: Some("t") };
        let found = w.scan(br#"{"t": 5}"#).unwrap();
        assert_eq!(texts(&found), (Some("5".into()), Some("5".into())));
    }

    #[test]
    fn non_objects_have_no_fields() {
        for line in [&b"[1,{\"url\":1}]"[..], b"3", b"\"s\"", b"null", b"true"] {
            assert_eq!(texts(&BOTH.scan(line).unwrap()), (None, None));
        }
    }

    #[test]
    fn rejects_invalid_json() {
        for line in [&b"{"[..], b"{\"url\":}", b"{} x", b"", b"nul"] {
            assert!(BOTH.scan(line).is_err(), "{:?}", String::from_utf8_lossy(line));
            assert!(Wanted::default().scan(line).is_err());
        }
    }

    #[test]
    fn escaped_field_names_match() {
        let found = BOTH.scan(br#"{"u\u0072l": "x"}"#).unwrap();
        assert_eq!(texts(&found).0.as_deref(), Some(r#""x""#));
    }
}
