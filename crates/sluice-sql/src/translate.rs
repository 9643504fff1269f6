//! A DataFusion logical plan as a Sluice pipeline: steps before the window (filters and
//! projections over the source rows), the window aggregation (keys, window spec, aggregates)
//! and steps after it (the query's projection, HAVING). What cannot run is an error; a query
//! is never half-translated.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};
use datafusion_common::DFSchema;
use datafusion_expr::{Expr, LogicalPlan};
use sluice_dataflow::ops::AggExpr;

use crate::catalog::Catalog;
use crate::error::{datafusion_error, ErrorKind, Pos, Result, SqlError};
use crate::steps::{compile, Step};
use crate::tvf::WindowTvf;

/// The window aggregation of a query.
#[derive(Debug, Clone)]
pub struct WindowStage {
    /// The window TVF.
    pub tvf: WindowTvf,
    /// Out-of-orderness bound of the table's WATERMARK, in ms.
    pub bound_ms: i64,
    /// Key columns of the engine's input (`__k0`, ...).
    pub keys: Vec<String>,
    /// The keys as SQL, for `explain`.
    pub key_text: Vec<String>,
    /// The engine's aggregates (`__g0`, ...).
    pub aggs: Vec<AggExpr>,
    /// The GROUP BY and aggregates as SQL, for `explain`.
    pub text: String,
}

/// A query compiled for the engine.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The table rows come from.
    pub source: String,
    /// Steps before the window (or all steps, without one).
    pub pre: Vec<Step>,
    /// The window aggregation, if any.
    pub window: Option<WindowStage>,
    /// Steps after the window.
    pub post: Vec<Step>,
    /// The schema of the rows the query produces.
    pub schema: SchemaRef,
}

/// A plan under translation.
pub(crate) struct Chain {
    pub(crate) source: String,
    pub(crate) pre: Vec<Step>,
    pub(crate) window: Option<WindowStage>,
    pub(crate) post: Vec<Step>,
    /// A window TVF scanned but not aggregated yet.
    pub(crate) pending: Option<WindowTvf>,
    /// Indices (in the current node's output) of window columns that are not materialized.
    pub(crate) virtual_cols: Vec<usize>,
}

impl Chain {
    fn push(&mut self, step: Step) {
        if self.window.is_some() {
            self.post.push(step);
        } else {
            self.pre.push(step);
        }
    }
}

/// Translates `plan`; `pos` is the statement's position, for errors without a better one.
///
/// # Errors
/// What the engine cannot run, with a hint.
pub fn translate(plan: &LogicalPlan, catalog: &Catalog, pos: Pos) -> Result<QueryPlan> {
    let chain = walk(plan, catalog, pos)?;
    if let Some(tvf) = &chain.pending {
        return Err(SqlError::new(
            ErrorKind::Unsupported,
            tvf.pos,
            "a window TVF without GROUP BY is not supported yet",
        )
        .hint("aggregate it: GROUP BY window_start, window_end[, keys]"));
    }
    let schema = Arc::new(plan.schema().as_arrow().clone());
    Ok(QueryPlan { source: chain.source, pre: chain.pre, window: chain.window, post: chain.post, schema })
}

pub(crate) fn unsupported(pos: Pos, what: impl Into<String>) -> SqlError {
    SqlError::new(ErrorKind::Unsupported, pos, what.into())
}

/// `schema` without the virtual columns: the schema of the batches at this point.
pub(crate) fn physical(schema: &DFSchema, virtual_cols: &[usize], pos: Pos) -> Result<DFSchema> {
    let fields = schema
        .iter()
        .enumerate()
        .filter(|(i, _)| !virtual_cols.contains(i))
        .map(|(_, (q, f))| (q.cloned(), Arc::clone(f)))
        .collect();
    DFSchema::new_with_metadata(fields, HashMap::new()).map_err(|e| datafusion_error(&e, pos))
}

/// The position of an expression's first column, if it has one.
pub(crate) fn expr_pos(e: &Expr, fallback: Pos) -> Pos {
    e.column_refs().iter().filter_map(|c| c.spans().first()).map(Pos::of_df).min().unwrap_or(fallback)
}

/// Fails if `e` reads a virtual window column.
pub(crate) fn check_materialized(
    e: &Expr,
    schema: &DFSchema,
    virtual_cols: &[usize],
    pos: Pos,
) -> Result<()> {
    for c in e.column_refs() {
        if schema.index_of_column(c).is_ok_and(|i| virtual_cols.contains(&i)) {
            let p = c.spans().first().map_or(pos, Pos::of_df);
            return Err(unsupported(p, format!("`{}` can only be used in GROUP BY and after it", c.name))
                .hint("group by window_start, window_end and use them in the SELECT list"));
        }
    }
    Ok(())
}

