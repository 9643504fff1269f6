//! Tables' `WITH` options as sources and sinks, with Flink's option names.
//!
//! | connector    | as source                                   | as sink                        |
//! |--------------|---------------------------------------------|--------------------------------|
//! | `filesystem` | `path` (file or directory), `format` = `json` / `csv` | JSON lines to `path` (a file, or `part-N.json` in a directory) |
//! | `sluice`     | `topic` of the embedded log, `scan.startup.mode`, `scan.bounded.mode` | `topic`, `key.fields` |
//! | `print`      | —                                           | JSON lines on stdout           |
//! | `blackhole`  | —                                           | discards rows                  |
//!
//! A `sluice` source also fills the table's metadata columns (`offset`, `partition`,
//! `timestamp`; see [`crate::metadata`]), appended after the decoded ones; [`computed_step`]
//! puts every column in declaration order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use sluice_connect::{DeadLetters, FileFormat, FileSink, FileSource, LogSink, LogSource, StdoutSink};
use sluice_dataflow::sink::Sink;
use sluice_dataflow::source::{Poll, Source, SourceReader};
use sluice_dataflow::{DataflowError, Result as DfResult};
use sluice_log::{Log, StartFrom};

use crate::catalog::Table;
use crate::error::{ErrorKind, Result, SqlError};
use crate::steps::Step;

/// Connectors this build knows.
const CONNECTORS: &str = "filesystem, sluice, print, blackhole";

fn option_error(table: &Table, key: &str, message: String) -> SqlError {
    SqlError::new(ErrorKind::Option, table.def.option_pos(key), message)
}

fn required<'a>(table: &'a Table, key: &str) -> Result<&'a str> {
    table.def.option(key).ok_or_else(|| {
        SqlError::new(
            ErrorKind::Option,
            table.def.pos,
            format!("table `{}` needs the option '{key}'", table.def.name),
        )
        .hint(format!("add '{key}' = '...' to its WITH clause"))
    })
}

/// The table's connector name, checked.
///
/// # Errors
/// No `connector` option, or an unknown one.
pub fn connector(table: &Table) -> Result<&str> {
    let c = required(table, "connector")?;
    match c {
        "filesystem" | "sluice" | "print" | "blackhole" => Ok(c),
        "kafka" | "upsert-kafka" => {
            Err(option_error(table, "connector", format!("connector '{c}' is not available yet"))
                .hint("use 'sluice' (a topic of the embedded log) for now"))
        }
        _ => Err(option_error(table, "connector", format!("unknown connector '{c}'"))
            .hint(format!("use one of: {CONNECTORS}"))),
    }
}

/// A path option, relative to `base`.
fn path(table: &Table, base: &Path) -> Result<PathBuf> {
    Ok(base.join(required(table, "path")?))
}

fn df_error(table: &Table, key: &str, e: &DataflowError) -> SqlError {
    option_error(table, key, format!("table `{}`: {e}", table.def.name))
}

/// Opens the table as a source.
///
/// # Errors
/// Bad options, a missing file or topic.
pub fn source(table: &Table, base: &Path, log: Option<&Log>) -> Result<Box<dyn Source>> {
    let schema = Arc::clone(&table.physical);
    let strict = table.def.option("json.ignore-parse-errors") != Some("true")
        && table.def.option("csv.ignore-parse-errors") != Some("true");
    let inner: Box<dyn Source> = match connector(table)? {
        "filesystem" => {
            let format = match required(table, "format")? {
                "json" => FileFormat::JsonLines,
                "csv" => {
                    let delimiter = match table.def.option("csv.field-delimiter") {
                        None => b',',
                        Some(d) if d.len() == 1 => d.as_bytes()[0],
                        Some(d) => {
                            return Err(option_error(
                                table,
                                "csv.field-delimiter",
                                format!("a delimiter is one character, not '{d}'"),
                            ))
                        }
                    };
                    FileFormat::Csv { header: table.def.option("csv.header") == Some("true"), delimiter }
                }
                f => {
                    return Err(option_error(table, "format", format!("unsupported format '{f}'"))
                        .hint("use 'json' or 'csv'"))
                }
            };
            let source = FileSource::new(path(table, base)?, format, schema)
                .map_err(|e| df_error(table, "path", &e))?;
            Box::new(source.strict(strict).dead_letters(DeadLetters::stderr()))
        }
        "sluice" => {
            let log = log.ok_or_else(|| {
                option_error(table, "connector", "the sluice connector needs a data directory".into())
            })?;
            let topic = required(table, "topic")?;
            let mut s = LogSource::new(log, topic, schema)
                .and_then(|s| s.metadata(table.metadata.iter().cloned()))
                .map_err(|e| df_error(table, "topic", &e))?;
            s = match table.def.option("scan.startup.mode").unwrap_or("earliest-offset") {
                "earliest-offset" => s.start(StartFrom::Earliest),
                "latest-offset" => s.start(StartFrom::Latest),
                "group-offsets" => {
                    s.start(StartFrom::Committed).group(required(table, "properties.group.id")?)
                }
                m => {
                    return Err(option_error(
                        table,
                        "scan.startup.mode",
                        format!("unsupported startup mode '{m}'"),
                    )
                    .hint("use 'earliest-offset', 'latest-offset' or 'group-offsets'"))
                }
            };
            s = match table.def.option("scan.bounded.mode").unwrap_or("unbounded") {
                "unbounded" => s.follow(),
                "latest-offset" => s.bounded(),
                m => {
                    return Err(option_error(
                        table,
                        "scan.bounded.mode",
                        format!("unsupported bounded mode '{m}'"),
                    )
                    .hint("use 'unbounded' (the default) or 'latest-offset'"))
                }
            };
            Box::new(s.strict(strict))
        }
        c => {
            return Err(option_error(table, "connector", format!("connector '{c}' cannot be read from"))
                .hint("read from a 'filesystem' or 'sluice' table"))
        }
    };
    Ok(inner)
}

