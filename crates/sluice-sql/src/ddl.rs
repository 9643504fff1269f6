//! Flink's `CREATE TABLE`, parsed over the statement's tokens: physical columns, computed
//! columns (`rt AS expr`), metadata columns (`off BIGINT METADATA FROM 'offset' VIRTUAL`),
//! `WATERMARK FOR col AS expr`, `PRIMARY KEY (..) NOT ENFORCED` (accepted, ignored) and
//! `WITH ('key' = 'value', ...)`. Types and expressions are parsed by sqlparser from the same
//! tokens, so every error keeps its position in the file.

use arrow_schema::DataType;
use datafusion_sql::sqlparser::ast::{BinaryOperator, Expr};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::Parser;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{parse_error, ErrorKind, Pos, Result, SqlError};
use crate::interval::interval_ms;
use crate::types::arrow_type;

/// How a column gets its value.
#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// Read from the input.
    Physical,
    /// Computed from other columns: `name AS expr`.
    Computed(Box<Expr>),
    /// Metadata of the record: `name TYPE METADATA [FROM 'key'] [VIRTUAL]`.
    Metadata {
        /// The metadata key (`offset`, `partition`, `timestamp`).
        key: String,
        /// Where the key is written (the column name when there is no `FROM 'key'`).
        key_pos: Pos,
        /// `VIRTUAL`: read only, not part of the table's columns when it is written.
        is_virtual: bool,
    },
}

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name (as written; identifiers are case-sensitive, as in Flink).
    pub name: String,
    /// Its type (`None` for a computed column until planned).
    pub data_type: Option<DataType>,
    /// Whether it may be null.
    pub nullable: bool,
    /// Physical, computed or metadata.
    pub kind: ColumnKind,
    /// Where it is declared.
    pub pos: Pos,
}

/// `WATERMARK FOR column AS column - INTERVAL ...`.
#[derive(Debug, Clone, Copy)]
pub struct Watermark {
    /// The out-of-orderness bound in ms.
    pub bound_ms: i64,
    /// Where it is declared.
    pub pos: Pos,
}

/// A `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The table's name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// The event-time column and its watermark, if declared.
    pub watermark: Option<(String, Watermark)>,
    /// The `WITH` options: key, value, position of the key.
    pub options: Vec<(String, String, Pos)>,
    /// Where the statement starts.
    pub pos: Pos,
}

impl TableDef {
    /// The value of option `key`, if set.
    #[must_use]
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str())
    }

    /// The position of option `key`, or of the statement.
    #[must_use]
    pub fn option_pos(&self, key: &str) -> Pos {
        self.options.iter().find(|(k, _, _)| k == key).map_or(self.pos, |(_, _, p)| *p)
    }
}

/// A cursor over significant tokens.
struct Cursor {
    tokens: Vec<TokenWithSpan>,
    i: usize,
    end: Pos,
}

impl Cursor {
    fn peek(&self) -> Option<&TokenWithSpan> {
        self.tokens.get(self.i)
    }
    fn pos(&self) -> Pos {
        self.peek().map_or(self.end, |t| Pos::of(t.span))
    }
    fn next(&mut self) -> Option<TokenWithSpan> {
        let t = self.tokens.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn keyword(&mut self, kw: Keyword) -> bool {
        let hit = matches!(self.peek(), Some(TokenWithSpan { token: Token::Word(w), .. }) if w.keyword == kw);
        if hit {
            self.i += 1;
        }
        hit
    }
    fn word_is(&self, word: &str) -> bool {
        matches!(self.peek(), Some(TokenWithSpan { token: Token::Word(w), .. })
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    }
    fn expect(&mut self, token: &Token, what: &str) -> Result<()> {
        let pos = self.pos();
        match self.next() {
            Some(t) if &t.token == token => Ok(()),
            Some(t) => {
                Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}, found `{}`", t.token)))
            }
            None => Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}, found the end"))),
        }
    }
    fn ident(&mut self, what: &str) -> Result<(String, Pos)> {
        let pos = self.pos();
        match self.next() {
            Some(TokenWithSpan { token: Token::Word(w), .. }) => Ok((w.value, pos)),
            Some(t) => {
                Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}, found `{}`", t.token)))
            }
            None => Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}, found the end"))),
        }
    }
    /// The tokens up to the next `,` or `)` at depth 0 (not consumed).
    fn item(&mut self) -> Vec<TokenWithSpan> {
        let mut depth = 0;
        let start = self.i;
        while let Some(t) = self.peek() {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => break,
                _ => {}
            }
            self.i += 1;
        }
        self.tokens[start..self.i].to_vec()
    }
}

