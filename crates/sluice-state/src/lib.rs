//! Sluice's keyed state: how operator state is split, measured, written and read back.
//!
//! # Layout
//! - [`key_group`]: key groups — the fixed hash buckets state is split into, and which task of
//!   `p` owns which groups. They make rescaling possible: a snapshot taken at parallelism `p1`
//!   restores at `p2` by whole groups.
//! - [`codec`]: [`StateCodec`], the little-endian, length-prefixed encoding of keys, values and
//!   accumulators, safe to decode from hostile bytes.
//! - [`snapshot`]: the snapshot file of one operator instance — a versioned header, one
//!   checksummed section per key group, and a footer with a whole-file checksum — with a
//!   streaming writer and a validating reader.
//! - [`memory`]: [`MemoryTracker`] and [`MemoryAccount`], the bytes of state per operator
//!   against an optional budget.
//! - [`KeyedValues`]: per-key values by key group, accounted and snapshotted; the building
//!   block of keyed operators (deduplication, joins). Window state lives in `sluice-dataflow`
//!   and uses the same key groups, codec and snapshot format.
//!
//! This crate does no I/O of its own beyond the `io::Write`/`io::Read` it is handed, and
//! depends on no engine: the dataflow crate depends on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod codec;
mod error;
pub mod key_group;
mod keyed;
pub mod memory;
pub mod snapshot;

pub use codec::StateCodec;
pub use error::{CodecError, Result, StateError};
pub use key_group::{KeyGroup, KeyGroupRange, KeyGroups};
pub use keyed::KeyedValues;
pub use memory::{MemoryAccount, MemoryTracker};
