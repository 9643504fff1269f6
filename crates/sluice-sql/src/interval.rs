//! `INTERVAL '5' MINUTE` and friends as milliseconds.

use datafusion_sql::sqlparser::ast::{DateTimeField, Expr, Value};

use crate::error::{ErrorKind, Pos, Result, SqlError};

/// The length of an `INTERVAL 'n' UNIT` literal in ms (`n` may have a fraction).
///
/// # Errors
/// [`ErrorKind::Unsupported`] for anything but a single-unit interval of days or less.
pub fn interval_ms(expr: &Expr, pos: Pos) -> Result<i64> {
    let bad = || {
        SqlError::new(ErrorKind::Unsupported, pos, format!("expected an interval, found `{expr}`"))
            .hint("write e.g. INTERVAL '5' MINUTE (units: MILLISECOND, SECOND, MINUTE, HOUR, DAY)")
    };
    let Expr::Interval(iv) = expr else {
        return Err(bad());
    };
    let text = match iv.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => s.clone(),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let (number, unit_in_text) = match text.trim().split_once(char::is_whitespace) {
        Some((n, u)) => (n.to_string(), Some(u.trim().to_ascii_uppercase())),
        None => (text.trim().to_string(), None),
    };
    let unit_ms: f64 = match (&iv.leading_field, unit_in_text.as_deref()) {
        (Some(DateTimeField::Millisecond | DateTimeField::Milliseconds), None) => 1.0,
        (Some(DateTimeField::Second | DateTimeField::Seconds), None) => 1_000.0,
        (Some(DateTimeField::Minute | DateTimeField::Minutes), None) => 60_000.0,
        (Some(DateTimeField::Hour | DateTimeField::Hours), None) => 3_600_000.0,
        (Some(DateTimeField::Day | DateTimeField::Days), None) => 86_400_000.0,
        (None, Some(u)) => match u.trim_end_matches('S') {
            "MILLISECOND" => 1.0,
            "SECOND" => 1_000.0,
            "MINUTE" => 60_000.0,
            "HOUR" => 3_600_000.0,
            "DAY" => 86_400_000.0,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    let ms = (n * unit_ms).round();
    if !ms.is_finite() || ms.abs() > 9.0e15 {
        return Err(bad());
    }
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::parser;
    use datafusion_sql::sqlparser::dialect::GenericDialect;
    use datafusion_sql::sqlparser::tokenizer::Tokenizer;

    fn ms(text: &str) -> Result<i64> {
        let tokens = Tokenizer::new(&GenericDialect {}, text).tokenize_with_location().expect("tokens");
        let e = parser(tokens).parse_expr().expect("expr");
        interval_ms(&e, Pos::new(1, 1))
    }

    #[test]
    fn units() {
        assert_eq!(ms("INTERVAL '5' SECOND"), Ok(5_000));
        assert_eq!(ms("INTERVAL '5' MINUTES"), Ok(300_000));
        assert_eq!(ms("INTERVAL '1' HOUR"), Ok(3_600_000));
        assert_eq!(ms("INTERVAL '0.5' SECOND"), Ok(500));
        assert_eq!(ms("INTERVAL '10 minutes'"), Ok(600_000));
        assert!(ms("INTERVAL '1' MONTH").is_err());
        assert!(ms("5").is_err());
    }
}