/// A sqlparser parser over `tokens`.
pub(crate) fn parser(tokens: Vec<TokenWithSpan>) -> Parser<'static> {
    static DIALECT: GenericDialect = GenericDialect {};
    Parser::new(&DIALECT).with_tokens_with_locations(tokens)
}

/// Parses `tokens` as one whole expression.
pub(crate) fn parse_expr(tokens: Vec<TokenWithSpan>, pos: Pos) -> Result<Expr> {
    let end = tokens.last().map_or(pos, |t| Pos::new(t.span.end.line, t.span.end.column));
    let mut p = parser(tokens);
    let e = p.parse_expr().map_err(|e| parse_error(&e, pos))?;
    match p.peek_token().token {
        Token::EOF => Ok(e),
        t => Err(SqlError::new(ErrorKind::Syntax, end, format!("unexpected `{t}` after the expression"))),
    }
}

/// Parses a `CREATE TABLE` statement.
///
/// # Errors
/// Syntax errors, unsupported types and malformed watermarks, with positions.
pub fn parse_create_table(tokens: Vec<TokenWithSpan>, pos: Pos) -> Result<TableDef> {
    let end = tokens.last().map_or(pos, |t| Pos::new(t.span.end.line, t.span.end.column));
    let mut c = Cursor { tokens, i: 0, end };
    c.keyword(Keyword::CREATE);
    c.keyword(Keyword::TEMPORARY);
    c.keyword(Keyword::TABLE);
    if c.keyword(Keyword::IF) {
        c.keyword(Keyword::NOT);
        c.keyword(Keyword::EXISTS);
    }
    let (name, _) = c.ident("a table name")?;
    c.expect(&Token::LParen, "`(` and the columns")?;
    let mut table = TableDef { name, columns: Vec::new(), watermark: None, options: Vec::new(), pos };
    loop {
        let item_pos = c.pos();
        let item = c.item();
        column_item(&mut table, item, item_pos)?;
        if matches!(c.peek().map(|t| &t.token), Some(Token::Comma)) {
            c.i += 1;
        } else {
            break;
        }
    }
    c.expect(&Token::RParen, "`,` or `)`")?;
    if c.keyword(Keyword::COMMENT) {
        c.next();
    }
    if c.word_is("PARTITIONED") {
        return Err(SqlError::new(ErrorKind::Unsupported, c.pos(), "PARTITIONED BY is not supported"));
    }
    if c.keyword(Keyword::WITH) {
        c.expect(&Token::LParen, "`(` and the options")?;
        loop {
            let key_pos = c.pos();
            let key = string(&mut c, "an option name in quotes")?;
            c.expect(&Token::Eq, "`=`")?;
            let value = string(&mut c, "an option value in quotes")?;
            table.options.push((key, value, key_pos));
            if matches!(c.peek().map(|t| &t.token), Some(Token::Comma)) {
                c.i += 1;
            } else {
                break;
            }
        }
        c.expect(&Token::RParen, "`,` or `)`")?;
    }
    if let Some(t) = c.peek() {
        return Err(SqlError::new(ErrorKind::Syntax, Pos::of(t.span), format!("unexpected `{}`", t.token)));
    }
    Ok(table)
}

fn string(c: &mut Cursor, what: &str) -> Result<String> {
    let pos = c.pos();
    match c.next().map(|t| t.token) {
        Some(Token::SingleQuotedString(s)) => Ok(s),
        Some(t) => Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}, found `{t}`"))),
        None => Err(SqlError::new(ErrorKind::Syntax, pos, format!("expected {what}"))),
    }
}

