//! Offsets committed inside a transaction for consumer groups that are not really consuming:
//! the exactly-once sink's markers and the job's input progress.
//!
//! `send_offsets_to_transaction` needs a consumer's group metadata; [`Groups`] keeps one idle
//! consumer per group for that, and reads the groups' committed offsets back. Only offsets are
//! used, never commit metadata: some brokers (tansu) do not keep it.

use std::collections::BTreeMap;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use sluice_dataflow::Result;

use super::{error, KafkaConfig};
use crate::error as errors;

/// One idle consumer per consumer group; see the [module docs](self).
pub(crate) struct Groups {
    config: KafkaConfig,
    context: String,
    consumers: BTreeMap<String, BaseConsumer>,
}

impl Groups {
    pub(crate) fn new(config: KafkaConfig, context: &str) -> Groups {
        Groups { config, context: context.to_string(), consumers: BTreeMap::new() }
    }

    fn consumer(&mut self, group: &str) -> Result<&BaseConsumer> {
        if !self.consumers.contains_key(group) {
            let consumer = self
                .config
                .client(&[("group.id", group), ("enable.auto.commit", "false")])
                .create::<BaseConsumer>()
                .map_err(|e| {
                    error(&format!("{}: creating a consumer of group `{group}`", self.context), &e)
                })?;
            self.consumers.insert(group.to_string(), consumer);
        }
        self.consumers
            .get(group)
            .ok_or_else(|| errors::user(format!("{}: no consumer of group `{group}`", self.context)))
    }

    /// Adds `offsets` of `group` to `producer`'s open transaction.
    pub(crate) fn send<C: rdkafka::producer::ProducerContext>(
        &mut self,
        producer: &rdkafka::producer::BaseProducer<C>,
        group: &str,
        offsets: &TopicPartitionList,
    ) -> Result<()> {
        let timeout = self.config.request_timeout();
        let context = self.context.clone();
        let metadata = self.consumer(group)?.group_metadata().ok_or_else(|| {
            errors::user(format!("{context}: the consumer of group `{group}` has no group metadata"))
        })?;
        producer.send_offsets_to_transaction(offsets, &metadata, timeout).map_err(|e| {
            super::producer::txn_error(
                &context,
                &format!("adding offsets of group `{group}` to the transaction"),
                &e,
            )
        })
    }

    /// `group`'s committed offset of each of `topic`'s `partitions` that has one.
    pub(crate) fn committed(
        &mut self,
        group: &str,
        topic: &str,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Result<BTreeMap<i32, u64>> {
        let (timeout, context) =
            (self.config.request_timeout(), format!("{}: group `{group}`", self.context));
        super::offsets::committed_by(self.consumer(group)?, topic, partitions, timeout, &context)
    }
}

/// `(partition, offset)` pairs of `topic` as a list.
pub(crate) fn offsets(
    topic: &str,
    offsets: impl IntoIterator<Item = (i32, u64)>,
) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, p, Offset::Offset(i64::try_from(o).unwrap_or(i64::MAX)))
            .map_err(|e| errors::user(format!("offset {o} of `{topic}` partition {p}: {e}")))?;
    }
    Ok(tpl)
}
