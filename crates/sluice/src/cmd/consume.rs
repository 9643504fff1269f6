//! `sluice consume`: records out, one line each.
//!
//! The log is opened read-only (see `cmd`), so a consumer can follow a topic that a `produce`
//! in another terminal is appending to. Without `--follow` the command ends when it has caught
//! up with every partition; with it, it waits for new records until Ctrl-C.
//!
//! With `--group`, the positions are committed after each polled batch has been written to
//! stdout (and flushed), and once more at the end, including after Ctrl-C: a record is
//! committed only once it was handed on, so a crash repeats records but never skips one.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::value::RawValue;
use sluice_log::{Consumer, StartFrom};
use sluice_types::{PartitionId, StoredRecord};

use crate::cli::ConsumeArgs;

/// Most records taken by one poll.
const POLL_RECORDS: u64 = 100_000;
/// How long one wait for new records lasts with `--follow` before checking for Ctrl-C.
const FOLLOW_WAIT: Duration = Duration::from_millis(200);

/// Runs `sluice consume`.
pub fn run(dir: &Path, args: &ConsumeArgs) -> Result<()> {
    let group = args.group.as_deref();
    let start = match (args.from, group) {
        (Some(StartFrom::Committed), None) => bail!("--from committed needs a consumer group (--group G)"),
        (Some(start), _) => start,
        (None, Some(_)) => StartFrom::Committed,
        (None, None) => StartFrom::Earliest,
    };
    let log = super::open_reader(dir)?;
    let only = args.partition.map(|p| [PartitionId(p)]);
    let mut consumer = Consumer::new(&log, &args.topic, only.as_ref().map(|p| &p[..]), group, start)?;
    let interrupted = if args.follow || group.is_some() { on_interrupt() } else { Arc::default() };

    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let printer = Printer { topic: &args.topic, with_metadata: args.with_metadata };
    let mut remaining = args.max.unwrap_or(u64::MAX);
    while remaining > 0 && !interrupted.load(Ordering::Relaxed) {
        let want = usize::try_from(remaining.min(POLL_RECORDS)).unwrap_or(usize::MAX);
        let mut records = consumer.poll(want, Duration::ZERO)?;
        if records.is_empty() {
            if !args.follow {
                if consumer.caught_up() {
                    break;
                }
                continue;
            }
            // About to block: whoever reads our output should have everything so far.
            out.flush()?;
            records = consumer.poll(want, FOLLOW_WAIT)?;
        }
        for (partition, record) in &records {
            printer.print(&mut out, *partition, record)?;
        }
        remaining -= records.len() as u64;
        if let (Some(g), false) = (group, records.is_empty()) {
            out.flush()?;
            consumer.commit().with_context(|| format!("committing the offsets of group {g}"))?;
        }
    }
    out.flush()?;
    if let Some(g) = group {
        consumer.commit().with_context(|| format!("committing the offsets of group {g}"))?;
    }
    Ok(())
}

/// A flag that Ctrl-C (SIGINT) sets instead of killing the process, so that output is flushed
/// and offsets are committed on the way out.
fn on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    if let Err(e) = ctrlc::set_handler(move || set.store(true, Ordering::Relaxed)) {
        tracing::warn!("cannot handle Ctrl-C ({e}); it will stop the consumer without a final commit");
    }
    flag
}

/// Writes records as lines.
struct Printer<'a> {
    topic: &'a str,
    with_metadata: bool,
}

/// One record with its metadata, as `--with-metadata` prints it.
#[derive(Serialize)]
struct WithMetadata<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<Cow<'a, str>>,
    value: Value<'a>,
}

/// A value as JSON if it is JSON (verbatim), else as a string.
#[derive(Serialize)]
#[serde(untagged)]
enum Value<'a> {
    Json(&'a RawValue),
    Text(Cow<'a, str>),
}

impl Printer<'_> {
    fn print(&self, out: &mut impl Write, partition: PartitionId, stored: &StoredRecord) -> Result<()> {
        let record = &stored.record;
        if !self.with_metadata {
            out.write_all(&record.value)?;
            out.write_all(b"\n")?;
            return Ok(());
        }
        let value = std::str::from_utf8(&record.value)
            .ok()
            .and_then(|s| serde_json::from_str::<&RawValue>(s).ok())
            .map_or_else(|| Value::Text(String::from_utf8_lossy(&record.value)), Value::Json);
        let line = WithMetadata {
            topic: self.topic,
            partition: partition.0,
            offset: stored.offset,
            timestamp: record.timestamp,
            key: record.key.as_deref().map(String::from_utf8_lossy),
            value,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_types::Record;

    fn print(value: &'static [u8], key: Option<&'static str>) -> String {
        let mut record = Record::new(value, 7);
        record.key = key.map(Into::into);
        let mut out = Vec::new();
        Printer { topic: "t", with_metadata: true }
            .print(&mut out, PartitionId(2), &StoredRecord { offset: 9, record })
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn metadata_keeps_json_values_verbatim() {
        assert_eq!(
            print(br#"{"b":1, "a":[1.50]}"#, Some("k")),
            "{\"topic\":\"t\",\"partition\":2,\"offset\":9,\"timestamp\":7,\"key\":\"k\",\"value\":{\"b\":1, \"a\":[1.50]}}\n"
        );
    }

    #[test]
    fn metadata_quotes_other_values() {
        assert!(print(b"not json", None).ends_with(",\"key\":null,\"value\":\"not json\"}\n"));
        assert!(print(b"", None).ends_with(",\"value\":\"\"}\n"));
        assert!(print(b"\xff", None).ends_with(",\"value\":\"\u{fffd}\"}\n"));
    }
}
