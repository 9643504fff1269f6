//! `'connector' = 'kafka'` tables (cargo feature `kafka`), with the option names of Flink's
//! Kafka connector.
//!
//! | option | meaning |
//! |---|---|
//! | `topic` | the topic (required) |
//! | `properties.bootstrap.servers` | the brokers (required) |
//! | `properties.*` | any other librdkafka property, passed as is (`properties.group.id`, SASL, TLS) |
//! | `format` / `value.format` | `json` (the default) |
//! | `scan.startup.mode` | `earliest-offset` (default), `latest-offset`, `group-offsets`, `timestamp` |
//! | `scan.startup.timestamp-millis` | the start of mode `timestamp` |
//! | `scan.bounded.mode` | `unbounded` (default) or `latest-offset` (fixed at the first start) |
//! | `sink.delivery-guarantee` | `at-least-once` (default), `none`, `exactly-once` (needs checkpoints) |
//! | `sink.transactional-id-prefix` | exactly-once transactional ids `<prefix>-<slot>`; default: the job's |
//! | `key.fields` | sink: the columns of each record's key (`;`-separated) |
//! | `sink.partitioner` | `default` (by key) or `fixed`: each task (a scaled-out job's partition `N`) writes to partition `N % partitions` |
//! | `key.format` | `json` (a JSON object) or `raw` (one string column); default: `raw` for one string column, else `json` |
//!
//! Every option is checked before the brokers are contacted, so a mistake is reported with
//! its position whether or not a broker is reachable.

use sluice_connect::kafka::{DeliveryGuarantee, KafkaConfig, KafkaSink, KafkaSource, KeyFormat, StartupMode};
use sluice_connect::DeadLetters;
use sluice_dataflow::sink::Sink;
use sluice_dataflow::source::Source;

use crate::catalog::Table;
use crate::connector::{df_error, option_error, required, SinkOptions};
use crate::error::Result;

/// The brokers and `properties.*` of the table.
fn config(table: &Table) -> Result<KafkaConfig> {
    let mut config = KafkaConfig::new(required(table, "properties.bootstrap.servers")?);
    for (k, v, _) in &table.def.options {
        if let Some(property) = k.strip_prefix("properties.") {
            if property != "bootstrap.servers" {
                config = config.property(property, v);
            }
        }
    }
    Ok(config)
}

fn check_format(table: &Table) -> Result<()> {
    for key in ["format", "value.format"] {
        if let Some(f) = table.def.option(key).filter(|f| *f != "json") {
            return Err(option_error(table, key, format!("unsupported format '{f}' for a kafka table"))
                .hint("use 'json'"));
        }
    }
    Ok(())
}

fn startup(table: &Table) -> Result<StartupMode> {
    const KEY: &str = "scan.startup.mode";
    Ok(match table.def.option(KEY).unwrap_or("earliest-offset") {
        "earliest-offset" => StartupMode::Earliest,
        "latest-offset" => StartupMode::Latest,
        "group-offsets" => {
            required(table, "properties.group.id")?;
            StartupMode::GroupOffsets
        }
        "timestamp" => {
            const TS: &str = "scan.startup.timestamp-millis";
            let ts = required(table, TS)?;
            StartupMode::Timestamp(ts.parse().map_err(|_| {
                option_error(table, TS, format!("'{ts}' is not a timestamp in epoch milliseconds"))
            })?)
        }
        m => {
            return Err(option_error(table, KEY, format!("unsupported startup mode '{m}'"))
                .hint("use 'earliest-offset', 'latest-offset', 'group-offsets' or 'timestamp'"))
        }
    })
}

/// Opens a kafka table as a source.
///
/// # Errors
/// Bad options, unreachable brokers, a missing topic.
pub(crate) fn source(table: &Table, strict: bool, partition: Option<usize>) -> Result<Box<dyn Source>> {
    let topic = required(table, "topic")?;
    check_format(table)?;
    let mode = startup(table)?;
    let bounded = match table.def.option("scan.bounded.mode").unwrap_or("unbounded") {
        "unbounded" => false,
        "latest-offset" => true,
        m => {
            return Err(option_error(table, "scan.bounded.mode", format!("unsupported bounded mode '{m}'"))
                .hint("use 'unbounded' (the default) or 'latest-offset'"))
        }
    };
    let config = config(table)?;
    let mut s = KafkaSource::new(config, topic, std::sync::Arc::clone(&table.physical))
        .and_then(|s| s.metadata(table.metadata.iter().cloned()))
        .map_err(|e| df_error(table, "topic", &e))?
        .startup(mode)
        .strict(strict)
        .dead_letters(DeadLetters::stderr());
    if bounded {
        s = s.bounded_latest();
    }
    if let Some(p) = partition {
        s = s.only_partitions([p]).map_err(|e| df_error(table, "topic", &e))?;
    }
    Ok(Box::new(s))
}

