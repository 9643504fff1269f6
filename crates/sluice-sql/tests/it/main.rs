//! Integration tests of sluice-sql: the golden suite, connectors, checkpoints, properties.

mod checkpoints;
mod connectors;
mod golden;
mod props;