fn column_item(table: &mut TableDef, item: Vec<TokenWithSpan>, pos: Pos) -> Result<()> {
    let end = item.last().map_or(pos, |t| Pos::of(t.span));
    let mut c = Cursor { tokens: item, i: 0, end };
    if c.word_is("WATERMARK") {
        c.i += 1;
        if !c.keyword(Keyword::FOR) {
            return Err(SqlError::new(ErrorKind::Syntax, c.pos(), "expected FOR after WATERMARK"));
        }
        let (column, col_pos) = c.ident("the event-time column")?;
        if !c.keyword(Keyword::AS) {
            return Err(SqlError::new(
                ErrorKind::Syntax,
                c.pos(),
                "expected AS and the watermark expression",
            ));
        }
        let expr_pos = c.pos();
        let expr = parse_expr(c.tokens[c.i..].to_vec(), expr_pos)?;
        let bound_ms = watermark_bound(&expr, &column, expr_pos)?;
        if table.watermark.is_some() {
            return Err(SqlError::new(ErrorKind::Syntax, pos, "a table has at most one WATERMARK"));
        }
        if !table.columns.iter().any(|col| col.name == column) {
            return Err(SqlError::new(
                ErrorKind::Unknown,
                col_pos,
                format!("no column `{column}` in the table"),
            )
            .hint("declare the WATERMARK after the column it is for"));
        }
        table.watermark = Some((column, Watermark { bound_ms, pos }));
        return Ok(());
    }
    if c.keyword(Keyword::PRIMARY) || c.keyword(Keyword::CONSTRAINT) {
        return Ok(()); // PRIMARY KEY (..) NOT ENFORCED: informational in Flink, ignored here.
    }
    let (name, name_pos) = c.ident("a column name")?;
    if table.columns.iter().any(|col| col.name == name) {
        return Err(SqlError::new(ErrorKind::Syntax, pos, format!("column `{name}` is declared twice")));
    }
    if c.keyword(Keyword::AS) {
        let expr_pos = c.pos();
        let expr = parse_expr(c.tokens[c.i..].to_vec(), expr_pos)?;
        table.columns.push(Column {
            name,
            data_type: None,
            nullable: true,
            kind: ColumnKind::Computed(Box::new(expr)),
            pos,
        });
        return Ok(());
    }
    let type_pos = c.pos();
    let mut p = parser(c.tokens[c.i..].to_vec());
    let sql_type = p.parse_data_type().map_err(|e| parse_error(&e, type_pos))?;
    let data_type = arrow_type(&sql_type, type_pos)?;
    let mut rest = Cursor { tokens: c.tokens[c.i..].to_vec(), i: p.index(), end };
    let mut nullable = true;
    let mut kind = ColumnKind::Physical;
    while let Some(t) = rest.peek().cloned() {
        let t_pos = Pos::of(t.span);
        if rest.keyword(Keyword::NOT) {
            if !rest.keyword(Keyword::NULL) {
                return Err(SqlError::new(ErrorKind::Syntax, rest.pos(), "expected NULL after NOT"));
            }
            nullable = false;
        } else if rest.keyword(Keyword::NULL) {
            nullable = true;
        } else if rest.word_is("METADATA") {
            rest.i += 1;
            let (key, key_pos) = if rest.keyword(Keyword::FROM) {
                let key_pos = rest.pos();
                (string(&mut rest, "a metadata key")?, key_pos)
            } else {
                (name.clone(), name_pos)
            };
            kind = ColumnKind::Metadata { key, key_pos, is_virtual: false };
        } else if rest.word_is("VIRTUAL") {
            match &mut kind {
                ColumnKind::Metadata { is_virtual, .. } => *is_virtual = true,
                _ => {
                    return Err(SqlError::new(ErrorKind::Syntax, t_pos, "VIRTUAL follows METADATA")
                        .hint(format!("write `{name} TYPE METADATA [FROM 'key'] VIRTUAL`")))
                }
            }
            rest.i += 1;
        } else if rest.keyword(Keyword::COMMENT) {
            string(&mut rest, "a comment string")?;
        } else {
            return Err(SqlError::new(
                ErrorKind::Syntax,
                t_pos,
                format!("unexpected `{}` in column `{name}`", t.token),
            ));
        }
    }
    table.columns.push(Column { name, data_type: Some(data_type), nullable, kind, pos });
    Ok(())
}

