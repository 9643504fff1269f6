//! Integration tests of the event-time core: property tests against a naive reference, and
//! deterministic watermark scenarios.

mod harness;
mod props;
mod reference;
mod watermarks;
