//! The crate's error: what went wrong, where in the SQL file, and what to do about it.

use std::fmt;

/// A line and column in the SQL text, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1 (0 = unknown).
    pub line: u64,
    /// Column, from 1 (0 = unknown).
    pub column: u64,
}

impl Pos {
    /// The position `line:column`.
    #[must_use]
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }

    /// The start of a sqlparser span.
    #[must_use]
    pub fn of(span: datafusion_sql::sqlparser::tokenizer::Span) -> Self {
        Pos { line: span.start.line, column: span.start.column }
    }

    /// The start of a DataFusion span.
    #[must_use]
    pub fn of_df(span: datafusion_common::Span) -> Self {
        Pos { line: span.start.line, column: span.start.column }
    }

    /// Whether the position is known.
    #[must_use]
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// What kind of mistake (or limit) an error is; the golden tests name it in their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text does not parse.
    Syntax,
    /// A table, view or column that is not defined.
    Unknown,
    /// An expression or column has the wrong type.
    Type,
    /// An event-time window over a table without a `WATERMARK`.
    MissingWatermark,
    /// Valid SQL that Sluice cannot run (yet).
    Unsupported,
    /// A bad `WITH` option or `SET` value.
    Option,
    /// The job failed while running (I/O, decoding, ...).
    Runtime,
}

impl ErrorKind {
    /// The kind's name as written in golden-test headers, e.g. `unknown`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Unknown => "unknown",
            ErrorKind::Type => "type",
            ErrorKind::MissingWatermark => "missing-watermark",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Option => "option",
            ErrorKind::Runtime => "runtime",
        }
    }
}

/// An error in a SQL script: kind, message, position in the file and a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SqlError {
    /// What kind of error.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
    /// Where, if known.
    pub pos: Pos,
    /// What the user can do, if anything useful can be said.
    pub hint: Option<String>,
}

impl SqlError {
    /// An error of `kind` at `pos`.
    pub fn new(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> Self {
        SqlError { kind, message: message.into(), pos, hint: None }
    }

    /// The same error with a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error at `pos` if it has no position yet.
    #[must_use]
    pub fn or_at(mut self, pos: Pos) -> Self {
        if !self.pos.is_known() {
            self.pos = pos;
        }
        self
    }

    /// Renders as `FILE:LINE:COL: MESSAGE` and an indented `hint:` line.
    #[must_use]
    pub fn render(&self, file: &str) -> String {
        let mut s = if self.pos.is_known() {
            format!("{file}:{}:{}: {}", self.pos.line, self.pos.column, self.message)
        } else {
            format!("{file}: {}", self.message)
        };
        if let Some(h) = &self.hint {
            s.push_str("\n  hint: ");
            s.push_str(h);
        }
        s
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.is_known() {
            write!(f, "{}:{}: ", self.pos.line, self.pos.column)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Result alias for the crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// A sqlparser error, with the position sqlparser puts in its message (`at Line: L, Column: C`).
pub(crate) fn parse_error(e: &datafusion_sql::sqlparser::parser::ParserError, fallback: Pos) -> SqlError {
    let text = e.to_string();
    let pos = position_in_message(&text).unwrap_or(fallback);
    let message =
        text.split(" at Line: ").next().unwrap_or(&text).trim_start_matches("sql parser error: ").to_string();
    SqlError::new(ErrorKind::Syntax, pos, message)
}

/// Finds `Line: L, Column: C` in a message.
pub(crate) fn position_in_message(text: &str) -> Option<Pos> {
    let rest = &text[text.find("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Pos::new(line.trim().parse().ok()?, column.parse().ok()?))
}

/// A DataFusion planning error: its diagnostic's span and message if it has one.
pub(crate) fn datafusion_error(e: &datafusion_common::DataFusionError, fallback: Pos) -> SqlError {
    use datafusion_common::DataFusionError as D;
    let diag = e.diagnostic();
    let pos = diag.and_then(|d| d.span).map_or(fallback, |s| Pos::new(s.start.line, s.start.column));
    let root = e.find_root();
    let message = match root {
        D::Plan(m) | D::NotImplemented(m) | D::Execution(m) | D::Internal(m) => m.clone(),
        D::SchemaError(..) => root.to_string().trim_start_matches("Schema error: ").to_string(),
        _ => root.to_string(),
    };
    let kind = match root {
        D::SchemaError(..) => ErrorKind::Unknown,
        D::Plan(m) if m.contains("not found") || m.contains("No field named") => ErrorKind::Unknown,
        D::Plan(m) if m.contains("type") || m.contains("Cannot") || m.contains("coerc") => ErrorKind::Type,
        D::NotImplemented(_) => ErrorKind::Unsupported,
        D::ArrowError(..) => ErrorKind::Type,
        _ => ErrorKind::Type,
    };
    let mut err = SqlError::new(kind, pos, strip_window_tables(&message));
    if let Some(h) = diag.and_then(|d| d.helps.first()) {
        err = err.hint(strip_window_tables(&h.message));
    }
    err
}

/// Removes the planning-only qualifiers `__window_N.` that window TVFs become.
pub(crate) fn strip_window_tables(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("__window_") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "__window_".len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match after[digits..].strip_prefix('.') {
            Some(tail) if digits > 0 => rest = tail,
            _ => {
                out.push_str("__window_");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_qualifiers_are_stripped() {
        assert_eq!(
            strip_window_tables("No field named uri. Did you mean '__window_0.url'?"),
            "No field named uri. Did you mean 'url'?"
        );
        assert_eq!(strip_window_tables("__window_x and __window_12.a"), "__window_x and a");
    }

    #[test]
    fn positions_in_parser_messages() {
        assert_eq!(
            position_in_message("Expected: ), found: EOF at Line: 3, Column: 14"),
            Some(Pos::new(3, 14))
        );
        assert_eq!(position_in_message("no position"), None);
    }
}
