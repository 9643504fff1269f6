//! `GROUP BY window_start, window_end, keys` with aggregates, as the engine's keyed window
//! aggregation: a map computing the keys and aggregate inputs (FILTER clauses become inputs
//! that are null where the filter is false), the window operator, and a reshape of its output
//! into the columns DataFusion planned.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion_expr::expr::Case;
use datafusion_expr::logical_plan::Aggregate;
use datafusion_expr::{lit, Expr, ExprSchemable};
use datafusion_physical_expr::expressions::Column as PhysicalColumn;
use datafusion_physical_expr::PhysicalExpr;
use sluice_dataflow::ops::{avg, count, count_col, count_distinct, max, min, sum, AggExpr};

use crate::catalog::Catalog;
use crate::error::{datafusion_error, ErrorKind, Pos, Result, SqlError};
use crate::steps::{compile, Reshape, Step};
use crate::translate::{check_materialized, expr_pos, physical, unsupported, Chain, WindowStage};

/// The type the engine aggregates a column as.
fn engine_type(dt: &DataType) -> Option<DataType> {
    use DataType as T;
    match dt {
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::Boolean => {
            Some(T::Int64)
        }
        T::Timestamp(..) | T::Date32 => Some(T::Int64),
        T::Float16 | T::Float32 | T::Float64 | T::Decimal128(..) => Some(T::Float64),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => Some(T::Utf8),
        _ => None,
    }
}

/// Translates an aggregate over a window TVF.
pub(crate) fn translate_aggregate(
    a: &Aggregate,
    mut chain: Chain,
    catalog: &Catalog,
    pos: Pos,
) -> Result<Chain> {
    let Some(tvf) = chain.pending.take() else {
        return Err(unsupported(pos, "a non-windowed aggregation over an unbounded stream needs an update-capable sink, which Sluice does not have yet")
            .hint("aggregate over a window TVF: FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, ..."));
    };
    let table = catalog.tables.get(&chain.source).ok_or_else(|| {
        SqlError::new(ErrorKind::Unknown, tvf.table_pos, format!("table '{}' not found", chain.source))
    })?;
    let Some((wm_col, wm)) = &table.def.watermark else {
        return Err(SqlError::new(
            ErrorKind::MissingWatermark,
            tvf.time_pos,
            format!("table `{}` has no WATERMARK: an event-time window needs one", chain.source),
        )
        .hint(format!(
            "add `WATERMARK FOR {0} AS {0} - INTERVAL '5' SECOND` to CREATE TABLE {1}",
            tvf.time_column, chain.source
        )));
    };
    if *wm_col != tvf.time_column {
        return Err(SqlError::new(
            ErrorKind::MissingWatermark,
            tvf.time_pos,
            format!(
                "DESCRIPTOR({}) is not the time attribute of `{}`: its WATERMARK is on `{wm_col}`",
                tvf.time_column, chain.source
            ),
        )
        .hint(format!("write DESCRIPTOR({wm_col})")));
    }
    let input = a.input.schema();
    let phys = physical(input, &chain.virtual_cols, pos)?;
    let time_idx = phys.fields().iter().position(|f| f.name() == &tvf.time_column).ok_or_else(|| {
        unsupported(
            tvf.time_pos,
            format!("the time column `{}` must be kept by the query below the window", tvf.time_column),
        )
    })?;

    let ts_type = DataType::Timestamp(TimeUnit::Millisecond, None);
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> =
        vec![Arc::new(PhysicalColumn::new(&tvf.time_column, time_idx))];
    let mut fields = vec![Field::new(&tvf.time_column, ts_type, true)];
    let mut keys = Vec::new();
    let mut key_names = Vec::new();
    let mut key_text = Vec::new();
    let mut group_cols = Vec::new(); // where each GROUP BY column comes from in the engine output
    let (mut has_start, mut has_end) = (false, false);
    for g in &a.group_expr {
        if matches!(g, Expr::GroupingSet(_)) {
            return Err(unsupported(pos, "GROUPING SETS, ROLLUP and CUBE are not supported yet"));
        }
        if let Expr::Column(c) = g {
            if let Ok(j) = input.index_of_column(c) {
                if chain.virtual_cols.contains(&j) {
                    match input.field(j).name().as_str() {
                        "window_start" => {
                            has_start = true;
                            group_cols.push(Reshape::Column(0));
                        }
                        "window_end" => {
                            has_end = true;
                            group_cols.push(Reshape::Column(1));
                        }
                        _ => group_cols.push(Reshape::WindowTime(1)),
                    }
                    continue;
                }
            }
        }
        let gp = expr_pos(g, pos);
        check_materialized(g, input, &chain.virtual_cols, gp)?;
        let dt = g.get_type(&phys).map_err(|e| datafusion_error(&e, gp))?;
        let name = format!("__k{}", keys.len());
        group_cols.push(Reshape::Column(2 + keys.len()));
        exprs.push(compile(g, &phys, gp)?);
        fields.push(Field::new(&name, dt, true));
        key_text.push(g.human_display().to_string());
        if let Expr::Column(c) = g {
            key_names.push(c.name.clone());
        }
        keys.push(name);
    }
    if !(has_start && has_end) {
        return Err(unsupported(pos, "a window aggregation must GROUP BY window_start and window_end")
            .hint("add window_start, window_end to the GROUP BY"));
    }
    for k in &tvf.partition_by {
        if !key_names.contains(k) {
            return Err(unsupported(
                tvf.pos,
                format!("SESSION is partitioned by `{k}`, which is not in the GROUP BY"),
            )
            .hint(format!("add `{k}` to the GROUP BY")));
        }
    }
    if keys.is_empty() {
        // The engine aggregates per key: one constant key for a global window.
        exprs.push(compile(&lit(0_i64), &phys, pos)?);
        fields.push(Field::new("__k0", DataType::Int64, true));
        keys.push("__k0".to_string());
    }

    let mut aggs = Vec::new();
    // SUM of no values is NULL in SQL and 0 in the engine: such sums get a hidden count.
    let mut sum_counts = Vec::new();
    for (j, e) in a.aggr_expr.iter().enumerate() {
        let ep = expr_pos(e, pos);
        let (agg, input_expr, is_sum) = aggregate(e, ep)?;
        let name = format!("__g{j}");
        match input_expr {
            Some(ie) => {
                check_materialized(&ie, input, &chain.virtual_cols, ep)?;
                let dt = ie.get_type(&phys).map_err(|e| datafusion_error(&e, ep))?;
                let et = engine_type(&dt).ok_or_else(|| {
                    SqlError::new(ErrorKind::Type, ep, format!("cannot aggregate a value of type {dt}"))
                        .hint("aggregate a number or a string (CAST it)")
                })?;
                let col = format!("__a{}", fields.len());
                exprs.push(compile(&ie, &phys, ep)?);
                fields.push(Field::new(&col, et, true));
                if is_sum {
                    sum_counts.push((j, count_col(&col).as_(&format!("__n{j}"))));
                }
                aggs.push(agg(&col).as_(&name));
            }
            None => aggs.push(count().as_(&name)),
        }
    }
    if catalog.keep_late_columns {
        for (i, f) in phys.fields().iter().enumerate() {
            if f.name() != &tvf.time_column && !fields.iter().any(|g| g.name() == f.name()) {
                exprs.push(Arc::new(PhysicalColumn::new(f.name(), i)));
                fields.push(f.as_ref().clone().with_nullable(true));
            }
        }
    }
    let text = format!(
        "GROUP BY {} | {}",
        a.group_expr.iter().map(|e| e.human_display().to_string()).collect::<Vec<_>>().join(", "),
        a.aggr_expr.iter().map(|e| e.human_display().to_string()).collect::<Vec<_>>().join(", ")
    );
    chain.pre.push(Step::Map {
        text: "window input: time, keys, aggregate inputs".into(),
        exprs,
        schema: Arc::new(Schema::new(fields)),
    });

    // The engine emits window_start, window_end, keys, aggregates; DataFusion planned the
    // GROUP BY columns, then the aggregates.
    let first_agg = 2 + keys.len();
    let mut columns = group_cols;
    for j in 0..a.aggr_expr.len() {
        let count = sum_counts.iter().position(|(k, _)| *k == j);
        columns.push(match count {
            Some(c) => Reshape::NullIfNoValues { value: first_agg + j, count: first_agg + aggs.len() + c },
            None => Reshape::Column(first_agg + j),
        });
    }
    aggs.extend(sum_counts.into_iter().map(|(_, agg)| agg));
    let out_fields: Vec<Field> =
        a.schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    chain.post.push(Step::Reshape {
        text: "window output as the query's GROUP BY and aggregates".into(),
        columns,
        schema: Arc::new(Schema::new(out_fields)),
    });
    chain.window = Some(WindowStage { bound_ms: wm.bound_ms, tvf, keys, key_text, aggs, text });
    chain.virtual_cols.clear();
    Ok(chain)
}

