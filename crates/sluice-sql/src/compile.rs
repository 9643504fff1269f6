//! A script compiled: its tables and views, its `SET` options, and each `INSERT INTO` planned
//! by DataFusion and translated for the engine. Nothing is opened here; see [`crate::job`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use datafusion_sql::sqlparser::ast::{self, TableObject};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::catalog::Catalog;
use crate::connector;
use crate::ddl::{parse_create_table, parser};
use crate::error::{parse_error, ErrorKind, Pos, Result, SqlError};
use crate::script::{split, StatementKind};
use crate::steps::{Reshape, Step};
use crate::translate::{translate, QueryPlan};
use crate::tvf::rewrite;

/// One `INSERT INTO`: the query, compiled, and the table it writes.
#[derive(Debug, Clone)]
pub struct Insert {
    /// The target table.
    pub target: String,
    /// The compiled query.
    pub plan: QueryPlan,
    /// Casts and orders the query's columns as the target's.
    pub to_target: Step,
    /// Where late rows go (`SET 'sluice.late-rows.<target>' = '<table>'`) and how they are
    /// shaped for that table.
    pub late: Option<(String, Step)>,
    /// Where the statement starts.
    pub pos: Pos,
}

/// A compiled script.
pub struct Script {
    /// Its tables and views.
    pub catalog: Catalog,
    /// Its `SET` options.
    pub settings: BTreeMap<String, String>,
    /// Its INSERTs, in order.
    pub inserts: Vec<Insert>,
    /// Whether the file asked for `EXPLAIN` instead of running.
    pub explain_only: bool,
}

/// Compiles a script: every statement is parsed and planned before anything runs.
///
/// # Errors
/// The first error, with its position and a hint.
pub fn compile(text: &str) -> Result<Script> {
    let mut script = Script {
        catalog: Catalog::new(),
        settings: BTreeMap::new(),
        inserts: Vec::new(),
        explain_only: false,
    };
    let mut next_window = 0;
    for stmt in split(text)? {
        let mut tokens = stmt.significant();
        let mut kind = stmt.kind;
        if kind == StatementKind::Explain {
            script.explain_only = true;
            tokens.remove(0);
            kind = match tokens.first().map(|t| &t.token) {
                Some(Token::Word(w)) if w.keyword == Keyword::INSERT => StatementKind::Insert,
                _ => {
                    return Err(SqlError::new(
                        ErrorKind::Unsupported,
                        stmt.pos,
                        "EXPLAIN takes an INSERT INTO statement",
                    ))
                }
            };
        }
        match kind {
            StatementKind::CreateTable => script.catalog.add_table(parse_create_table(tokens, stmt.pos)?)?,
            StatementKind::CreateView => {
                create_view(&mut script.catalog, tokens, stmt.pos, &mut next_window)?
            }
            StatementKind::Set => {
                let (k, v, at) = parse_set(&tokens, stmt.pos)?;
                crate::settings::check(&k, &v, at)?;
                script.settings.insert(k, v);
            }
            StatementKind::Insert => {
                let insert =
                    plan_insert(&mut script.catalog, &script.settings, tokens, stmt.pos, &mut next_window)?;
                script.inserts.push(insert);
            }
            StatementKind::Explain => {}
        }
    }
    if script.inserts.is_empty() {
        return Err(SqlError::new(
            ErrorKind::Syntax,
            Pos::default(),
            "the script has no INSERT INTO statement",
        )
        .hint("a job writes its results with INSERT INTO table SELECT ..."));
    }
    Ok(script)
}

/// `SET 'key' = 'value'` as the key, the value and the value's position.
fn parse_set(tokens: &[TokenWithSpan], pos: Pos) -> Result<(String, String, Pos)> {
    let strings: Vec<(String, Pos)> = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::SingleQuotedString(s) => Some((s.clone(), Pos::of(t.span))),
            _ => None,
        })
        .collect();
    match (strings.as_slice(), tokens.len()) {
        ([(k, _), (v, at)], 4) => Ok((k.clone(), v.clone(), *at)),
        _ => Err(SqlError::new(ErrorKind::Syntax, pos, "expected SET 'key' = 'value'")),
    }
}

/// Fails unless the parser consumed the whole statement.
fn at_end(p: &datafusion_sql::sqlparser::parser::Parser<'_>) -> Result<()> {
    let t = p.peek_token();
    match t.token {
        Token::EOF => Ok(()),
        other => Err(SqlError::new(ErrorKind::Syntax, Pos::of(t.span), format!("unexpected `{other}`"))),
    }
}

