//! Integration tests of sluice-sql: the golden suite.

mod golden;
