//! What each column type accepts from JSON (Arrow's rules, close to Flink's).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sluice_format::{FormatError, JsonDecoder};

use crate::support::{file_lines, ints, strings};

fn all_types() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
    ]))
}

#[test]
fn accepted_coercions() {
    let lines = [
        r#"{"i":"42","f":"1.5","s":7,"b":true}"#,
        r#"{"i":1.9,"f":2,"s":false,"b":false}"#,
        r#"{"i":-9223372036854775808,"f":1e300,"s":"\u00e9\n","b":null}"#,
    ];
    let mut decoder = JsonDecoder::new(all_types()).unwrap();
    let decoded = decoder.decode(file_lines("f", &lines)).unwrap();
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    assert_eq!(ints(&decoded.batch, "i"), [Some(42), Some(1), Some(i64::MIN)]);
    let f: Vec<_> = decoded.batch.column(1).as_primitive::<Float64Type>().iter().collect();
    assert_eq!(f, [Some(1.5), Some(2.0), Some(1e300)]);
    assert_eq!(strings(&decoded.batch, "s"), [Some("7".into()), Some("false".into()), Some("é\n".into())]);
    let b: Vec<_> = decoded.batch.column(3).as_boolean().iter().collect();
    assert_eq!(b, [Some(true), Some(false), None]);
}

#[test]
fn refused_values() {
    let cases = [
        r#"{"i":9223372036854775808}"#, // overflows i64
        r#"{"i":"4x"}"#,
        r#"{"f":"fast"}"#,
        r#"{"b":"yes"}"#,
        r#"{"b":1}"#,
        r#"{"s":{"nested":true}}"#,
    ];
    let mut decoder = JsonDecoder::new(all_types()).unwrap();
    for line in cases {
        let decoded = decoder.decode(file_lines("f", &[line])).unwrap();
        assert_eq!(decoded.rejected.len(), 1, "{line} was accepted");
    }
}

#[test]
fn unsupported_schema_types_are_refused_up_front() {
    let schema = Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true)]);
    let err = JsonDecoder::new(Arc::new(schema)).unwrap_err();
    assert!(matches!(err, FormatError::UnsupportedType { .. }), "{err}");
    assert_eq!(err.kind(), sluice_types::ErrorKind::User);
    let schema = Schema::new(vec![Field::new(
        "t",
        DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
        true,
    )]);
    assert!(JsonDecoder::new(Arc::new(schema)).is_err());
}
