//! Integration tests of sluice-sql: the golden suite, connectors, checkpoints, properties.

mod checkpoints;
mod connectors;
mod golden;
#[cfg(feature = "kafka")]
mod kafka;
mod props;
