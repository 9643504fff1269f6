//! A consumer: reads a topic's partitions from chosen start positions, optionally as a member
//! of a consumer group whose committed offsets it resumes from and commits to.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_types::{Offset, PartitionId, StoredRecord};

use crate::error::{LogError, Result};
use crate::log::Log;
use crate::topic::Topic;

/// Where a consumer starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The first retained offset.
    Earliest,
    /// The end: only records appended from now on.
    Latest,
    /// The group's committed offset; partitions the group never committed start at the
    /// earliest retained offset. Needs a group.
    Committed,
    /// The first record whose timestamp is ≥ this (ms since the epoch); the end if none is.
    Timestamp(i64),
    /// This offset in every partition (clamped to the retained range).
    Offset(Offset),
}

/// Reads records from a set of partitions of one topic.
#[derive(Debug)]
pub struct Consumer {
    log: Log,
    topic: Topic,
    group: Option<String>,
    positions: BTreeMap<PartitionId, Offset>,
    /// Partition to read first on the next poll, so that no partition starves.
    cursor: usize,
    /// Bytes to read from one partition per step.
    fetch_bytes: usize,
}

impl Consumer {
    /// A consumer of `topic`'s `partitions` (all if `None`), in `group` if given.
    ///
    /// # Errors
    /// Unknown topic or partition; [`StartFrom::Committed`] without a group; read errors.
    pub fn new(
        log: &Log,
        topic: &str,
        partitions: Option<&[PartitionId]>,
        group: Option<&str>,
        start: StartFrom,
    ) -> Result<Self> {
        let t = log.topic(topic)?;
        let ids: Vec<PartitionId> = match partitions {
            Some(ps) => ps.to_vec(),
            None => t.partitions().iter().map(crate::partition::Partition::id).collect(),
        };
        if start == StartFrom::Committed && group.is_none() {
            return Err(LogError::InvalidConfig(
                "starting from committed offsets needs a consumer group".into(),
            ));
        }
        let committed = match group {
            Some(g) => log.groups().committed(g, topic)?,
            None => BTreeMap::new(),
        };
        let mut positions = BTreeMap::new();
        for id in ids {
            let p = t.partition(id)?;
            let (lo, hi) = (p.log_start_offset(), p.end_offset());
            let pos = match start {
                StartFrom::Earliest => lo,
                StartFrom::Latest => hi,
                StartFrom::Committed => committed.get(&id).copied().unwrap_or(lo).clamp(lo, hi),
                StartFrom::Timestamp(ts) => p.offset_for_timestamp(ts)?.unwrap_or(hi),
                StartFrom::Offset(o) => o.clamp(lo, hi),
            };
            positions.insert(id, pos);
        }
        Ok(Consumer {
            log: log.clone(),
            topic: t,
            group: group.map(str::to_owned),
            positions,
            cursor: 0,
            fetch_bytes: 1 << 20,
        })
    }

    /// Sets how many bytes are read from one partition per step. Default = 1 MiB.
    #[must_use]
    pub fn fetch_bytes(mut self, bytes: usize) -> Self {
        self.fetch_bytes = bytes.max(1);
        self
    }

    /// Reads up to `max_records` records, waiting up to `timeout` for the first one. Records of
    /// one partition come in offset order; partitions take turns.
    ///
    /// # Errors
    /// A position fell out of the retained range (retention deleted unread data), corrupt
    /// data, I/O.
    pub fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<(PartitionId, StoredRecord)>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            let ids: Vec<PartitionId> = self.positions.keys().copied().collect();
            for k in 0..ids.len() {
                if out.len() >= max_records {
                    break;
                }
                let id = ids[(self.cursor + k) % ids.len()];
                let pos = self.positions[&id];
                buf.clear();
                self.topic.partition(id)?.read_into(pos, self.fetch_bytes, &mut buf)?;
                buf.truncate(max_records - out.len());
                if let Some(last) = buf.last() {
                    self.positions.insert(id, last.offset + 1);
                }
                out.extend(buf.drain(..).map(|r| (id, r)));
            }
            self.cursor = self.cursor.wrapping_add(1);
            let now = Instant::now();
            if !out.is_empty() || now >= deadline || ids.is_empty() {
                return Ok(out);
            }
            let _ = self.topic.wait_for_any(&self.positions, deadline - now);
        }
    }

    /// The next offset to read in each partition.
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<PartitionId, Offset> {
        &self.positions
    }

    /// Moves the position of one partition.
    ///
    /// # Errors
    /// The partition is not assigned to this consumer.
    pub fn seek(&mut self, partition: PartitionId, offset: Offset) -> Result<()> {
        match self.positions.get_mut(&partition) {
            Some(p) => {
                *p = offset;
                Ok(())
            }
            None => Err(LogError::UnknownPartition {
                topic: self.topic.name().to_owned(),
                partition,
                partitions: self.topic.partition_count(),
            }),
        }
    }

    /// Whether every position has reached its partition's current end.
    #[must_use]
    pub fn caught_up(&self) -> bool {
        self.positions
            .iter()
            .all(|(p, pos)| self.topic.partition(*p).is_ok_and(|part| part.end_offset() <= *pos))
    }

    /// Commits the current positions to the group (the next offsets to read).
    ///
    /// # Errors
    /// No group; I/O.
    pub fn commit(&self) -> Result<()> {
        let group = self
            .group
            .as_deref()
            .ok_or_else(|| LogError::InvalidConfig("commit needs a consumer group".into()))?;
        self.log.groups().commit(group, self.topic.name(), &self.positions)
    }
}
