//! `sluice produce`: JSON lines in, records appended.
//!
//! Each non-empty line becomes one record whose value is the line's exact bytes (without its
//! `\n` or `\r\n`). Lines are validated and their key and timestamp fields picked out in one
//! parse (`json_line`), gathered into batches of `--batch` records, and each batch is one
//! append call. A batch is also appended as soon as the input has nothing more buffered, so a
//! slow or interactive producer does not hold records back.
//!
//! Progress: `acknowledged N records` on stderr about once a second and at the end, where N
//! counts the records of append calls that returned `Ok` — after a `kill -9`, the topic holds
//! at least that many. A bad line stops the command after appending every line before it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::value::RawValue;
use sluice_log::format::record_size;
use sluice_log::{LogOptions, Partition, Topic};
use sluice_types::{Bytes, PartitionId, Record};

use crate::cli::ProduceArgs;
use crate::json_line::Wanted;

/// How often progress goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Input buffer size; large reads keep the syscall count low.
const READ_BUFFER: usize = 1 << 20;

/// Runs `sluice produce`.
pub fn run(dir: &Path, args: &ProduceArgs) -> Result<()> {
    let log = super::open_writer(dir, args.durability.into())?;
    let topic = log.topic(&args.topic)?;
    let forced = args.partition.map(|p| topic.partition(PartitionId(p)).cloned()).transpose()?;
    let mut producer = Producer::new(&topic, forced, args.batch as usize);
    let wanted = Wanted { key: args.key.as_deref(), timestamp: args.timestamp.as_deref() };
    let lines = Lines { wanted, max_record_bytes: LogOptions::default().max_record_bytes };
    match &args.file {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            let source = path.display().to_string();
            produce_lines(BufReader::with_capacity(READ_BUFFER, file), &source, lines, &mut producer)?;
        }
        None => {
            let stdin = std::io::stdin().lock();
            produce_lines(BufReader::with_capacity(READ_BUFFER, stdin), "stdin", lines, &mut producer)?;
        }
    }
    producer.flush()?;
    log.flush().context("fsyncing the appended records")?;
    eprintln!("acknowledged {} records", producer.acknowledged);

    let mut out = std::io::stdout().lock();
    writeln!(out, "appended {} records to {}", producer.acknowledged, topic.name())?;
    for (p, n) in producer.per_partition.iter().enumerate().filter(|(_, n)| **n > 0) {
        writeln!(out, "  partition {p}: {n} records")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads lines from `input` until its end, handing a record for each to `producer`.
fn produce_lines<R: Read>(
    mut input: BufReader<R>,
    source: &str,
    lines: Lines<'_>,
    producer: &mut Producer<'_>,
) -> Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).with_context(|| format!("reading {source}"))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = trim_line_end(&line);
        if !text.iter().all(u8::is_ascii_whitespace) {
            match lines.record_of(text) {
                Ok(record) => producer.push(record)?,
                Err(problem) => {
                    producer.flush()?;
                    bail!(
                        "line {line_no} of {source}: {problem} ({} records from the lines before it were \
                         appended to {})",
                        producer.acknowledged,
                        producer.topic.name()
                    );
                }
            }
        }
        if input.buffer().is_empty() {
            // The next read may block (a pipe or a terminal): append what we have first.
            producer.flush()?;
        }
    }
}

/// The line without its line terminator (`\n` or `\r\n`).
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// How lines become records.
#[derive(Clone, Copy)]
struct Lines<'f> {
    /// The fields `--key` and `--timestamp` name.
    wanted: Wanted<'f>,
    /// The log's record size limit, checked here so that the error can name the line.
    max_record_bytes: usize,
}

impl Lines<'_> {
    /// Builds the record of one non-empty line, or says what is wrong with the line.
    fn record_of(&self, text: &[u8]) -> Result<Record, String> {
        let wanted = &self.wanted;
        let found = wanted.scan(text).map_err(|e| format!("invalid JSON: {}", describe_json_error(&e)))?;
        let timestamp = match wanted.timestamp {
            None => now_ms(),
            Some(field) => match found.timestamp {
                Some(raw) => event_time(raw).map_err(|why| format!("field {field:?}: {why}"))?,
                None => return Err(format!("no field {field:?} for --timestamp")),
            },
        };
        let record = Record {
            key: found.key.and_then(key_bytes),
            value: Bytes::copy_from_slice(text),
            timestamp,
            headers: Vec::new(),
        };
        let size = record_size(&record);
        if size > self.max_record_bytes {
            return Err(format!(
                "record of {size} bytes is larger than the limit of {} bytes",
                self.max_record_bytes
            ));
        }
        Ok(record)
    }
}

/// A serde_json error without its "at line 1 column N" suffix (every input is one line), with
/// the column kept.
fn describe_json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let message = full.rfind(" at line ").map_or(full.as_str(), |i| &full[..i]);
    format!("{message} at column {}", e.column())
}

