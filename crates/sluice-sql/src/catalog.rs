//! The tables, views and functions a script defines, as DataFusion's planner sees them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{plan_err, DFSchema, Result as DfResult, TableReference};
use datafusion_expr::planner::{ContextProvider, ExprPlanner};
use datafusion_expr::{
    AggregateUDF, Expr, ExprSchemable, HigherOrderUDF, LogicalPlan, LogicalTableSource, ScalarUDF,
    TableSource, WindowUDF,
};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};

use crate::ddl::{ColumnKind, TableDef};
use crate::error::{datafusion_error, ErrorKind, Result, SqlError};
use crate::functions::ToTimestampLtz;
use crate::tvf::WindowTvf;

/// A table: its definition, its full schema (physical, computed and metadata columns in
/// declaration order), the schema its connector decodes (physical columns only) and the
/// metadata columns its connector appends to them.
#[derive(Debug, Clone)]
pub struct Table {
    /// The `CREATE TABLE`.
    pub def: TableDef,
    /// All columns.
    pub schema: SchemaRef,
    /// The columns the connector decodes.
    pub physical: SchemaRef,
    /// Metadata columns, in declaration order: the source appends them after `physical`.
    pub metadata: Vec<(Field, sluice_connect::LogMetadata)>,
    /// The source's rows: `physical`, then `metadata`.
    pub source: SchemaRef,
    /// Computed columns: index in `schema` and the planned expression over `source`.
    pub computed: Vec<(usize, Expr)>,
}

/// Everything a script has defined so far.
pub struct Catalog {
    /// Tables by name.
    pub tables: HashMap<String, Table>,
    /// Views by name: their planned query.
    pub views: HashMap<String, LogicalPlan>,
    /// Window TVFs by their planning-only name.
    pub windows: HashMap<String, WindowTvf>,
    /// Set while planning an INSERT whose late rows go to a table: the window's input then
    /// keeps the source's columns, so that the late rows carry them.
    pub keep_late_columns: bool,
    udfs: HashMap<String, Arc<ScalarUDF>>,
    udafs: HashMap<String, Arc<AggregateUDF>>,
    planners: Vec<Arc<dyn ExprPlanner>>,
    options: ConfigOptions,
}

