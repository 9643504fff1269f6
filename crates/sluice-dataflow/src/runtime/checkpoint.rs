//! The checkpoint coordinator: triggers barriers, collects what the tasks report, writes
//! checkpoints through the store and tells the sink task when to commit.

use sluice_types::ErrorKind;

use crate::error::Result;

/// Requests to the coordinator from a [`JobHandle`](super::JobHandle).
#[derive(Debug)]
pub(crate) enum Control {
    /// Take a savepoint; with `stop`, stop the job after it.
    Savepoint { name: String, stop: bool, reply: std::sync::mpsc::Sender<Result<String>> },
}

#[allow(dead_code)]
const _KIND: ErrorKind = ErrorKind::Internal;
