//! Apache Kafka topics as sources and sinks (cargo feature `kafka`), on `rdkafka` with its
//! bundled librdkafka.
//!
//! - [`KafkaSource`]: the partitions of a topic, one source partition per Kafka partition (so
//!   the runtime keeps a watermark per Kafka partition and leaves idle ones out after its idle
//!   timeout), JSON values decoded into the job's schema, malformed ones dead-lettered with
//!   their position `topic/partition@offset`. Replayable: its checkpoint positions are Kafka
//!   offsets.
//! - [`KafkaSink`]: each result row as a JSON record, optionally keyed, with the delivery
//!   guarantee [`DeliveryGuarantee::None`], [`AtLeastOnce`](DeliveryGuarantee::AtLeastOnce)
//!   (every record acknowledged at each checkpoint) or
//!   [`ExactlyOnce`](DeliveryGuarantee::ExactlyOnce) (a Kafka transaction per checkpoint).
//!
//! Both take a [`KafkaConfig`]: the bootstrap servers and any librdkafka property (Flink's
//! `properties.*` options, SASL and TLS included), passed to the client unchanged.
//!
//! # Brokers
//! Sluice assigns partitions itself (no group subscription) and reads the committed offsets
//! of `group.id` only for the `group-offsets` startup mode. The end of a partition is found by
//! reading it, not only by `ListOffsets`: see [`KafkaSource`] for why.

mod config;
mod group;
mod groups;
mod offsets;
mod producer;
mod reader;
mod sink;
mod source;

pub use config::KafkaConfig;
pub use group::{Assignment, GroupMember};
pub use producer::{TXN_HEADER, TXN_MARKER_SUFFIX};
pub use sink::{DeliveryGuarantee, KafkaSink, KeyFormat};
pub use source::{KafkaSource, StartupMode};

use rdkafka::error::KafkaError;
use sluice_dataflow::DataflowError;
use sluice_types::{ErrorKind, Retry};

/// A client error, with what was being done (e.g. ``reading topic `views` ``).
pub(crate) fn error(context: &str, e: &KafkaError) -> DataflowError {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let code = e.rdkafka_error_code();
    let kind = match code {
        Some(
            Code::UnknownTopicOrPartition
            | Code::UnknownTopic
            | Code::TopicAuthorizationFailed
            | Code::GroupAuthorizationFailed
            | Code::SaslAuthenticationFailed
            | Code::InvalidConfig
            | Code::InvalidArgument,
        ) => ErrorKind::User,
        // A property librdkafka refuses (unknown, bad value) when the client is created.
        _ if matches!(e, KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..)) => ErrorKind::User,
        _ => ErrorKind::External,
    };
    let retry = if kind == ErrorKind::User { Retry::No } else { Retry::WithBackoff };
    DataflowError::connector(format!("{context}: {e}"), kind, retry)
}
