//! Tables' `WITH` options as sources and sinks, with Flink's option names.
//!
//! | connector    | as source                                   | as sink                        |
//! |--------------|---------------------------------------------|--------------------------------|
//! | `filesystem` | `path` (file or directory), `format` = `json` / `csv` | JSON lines to `path` (a file, or `part-N.json` in a directory) |
//! | `sluice`     | `topic` of the embedded log, `scan.startup.mode`, `scan.bounded.mode` | `topic`, `key.fields` |
//! | `kafka`      | see [`crate::kafka`] (feature `kafka`)     | see [`crate::kafka`]            |
//! | `print`      | —                                           | JSON lines on stdout           |
//! | `blackhole`  | —                                           | discards rows                  |
//!
//! A `sluice` source also fills the table's metadata columns (`offset`, `partition`,
//! `timestamp`; see [`crate::metadata`]), appended after the decoded ones; [`computed_step`]
//! puts every column in declaration order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use sluice_connect::{DeadLetters, FileFormat, FileSink, FileSource, LogSink, LogSource, StdoutSink};
use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::source::Source;
use sluice_dataflow::{DataflowError, Result as DfResult};
use sluice_log::{Log, StartFrom};

use crate::catalog::Table;
use crate::error::{ErrorKind, Result, SqlError};
use crate::steps::Step;

pub use crate::adapt::StepsSource;

/// Connectors this build knows.
#[cfg(feature = "kafka")]
const CONNECTORS: &str = "filesystem, sluice, kafka, print, blackhole";
#[cfg(not(feature = "kafka"))]
const CONNECTORS: &str = "filesystem, sluice, print, blackhole";

pub(crate) fn option_error(table: &Table, key: &str, message: String) -> SqlError {
    SqlError::new(ErrorKind::Option, table.def.option_pos(key), message)
}

pub(crate) fn required<'a>(table: &'a Table, key: &str) -> Result<&'a str> {
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
        #[cfg(feature = "kafka")]
        "kafka" => Ok(c),
        #[cfg(not(feature = "kafka"))]
        "kafka" => Err(option_error(table, "connector", "this build has no Kafka connector".into())
            .hint("build sluice with the cargo feature 'kafka' (on by default)")),
        "upsert-kafka" => {
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

pub(crate) fn df_error(table: &Table, key: &str, e: &DataflowError) -> SqlError {
    option_error(table, key, format!("table `{}`: {e}", table.def.name))
}

/// Opens the table as a source.
///
/// # Errors
/// Bad options, a missing file or topic.
pub fn source(table: &Table, base: &Path, log: Option<&Log>) -> Result<Box<dyn Source>> {
    source_part(table, base, log, None)
}

/// Opens the table as a source; with `partition`, only that partition of a Kafka topic (an
/// instance's task when the job scales out over a consumer group).
///
/// # Errors
/// As [`source`]; a partition of a table that is not a Kafka topic.
pub(crate) fn source_part(
    table: &Table,
    base: &Path,
    log: Option<&Log>,
    partition: Option<usize>,
) -> Result<Box<dyn Source>> {
    if partition.is_some() && connector(table)? != "kafka" {
        return Err(option_error(
            table,
            "connector",
            format!("table `{}` is not a Kafka topic: only a Kafka source scales out", table.def.name),
        ));
    }
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
        #[cfg(feature = "kafka")]
        "kafka" => crate::kafka::source(table, strict, partition)?,
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

/// How [`sink`] opens a table.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Numbers the part file of an at-least-once sink writing into a directory.
    pub index: usize,
    /// Checkpointing is on: a sink that can be exactly-once is, unless its table says
    /// `'sink.delivery-guarantee' = 'at-least-once'`.
    pub checkpointing: bool,
    /// Unique per job and table: names an exactly-once sink's transactions and part files, so
    /// that a restart finds (and settles) what its earlier attempts left behind.
    pub transaction_prefix: String,
    /// The job reads one Kafka topic and this is its `(topic, consumer group)`: an
    /// exactly-once Kafka sink commits the topic's offsets for the group with its output.
    pub input_offsets: Option<(String, String)>,
    /// The Kafka partition this task of a scaled-out job reads.
    pub partition: Option<usize>,
}

/// The guarantee a sink table gets: Flink's `'sink.delivery-guarantee'` (`exactly-once` or
/// `at-least-once`); by default exactly-once with checkpointing on for the connectors that
/// can (`sluice`, `filesystem`), else at-least-once.
///
/// # Errors
/// An unknown value; exactly-once asked of `print`/`blackhole`, or without checkpointing.
pub fn delivery(table: &Table, checkpointing: bool) -> Result<Delivery> {
    const KEY: &str = "sink.delivery-guarantee";
    let connector = connector(table)?;
    #[cfg(feature = "kafka")]
    if connector == "kafka" {
        return Ok(match crate::kafka::guarantee(table, checkpointing)? {
            sluice_connect::DeliveryGuarantee::ExactlyOnce => Delivery::ExactlyOnce,
            _ => Delivery::AtLeastOnce,
        });
    }
    let transactional = matches!(connector, "sluice" | "filesystem");
    match table.def.option(KEY) {
        None if checkpointing && transactional => Ok(Delivery::ExactlyOnce),
        None | Some("at-least-once") => Ok(Delivery::AtLeastOnce),
        Some("exactly-once") if !transactional => Err(option_error(
            table,
            KEY,
            format!("a '{connector}' table cannot be exactly-once: it writes rows as they come"),
        )
        .hint("use 'at-least-once', or write to a 'sluice' or 'filesystem' table")),
        Some("exactly-once") if !checkpointing => Err(option_error(
            table,
            KEY,
            format!("table `{}` is exactly-once, which needs checkpoints", table.def.name),
        )
        .hint("add SET 'execution.checkpointing.interval' = '10s' (or run with --checkpoint-interval)")),
        Some("exactly-once") => Ok(Delivery::ExactlyOnce),
        Some(other) => Err(option_error(table, KEY, format!("unknown delivery guarantee '{other}'"))
            .hint("use 'exactly-once' or 'at-least-once'")),
    }
}

/// Opens the table as a sink.
///
/// An exactly-once `filesystem` sink always writes a directory (`path`), as Flink's does:
/// part files are written hidden and renamed when their checkpoint completes.
///
/// # Errors
/// Bad options, a file that cannot be created, a missing topic.
pub fn sink(table: &Table, base: &Path, log: Option<&Log>, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    let exactly_once = delivery(table, options.checkpointing)? == Delivery::ExactlyOnce;
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
            let is_dir =
                exactly_once || p.is_dir() || table.def.option("path").is_some_and(|s| s.ends_with('/'));
            if is_dir {
                std::fs::create_dir_all(&p).map_err(|e| {
                    option_error(table, "path", format!("cannot create {}: {e}", p.display()))
                })?;
            }
            if exactly_once {
                return exactly_once_file_sink(&p, options).map_err(|e| df_error(table, "path", &e));
            }
            if is_dir {
                p = p.join(format!("part-{}.json", options.index));
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
            if exactly_once {
                s = exactly_once_log_sink(s, &options.transaction_prefix)
                    .map_err(|e| df_error(table, "connector", &e))?;
            }
            Ok(Box::new(s))
        }
        #[cfg(feature = "kafka")]
        "kafka" => crate::kafka::sink(table, options),
        "print" => Ok(Box::new(StdoutSink::new())),
        _ => Ok(Box::new(Blackhole)),
    }
}