/// Replaces a statement's window TVFs by planning-only tables and registers them.
fn register_windows(
    catalog: &mut Catalog,
    tokens: Vec<TokenWithSpan>,
    next: &mut usize,
) -> Result<Vec<TokenWithSpan>> {
    let (tokens, tvfs) = rewrite(tokens, next)?;
    for tvf in tvfs {
        let Some(schema) = catalog.relation_schema(&tvf.table) else {
            return Err(SqlError::new(
                ErrorKind::Unknown,
                tvf.table_pos,
                format!("table '{}' not found", tvf.table),
            )
            .hint("declare it with CREATE TABLE before the query"));
        };
        if schema.field_with_name(&tvf.time_column).is_err() {
            let msg = format!("no column `{}` in `{}`", tvf.time_column, tvf.table);
            return Err(SqlError::new(ErrorKind::Unknown, tvf.time_pos, msg));
        }
        catalog.windows.insert(tvf.alias.clone(), tvf);
    }
    Ok(tokens)
}

fn create_view(catalog: &mut Catalog, tokens: Vec<TokenWithSpan>, pos: Pos, next: &mut usize) -> Result<()> {
    let as_at = tokens
        .iter()
        .position(|t| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::AS))
        .ok_or_else(|| SqlError::new(ErrorKind::Syntax, pos, "expected CREATE VIEW name AS SELECT ..."))?;
    let name = match tokens.get(as_at.wrapping_sub(1)).map(|t| &t.token) {
        Some(Token::Word(w)) if as_at >= 3 => w.value.clone(),
        _ => return Err(SqlError::new(ErrorKind::Syntax, pos, "expected CREATE VIEW name AS SELECT ...")),
    };
    if catalog.relation_schema(&name).is_some() {
        return Err(SqlError::new(ErrorKind::Syntax, pos, format!("`{name}` is already defined")));
    }
    let tokens = register_windows(catalog, tokens[as_at + 1..].to_vec(), next)?;
    let mut p = parser(tokens);
    let q = p.parse_query().map_err(|e| parse_error(&e, pos))?;
    at_end(&p)?;
    let plan = catalog.plan_query(q, pos)?;
    catalog.views.insert(name, plan);
    Ok(())
}

fn plan_insert(
    catalog: &mut Catalog,
    settings: &BTreeMap<String, String>,
    tokens: Vec<TokenWithSpan>,
    pos: Pos,
    next: &mut usize,
) -> Result<Insert> {
    let tokens = register_windows(catalog, tokens, next)?;
    let mut p = parser(tokens);
    let stmt = p.parse_statement().map_err(|e| parse_error(&e, pos))?;
    at_end(&p)?;
    let ast::Statement::Insert(insert) = stmt else {
        return Err(SqlError::new(ErrorKind::Syntax, pos, "expected INSERT INTO table SELECT ..."));
    };
    let TableObject::TableName(target_name) = &insert.table else {
        return Err(SqlError::new(
            ErrorKind::Unsupported,
            pos,
            "INSERT INTO a table function is not supported",
        ));
    };
    let target = target_name.to_string().trim_matches('`').to_string();
    let target_pos = target_name.0.first().and_then(|p| p.as_ident()).map_or(pos, |i| Pos::of(i.span));
    let Some(query) = insert.source else {
        return Err(SqlError::new(ErrorKind::Syntax, pos, "expected INSERT INTO table SELECT ..."));
    };
    let table = catalog.tables.get(&target).ok_or_else(|| {
        SqlError::new(ErrorKind::Unknown, target_pos, format!("table '{target}' not found"))
            .hint("declare the sink with CREATE TABLE ... WITH ('connector' = ...)")
    })?;
    connector::connector(table)?;
    let late_key = format!("sluice.late-rows.{target}");
    catalog.keep_late_columns = settings.contains_key(&late_key);
    let plan = catalog.plan_query(query, pos)?;
    let plan = translate(&plan, catalog, pos)?;
    catalog.keep_late_columns = false;
    let table =
        catalog.tables.get(&target).ok_or_else(|| SqlError::new(ErrorKind::Unknown, target_pos, "sink"))?;
    if let Some(src) = catalog.tables.get(&plan.source) {
        connector::connector(src)?;
    }
    let listed: Vec<(String, Pos)> = insert
        .columns
        .iter()
        .filter_map(|c| c.0.last().and_then(|p| p.as_ident()))
        .map(|i| (i.value.clone(), Pos::of(i.span)))
        .collect();
    crate::metadata::check_sink(&table.def, &listed)?;
    let columns: Vec<String> =
        insert.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect();
    let to_target = target_step(&plan, table, &columns, pos)?;
    let late = match settings.get(&late_key) {
        Some(late_table) => Some(late_step(catalog, &plan, late_table, &late_key, pos)?),
        None => None,
    };
    Ok(Insert { target, plan, to_target, late, pos })
}

