//! [`KafkaSink`]: each result row as a JSON record of a Kafka topic.
//!
//! - **Value:** the row as a JSON object (`sluice-format`'s encoder, as every sink).
//! - **Key** (optional, [`key_columns`](KafkaSink::key_columns)), in [`KeyFormat`]: by default a
//!   single string column's value as is, otherwise the key columns as a JSON object; `Json`
//!   always a JSON object (Flink's `'key.format' = 'json'`), `Raw` a single string column's
//!   bytes (`'raw'`). The client's partitioner picks
//!   the partition from the key (keyless records are spread by the client).
//!
//! # Delivery ([`DeliveryGuarantee`], Flink's `sink.delivery-guarantee`)
//! - `None`: records are handed to the client; a failed delivery is reported at the next
//!   flush, but nothing waits for acknowledgements at checkpoints.
//! - `AtLeastOnce` (the default): at each checkpoint's barrier the sink waits until every
//!   record is acknowledged (`pre_commit` = flush), so a completed checkpoint never loses
//!   output; a restart writes again what followed it.
//! - `ExactlyOnce`: a Kafka transaction per checkpoint, committed when the checkpoint
//!   completes; `read_committed` consumers see each row once. Transactional ids are
//!   `<prefix>-<slot>`; each transaction also commits a marker offset (group `<prefix>`) that
//!   tells a restart whether its checkpoint's output committed (see `producer`), and each
//!   record carries header `sluice.txn` naming its transaction.
//!   [`commit_offsets_of`](KafkaSink::commit_offsets_of) commits the input's offsets for a
//!   consumer group in the same transactions.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::Result;
use sluice_format::JsonEncoder;

use super::producer::{self, KafkaProducer, Transactions};
use super::{error, offsets, KafkaConfig};
use crate::error as errors;

/// What a [`KafkaSink`] promises; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryGuarantee {
    /// No waiting for acknowledgements at checkpoints (`none`).
    None,
    /// Every record acknowledged at each checkpoint (`at-least-once`).
    AtLeastOnce,
    /// A Kafka transaction per checkpoint (`exactly-once`).
    ExactlyOnce,
}

/// How a [`KafkaSink`] encodes record keys; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// A single string column as is, several columns (or another type) as a JSON object.
    #[default]
    Auto,
    /// The key columns as a JSON object, always.
    Json,
    /// A single string column's bytes.
    Raw,
}

/// Writes result rows to a Kafka topic; see the [module docs](self).
#[must_use]
pub struct KafkaSink {
    config: KafkaConfig,
    topic: String,
    context: String,
    keys: Vec<String>,
    key_format: KeyFormat,
    guarantee: DeliveryGuarantee,
    encoder: JsonEncoder,
    values: Vec<u8>,
    ends: Vec<usize>,
    key_buf: Vec<u8>,
    key_ends: Vec<usize>,
    /// The producer when not exactly-once (created at the first write).
    plain: Option<KafkaProducer>,
    txns: Option<Transactions>,
    sent: u64,
    partitions: usize,
    /// Every record to this partition (Flink's `'sink.partitioner' = 'fixed'`), if set.
    fixed: Option<i32>,
}

impl KafkaSink {
    /// A sink writing to `topic` (it must exist) of the brokers of `config`, at-least-once.
    ///
    /// # Errors
    /// The brokers cannot be reached, or the topic does not exist.
    pub fn new(config: KafkaConfig, topic: &str) -> Result<Self> {
        let context = format!("kafka sink `{topic}`");
        let partitions = offsets::partition_count(&config, topic, &context)?;
        Ok(KafkaSink {
            config,
            topic: topic.to_string(),
            context,
            keys: Vec::new(),
            key_format: KeyFormat::Auto,
            guarantee: DeliveryGuarantee::AtLeastOnce,
            encoder: JsonEncoder::new(),
            values: Vec::new(),
            ends: Vec::new(),
            key_buf: Vec::new(),
            key_ends: Vec::new(),
            plain: None,
            txns: None,
            sent: 0,
            partitions,
            fixed: None,
        })
    }

    /// The delivery guarantee. [`DeliveryGuarantee::ExactlyOnce`] needs a
    /// [`transactional_id_prefix`](Self::transactional_id_prefix). Default = at-least-once.
    pub fn delivery_guarantee(mut self, guarantee: DeliveryGuarantee) -> Self {
        self.guarantee = guarantee;
        self
    }

