//! Where a record came from, for dead-letter output and error messages.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sluice_types::{Offset, PartitionId};

/// Where a record came from.
///
/// Callers build one per record, so the topic and path are shared (`Arc`): cloning a position
/// costs a reference-count increment, not an allocation.
///
/// Displayed as `topic/partition@offset`, `path:line` or `stdin:line`; lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Position {
    /// A record of the embedded log (or Kafka).
    Log {
        /// Topic name.
        topic: Arc<str>,
        /// Partition inside the topic.
        partition: PartitionId,
        /// The record's offset.
        offset: Offset,
    },
    /// A line of a file.
    File {
        /// The file.
        path: Arc<Path>,
        /// Line number, from 1.
        line: u64,
    },
    /// A line read from standard input.
    Stdin {
        /// Line number, from 1.
        line: u64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Log { topic, partition, offset } => write!(f, "{topic}/{partition}@{offset}"),
            Position::File { path, line } => write!(f, "{}:{line}", path.display()),
            Position::Stdin { line } => write!(f, "stdin:{line}"),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn displays_each_kind() {
        let log = Position::Log { topic: "page_views".into(), partition: PartitionId(3), offset: 42 };
        assert_eq!(log.to_string(), "page_views/3@42");
        let file = Position::File { path: Path::new("data/views.jsonl").into(), line: 7 };
        assert_eq!(file.to_string(), "data/views.jsonl:7");
        assert_eq!(Position::Stdin { line: 1 }.to_string(), "stdin:1");
    }
}