type MakeAgg = fn(&str) -> AggExpr;

/// The engine aggregate for `e`, the expression it reads (`None` for `COUNT(*)`), and whether
/// it is a SUM.
fn aggregate(e: &Expr, pos: Pos) -> Result<(MakeAgg, Option<Expr>, bool)> {
    let inner = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::AggregateFunction(af) = inner else {
        return Err(unsupported(pos, format!("`{}` is not an aggregate the engine runs", e.human_display())));
    };
    let name = af.func.name().to_ascii_lowercase();
    let p = &af.params;
    if !p.order_by.is_empty() {
        return Err(unsupported(pos, format!("{name}(.. ORDER BY ..) is not supported")));
    }
    let arg = match p.args.as_slice() {
        [] => None,
        [Expr::Literal(v, _)] if name == "count" && !v.is_null() => None,
        [a] => Some(a.clone()),
        _ => {
            return Err(unsupported(pos, format!("{name} with {} arguments is not supported", p.args.len())))
        }
    };
    if p.distinct && name != "count" {
        return Err(
            unsupported(pos, format!("{name}(DISTINCT ..) is not supported")).hint("COUNT(DISTINCT x) is")
        );
    }
    let make: MakeAgg = match (name.as_str(), p.distinct) {
        ("count", true) => count_distinct,
        ("count", false) => count_col,
        ("sum", _) => sum,
        ("min", _) => min,
        ("max", _) => max,
        ("avg" | "mean", _) => avg,
        _ => {
            return Err(unsupported(
                pos,
                format!("aggregate function {} is not supported yet", name.to_uppercase()),
            )
            .hint("use COUNT, SUM, MIN, MAX, AVG or COUNT(DISTINCT ..)"))
        }
    };
    if name != "count" && arg.is_none() {
        return Err(unsupported(pos, format!("{name} needs an argument")));
    }
    // COUNT(*) FILTER (WHERE f) counts a value that is null where f is not true.
    let arg = match (&p.filter, arg) {
        (None, None) => return Ok((make, None, false)),
        (Some(f), None) => Some(lit(1_i64)).map(|v| masked(f, v)),
        (Some(f), Some(a)) => Some(masked(f, a)),
        (None, Some(a)) => Some(a),
    };
    Ok((make, arg, name == "sum"))
}

fn masked(filter: &Expr, value: Expr) -> Expr {
    Expr::Case(Case {
        expr: None,
        when_then_expr: vec![(Box::new(filter.clone()), Box::new(value))],
        else_expr: None,
    })
}
