//! Flink's window table-valued functions, found in a query's tokens and replaced by a
//! planning-only table: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '5' MINUTES))` becomes
//! `__window_0`, whose schema is `t`'s plus `window_start` and `window_end`. The replacement
//! token keeps the position of `TABLE`, so errors in the rest of the query keep theirs.

use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::ddl::parse_expr;
use crate::error::{ErrorKind, Pos, Result, SqlError};
use crate::interval::interval_ms;

/// Which window function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TvfKind {
    /// `TUMBLE(TABLE t, DESCRIPTOR(ts), size)`.
    Tumble {
        /// Window size in ms.
        size: i64,
    },
    /// `HOP(TABLE t, DESCRIPTOR(ts), slide, size)`.
    Hop {
        /// Distance between window starts in ms.
        slide: i64,
        /// Window size in ms.
        size: i64,
    },
    /// `SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), gap)`.
    Session {
        /// Inactivity gap in ms.
        gap: i64,
    },
}

impl std::fmt::Display for TvfKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TvfKind::Tumble { size } => write!(f, "TUMBLE(INTERVAL {size} ms)"),
            TvfKind::Hop { slide, size } => write!(f, "HOP(slide {slide} ms, size {size} ms)"),
            TvfKind::Session { gap } => write!(f, "SESSION(gap {gap} ms)"),
        }
    }
}

/// One window TVF of a query.
#[derive(Debug, Clone)]
pub struct WindowTvf {
    /// The planning-only table name that replaced it (`__window_N`).
    pub alias: String,
    /// The table (or view) it windows.
    pub table: String,
    /// Where that name is.
    pub table_pos: Pos,
    /// The DESCRIPTOR column.
    pub time_column: String,
    /// Where that column is.
    pub time_pos: Pos,
    /// `PARTITION BY` columns of a SESSION.
    pub partition_by: Vec<String>,
    /// The function and its parameters.
    pub kind: TvfKind,
    /// Where `TABLE(` starts.
    pub pos: Pos,
}

fn word(t: &TokenWithSpan) -> Option<&Word> {
    match &t.token {
        Token::Word(w) => Some(w),
        _ => None,
    }
}

/// Index of the `)` matching the `(` at `open`.
fn matching(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits at top-level commas.
fn split_args(tokens: &[TokenWithSpan]) -> Vec<Vec<TokenWithSpan>> {
    let mut args = vec![Vec::new()];
    let mut depth = 0;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = args.last_mut() {
            last.push(t.clone());
        }
    }
    args
}

/// Replaces every window TVF in `tokens` (significant tokens of a query) by a table name;
/// `next_id` numbers them across the file.
///
/// # Errors
/// A malformed call: wrong arguments, a bad interval, a missing DESCRIPTOR.
pub fn rewrite(
    tokens: Vec<TokenWithSpan>,
    next_id: &mut usize,
) -> Result<(Vec<TokenWithSpan>, Vec<WindowTvf>)> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_call = word(&tokens[i]).is_some_and(|w| w.keyword == Keyword::TABLE)
            && tokens.get(i + 1).is_some_and(|t| t.token == Token::LParen)
            && tokens.get(i + 2).and_then(word).is_some_and(|w| {
                ["TUMBLE", "HOP", "SESSION", "CUMULATE"].contains(&w.value.to_ascii_uppercase().as_str())
            })
            && tokens.get(i + 3).is_some_and(|t| t.token == Token::LParen);
        if !is_call {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let pos = Pos::of(tokens[i].span);
        let outer_end = matching(&tokens, i + 1)
            .ok_or_else(|| SqlError::new(ErrorKind::Syntax, pos, "unclosed `TABLE(`"))?;
        let inner_end = matching(&tokens, i + 3)
            .ok_or_else(|| SqlError::new(ErrorKind::Syntax, pos, "unclosed window function call"))?;
        if inner_end + 1 != outer_end {
            let p = Pos::of(tokens[inner_end + 1].span);
            return Err(SqlError::new(ErrorKind::Syntax, p, "expected `)` closing `TABLE(`"));
        }
        let name = word(&tokens[i + 2]).map(|w| w.value.to_ascii_uppercase()).unwrap_or_default();
        let alias = format!("__window_{next_id}");
        *next_id += 1;
        let tvf = parse_call(&name, &tokens[i + 4..inner_end], alias.clone(), pos)?;
        found.push(tvf);
        let replacement = Word { value: alias, quote_style: None, keyword: Keyword::NoKeyword };
        out.push(TokenWithSpan { token: Token::Word(replacement), span: tokens[i].span });
        i = outer_end + 1;
    }
    Ok((out, found))
}

