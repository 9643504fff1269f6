//! Integration tests of sluice-sql: the golden suite.

mod connectors;
mod golden;
mod props;