    /// The prefix of the transactional ids (`<prefix>-<slot>`): unique per job and sink, and
    /// the same on every restart, so that a restart fences its predecessor.
    ///
    /// # Errors
    /// An empty prefix.
    pub fn transactional_id_prefix(mut self, prefix: &str) -> Result<Self> {
        if prefix.is_empty() {
            return Err(errors::user(format!("{}: the transactional id prefix is empty", self.context)));
        }
        self.txns = Some(Transactions::new(self.config.clone(), &self.topic, prefix, &self.context));
        Ok(self)
    }

    /// Exactly-once only: each checkpoint's transaction also commits the offsets of the Kafka
    /// topic `topic` the job reads (its only source, whose partition numbers are Kafka's) for
    /// consumer group `group`, so that the group's committed offsets move with the output.
    ///
    /// # Errors
    /// Not exactly-once, or the client cannot be created.
    pub fn commit_offsets_of(mut self, topic: &str, group: &str) -> Result<Self> {
        if self.guarantee != DeliveryGuarantee::ExactlyOnce {
            return Err(errors::user(format!(
                "{}: the input's offsets commit with the output only with exactly-once delivery",
                self.context
            )));
        }
        self.transactions()?.commit_offsets_of(topic, group);
        Ok(self)
    }

    /// Write every record to partition `task % partitions` (Flink's `'sink.partitioner' =
    /// 'fixed'`, for sink task `task`), whatever its key; the markers of an exactly-once sink go
    /// to the same partition. Tasks of a scaled-out job then never share an output partition,
    /// which some brokers need: tansu holds back a transaction's offset commits while another
    /// transaction that wrote to the same partition is open. Call after
    /// [`transactional_id_prefix`](Self::transactional_id_prefix). Default = by key.
    ///
    /// # Errors
    /// A partition number that does not fit.
    pub fn fixed_partition(mut self, task: usize) -> Result<Self> {
        let p = offsets::kafka_partition(task % self.partitions.max(1))?;
        self.fixed = Some(p);
        if let Some(t) = &mut self.txns {
            t.marker_partition(p);
        }
        Ok(self)
    }

