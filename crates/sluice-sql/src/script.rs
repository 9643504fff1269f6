//! A SQL file as a list of statements: tokenized once (so every token keeps its line and column
//! in the file), split at top-level `;`, and classified by their leading keywords.

use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::{ErrorKind, Pos, Result, SqlError};

/// What a statement is, by its leading keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `CREATE [TEMPORARY] TABLE`.
    CreateTable,
    /// `CREATE [TEMPORARY] VIEW`.
    CreateView,
    /// `INSERT INTO`.
    Insert,
    /// `SET 'key' = 'value'`.
    Set,
    /// `EXPLAIN ...`: the plan of the statement that follows.
    Explain,
}

/// One statement: its tokens (whitespace and comments included) and where it starts.
#[derive(Debug, Clone)]
pub struct Statement {
    /// What it is.
    pub kind: StatementKind,
    /// Its tokens, without the trailing `;`.
    pub tokens: Vec<TokenWithSpan>,
    /// Its first token's position.
    pub pos: Pos,
}

impl Statement {
    /// The tokens that are not whitespace or comments.
    #[must_use]
    pub fn significant(&self) -> Vec<TokenWithSpan> {
        significant(&self.tokens)
    }
}

/// The tokens of `tokens` that are not whitespace or comments.
#[must_use]
pub fn significant(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    tokens.iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).cloned().collect()
}

/// Splits `text` into statements.
///
/// # Errors
/// A tokenizer error (unterminated string, stray character) or a statement that is none of the
/// kinds above, with its position.
pub fn split(text: &str) -> Result<Vec<Statement>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text).tokenize_with_location().map_err(|e| {
        SqlError::new(ErrorKind::Syntax, Pos::new(e.location.line, e.location.column), e.message.clone())
    })?;
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut depth = 0_i32;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        if t.token == Token::SemiColon && depth <= 0 {
            push(&mut statements, std::mem::take(&mut current))?;
            depth = 0;
        } else if !matches!(t.token, Token::EOF) {
            current.push(t);
        }
    }
    push(&mut statements, current)?;
    Ok(statements)
}

fn push(statements: &mut Vec<Statement>, tokens: Vec<TokenWithSpan>) -> Result<()> {
    let words: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !is_trivia(&t.token)).take(3).collect();
    let Some(first) = words.first() else {
        return Ok(());
    };
    let pos = Pos::of(first.span);
    let kw = |i: usize| match words.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => w.keyword,
        _ => Keyword::NoKeyword,
    };
    let kind = match (kw(0), kw(1), kw(2)) {
        (Keyword::CREATE, Keyword::TABLE, _) | (Keyword::CREATE, Keyword::TEMPORARY, Keyword::TABLE) => {
            StatementKind::CreateTable
        }
        (Keyword::CREATE, Keyword::VIEW, _) | (Keyword::CREATE, Keyword::TEMPORARY, Keyword::VIEW) => {
            StatementKind::CreateView
        }
        (Keyword::INSERT, _, _) => StatementKind::Insert,
        (Keyword::SET, _, _) => StatementKind::Set,
        (Keyword::EXPLAIN, _, _) => StatementKind::Explain,
        _ => {
            let head = words.iter().map(|t| t.token.to_string()).collect::<Vec<_>>().join(" ");
            return Err(SqlError::new(
                ErrorKind::Unsupported,
                pos,
                format!("unsupported statement `{head} ...`"),
            )
            .hint("a job file holds CREATE TABLE, CREATE VIEW, SET, INSERT INTO and EXPLAIN statements"));
        }
    };
    statements.push(Statement { kind, tokens, pos });
    Ok(())
}

fn is_trivia(t: &Token) -> bool {
    matches!(
        t,
        Token::Whitespace(
            Whitespace::Space
                | Whitespace::Newline
                | Whitespace::Tab
                | Whitespace::SingleLineComment { .. }
                | Whitespace::MultiLineComment(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_and_keeps_positions() {
        let text = "-- a job\nSET 'parallelism.default' = '1';\n\nINSERT INTO b SELECT ';' FROM a;\n";
        let s = split(text).expect("splits");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, StatementKind::Set);
        assert_eq!(s[0].pos, Pos::new(2, 1));
        assert_eq!(s[1].kind, StatementKind::Insert);
        assert_eq!(s[1].pos, Pos::new(4, 1));
    }

    #[test]
    fn rejects_other_statements_with_position() {
        let e = split("\n  DROP TABLE x;").expect_err("DROP is not a job statement");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(e.pos, Pos::new(2, 3));
    }
}
