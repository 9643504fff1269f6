//! The log: a data directory of topics, consumer-group offsets and transactions.
//!
//! ```text
//! <data_dir>/LOCK                     exclusive lock held by the one writing process
//! <data_dir>/topics/<topic>/...       see `topic` and `segment`
//! <data_dir>/groups/<group>.json      committed offsets, see `groups`
//! <data_dir>/txn/<id>.txn             staged transactions, see `txn`
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{Durability, LogOptions, TopicConfig};
use crate::durable::create_dir_durably;
use crate::error::{LogError, Result};
use crate::groups::GroupStore;
use crate::names::validate_name;
use crate::partition::now_ms;
use crate::topic::Topic;
use crate::txn::TxnRegistry;

/// An open data directory. Cheap to clone; clones share everything. Dropping the last clone
/// stops the background flusher and fsyncs every partition, and the data directory is free to
/// be opened again when that drop returns.
#[derive(Debug, Clone)]
pub struct Log {
    pub(crate) inner: Arc<Inner>,
    /// Held by the user-facing clones only, never by the flusher: the last one to go stops and
    /// joins the flusher. Declared after `inner` so that it drops last.
    _closer: Arc<Closer>,
}

/// Stops the background flusher when the last [`Log`] clone is dropped and waits for it.
///
/// Without the join, a flusher that happened to be in its tick (holding a strong reference
/// while it fsyncs) would close the log after `drop` returned: the partitions would be sealed,
/// and the `LOCK` released, some milliseconds later, and an immediate `Log::open` of the same
/// directory would fail with [`LogError::Locked`].
#[derive(Debug)]
struct Closer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
        let flusher = self.flusher.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(flusher) = flusher {
            // The flusher holds no `Closer`, so this never joins the current thread. When the
            // join returns its strong reference is gone and the log is closed (unless a
            // partition or topic handle outlives the `Log`).
            if flusher.join().is_err() {
                tracing::error!("the log's flusher thread panicked");
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub options: LogOptions,
    _lock: Option<File>,
    pub topics: RwLock<BTreeMap<String, Topic>>,
    pub groups: GroupStore,
    pub txns: TxnRegistry,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Log {
    /// Opens (creating if needed) the data directory `dir`: takes the writer lock, recovers
    /// every partition (truncating torn tails), and settles transactions left by a crash.
    /// With [`LogOptions::read_only`] it takes no lock and changes nothing on disk.
    ///
    /// # Errors
    /// [`LogError::Locked`] if another process has it open for writing; [`LogError::Io`] if it
    /// cannot be created or written; [`LogError::Corrupt`] for damage that is not a torn tail.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let dir = dir.as_ref().to_path_buf();
        let lock = if options.read_only {
            if !dir.is_dir() {
                return Err(LogError::Io {
                    path: dir,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "data directory does not exist",
                    ),
                });
            }
            None
        } else {
            create_dir_durably(&dir)?;
            Some(take_lock(&dir)?)
        };
        let topics_dir = dir.join("topics");
        if !options.read_only {
            create_dir_durably(&topics_dir)?;
        }
        let mut topics = BTreeMap::new();
        if topics_dir.is_dir() {
            for entry in std::fs::read_dir(&topics_dir).map_err(LogError::io(&topics_dir))? {
                let entry = entry.map_err(LogError::io(&topics_dir))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
                if name.contains('+') {
                    // A topic whose creation or deletion was interrupted.
                    if !options.read_only {
                        std::fs::remove_dir_all(entry.path()).map_err(LogError::io(entry.path()))?;
                    }
                    continue;
                }
                topics.insert(name.clone(), Topic::open(&entry.path(), &name, &options)?);
            }
        }
        let groups = GroupStore::open(dir.join("groups"))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let inner = Arc::new(Inner {
            txns: TxnRegistry::new(dir.join("txn")),
            dir,
            options,
            _lock: lock,
            topics: RwLock::new(topics),
            groups,
            stop: Arc::clone(&stop),
        });
        let closer = Arc::new(Closer { stop: Arc::clone(&stop), flusher: Mutex::new(None) });
        let log = Log { inner, _closer: Arc::clone(&closer) };
        if !log.inner.options.read_only {
            log.recover_transactions()?;
            *closer.flusher.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                spawn_flusher(Arc::downgrade(&log.inner), stop);
        }
        Ok(log)
    }

    /// The data directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the log was opened read-only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.inner.options.read_only
    }

    /// Creates a topic.
    ///
    /// # Errors
    /// [`LogError::TopicExists`], [`LogError::InvalidName`], [`LogError::InvalidConfig`], I/O.
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        validate_name(name)?;
        if self.inner.options.read_only {
            return Err(LogError::ReadOnly(self.inner.dir.clone()));
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if topics.contains_key(name) {
            return Err(LogError::TopicExists(name.to_owned()));
        }
        let topic = Topic::create(&self.inner.dir.join("topics"), name, config, &self.inner.options)?;
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    /// Looks a topic up by name.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`].
    pub fn topic(&self, name: &str) -> Result<Topic> {
        if let Some(t) = self.inner.topics.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(name)
        {
            return Ok(t.clone());
        }
        let dir = self.inner.dir.join("topics").join(name);
        if self.inner.options.read_only && validate_name(name).is_ok() && dir.join("topic.json").is_file() {
            // Created by the writing process after we opened.
            let t = Topic::open(&dir, name, &self.inner.options)?;
            let mut topics = self.inner.topics.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            return Ok(topics.entry(name.to_owned()).or_insert(t).clone());
        }
        Err(LogError::UnknownTopic(name.to_owned()))
    }

    /// Names of all topics, sorted.
    #[must_use]
    pub fn topic_names(&self) -> Vec<String> {
        self.inner.topics.read().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect()
    }

    /// Deletes a topic, its data and the groups' offsets for it.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`], I/O.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        if self.inner.options.read_only {
            return Err(LogError::ReadOnly(self.inner.dir.clone()));
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let topic = topics.remove(name).ok_or_else(|| LogError::UnknownTopic(name.to_owned()))?;
        drop(topic);
        Topic::delete_dir(&self.inner.dir.join("topics"), name)?;
        self.inner.groups.forget_topic(name)
    }

    /// Committed consumer-group offsets.
    #[must_use]
    pub fn groups(&self) -> &GroupStore {
        &self.inner.groups
    }

    /// Fsyncs every partition with unsynced data.
    ///
    /// # Errors
    /// The first fsync failure (that partition is then poisoned).
    pub fn flush(&self) -> Result<()> {
        for t in self.all_topics() {
            for p in t.partitions() {
                p.flush()?;
            }
        }
        Ok(())
    }

    /// Applies every topic's retention now. Returns the number of segments deleted.
    ///
    /// # Errors
    /// A segment could not be deleted.
    pub fn enforce_retention(&self) -> Result<usize> {
        self.inner.enforce_retention()
    }

    fn all_topics(&self) -> Vec<Topic> {
        self.inner.all_topics()
    }
}