/// The delivery guarantee a kafka sink table asks for (checked).
///
/// # Errors
/// An unknown value, or exactly-once without checkpoints.
pub(crate) fn guarantee(table: &Table, checkpointing: bool) -> Result<DeliveryGuarantee> {
    const KEY: &str = "sink.delivery-guarantee";
    match table.def.option(KEY) {
        None | Some("at-least-once") => Ok(DeliveryGuarantee::AtLeastOnce),
        Some("none") => Ok(DeliveryGuarantee::None),
        Some("exactly-once") if !checkpointing => Err(option_error(
            table,
            KEY,
            format!("table `{}` is exactly-once, which needs checkpoints", table.def.name),
        )
        .hint("add SET 'execution.checkpointing.interval' = '10s' (or run with --checkpoint-interval)")),
        Some("exactly-once") => Ok(DeliveryGuarantee::ExactlyOnce),
        Some(other) => Err(option_error(table, KEY, format!("unknown delivery guarantee '{other}'"))
            .hint("use 'exactly-once', 'at-least-once' or 'none'")),
    }
}

/// The consumer group of a kafka source table: `properties.group.id`, else `job`.
pub(crate) fn group(table: &Table, job: &str) -> String {
    table.def.option("properties.group.id").unwrap_or(job).to_string()
}

/// The brokers, topic and consumer group of a kafka source table.
///
/// # Errors
/// Missing options.
pub(crate) fn membership(table: &Table, job: &str) -> Result<(KafkaConfig, String, String)> {
    Ok((config(table)?, required(table, "topic")?.to_string(), group(table, job)))
}

/// Opens a kafka table as a sink.
///
/// # Errors
/// Bad options, unreachable brokers, a missing topic.
pub(crate) fn sink(table: &Table, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    let topic = required(table, "topic")?;
    check_format(table)?;
    let guarantee = guarantee(table, options.checkpointing)?;
    let key_format = match table.def.option("key.format") {
        None => KeyFormat::Auto,
        Some("json") => KeyFormat::Json,
        Some("raw") => KeyFormat::Raw,
        Some(f) => {
            return Err(option_error(table, "key.format", format!("unsupported key format '{f}'"))
                .hint("use 'json' or 'raw'"))
        }
    };
    let config = config(table)?;
    let mut s = KafkaSink::new(config, topic)
        .map_err(|e| df_error(table, "topic", &e))?
        .delivery_guarantee(guarantee);
    let fixed = match table.def.option("sink.partitioner") {
        None | Some("default") => false,
        Some("fixed") => true,
        Some(p) => {
            return Err(option_error(table, "sink.partitioner", format!("unsupported partitioner '{p}'"))
                .hint("use 'default' (by key) or 'fixed' (each task to one partition)"))
        }
    };
    if let Some(keys) = table.def.option("key.fields") {
        s = s.key_columns(keys.split(';').map(str::trim)).key_format(key_format);
    } else if table.def.option("key.format").is_some() {
        return Err(option_error(table, "key.format", "'key.format' needs 'key.fields'".into())
            .hint("name the key columns: 'key.fields' = 'a;b'"));
    }
    if guarantee == DeliveryGuarantee::ExactlyOnce {
        const KEY: &str = "sink.transactional-id-prefix";
        // Each partition's task of a scaled-out job has its own transactional ids.
        let prefix = match (table.def.option(KEY), options.partition) {
            (Some(p), Some(n)) => format!("{p}.p{n}"),
            (Some(p), None) => p.to_string(),
            (None, _) => options.transaction_prefix.clone(),
        };
        let prefix = prefix.as_str();
        s = s.transactional_id_prefix(prefix).map_err(|e| df_error(table, KEY, &e))?;
        if let Some((topic, group)) = &options.input_offsets {
            s = s.commit_offsets_of(topic, group).map_err(|e| df_error(table, "topic", &e))?;
        }
    }
    if fixed {
        s = s
            .fixed_partition(options.partition.unwrap_or(0))
            .map_err(|e| df_error(table, "sink.partitioner", &e))?;
    }
    Ok(Box::new(s))
}
