//! Sluice's checkpoint store: where a job's checkpoints and savepoints are kept, through the
//! [`object_store`] crate (a local directory by default).
//!
//! # Layout
//!
//! ```text
//! <root>/<job>/chk-<id>/<operator>-<task>.snap   state files (sluice-state snapshot format)
//! <root>/<job>/chk-<id>/_manifest                written last
//! <root>/<job>/savepoints/<name>/...             the same layout, never cleaned up
//! ```
//!
//! A checkpoint is **complete** iff its [manifest](manifest) is present and valid. The manifest
//! records the job, the id, the time, the parallelism and key groups, every source's
//! positions, every sink's pending transactions, and each state file's name, size and CRC32C;
//! it is versioned and checksummed itself. Readers check every byte: a checkpoint with a
//! missing or damaged manifest or state file is passed over by
//! [`CheckpointStore::latest_complete`], which falls back to the one before and says why.
//!
//! # Writing a checkpoint
//!
//! [`CheckpointStore::begin`] → [`CheckpointWriter::put_state`] for each operator task (from
//! several tasks concurrently if wanted) → [`CheckpointWriter::commit`] with the
//! [`CheckpointInfo`] → [`CheckpointStore::retain_last`]. A failed write is an error naming
//! the store and object; the previous checkpoint is untouched and stays the latest.
//!
//! # From synchronous code
//!
//! The API is async (object_store is). A synchronous engine keeps one small runtime for
//! checkpoint I/O, `tokio::runtime::Builder::new_current_thread().enable_all().build()` (network
//! stores such as S3 need its timers and I/O), and either blocks
//! on it (`rt.block_on(store.latest_complete())` at startup) or, to write asynchronously
//! while processing continues, spawns the upload from a checkpoint thread
//! (`rt.spawn(async move { writer.put_state(op, task, bytes).await })`, or a multi-thread
//! runtime with one worker). The local store does its file I/O in `spawn_blocking` when a
//! tokio runtime is present and inline otherwise, so any executor works for it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod error;
pub mod layout;
pub mod manifest;
mod store;
mod writer;

pub use error::{CheckpointError, Result};
pub use layout::Target;
pub use manifest::{CheckpointInfo, Manifest, StateFile};
pub use store::{CheckpointStore, Latest, Retained};
pub use writer::CheckpointWriter;
