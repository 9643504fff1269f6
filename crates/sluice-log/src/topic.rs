//! A topic: a name, a persisted configuration and its partitions.
//!
//! On disk: `topics/<name>/topic.json` (`{"version":1,"config":{...}}`) and one directory per
//! partition, `topics/<name>/<partition>/`. A topic is created under a temporary name
//! (`<name>+creating`) and renamed into place, so a crash never leaves half a topic; deletion
//! renames it to `<name>+deleting` first for the same reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sluice_types::{Offset, PartitionId, Record};

use crate::config::{LogOptions, TopicConfig};
use crate::durable::{create_dir_durably, fsync_dir, write_atomically};
use crate::error::{LogError, Result};
use crate::partition::{AppendInfo, Partition, PartitionStats, Signal};
use crate::partitioner::partition_for_key;

const META_FILE: &str = "topic.json";
const META_VERSION: u16 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicMeta {
    version: u16,
    config: TopicConfig,
}

/// A handle to a topic. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Topic {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    config: TopicConfig,
    partitions: Vec<Partition>,
    /// Next partition for keyless records (round robin).
    next_keyless: AtomicU32,
    /// Bumped on every append to any partition.
    signal: Arc<Signal>,
    read_only: bool,
}

impl Topic {
    /// Creates the topic's directory tree under `topics_dir` and opens it.
    pub(crate) fn create(
        topics_dir: &Path,
        name: &str,
        config: TopicConfig,
        options: &LogOptions,
    ) -> Result<Topic> {
        config.validate()?;
        let staging = topics_dir.join(format!("{name}+creating"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(LogError::io(&staging))?;
        }
        create_dir_durably(&staging)?;
        let meta = serde_json::to_vec_pretty(&TopicMeta { version: META_VERSION, config: config.clone() })
            .map_err(|e| LogError::InvalidConfig(e.to_string()))?;
        write_atomically(&staging.join(META_FILE), &meta)?;
        for p in 0..config.partitions {
            create_dir_durably(&staging.join(p.to_string()))?;
        }
        let dir = topics_dir.join(name);
        std::fs::rename(&staging, &dir).map_err(LogError::io(&dir))?;
        fsync_dir(topics_dir)?;
        Topic::open(&dir, name, options)
    }

    /// Opens an existing topic directory.
    pub(crate) fn open(dir: &Path, name: &str, options: &LogOptions) -> Result<Topic> {
        let meta_path = dir.join(META_FILE);
        let bytes = std::fs::read(&meta_path).map_err(LogError::io(&meta_path))?;
        let meta: TopicMeta = serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
            path: meta_path.clone(),
            position: e.column() as u64,
            reason: format!("invalid topic metadata: {e}"),
        })?;
        if meta.version != META_VERSION {
            return Err(LogError::UnsupportedVersion {
                path: meta_path,
                found: meta.version,
                supported: META_VERSION,
            });
        }
        let config = meta.config;
        config.validate()?;
        let signal = Arc::new(Signal::default());
        let partitions = (0..config.partitions)
            .map(|p| {
                let pdir: PathBuf = dir.join(p.to_string());
                if !options.read_only {
                    create_dir_durably(&pdir)?;
                }
                Partition::open(
                    name,
                    PartitionId(p),
                    pdir,
                    config.clone(),
                    options.clone(),
                    Arc::clone(&signal),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                config,
                partitions,
                next_keyless: AtomicU32::new(0),
                signal,
                read_only: options.read_only,
            }),
        })
    }

    /// Removes a topic's directory: rename aside (atomic), then delete.
    pub(crate) fn delete_dir(topics_dir: &Path, name: &str) -> Result<()> {
        let dir = topics_dir.join(name);
        let doomed = topics_dir.join(format!("{name}+deleting"));
        std::fs::rename(&dir, &doomed).map_err(LogError::io(&dir))?;
        fsync_dir(topics_dir)?;
        std::fs::remove_dir_all(&doomed).map_err(LogError::io(&doomed))
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic's configuration.
    #[must_use]
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// Number of partitions.
    #[must_use]
    pub fn partition_count(&self) -> u32 {
        self.inner.config.partitions
    }

    /// All partitions, in order.
    #[must_use]
    pub fn partitions(&self) -> &[Partition] {
        &self.inner.partitions
    }

    /// One partition.
    ///
    /// # Errors
    /// [`LogError::UnknownPartition`] if `p` is out of range.
    pub fn partition(&self, p: PartitionId) -> Result<&Partition> {
        self.inner.partitions.get(p.0 as usize).ok_or_else(|| LogError::UnknownPartition {
            topic: self.inner.name.clone(),
            partition: p,
            partitions: self.inner.config.partitions,
        })
    }

    /// The partition a record with this key goes to: Kafka's murmur2 partitioner for keyed
    /// records, round robin for keyless ones.
    #[must_use]
    pub fn partition_for(&self, key: Option<&[u8]>) -> PartitionId {
        let n = self.inner.config.partitions;
        match key {
            Some(k) => partition_for_key(k, n),
            None => PartitionId(self.inner.next_keyless.fetch_add(1, Ordering::Relaxed) % n),
        }
    }

    /// Appends records to the partitions their keys choose. Keyless records of one call all go
    /// to one partition (sticky, as Kafka's default), so they keep their relative order.
    /// Returns, per partition touched, where its records landed.
    ///
    /// # Errors
    /// As [`Partition::append`]; records of partitions appended before the error stay appended.
    pub fn append(&self, records: Vec<Record>) -> Result<Vec<(PartitionId, AppendInfo)>> {
        let n = self.inner.config.partitions as usize;
        let mut by_partition: Vec<Vec<Record>> = vec![Vec::new(); n];
        let sticky = self.partition_for(None);
        for r in records {
            let p = match &r.key {
                Some(k) => partition_for_key(k, n as u32),
                None => sticky,
            };
            by_partition[p.0 as usize].push(r);
        }
        let mut out = Vec::new();
        for (p, recs) in by_partition.into_iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            out.push((PartitionId(p as u32), self.inner.partitions[p].append(&recs)?));
        }
        Ok(out)
    }

    /// Per-partition sizes and offsets.
    #[must_use]
    pub fn stats(&self) -> Vec<PartitionStats> {
        self.inner.partitions.iter().map(Partition::stats).collect()
    }

    /// End offset of every partition.
    #[must_use]
    pub fn end_offsets(&self) -> Vec<Offset> {
        self.inner.partitions.iter().map(Partition::end_offset).collect()
    }

    /// Blocks until some partition in `positions` has data at or past its position (its end
    /// offset is greater), or `timeout` passes. Returns whether data is available. Sleeps on a
    /// condition variable; in a read-only log it re-reads file sizes every 50 ms instead.
    #[must_use]
    pub fn wait_for_any(&self, positions: &BTreeMap<PartitionId, Offset>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.inner.signal.current();
            if self.inner.read_only {
                for p in positions.keys().filter_map(|p| self.inner.partitions.get(p.0 as usize)) {
                    if let Err(e) = p.refresh() {
                        tracing::warn!(topic = %self.inner.name, partition = %p.id(), "refreshing from disk: {e}");
                    }
                }
            }
            let ready = positions.iter().any(|(p, pos)| {
                self.inner.partitions.get(p.0 as usize).is_some_and(|part| part.end_offset() > *pos)
            });
            let now = Instant::now();
            if ready || now >= deadline {
                return ready;
            }
            if self.inner.read_only {
                std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
            } else {
                self.inner.signal.wait_past(seen, deadline - now);
            }
        }
    }
}
