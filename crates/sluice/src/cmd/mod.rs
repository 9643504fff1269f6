//! The subcommands, one module each, and how they open the data directory.
//!
//! `demo` is the exception to the rules below: it is a writer and a reader in one process.
//!
//! Writers (`topic create`, `topic delete`, `produce`) open the log for writing, which takes
//! `<data-dir>/LOCK`: one writing process per data directory. Readers (`topic list`,
//! `topic describe`, `consume`) always open it read-only. They take no lock, so they never stop
//! a producer from starting, and they follow what the writing process appends (a read-only
//! log re-reads file sizes); group commits still work, as the group store is process-safe.

pub mod consume;
pub mod demo;
pub mod gen;
pub mod produce;
pub mod run;
pub mod savepoint;
pub mod topic;

use std::path::Path;

use anyhow::{bail, Context, Result};
use sluice_log::{Durability, Log, LogError, LogOptions};

/// Opens `dir` for writing (creating it if needed), recovering torn tails left by a crash.
fn open_writer(dir: &Path, durability: Durability) -> Result<Log> {
    Log::open(dir, LogOptions::default().durability(durability)).map_err(|e| match e {
        LogError::Io { .. } => {
            anyhow::Error::new(e).context(format!("cannot open data directory {} for writing", dir.display()))
        }
        other => other.into(),
    })
}

/// Opens `dir` read-only; it must exist.
fn open_reader(dir: &Path) -> Result<Log> {
    if !dir.is_dir() {
        bail!(
            "data directory {} does not exist (create a topic first: sluice --data-dir {0} topic create NAME --partitions N)",
            dir.display()
        );
    }
    Log::open(dir, LogOptions::default().read_only(true))
        .with_context(|| format!("cannot open data directory {}", dir.display()))
}

/// Whether the error is a write to a closed pipe: the reader (`| head`) has gone away, which
/// ends the command successfully.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