    /// The columns that make each record's key. Default = none.
    pub fn key_columns<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.keys = columns.into_iter().map(|c| c.as_ref().to_string()).collect();
        self
    }

    /// How keys are encoded. Default = [`KeyFormat::Auto`].
    pub fn key_format(mut self, format: KeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// Records handed to the client so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn transactions(&mut self) -> Result<&mut Transactions> {
        let context = &self.context;
        self.txns.as_mut().ok_or_else(|| {
            errors::user(format!(
                "{context}: exactly-once delivery needs a transactional id prefix ('sink.transactional-id-prefix')"
            ))
        })
    }

    /// The producer for the next records.
    fn producer(&mut self) -> Result<&KafkaProducer> {
        if self.guarantee == DeliveryGuarantee::ExactlyOnce {
            return self.transactions()?.current();
        }
        if self.plain.is_none() {
            self.plain = Some(producer::producer(&self.config, &self.context, None)?);
        }
        match &self.plain {
            Some(p) => Ok(p),
            None => Err(errors::user(format!("{}: no producer", self.context))),
        }
    }

    /// Encodes each row's key into `key_buf`/`key_ends` (`None` without key columns).
    fn encode_keys(&mut self, batch: &RecordBatch) -> Result<bool> {
        if self.keys.is_empty() {
            return Ok(false);
        }
        let indices = self
            .keys
            .iter()
            .map(|k| {
                batch
                    .schema()
                    .index_of(k)
                    .map_err(|_| errors::user(format!("{}: no key column `{k}`", self.context)))
            })
            .collect::<Result<Vec<_>>>()?;
        self.key_buf.clear();
        self.key_ends.clear();
        if let (KeyFormat::Raw, [_, _, ..] | []) = (self.key_format, &indices[..]) {
            return Err(errors::user(format!(
                "{}: a raw key is one string column, not {:?}",
                self.context, self.keys
            )));
        }
        if let (KeyFormat::Auto | KeyFormat::Raw, [only]) = (self.key_format, &indices[..]) {
            let strings = batch.column(*only).as_string_opt::<i32>();
            if strings.is_none() && self.key_format == KeyFormat::Raw {
                return Err(errors::user(format!(
                    "{}: a raw key is one string column; `{}` is {}",
                    self.context,
                    self.keys.join(""),
                    batch.column(*only).data_type()
                )));
            }
            if let Some(strings) = strings {
                for i in 0..batch.num_rows() {
                    if strings.is_valid(i) {
                        self.key_buf.extend_from_slice(strings.value(i).as_bytes());
                    }
                    self.key_ends.push(self.key_buf.len());
                }
                return Ok(true);
            }
        }
        let projected = batch.project(&indices).map_err(|e| errors::user(e.to_string()))?;
        self.encoder
            .encode_rows(&projected, &mut self.key_buf, &mut self.key_ends)
            .map_err(|e| errors::format(&e))?;
        Ok(true)
    }

    fn flush_plain(&mut self) -> Result<()> {
        match &self.plain {
            Some(p) => producer::flush(p, &self.config, &self.context),
            None => Ok(()),
        }
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keyed = self.encode_keys(batch)?;
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        self.ends.clear();
        self.encoder.encode_rows(batch, &mut values, &mut self.ends).map_err(|e| errors::format(&e))?;
        let ends = std::mem::take(&mut self.ends);
        let (key_buf, key_ends) = (std::mem::take(&mut self.key_buf), std::mem::take(&mut self.key_ends));
        let result = self.send_all(&values, &ends, keyed.then_some((&key_buf[..], &key_ends[..])));
        (self.values, self.ends, self.key_buf, self.key_ends) = (values, ends, key_buf, key_ends);
        result
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(p) = &self.plain {
            p.poll(std::time::Duration::ZERO);
            if let Some(e) = p.context().take_failure() {
                return Err(sluice_dataflow::DataflowError::connector(
                    format!("{}: a record was not delivered: {e}", self.context),
                    sluice_types::ErrorKind::External,
                    sluice_types::Retry::WithBackoff,
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.finish(),
            _ => self.flush_plain(),
        }
    }

    fn delivery(&self) -> Delivery {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => Delivery::ExactlyOnce,
            _ => Delivery::AtLeastOnce,
        }
    }

    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.pre_commit(id),
            DeliveryGuarantee::AtLeastOnce => self.flush_plain().map(|()| Vec::new()),
            DeliveryGuarantee::None => self.flush().map(|()| Vec::new()),
        }
    }

    fn commit(&mut self, _id: u64, pending: &[String]) -> Result<()> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.commit(pending),
            _ => Ok(()),
        }
    }

    fn recover(&mut self, pending: &[String]) -> Result<()> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.recover(pending),
            _ => Ok(()),
        }
    }

    fn serial_transactions(&self) -> bool {
        self.guarantee == DeliveryGuarantee::ExactlyOnce
    }

    fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.recoverable(pending),
            _ => Ok(true),
        }
    }

    fn positions(&mut self, id: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => self.transactions()?.positions(id, positions),
            _ => Ok(()),
        }
    }
}

impl KafkaSink {
    /// Sends one record per row: `values` split at `ends`, keys likewise.
    fn send_all(&mut self, values: &[u8], ends: &[usize], keys: Option<(&[u8], &[usize])>) -> Result<()> {
        let topic = self.topic.clone();
        let context = self.context.clone();
        let fixed = self.fixed;
        self.producer()?; // opens the transaction, which names it
        let headers = match (&self.txns, self.guarantee) {
            (Some(t), DeliveryGuarantee::ExactlyOnce) => Some(
                OwnedHeaders::new_with_capacity(1)
                    .insert(Header { key: producer::TXN_HEADER, value: Some(t.label().as_bytes()) }),
            ),
            _ => None,
        };
        let producer = self.producer()?;
        let (mut start, mut key_start) = (0, 0);
        for (i, &end) in ends.iter().enumerate() {
            let mut record =
                BaseRecord::<[u8], [u8]>::to(&topic).payload(values.get(start..end).unwrap_or_default());
            if let Some((buf, key_ends)) = keys {
                let key_end = key_ends.get(i).copied().unwrap_or(key_start);
                record = record.key(buf.get(key_start..key_end).unwrap_or_default());
                key_start = key_end;
            }
            if let Some(h) = &headers {
                record = record.headers(h.clone());
            }
            if let Some(p) = fixed {
                record = record.partition(p);
            }
            start = end;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The client's queue is full: serve acknowledgements, then try again.
                        producer.poll(std::time::Duration::from_millis(50));
                        record = back;
                    }
                    Err((e, _)) => return Err(error(&format!("{context}: sending"), &e)),
                }
            }
        }
        producer.poll(std::time::Duration::ZERO);
        self.sent += ends.len() as u64;
        Ok(())
    }
}
