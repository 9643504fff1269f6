//! What flows between tasks.
//!
//! Data moves as Arrow [`RecordBatch`]es, never one record at a time. Between two tasks a
//! bounded channel carries [`Message`]s in order: data, then the watermark that the data moved,
//! then more data, and finally [`Message::End`]. A channel's capacity is counted in messages
//! (batches), so a slow consumer blocks its producer: that is the backpressure, and it bounds
//! memory to `capacity × batch size` per channel.

use arrow_array::RecordBatch;

use crate::ops::window_aggregate::Partial;
use crate::time::Watermark;

/// One item on a channel between tasks.
#[derive(Debug, Clone)]
pub enum Message {
    /// A batch of rows.
    Data(RecordBatch),
    /// Partial window accumulators from a source task's pre-aggregation, for the keyed window
    /// operator to merge (two-phase aggregation; see [`crate::window::LocalPanes`]).
    Partial(Partial),
    /// Every row with an event time below this has been sent on this channel (best effort:
    /// rows that break the promise are late downstream).
    Watermark(Watermark),
    /// The sender is idle: it has no data now and should not hold the receiver's watermark back
    /// until its next message.
    Idle,
    /// Checkpoint barrier: everything the sender sent before it belongs to checkpoint
    /// `barrier.id`, everything after to the next (see [`crate::checkpoint`]).
    Barrier(Barrier),
    /// The sender has finished; nothing follows.
    End,
}

/// A checkpoint barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint's id.
    pub id: u64,
    /// Stop after this checkpoint, without ending the input (stop-with-savepoint): nothing
    /// follows the barrier, windows stay open in the checkpoint.
    pub stop: bool,
}

/// A message with the index of the upstream task that sent it, so a receiver with many
/// upstreams on one channel can keep a watermark per upstream.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// Index of the sending task among the receiver's upstreams.
    pub(crate) from: usize,
    /// The output port: [`MAIN`] or a side output's name.
    pub(crate) port: &'static str,
    pub(crate) message: Message,
}

/// The name of the main output port.
pub const MAIN: &str = "main";
/// The side output that receives late rows (with a `late_reason` column).
pub const LATE: &str = "late";
