//! Integration tests of the event-time core: property tests against a naive reference, and
//! deterministic watermark scenarios; end-to-end pipelines
//! (`pipeline`) and runtime behaviour: backpressure, idleness (`runtime`).

mod checkpoint;
mod harness;
mod local_panes;
mod modes;
mod pipeline;
mod props;
mod reference;
mod runtime;
mod snapshot;
mod two_phase;
mod udaf;
mod watermarks;