/// The planner options: identifiers are case-sensitive (as in Flink), strings are `Utf8`.
pub(crate) fn parser_options() -> ParserOptions {
    ParserOptions {
        enable_ident_normalization: false,
        map_string_types_to_utf8view: false,
        collect_spans: true,
        ..ParserOptions::default()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// An empty catalog with DataFusion's scalar and aggregate functions.
    #[must_use]
    pub fn new() -> Self {
        let mut udfs: HashMap<String, Arc<ScalarUDF>> = HashMap::new();
        for f in datafusion_functions::all_default_functions().into_iter().chain([ToTimestampLtz::udf()]) {
            for alias in f.aliases() {
                udfs.insert(alias.clone(), Arc::clone(&f));
            }
            udfs.insert(f.name().to_string(), f);
        }
        let mut udafs: HashMap<String, Arc<AggregateUDF>> = HashMap::new();
        for f in datafusion_functions_aggregate::all_default_aggregate_functions() {
            for alias in f.aliases() {
                udafs.insert(alias.clone(), Arc::clone(&f));
            }
            udafs.insert(f.name().to_string(), f);
        }
        let planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
        ];
        let mut options = ConfigOptions::default();
        options.sql_parser.enable_ident_normalization = false;
        options.sql_parser.map_string_types_to_utf8view = false;
        Catalog {
            tables: HashMap::new(),
            views: HashMap::new(),
            windows: HashMap::new(),
            keep_late_columns: false,
            udfs,
            udafs,
            planners,
            options,
        }
    }

    /// Adds a table: types its computed columns by planning their expressions.
    ///
    /// # Errors
    /// A name already taken, a computed column that does not plan.
    pub fn add_table(&mut self, def: TableDef) -> Result<()> {
        if self.tables.contains_key(&def.name) || self.views.contains_key(&def.name) {
            return Err(SqlError::new(
                ErrorKind::Syntax,
                def.pos,
                format!("`{}` is already defined", def.name),
            ));
        }
        let physical: Vec<Field> = def
            .columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Physical))
            .filter_map(|c| c.data_type.clone().map(|t| Field::new(&c.name, t, c.nullable)))
            .collect();
        let metadata = crate::metadata::columns(&def)?;
        let source: Vec<Field> =
            physical.iter().cloned().chain(metadata.iter().map(|(f, _)| f.clone())).collect();
        let physical = Arc::new(Schema::new(physical));
        let source = Arc::new(Schema::new(source));
        let df_source =
            DFSchema::try_from(source.as_ref().clone()).map_err(|e| datafusion_error(&e, def.pos))?;
        let planner = SqlToRel::new_with_options(&*self, parser_options());
        let mut fields = Vec::new();
        let mut computed = Vec::new();
        for c in &def.columns {
            match &c.kind {
                ColumnKind::Computed(sql) => {
                    let expr = planner
                        .sql_to_expr(sql.as_ref().clone(), &df_source, &mut PlannerContext::new())
                        .map_err(|e| datafusion_error(&e, c.pos))?;
                    let dt = expr.get_type(&df_source).map_err(|e| datafusion_error(&e, c.pos))?;
                    computed.push((fields.len(), expr));
                    fields.push(Field::new(&c.name, dt, true));
                }
                ColumnKind::Metadata { .. } => {
                    let dt = c.data_type.clone().unwrap_or(DataType::Null);
                    fields.push(Field::new(&c.name, dt, false));
                }
                ColumnKind::Physical => {
                    let dt = c.data_type.clone().unwrap_or(DataType::Null);
                    fields.push(Field::new(&c.name, dt, c.nullable));
                }
            }
        }
        if let Some((col, wm)) = &def.watermark {
            let dt = fields.iter().find(|f| f.name() == col).map(|f| f.data_type().clone());
            if !matches!(dt, Some(DataType::Timestamp(..))) {
                return Err(SqlError::new(
                    ErrorKind::Type,
                    wm.pos,
                    format!(
                        "the WATERMARK column `{col}` must be a TIMESTAMP(3), not {}",
                        dt.unwrap_or(DataType::Null)
                    ),
                )
                .hint(format!(
                    "for epoch milliseconds add a computed column: rt AS TO_TIMESTAMP_LTZ({col}, 3)"
                )));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let table = Table { schema, physical, metadata, source, computed, def };
        self.tables.insert(table.def.name.clone(), table);
        Ok(())
    }

    /// Plans a query and applies DataFusion's type coercion (implicit casts), so that
    /// `int_col / 1000.0` and friends compile to physical expressions.
    ///
    /// # Errors
    /// A planning error, with `pos` as the fallback position.
    pub fn plan_query(
        &self,
        query: Box<datafusion_sql::sqlparser::ast::Query>,
        pos: crate::error::Pos,
    ) -> Result<LogicalPlan> {
        use datafusion_optimizer::analyzer::type_coercion::TypeCoercion;
        use datafusion_optimizer::simplify_expressions::SimplifyExpressions;
        use datafusion_optimizer::{AnalyzerRule, Optimizer, OptimizerContext};
        let plan = SqlToRel::new_with_options(self, parser_options())
            .sql_statement_to_plan(datafusion_sql::sqlparser::ast::Statement::Query(query))
            .map_err(|e| datafusion_error(&e, pos))?;
        let plan = TypeCoercion::new().analyze(plan, &self.options).map_err(|e| datafusion_error(&e, pos))?;
        // COALESCE, NVL and friends are planned as calls that must be simplified (to CASE)
        // before they can run.
        let simplify = Optimizer::with_rules(vec![Arc::new(SimplifyExpressions::new())]);
        simplify.optimize(plan, &OptimizerContext::new(), |_, _| {}).map_err(|e| datafusion_error(&e, pos))
    }

    /// The schema of a table or view.
    #[must_use]
    pub fn relation_schema(&self, name: &str) -> Option<SchemaRef> {
        if let Some(t) = self.tables.get(name) {
            return Some(Arc::clone(&t.schema));
        }
        self.views.get(name).map(|v| Arc::new(v.schema().as_arrow().clone()))
    }

    /// The planning-only schema of a window TVF: the table's columns, `window_start`,
    /// `window_end` and `window_time`.
    fn window_schema(&self, tvf: &WindowTvf) -> DfResult<SchemaRef> {
        let Some(base) = self.relation_schema(&tvf.table) else {
            return plan_err!("table '{}' not found", tvf.table);
        };
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in WINDOW_COLUMNS {
            fields.push(Field::new(name, ts.clone(), false));
        }
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// The columns a window TVF adds.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

impl ContextProvider for Catalog {
    fn get_table_source(&self, name: TableReference) -> DfResult<Arc<dyn TableSource>> {
        let table = name.table();
        let schema = if let Some(tvf) = self.windows.get(table) {
            self.window_schema(tvf)?
        } else if let Some(s) = self.relation_schema(table) {
            s
        } else {
            return plan_err!("table '{table}' not found");
        };
        Ok(Arc::new(LogicalTableSource::new(schema)))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.planners
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.udfs.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.udafs.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_window_meta(&self, _name: &str) -> Option<Arc<WindowUDF>> {
        None
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.udfs.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.udafs.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}