fn parse_call(name: &str, args: &[TokenWithSpan], alias: String, pos: Pos) -> Result<WindowTvf> {
    let args = split_args(args);
    let usage = match name {
        "TUMBLE" => "TUMBLE(TABLE t, DESCRIPTOR(time_col), INTERVAL 'n' UNIT)",
        "HOP" => "HOP(TABLE t, DESCRIPTOR(time_col), slide, size)",
        "SESSION" => "SESSION(TABLE t PARTITION BY key, DESCRIPTOR(time_col), gap)",
        _ => {
            return Err(SqlError::new(
                ErrorKind::Unsupported,
                pos,
                format!("{name} windows are not supported yet"),
            )
            .hint("use TUMBLE, HOP or SESSION"))
        }
    };
    let wrong = |p: Pos, what: &str| {
        SqlError::new(ErrorKind::Syntax, p, what.to_string()).hint(format!("write {usage}"))
    };
    let expected_args = if name == "HOP" { 4 } else { 3 };
    if args.len() != expected_args {
        return Err(wrong(pos, &format!("{name} takes {expected_args} arguments, got {}", args.len())));
    }
    // TABLE t [PARTITION BY k | PARTITION BY (k1, k2)]
    let first = &args[0];
    let arg_pos = |a: &[TokenWithSpan]| a.first().map_or(pos, |t| Pos::of(t.span));
    if first.first().and_then(word).is_none_or(|w| w.keyword != Keyword::TABLE) {
        return Err(wrong(arg_pos(first), "the first argument must be `TABLE name`"));
    }
    let table = first.get(1).and_then(word).ok_or_else(|| wrong(arg_pos(first), "expected a table name"))?;
    let table_pos = first.get(1).map_or(pos, |t| Pos::of(t.span));
    let mut partition_by = Vec::new();
    if first.len() > 2 {
        let is_kw = |j: usize, kw: Keyword| first.get(j).and_then(word).is_some_and(|w| w.keyword == kw);
        if !(is_kw(2, Keyword::PARTITION) && is_kw(3, Keyword::BY)) || name != "SESSION" {
            return Err(wrong(Pos::of(first[2].span), "unexpected tokens after the table name"));
        }
        for t in &first[4..] {
            match &t.token {
                Token::Word(w) => partition_by.push(w.value.clone()),
                Token::LParen | Token::RParen | Token::Comma => {}
                other => {
                    return Err(wrong(Pos::of(t.span), &format!("unexpected `{other}` in PARTITION BY")))
                }
            }
        }
    }
    // DESCRIPTOR(col)
    let d = &args[1];
    let is_descriptor = d.first().and_then(word).is_some_and(|w| w.value.eq_ignore_ascii_case("DESCRIPTOR"))
        && d.len() == 4
        && d[1].token == Token::LParen
        && d[3].token == Token::RParen;
    let time = if is_descriptor { d.get(2).and_then(word) } else { None };
    let time =
        time.ok_or_else(|| wrong(arg_pos(d), "the second argument must be DESCRIPTOR(time_column)"))?;
    let interval = |a: &Vec<TokenWithSpan>| -> Result<i64> {
        let p = arg_pos(a);
        let ms = interval_ms(&parse_expr(a.clone(), p)?, p)?;
        if ms <= 0 {
            return Err(SqlError::new(ErrorKind::Syntax, p, "a window interval must be positive"));
        }
        Ok(ms)
    };
    let kind = match name {
        "TUMBLE" => TvfKind::Tumble { size: interval(&args[2])? },
        "HOP" => {
            let (slide, size) = (interval(&args[2])?, interval(&args[3])?);
            if slide > size {
                return Err(SqlError::new(
                    ErrorKind::Unsupported,
                    arg_pos(&args[2]),
                    "a HOP slide larger than its size leaves gaps",
                )
                .hint("HOP takes the slide first, then the size"));
            }
            TvfKind::Hop { slide, size }
        }
        _ => TvfKind::Session { gap: interval(&args[2])? },
    };
    Ok(WindowTvf {
        alias,
        table: table.value.clone(),
        table_pos,
        time_column: time.value.clone(),
        time_pos: arg_pos(d),
        partition_by,
        kind,
        pos,
    })
}
