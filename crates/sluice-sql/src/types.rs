//! SQL column types as the Arrow types the formats decode and the engine aggregates.

use arrow_schema::{DataType, TimeUnit};
use datafusion_sql::sqlparser::ast;

use crate::error::{ErrorKind, Pos, Result, SqlError};

/// The Arrow type Sluice uses for a SQL type.
///
/// # Errors
/// [`ErrorKind::Unsupported`] for types the engine has no column type for.
pub fn arrow_type(t: &ast::DataType, pos: Pos) -> Result<DataType> {
    use ast::DataType as T;
    // TIMESTAMP_LTZ is stored like TIMESTAMP: epoch milliseconds, rendered in UTC.
    let ts = |_ltz: bool| DataType::Timestamp(TimeUnit::Millisecond, None);
    Ok(match t {
        T::BigInt(_) | T::Int(_) | T::Integer(_) | T::SmallInt(_) | T::TinyInt(_) | T::Int64 => {
            DataType::Int64
        }
        T::Double(_) | T::DoublePrecision | T::Float(_) | T::Real | T::Float64 => DataType::Float64,
        T::String(_) | T::Varchar(_) | T::Char(_) | T::Text | T::CharVarying(_) | T::Character(_) => {
            DataType::Utf8
        }
        T::Boolean | T::Bool => DataType::Boolean,
        T::Timestamp(_, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz) => ts(true),
        T::Timestamp(..) | T::Datetime(_) => ts(false),
        T::Custom(name, _) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => ts(true),
        other => {
            return Err(SqlError::new(
                ErrorKind::Unsupported,
                pos,
                format!("unsupported column type {other}"),
            )
            .hint("use BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP(3) or TIMESTAMP_LTZ(3)"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_types() {
        let p = Pos::new(1, 1);
        assert_eq!(arrow_type(&ast::DataType::String(None), p), Ok(DataType::Utf8));
        assert_eq!(arrow_type(&ast::DataType::Int(None), p), Ok(DataType::Int64));
        let ts = arrow_type(&ast::DataType::Timestamp(Some(3), ast::TimezoneInfo::None), p);
        assert_eq!(ts, Ok(DataType::Timestamp(TimeUnit::Millisecond, None)));
        assert!(arrow_type(&ast::DataType::Date, p).is_err());
    }
}