/// The log sink in its transactional mode: each checkpoint's rows in one log transaction
/// named after `prefix`, prepared on the barrier and committed when the checkpoint completes.
fn exactly_once_log_sink(s: LogSink, prefix: &str) -> DfResult<LogSink> {
    s.exactly_once(prefix)
}

/// The directory sink: part files `<prefix>-<checkpoint>.json`, hidden while in progress and
/// renamed when their checkpoint completes.
fn exactly_once_file_sink(dir: &Path, options: &SinkOptions) -> DfResult<Box<dyn Sink>> {
    Ok(Box::new(sluice_connect::PartFileSink::new(dir, &options.transaction_prefix)?))
}

/// With checkpoints on, a source must be replayable: after a failure the job rewinds it to
/// the last checkpoint. A `filesystem` table reading something that is not a regular file or
/// directory (stdin, a pipe, a device) cannot be read twice. (The runtime also refuses any
/// source that is not `replayable()` when the job starts.)
///
/// # Errors
/// Such a table, with a hint.
pub fn check_replayable(table: &Table, base: &Path) -> Result<()> {
    if connector(table)? != "filesystem" {
        return Ok(());
    }
    let p = path(table, base)?;
    let regular = std::fs::metadata(&p).map(|m| m.is_file() || m.is_dir()).unwrap_or(true);
    if regular && !matches!(table.def.option("path"), Some("-" | "/dev/stdin")) {
        return Ok(());
    }
    Err(option_error(
        table,
        "path",
        format!(
            "table `{}` reads {}, which cannot be read again after a failure: checkpoints need replayable sources",
            table.def.name,
            p.display()
        ),
    )
    .hint("write the input to a file or a topic first (sluice produce), or run without checkpointing"))
}

/// Discards every row (`'connector' = 'blackhole'`).
#[derive(Debug, Default)]
pub struct Blackhole;

impl Sink for Blackhole {
    fn write(&mut self, _batch: &RecordBatch) -> DfResult<()> {
        Ok(())
    }
}
