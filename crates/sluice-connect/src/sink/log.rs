//! [`LogSink`]: each result row appended as a JSON record to a topic of the embedded log.
//!
//! - **Value:** the row as a JSON object (see the [module docs](super)).
//! - **Key** (optional, [`key_columns`](LogSink::key_columns)): a single string column's value
//!   as is; otherwise the key columns as a JSON object. The key also picks the partition
//!   (Kafka's murmur2 partitioner), so rows of one key stay in order on one partition.
//!   Without key columns, each batch goes to one partition (sticky, the next batch to the next).
//! - **Timestamp** ([`timestamp_column`](LogSink::timestamp_column)): an Int64 or
//!   Timestamp(ms) column, e.g. `window_end`; by default the wall-clock time of the append.
//!
//! Appends are batched: one `Topic::append` per batch the runtime hands over.
//!
//! # Delivery
//! By default the sink is at-least-once: rows are visible as soon as they are appended, and a
//! job restarted from a checkpoint appends again what it wrote after that checkpoint.
//! [`exactly_once`](LogSink::exactly_once) writes the rows of each checkpoint interval into a
//! log transaction instead, prepared on the checkpoint's barrier and committed when the
//! checkpoint completes; readers see each row once, when its checkpoint completes (or when the
//! job ends, for a job without checkpoints). Keys, partitions and timestamps are the same in
//! both modes. See `log_txn` for the transaction names and what `finish` commits.

use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::Result;
use sluice_format::JsonEncoder;
use sluice_log::{Log, Topic};
use sluice_types::Record;

use super::log_txn::LogTransactions;
use crate::error;

/// Appends result rows to a topic; see the [module docs](self).
#[derive(Debug)]
#[must_use]
pub struct LogSink {
    topic: Topic,
    keys: Vec<String>,
    timestamp: Option<String>,
    encoder: JsonEncoder,
    /// Reused buffer for row ends and keys.
    ends: Vec<usize>,
    key_buf: Vec<u8>,
    key_ends: Vec<usize>,
    appended: u64,
    log: Log,
    /// Exactly-once: rows go into transactions, not straight to the topic.
    txns: Option<LogTransactions>,
}

impl LogSink {
    /// A sink appending to `topic` of `log` (the topic must exist).
    ///
    /// # Errors
    /// If the topic does not exist.
    pub fn new(log: &Log, topic: &str) -> Result<Self> {
        let topic = log.topic(topic).map_err(|e| error::log("log sink", &e))?;
        Ok(LogSink {
            topic,
            keys: Vec::new(),
            timestamp: None,
            encoder: JsonEncoder::new(),
            ends: Vec::new(),
            key_buf: Vec::new(),
            key_ends: Vec::new(),
            appended: 0,
            log: log.clone(),
            txns: None,
        })
    }

    /// Exactly-once delivery through log transactions named `<prefix>-<n>`, committed when
    /// their checkpoint completes; see the [module docs](self). `prefix` must be unique per job
    /// and sink, e.g. `"<job>.<table>"`: recovery aborts every prepared transaction it names.
    /// Default = at-least-once (plain appends).
    ///
    /// # Errors
    /// `prefix` does not make a valid transaction name (ASCII letters, digits, `.`, `_`, `-`;
    /// at most 228 characters).
    pub fn exactly_once(mut self, prefix: &str) -> Result<Self> {
        self.txns = Some(LogTransactions::new(&self.log, prefix)?);
        Ok(self)
    }

