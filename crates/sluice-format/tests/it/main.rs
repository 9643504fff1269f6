//! The format crate's integration tests: one binary, one behaviour per module.

mod csv;
mod encoder;
mod json_rejects;
mod json_types;
mod round_trip;
mod strict;
mod support;
mod timestamps;