/// `col` or `col - INTERVAL '..' UNIT`: the bound in ms.
fn watermark_bound(expr: &Expr, column: &str, pos: Pos) -> Result<i64> {
    let is_col = |e: &Expr| matches!(e, Expr::Identifier(id) if id.value == column);
    match expr {
        e if is_col(e) => Ok(0),
        Expr::BinaryOp { left, op: BinaryOperator::Minus, right } if is_col(left) => interval_ms(right, pos),
        _ => Err(SqlError::new(
            ErrorKind::Unsupported,
            pos,
            format!("unsupported watermark expression `{expr}`"),
        )
        .hint(format!("write `{column} - INTERVAL 'n' SECOND` (bounded out-of-orderness) or `{column}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::split;

    fn table(sql: &str) -> Result<TableDef> {
        let s = split(sql)?.remove(0);
        parse_create_table(s.significant(), s.pos)
    }

    #[test]
    fn flink_ddl() {
        let t = table(
            "CREATE TABLE v (
               ts BIGINT NOT NULL, `user` STRING COMMENT 'who', rt AS TO_TIMESTAMP_LTZ(ts, 3),
               off BIGINT METADATA FROM 'offset' VIRTUAL,
               WATERMARK FOR rt AS rt - INTERVAL '2.5' SECOND,
               PRIMARY KEY (ts) NOT ENFORCED
             ) WITH ('connector' = 'filesystem', 'path' = 'a b');",
        )
        .expect("parses");
        assert_eq!(t.name, "v");
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ts", "user", "rt", "off"]);
        assert!(!t.columns[0].nullable);
        assert!(matches!(t.columns[2].kind, ColumnKind::Computed(_)));
        assert!(matches!(&t.columns[3].kind,
            ColumnKind::Metadata { key, key_pos, is_virtual: true } if key == "offset" && *key_pos == Pos::new(3, 41)));
        let (col, wm) = t.watermark.clone().expect("watermark");
        assert_eq!((col.as_str(), wm.bound_ms), ("rt", 2_500));
        assert_eq!(t.option("path"), Some("a b"));
        assert_eq!(t.option_pos("path"), Pos::new(6, 50));
    }

    #[test]
    fn errors_point_at_the_mistake() {
        let e = table("CREATE TABLE v (ts TIMESTAMP(3),\n  n DECIMAL(10, 2))").expect_err("decimal");
        assert_eq!((e.kind, e.pos), (ErrorKind::Unsupported, Pos::new(2, 5)));
        let e =
            table("CREATE TABLE v (ts TIMESTAMP(3), WATERMARK FOR tz AS tz)").expect_err("no such column");
        assert_eq!((e.kind, e.pos), (ErrorKind::Unknown, Pos::new(1, 48)));
        let e = table("CREATE TABLE v (ts TIMESTAMP(3)) WITH ('a' 'b')").expect_err("no =");
        assert_eq!((e.kind, e.pos), (ErrorKind::Syntax, Pos::new(1, 44)));
        let e = table("CREATE TABLE v (a INT, a INT)").expect_err("twice");
        assert!(e.message.contains("twice"), "{e}");
        let e = table("CREATE TABLE v (a INT VIRTUAL)").expect_err("virtual without metadata");
        assert_eq!((e.kind, e.pos), (ErrorKind::Syntax, Pos::new(1, 23)));
        let t = table("CREATE TABLE v (`offset` BIGINT METADATA)").expect("metadata without FROM");
        assert!(matches!(&t.columns[0].kind,
            ColumnKind::Metadata { key, key_pos, is_virtual: false } if key == "offset" && *key_pos == Pos::new(1, 17)));
    }
}