/// Late rows (the window's input columns and `late_reason`) as the columns of `late_table`,
/// matched by name.
fn late_step(
    catalog: &Catalog,
    plan: &QueryPlan,
    late_table: &str,
    key: &str,
    pos: Pos,
) -> Result<(String, Step)> {
    let Some(window) = &plan.window else {
        return Err(SqlError::new(
            ErrorKind::Option,
            pos,
            format!("SET '{key}': this INSERT has no window, so no late rows"),
        )
        .hint("route late rows of INSERTs that aggregate a window TVF"));
    };
    let table = catalog.tables.get(late_table).ok_or_else(|| {
        SqlError::new(ErrorKind::Unknown, pos, format!("SET '{key}': table '{late_table}' not found"))
            .hint("declare the table for late rows with CREATE TABLE")
    })?;
    connector::connector(table)?;
    let input = plan.pre.iter().rev().find_map(Step::output_schema).ok_or_else(|| {
        SqlError::new(ErrorKind::Unsupported, pos, "late rows of this query cannot be routed")
    })?;
    let mut available: Vec<(String, DataType)> = input
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with("__"))
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    available.push(("late_reason".into(), DataType::Utf8));
    let mut columns = Vec::new();
    let mut fields = Vec::new();
    for f in table.physical.fields() {
        let Some(i) = input
            .fields()
            .iter()
            .position(|g| g.name() == f.name())
            .or_else(|| (f.name() == "late_reason").then_some(input.fields().len()))
        else {
            let names: Vec<&str> = available.iter().map(|(n, _)| n.as_str()).collect();
            return Err(SqlError::new(
                ErrorKind::Unknown,
                table.def.pos,
                format!(
                    "late-row table `{late_table}` has column `{}`, which late rows of `{}` do not",
                    f.name(),
                    window.tvf.table
                ),
            )
            .hint(format!("late rows have the columns {}", names.join(", "))));
        };
        let from =
            available.iter().find(|(n, _)| n == f.name()).map(|(_, t)| t.clone()).unwrap_or(DataType::Null);
        if !assignable(&from, f.data_type()) {
            return Err(SqlError::new(
                ErrorKind::Type,
                table.def.pos,
                format!(
                    "late-row column `{}` is {from}, table `{late_table}` has {}",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
        columns.push(Reshape::Column(i));
        fields.push(Field::new(f.name(), f.data_type().clone(), true));
    }
    let schema = Arc::new(Schema::new(fields));
    Ok((
        late_table.to_string(),
        Step::Reshape { text: format!("late rows into {late_table}"), columns, schema },
    ))
}

/// The query's columns as the target table's physical columns: by position, or by the
/// INSERT's column list (other columns null).
/// Whether a value of type `from` may be written to a column of type `to` without a CAST:
/// the same type, a wider number, or NULL.
fn assignable(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    let int =
        |t: &T| matches!(t, T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32);
    let float = |t: &T| matches!(t, T::Float16 | T::Float32 | T::Float64 | T::Decimal128(..));
    let string = |t: &T| matches!(t, T::Utf8 | T::LargeUtf8 | T::Utf8View);
    from == to
        || matches!(from, T::Null)
        || (int(from) && (int(to) || float(to)))
        || (float(from) && float(to))
        || (string(from) && string(to))
        || (matches!(from, T::Timestamp(..)) && matches!(to, T::Timestamp(..)))
}

fn target_step(
    plan: &QueryPlan,
    table: &crate::catalog::Table,
    columns: &[String],
    pos: Pos,
) -> Result<Step> {
    let fields = table.physical.fields();
    let out = plan.schema.fields();
    let order: Vec<Option<usize>> = if columns.is_empty() {
        if out.len() != fields.len() {
            return Err(SqlError::new(
                ErrorKind::Type,
                pos,
                format!(
                    "the query produces {} columns, table `{}` has {}",
                    out.len(),
                    table.def.name,
                    fields.len()
                ),
            )
            .hint(format!(
                "select the columns {}",
                fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        (0..fields.len()).map(Some).collect()
    } else {
        for c in columns {
            if table.physical.field_with_name(c).is_err() {
                return Err(SqlError::new(
                    ErrorKind::Unknown,
                    pos,
                    format!("no column `{c}` in table `{}`", table.def.name),
                ));
            }
        }
        if columns.len() != out.len() {
            return Err(SqlError::new(
                ErrorKind::Type,
                pos,
                format!("{} columns listed, the query produces {}", columns.len(), out.len()),
            ));
        }
        fields.iter().map(|f| columns.iter().position(|c| c == f.name())).collect()
    };
    let mut reshape = Vec::new();
    for (f, o) in fields.iter().zip(&order) {
        match o {
            Some(i) => {
                let from = out[*i].data_type();
                if !assignable(from, f.data_type()) {
                    return Err(SqlError::new(
                        ErrorKind::Type,
                        pos,
                        format!(
                            "column `{}` of `{}` is {}, the query gives {from}",
                            f.name(),
                            table.def.name,
                            f.data_type()
                        ),
                    )
                    .hint("CAST the value in the SELECT list"));
                }
                reshape.push(Reshape::Column(*i));
            }
            None => {
                return Err(SqlError::new(
                    ErrorKind::Unsupported,
                    pos,
                    format!("column `{}` is not written", f.name()),
                )
                .hint("list every column of the table, or none"))
            }
        }
    }
    let schema = Arc::new(Schema::new(
        fields.iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    Ok(Step::Reshape { text: format!("INSERT INTO {}", table.def.name), columns: reshape, schema })
}