/// The key bytes of a key field: a string's UTF-8 bytes, or the JSON text of anything else;
/// `null` means no key.
fn key_bytes(raw: &RawValue) -> Option<Bytes> {
    let text = raw.get();
    if text == "null" {
        None
    } else if text.starts_with('"') {
        // Unescape; cannot fail on a string the parser already accepted.
        Some(
            serde_json::from_str::<String>(text)
                .map_or_else(|_| Bytes::copy_from_slice(text.as_bytes()), Bytes::from),
        )
    } else {
        Some(Bytes::copy_from_slice(text.as_bytes()))
    }
}

/// Event time in epoch milliseconds from an integer or an RFC 3339 string.
fn event_time(raw: &RawValue) -> Result<i64, String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))
    } else {
        text.parse::<i64>()
            .map_err(|_| format!("{text} is neither integer epoch milliseconds nor an RFC 3339 string"))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Batches records into append calls and counts what was acknowledged.
struct Producer<'a> {
    topic: &'a Topic,
    /// `--partition`: every record goes here instead of where its key says.
    forced: Option<Partition>,
    batch: Vec<Record>,
    batch_size: usize,
    /// Records of append calls that returned `Ok`.
    acknowledged: u64,
    /// Acknowledged records by partition.
    per_partition: Vec<u64>,
    last_progress: Instant,
}

impl<'a> Producer<'a> {
    fn new(topic: &'a Topic, forced: Option<Partition>, batch_size: usize) -> Self {
        Producer {
            topic,
            forced,
            batch: Vec::with_capacity(batch_size),
            batch_size,
            acknowledged: 0,
            per_partition: vec![0; topic.partition_count() as usize],
            last_progress: Instant::now(),
        }
    }

    fn push(&mut self, record: Record) -> Result<()> {
        self.batch.push(record);
        if self.batch.len() >= self.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the pending batch (one append call) and reports progress when it is due.
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let appended = match &self.forced {
            Some(p) => {
                let result = p.append(&self.batch);
                self.batch.clear();
                result.map(|info| vec![(p.id(), info)])
            }
            // `Topic::append` takes the records by value; start a fresh batch of the same size.
            None => {
                self.topic.append(std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size)))
            }
        }
        .with_context(|| {
            format!(
                "appending to topic {} ({} records were acknowledged before this batch)",
                self.topic.name(),
                self.acknowledged
            )
        })?;
        for (p, info) in appended {
            self.acknowledged += info.count;
            if let Some(n) = self.per_partition.get_mut(p.0 as usize) {
                *n += info.count;
            }
        }
        if self.last_progress.elapsed() >= PROGRESS_EVERY {
            eprintln!("acknowledged {} records", self.acknowledged);
            self.last_progress = Instant::now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn keys() {
        assert_eq!(key_bytes(&raw(r#""a\u00e9""#)), Some(Bytes::from("aé")));
        assert_eq!(key_bytes(&raw("12")), Some(Bytes::from("12")));
        assert_eq!(key_bytes(&raw("true")), Some(Bytes::from("true")));
        assert_eq!(key_bytes(&raw("null")), None);
    }

    #[test]
    fn event_times() {
        assert_eq!(event_time(&raw("1714564800000")), Ok(1_714_564_800_000));
        assert_eq!(event_time(&raw("-5")), Ok(-5));
        assert_eq!(event_time(&raw(r#""2024-05-01T12:00:00.250Z""#)), Ok(1_714_564_800_250));
        assert!(event_time(&raw("1.5")).is_err());
        assert!(event_time(&raw(r#""May 1st""#)).unwrap_err().contains("RFC 3339"));
        assert!(event_time(&raw("null")).is_err());
    }

    #[test]
    fn records_keep_the_line_bytes() {
        let w = Lines { wanted: Wanted { key: Some("k"), timestamp: Some("t") }, max_record_bytes: 100 };
        let r = w.record_of(br#"{ "t": 7,  "k": 1 }"#).unwrap();
        assert_eq!(
            (&r.value[..], r.key.as_deref(), r.timestamp),
            (&br#"{ "t": 7,  "k": 1 }"#[..], Some(&b"1"[..]), 7)
        );
        assert!(w.record_of(b"{}").unwrap_err().contains("no field \"t\""));
        assert_eq!(w.record_of(b"{\"x\":}").unwrap_err(), "invalid JSON: expected value at column 6");
        let big = format!("{{\"t\":1,\"pad\":\"{}\"}}", "x".repeat(100));
        assert!(w.record_of(big.as_bytes()).unwrap_err().contains("larger than the limit of 100 bytes"));
    }

    #[test]
    fn line_ends() {
        assert_eq!(trim_line_end(b"a\r\n"), b"a");
        assert_eq!(trim_line_end(b"a\n"), b"a");
        assert_eq!(trim_line_end(b"a"), b"a");
        assert_eq!(trim_line_end(b"a\r"), b"a");
    }
}
