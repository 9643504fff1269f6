//! Sources: the embedded log, files and stdin, decoded into the job's Arrow schema.
//!
//! Every source is built with the job's schema and decodes its records with `sluice-format`
//! (JSON lines, or CSV for files). What all of them share:
//!
//! - **Partitions.** One source partition per log partition, per file, or one for stdin. The
//!   runtime's `split(n)` spreads the partitions round-robin over at most `n` readers; a reader
//!   returns batches of one partition at a time and takes its partitions in turns, so that no
//!   partition's watermark runs far ahead of the others.
//! - **Malformed records** go to the source's [`DeadLetters`](crate::DeadLetters) (stderr by
//!   default) with their position, and the job goes on. With `strict(true)` the first one fails
//!   the job instead, with an error naming the position.
//! - **Bounded or not.** Files and stdin end at EOF. A [`LogSource`] is bounded by default (it
//!   stops at the end offsets it sees when the job starts), or follows the tail forever, or
//!   follows it until an [`EndOfInput`] is signalled.
//! - **Checkpoints.** [`LogSource`] and [`FileSource`] are replayable: each reader reports a
//!   position per partition (just after the last row it returned), and a source restored from
//!   them resumes there, at any parallelism. Positions are versioned bytes (see `position`); a
//!   damaged one, or one of another kind of source, is refused with an error naming the
//!   partition. [`StdinSource`] cannot be replayed.

mod end_of_input;
mod file;
mod lines;
mod log;
pub(crate) mod log_metadata;
pub(crate) mod position;
mod stdin;

pub use end_of_input::EndOfInput;
pub use file::{FileFormat, FileSource};
pub use log::LogSource;
pub use log_metadata::LogMetadata;
pub use stdin::StdinSource;
