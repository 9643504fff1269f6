//! `sluice topic create | list | describe | delete`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use sluice_log::{Durability, PartitionStats, TopicConfig};

use crate::cli::{CreateArgs, TopicCommand};

/// Runs `sluice topic ...`.
pub fn run(dir: &Path, command: TopicCommand) -> Result<()> {
    match command {
        TopicCommand::Create(args) => create(dir, &args),
        TopicCommand::List => list(dir),
        TopicCommand::Describe { name } => describe(dir, &name),
        TopicCommand::Delete { name } => delete(dir, &name),
    }
}

fn create(dir: &Path, args: &CreateArgs) -> Result<()> {
    let mut config = TopicConfig::new(args.partitions)
        .retention_ms(args.retention_ms)
        .retention_bytes(args.retention_bytes);
    if let Some(bytes) = args.segment_bytes {
        config = config.segment_bytes(bytes);
    }
    let log = super::open_writer(dir, Durability::default())?;
    let topic = log.create_topic(&args.name, config)?;
    let n = topic.partition_count();
    println!("created topic {} with {n} partition{}", topic.name(), if n == 1 { "" } else { "s" });
    Ok(())
}

fn list(dir: &Path) -> Result<()> {
    let log = super::open_reader(dir)?;
    let names = log.topic_names();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for name in names {
        let partitions = log.topic(&name)?.partition_count();
        writeln!(out, "{name:<width$}  {partitions} partitions")?;
    }
    out.flush()?;
    Ok(())
}

fn describe(dir: &Path, name: &str) -> Result<()> {
    let log = super::open_reader(dir)?;
    let topic = log.topic(name)?;
    let config = topic.config();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "topic {}: {} partitions, retention-ms {}, retention-bytes {}, segment-bytes {}",
        topic.name(),
        config.partitions,
        config.retention_ms.map_or_else(|| "unlimited".to_owned(), |v| v.to_string()),
        config.retention_bytes.map_or_else(|| "unlimited".to_owned(), |v| v.to_string()),
        config.segment_bytes,
    )?;
    let stats = topic.stats();
    writeln!(
        out,
        "{:>9}  {:>12}  {:>12}  {:>12}  {:>8}  {:>14}  newest timestamp",
        "partition", "start", "end", "records", "segments", "bytes"
    )?;
    for s in &stats {
        writeln!(
            out,
            "{:>9}  {:>12}  {:>12}  {:>12}  {:>8}  {:>14}  {}",
            s.partition,
            s.log_start,
            s.end,
            records(s),
            s.segments,
            s.bytes,
            format_timestamp(s.max_timestamp)
        )?;
    }
    writeln!(
        out,
        "{:>9}  {:>12}  {:>12}  {:>12}  {:>8}  {:>14}  {}",
        "total",
        "",
        "",
        stats.iter().map(records).sum::<u64>(),
        stats.iter().map(|s| s.segments).sum::<usize>(),
        stats.iter().map(|s| s.bytes).sum::<u64>(),
        format_timestamp(stats.iter().filter_map(|s| s.max_timestamp).max())
    )?;
    out.flush()?;
    Ok(())
}

fn delete(dir: &Path, name: &str) -> Result<()> {
    let log = super::open_writer(dir, Durability::default())?;
    log.delete_topic(name)?;
    println!("deleted topic {name}");
    Ok(())
}

/// Records retained in a partition.
fn records(s: &PartitionStats) -> u64 {
    s.end - s.log_start
}

/// A timestamp as RFC 3339 UTC with milliseconds, `-` if there is none.
fn format_timestamp(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(Some(1_767_225_600_250)), "2026-01-01T00:00:00.250Z");
        assert_eq!(format_timestamp(None), "-");
        assert_eq!(format_timestamp(Some(i64::MAX)), "-");
    }
}