    /// The columns that make each record's key. Default = none (keyless records).
    pub fn key_columns<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.keys = columns.into_iter().map(|c| c.as_ref().to_string()).collect();
        self
    }

    /// The Int64 or Timestamp(ms) column that gives each record's timestamp. Default = the
    /// append time.
    pub fn timestamp_column(mut self, column: &str) -> Self {
        self.timestamp = Some(column.to_string());
        self
    }

    /// Records appended so far (exactly-once: staged in transactions, committed or not).
    #[must_use]
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Each row's key, or `None`s without key columns.
    fn keys(&mut self, batch: &RecordBatch) -> Result<Vec<Option<Bytes>>> {
        let rows = batch.num_rows();
        if self.keys.is_empty() {
            return Ok(vec![None; rows]);
        }
        let indices = self
            .keys
            .iter()
            .map(|k| {
                batch.schema().index_of(k).map_err(|_| {
                    error::user(format!("log sink `{}`: no key column `{k}`", self.topic.name()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if let [only] = indices[..] {
            if let Some(strings) = batch.column(only).as_string_opt::<i32>() {
                return Ok((0..rows)
                    .map(|i| strings.is_valid(i).then(|| Bytes::copy_from_slice(strings.value(i).as_bytes())))
                    .collect());
            }
        }
        let projected = batch.project(&indices).map_err(|e| error::user(e.to_string()))?;
        self.key_buf.clear();
        self.key_ends.clear();
        self.encoder
            .encode_rows(&projected, &mut self.key_buf, &mut self.key_ends)
            .map_err(|e| error::format(&e))?;
        let all = Bytes::copy_from_slice(&self.key_buf);
        let mut start = 0;
        Ok(self
            .key_ends
            .iter()
            .map(|&end| {
                let key = all.slice(start..end);
                start = end;
                Some(key)
            })
            .collect())
    }

    /// Each row's timestamp.
    fn timestamps(&self, batch: &RecordBatch) -> Result<Vec<i64>> {
        let Some(name) = &self.timestamp else {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            return Ok(vec![i64::try_from(now).unwrap_or(i64::MAX); batch.num_rows()]);
        };
        let column = batch.column_by_name(name).ok_or_else(|| {
            error::user(format!("log sink `{}`: no timestamp column `{name}`", self.topic.name()))
        })?;
        let values: Vec<i64> = match column.data_type() {
            DataType::Int64 => {
                column.as_primitive::<Int64Type>().iter().map(Option::unwrap_or_default).collect()
            }
            DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) => column
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .map(Option::unwrap_or_default)
                .collect(),
            other => {
                return Err(error::user(format!(
                    "log sink `{}`: timestamp column `{name}` must be Int64 or Timestamp(ms), not {other}",
                    self.topic.name()
                )))
            }
        };
        Ok(values)
    }
}

impl Sink for LogSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.keys(batch)?;
        let timestamps = self.timestamps(batch)?;
        let mut values = Vec::with_capacity(batch.num_rows() * 64);
        self.ends.clear();
        self.encoder.encode_rows(batch, &mut values, &mut self.ends).map_err(|e| error::format(&e))?;
        // PERF: one allocation per batch; every record's value is a zero-copy slice of it.
        let values = Bytes::from(values);
        let mut start = 0;
        let mut records = Vec::with_capacity(batch.num_rows());
        for ((&end, key), ts) in self.ends.iter().zip(keys).zip(timestamps) {
            let mut record = Record::new(values.slice(start..end), ts);
            record.key = key;
            records.push(record);
            start = end;
        }
        let n = records.len() as u64;
        match &mut self.txns {
            Some(txns) => txns.send(self.topic.name(), records)?,
            None => {
                self.topic.append(records).map_err(|e| {
                    error::log(&format!("log sink: appending to topic `{}`", self.topic.name()), &e)
                })?;
            }
        }
        self.appended += n;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        match &mut self.txns {
            Some(txns) => txns.finish(),
            None => Ok(()),
        }
    }

    fn delivery(&self) -> Delivery {
        if self.txns.is_some() {
            Delivery::ExactlyOnce
        } else {
            Delivery::AtLeastOnce
        }
    }

    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        match &mut self.txns {
            Some(txns) => txns.pre_commit(id),
            None => Ok(Vec::new()),
        }
    }

    fn commit(&mut self, _id: u64, pending: &[String]) -> Result<()> {
        match &mut self.txns {
            Some(txns) => txns.commit(pending),
            None => Ok(()),
        }
    }

    fn recover(&mut self, pending: &[String]) -> Result<()> {
        match &mut self.txns {
            Some(txns) => txns.recover(pending),
            None => Ok(()),
        }
    }
}