/// The step turning the rows the source reads (decoded columns, then metadata columns) into
/// the table's columns in declaration order, computed columns included; `None` if they are
/// already.
///
/// # Errors
/// An expression that does not compile.
pub fn computed_step(table: &Table) -> Result<Option<Step>> {
    if table.computed.is_empty() && table.source.fields() == table.schema.fields() {
        return Ok(None);
    }
    let df = datafusion_common::DFSchema::try_from(table.source.as_ref().clone())
        .map_err(|e| crate::error::datafusion_error(&e, table.def.pos))?;
    let mut exprs = Vec::new();
    for (i, field) in table.schema.fields().iter().enumerate() {
        match table.computed.iter().find(|(j, _)| *j == i) {
            Some((_, e)) => exprs.push(crate::steps::compile(e, &df, table.def.pos)?),
            None => {
                let name = field.name();
                let index = table.source.index_of(name).map_err(|e| {
                    SqlError::new(ErrorKind::Unknown, table.def.pos, format!("column `{name}`: {e}"))
                })?;
                exprs.push(Arc::new(datafusion_physical_expr::expressions::Column::new(name, index)) as _);
            }
        }
    }
    Ok(Some(Step::Map { text: "computed columns".into(), exprs, schema: Arc::clone(&table.schema) }))
}

/// Opens the table as a sink; `index` numbers part files in a directory.
///
/// # Errors
/// Bad options, a file that cannot be created, a missing topic.
pub fn sink(table: &Table, base: &Path, log: Option<&Log>, index: usize) -> Result<Box<dyn Sink>> {
    match connector(table)? {
        "filesystem" => {
            if let Some(f) = table.def.option("format").filter(|f| *f != "json") {
                return Err(option_error(
                    table,
                    "format",
                    format!("a filesystem sink writes 'json', not '{f}'"),
                ));
            }
            let mut p = path(table, base)?;
            if p.is_dir() || table.def.option("path").is_some_and(|s| s.ends_with('/')) {
                std::fs::create_dir_all(&p).map_err(|e| {
                    option_error(table, "path", format!("cannot create {}: {e}", p.display()))
                })?;
                p = p.join(format!("part-{index}.json"));
            }
            Ok(Box::new(FileSink::create(&p).map_err(|e| df_error(table, "path", &e))?))
        }
        "sluice" => {
            let log = log.ok_or_else(|| {
                option_error(table, "connector", "the sluice connector needs a data directory".into())
            })?;
            let mut s =
                LogSink::new(log, required(table, "topic")?).map_err(|e| df_error(table, "topic", &e))?;
            if let Some(keys) = table.def.option("key.fields") {
                s = s.key_columns(keys.split(';').map(str::trim));
            }
            Ok(Box::new(s))
        }
        "print" => Ok(Box::new(StdoutSink::new())),
        _ => Ok(Box::new(Blackhole)),
    }
}

/// Discards every row (`'connector' = 'blackhole'`).
#[derive(Debug, Default)]
pub struct Blackhole;

impl Sink for Blackhole {
    fn write(&mut self, _batch: &RecordBatch) -> DfResult<()> {
        Ok(())
    }
}

/// A source whose rows go through `steps` (computed columns, the query's filters and
/// projections, the window's input columns) in the reader, before the runtime sees them: the
/// runtime reads event time and keys from the source's schema, so columns computed by SQL must
/// exist there. Consequence: the watermark follows the rows that pass the query's `WHERE`.
pub struct StepsSource {
    inner: Box<dyn Source>,
    steps: Arc<[Step]>,
    schema: SchemaRef,
}

impl StepsSource {
    /// `inner`'s rows through `steps`; `schema` is the last step's output schema.
    #[must_use]
    pub fn new(inner: Box<dyn Source>, steps: Vec<Step>, schema: SchemaRef) -> Self {
        StepsSource { inner, steps: steps.into(), schema }
    }
}

impl Source for StepsSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        self.inner.partitions()
    }

    fn split(self: Box<Self>, n: usize) -> DfResult<Vec<Box<dyn SourceReader>>> {
        let steps = self.steps;
        Ok(self
            .inner
            .split(n)?
            .into_iter()
            .map(|inner| Box::new(StepsReader { inner, steps: Arc::clone(&steps) }) as Box<dyn SourceReader>)
            .collect())
    }
}

struct StepsReader {
    inner: Box<dyn SourceReader>,
    steps: Arc<[Step]>,
}

impl SourceReader for StepsReader {
    fn partitions(&self) -> Vec<usize> {
        self.inner.partitions()
    }

    fn poll(&mut self, max_rows: usize, timeout: Duration) -> DfResult<Poll> {
        match self.inner.poll(max_rows, timeout)? {
            Poll::Batch { partition, mut batch } => {
                for step in self.steps.iter() {
                    batch = step.apply(batch)?;
                }
                Ok(Poll::Batch { partition, batch })
            }
            other => Ok(other),
        }
    }
}