impl Inner {
    fn enforce_retention(&self) -> Result<usize> {
        let now = now_ms();
        let mut n = 0;
        for t in self.all_topics() {
            for p in t.partitions() {
                n += p.enforce_retention(now)?;
            }
        }
        Ok(n)
    }

    fn all_topics(&self) -> Vec<Topic> {
        self.topics.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
    }
}

fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(LogError::io(&path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Locked { dir: dir.to_owned(), lock: path }),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::Io { path, source: e }),
    }
}

/// Background thread: fsyncs partitions whose durability interval passed and applies
/// retention. Holds only a weak reference between ticks, so it never keeps a log open; the
/// [`Closer`] joins it. `None` if the thread could not be started.
fn spawn_flusher(log: Weak<Inner>, stop: Arc<(Mutex<bool>, Condvar)>) -> Option<JoinHandle<()>> {
    // Under `Interval(d)` a tick every d/2 fsyncs what is dirty, so nothing stays unsynced for
    // much longer than d/2 plus the fsync itself.
    let tick = match log.upgrade().map(|l| l.options.durability) {
        Some(Durability::Interval(d)) => (d / 2).clamp(Duration::from_millis(5), Duration::from_millis(500)),
        _ => Duration::from_secs(1),
    };
    let spawned = std::thread::Builder::new().name("sluice-log-flusher".into()).spawn(move || loop {
        {
            let (flag, cv) = &*stop;
            let guard = flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (guard, _) = cv.wait_timeout_while(guard, tick, |stopped| !*stopped).unwrap_or_else(std::sync::PoisonError::into_inner);
            if *guard {
                return;
            }
        }
        let Some(live) = log.upgrade() else { return };
        let interval = matches!(live.options.durability, Durability::Interval(_));
        {
            for t in live.all_topics() {
                for p in t.partitions() {
                    // Under `Os` only closed segments are sealed here; the rest is the OS's.
                    let result = if interval { p.flush() } else { p.seal_closed() };
                    // A poisoned partition already reported its failure; it refuses writes.
                    if let Err(e @ (LogError::Io { .. } | LogError::Corrupt { .. })) = result {
                        tracing::error!(topic = t.name(), partition = %p.id(), "background fsync failed: {e}");
                    }
                }
            }
        }
        if let Err(e) = live.enforce_retention() {
            tracing::error!("retention: {e}");
        }
    });
    spawned
        .inspect_err(|e| {
            tracing::error!("cannot start the log's flusher thread: {e}; fsync only happens on append");
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_types::Record;

    #[test]
    fn a_dropped_log_can_be_reopened_at_once() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(LogError::io("tempdir"))?;
        let options = LogOptions::default().durability(Durability::Interval(Duration::from_millis(10)));
        Log::open(tmp.path(), options.clone())?.create_topic("t", TopicConfig::new(8))?;
        for round in 0..20 {
            let log = Log::open(tmp.path(), options.clone())?;
            for p in log.topic("t")?.partitions() {
                p.append(&[Record::new("v", round)])?;
            }
            // Not a wait for anything: it lets the 10 ms flusher tick come due, so that the
            // drop below often lands while the flusher is fsyncing the dirty partitions.
            std::thread::sleep(Duration::from_millis(11));
            drop(log);
            match Log::open(tmp.path(), options.clone()) {
                Ok(_) => {}
                Err(e @ LogError::Locked { .. }) => panic!("round {round}: closed log still locked: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    #[test]
    fn a_read_only_open_writes_nothing() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(LogError::io("tempdir"))?;
        Log::open(tmp.path(), LogOptions::default())?.create_topic("t", TopicConfig::new(1))?;
        let before: Vec<_> = walk(tmp.path());
        let log = Log::open(tmp.path(), LogOptions::default().read_only(true))?;
        assert_eq!(log.topic("t")?.partition_count(), 1);
        drop(log);
        assert_eq!(walk(tmp.path()), before);
        Ok(())
    }

    fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
            out.push((e.path(), len));
        }
        out.sort();
        out
    }
}
