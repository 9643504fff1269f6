//! The log crate's integration tests: one binary, one behaviour per module.

mod concurrency;
mod corruption;
mod crash;
mod durability;
mod fixtures;
mod groups;
mod model;
mod partitioner;
mod read_only;
mod reads;
mod recovery_point;
mod reopen;
mod retention;
mod round_trip;
mod support;
mod timestamps;
mod topics;
mod transactions;
