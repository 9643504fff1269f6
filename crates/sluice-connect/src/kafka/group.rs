//! [`GroupMember`]: an instance's membership in a Kafka consumer group, for scale-out.
//!
//! Several instances of one job join the same consumer group on the job's input topic, and
//! Kafka's group protocol spreads the topic's partitions over them (as in Kafka Streams: no
//! cluster of our own). The member does not read records itself: it only follows the
//! assignment, with its fetching paused, and hands each change to the caller's handler. The
//! handler runs *inside* the rebalance: a revocation returns only once the handler has
//! released the partitions (stopped their pipelines after a checkpoint), so no new owner
//! starts on a partition before its old owner let it go. An instance that dies instead leaves
//! the group when its session times out (`session.timeout.ms`, 10 s by default here); its
//! partitions then move to the others, which fence its transactions and resume them from the
//! last committed checkpoint.
//!
//! [`GroupMember::finished`] reads committed offsets: an exactly-once
//! [`KafkaSink`](super::KafkaSink) commits the input's offsets with its output, and those of
//! the partitions read to their bounded end for group `<group>.done` too, so every instance
//! can tell which partitions are done, whoever processed them.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

use super::groups::Groups;
use super::producer::DONE_SUFFIX;
use sluice_dataflow::Result;

use super::{error, offsets, KafkaConfig};

/// A change of the partitions this instance owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// These partitions are now this instance's.
    Assigned(Vec<usize>),
    /// These partitions are taken away: release them before returning.
    Revoked(Vec<usize>),
}

/// The handler of assignment changes.
type Handler = Box<dyn FnMut(Assignment) + Send>;

/// Calls the handler from librdkafka's rebalance callbacks.
pub struct Membership {
    topic: String,
    handler: Mutex<Handler>,
}

impl Membership {
    fn call(&self, change: Assignment) {
        if let Ok(mut handler) = self.handler.lock() {
            handler(change);
        }
    }

    /// The partitions of our topic in `tpl`.
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<usize> {
        let mut ps: Vec<usize> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .filter_map(|e| usize::try_from(e.partition()).ok())
            .collect();
        ps.sort_unstable();
        ps
    }
}

impl ClientContext for Membership {}

impl ConsumerContext for Membership {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let ps = self.partitions(tpl);
            if !ps.is_empty() {
                self.call(Assignment::Revoked(ps));
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // The member only follows the assignment; the pipelines read the records.
                if let Err(e) = consumer.pause(tpl) {
                    tracing::warn!(error = %e, "cannot pause the group member's partitions");
                }
                let ps = self.partitions(tpl);
                if !ps.is_empty() {
                    self.call(Assignment::Assigned(ps));
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// This instance's membership in the job's consumer group; see the [module docs](self).
pub struct GroupMember {
    consumer: BaseConsumer<Membership>,
    topic: String,
    group: String,
    partitions: usize,
    /// For reading group `<group>.done`.
    groups: Groups,
}

impl GroupMember {
    /// Joins consumer group `group` on `topic`; `handler` is called with every change of this
    /// instance's partitions, from [`poll`](Self::poll). Joining completes in a later poll.
    ///
    /// # Errors
    /// The brokers cannot be reached, or the topic does not exist.
    pub fn join(
        config: &KafkaConfig,
        topic: &str,
        group: &str,
        handler: impl FnMut(Assignment) + Send + 'static,
    ) -> Result<GroupMember> {
        let context = format!("consumer group `{group}` on `{topic}`");
        let partitions = offsets::partition_count(config, topic, &context)?;
        let mut overrides = vec![("group.id", group), ("enable.auto.commit", "false")];
        if config.get("session.timeout.ms").is_none() {
            overrides.push(("session.timeout.ms", "10000"));
        }
        if config.get("heartbeat.interval.ms").is_none() {
            overrides.push(("heartbeat.interval.ms", "1000"));
        }
        let membership = Membership { topic: topic.to_string(), handler: Mutex::new(Box::new(handler)) };
        let consumer: BaseConsumer<Membership> = config
            .client(&overrides)
            .create_with_context(membership)
            .map_err(|e| error(&format!("{context}: creating the member"), &e))?;
        consumer.subscribe(&[topic]).map_err(|e| error(&format!("{context}: subscribing"), &e))?;
        Ok(GroupMember {
            consumer,
            groups: Groups::new(config.clone(), &context),
            topic: topic.to_string(),
            group: group.to_string(),
            partitions,
        })
    }

    /// Serves the group protocol for up to `timeout`: heartbeats, and rebalances (calling the
    /// handler). Call it often: an instance that does not poll for `max.poll.interval.ms`
    /// leaves the group.
    pub fn poll(&self, timeout: Duration) {
        // Fetching is paused, so a message is rare (one fetched before the pause): drop it.
        let _ = self.consumer.poll(timeout);
    }

    /// The number of partitions of the topic.
    #[must_use]
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// The partitions whose bounded input is read to its end and committed, by whichever
    /// instance (from the group's committed offsets; see the [module docs](self)).
    ///
    /// # Errors
    /// The brokers cannot be reached.
    pub fn finished(&mut self) -> Result<BTreeSet<usize>> {
        let partitions = (0..self.partitions).map(offsets::kafka_partition).collect::<Result<Vec<_>>>()?;
        let done = self.groups.committed(&format!("{}{DONE_SUFFIX}", self.group), &self.topic, partitions)?;
        Ok(done.keys().filter_map(|&p| usize::try_from(p).ok()).collect())
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        // Leave the group now rather than when the session times out, so that the others
        // take the partitions over at once.
        self.consumer.unsubscribe();
    }
}