fn walk(plan: &LogicalPlan, catalog: &Catalog, pos: Pos) -> Result<Chain> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if scan.projection.is_some() || !scan.filters.is_empty() || scan.fetch.is_some() {
                return Err(unsupported(pos, "a pre-optimized table scan"));
            }
            let name = scan.table_name.table();
            if let Some(tvf) = catalog.windows.get(name) {
                let mut chain = relation(&tvf.table, catalog, tvf.table_pos)?;
                if chain.window.is_some() || chain.pending.is_some() {
                    return Err(unsupported(
                        tvf.table_pos,
                        "a window over an aggregated view is not supported yet",
                    ));
                }
                let n = plan.schema().fields().len();
                chain.virtual_cols = (n - 3..n).collect();
                chain.pending = Some(tvf.clone());
                return Ok(chain);
            }
            relation(name, catalog, pos)
        }
        LogicalPlan::SubqueryAlias(a) => walk(&a.input, catalog, pos),
        LogicalPlan::Filter(f) => {
            let mut chain = walk(&f.input, catalog, pos)?;
            let input = f.input.schema();
            let p = expr_pos(&f.predicate, pos);
            check_materialized(&f.predicate, input, &chain.virtual_cols, p)?;
            let schema = physical(input, &chain.virtual_cols, p)?;
            let predicate = compile(&f.predicate, &schema, p)?;
            chain.push(Step::Filter { text: format!("WHERE {}", f.predicate.human_display()), predicate });
            Ok(chain)
        }
        LogicalPlan::Projection(p) => {
            let mut chain = walk(&p.input, catalog, pos)?;
            let input = p.input.schema();
            let input_physical = physical(input, &chain.virtual_cols, pos)?;
            let mut new_virtual = Vec::new();
            let mut exprs = Vec::new();
            let mut fields = Vec::new();
            for (i, (e, (_, field))) in p.expr.iter().zip(p.schema.iter()).enumerate() {
                let bare = match e {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                if let Expr::Column(c) = bare {
                    if input.index_of_column(c).is_ok_and(|j| chain.virtual_cols.contains(&j)) {
                        new_virtual.push(i);
                        continue;
                    }
                }
                let ep = expr_pos(e, pos);
                check_materialized(e, input, &chain.virtual_cols, ep)?;
                exprs.push(compile(bare, &input_physical, ep)?);
                fields.push(field.as_ref().clone().with_nullable(true));
            }
            let text = p.expr.iter().map(|e| e.human_display().to_string()).collect::<Vec<_>>().join(", ");
            let schema = Arc::new(Schema::new(fields));
            chain.push(Step::Map { text: format!("SELECT {text}"), exprs, schema });
            chain.virtual_cols = new_virtual;
            Ok(chain)
        }
        LogicalPlan::Aggregate(a) => {
            let chain = walk(&a.input, catalog, pos)?;
            crate::aggregate::translate_aggregate(a, chain, catalog, pos)
        }
        LogicalPlan::Distinct(_) => Err(unsupported(pos, "SELECT DISTINCT is not supported yet")
            .hint("group by the columns in a window aggregation instead")),
        LogicalPlan::Join(_) => Err(unsupported(pos, "joins are not supported yet")),
        LogicalPlan::Sort(_) => Err(unsupported(pos, "ORDER BY on an unbounded stream is not supported")
            .hint("remove the ORDER BY; windows are emitted in event-time order per key")),
        LogicalPlan::Limit(_) => Err(unsupported(pos, "LIMIT is not supported on a stream")),
        LogicalPlan::Union(_) => Err(unsupported(pos, "UNION is not supported yet")
            .hint("write one INSERT per branch into the same table")),
        LogicalPlan::Window(_) => Err(unsupported(pos, "OVER windows are not supported yet")
            .hint("use a window TVF: TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))")),
        other => {
            Err(unsupported(pos, format!("`{}` is not supported in a streaming query", other.display())))
        }
    }
}

/// A table (rows from its connector) or a view (its plan, translated).
fn relation(name: &str, catalog: &Catalog, pos: Pos) -> Result<Chain> {
    if catalog.tables.contains_key(name) {
        return Ok(Chain {
            source: name.to_string(),
            pre: Vec::new(),
            window: None,
            post: Vec::new(),
            pending: None,
            virtual_cols: Vec::new(),
        });
    }
    match catalog.views.get(name) {
        Some(view) => walk(view, catalog, pos),
        None => Err(SqlError::new(ErrorKind::Unknown, pos, format!("table '{name}' not found"))),
    }
}
