//! Transactions: one producer appends to several partitions and commits or aborts atomically.
//!
//! Records of a transaction are *staged* in `txn/<id>.txn` and enter the partitions only when
//! the transaction commits. Every reader is therefore `read_committed`, offsets stay dense, and
//! an aborted transaction leaves no trace in any partition.
//!
//! The staging file is a [`FileHeader`] followed by frames (see `format`), each an entry:
//!
//! ```text
//! 1 RECORDS  topic_len u16 | topic | partition u32 | batch frame (base offset 0)
//! 2 PREPARE  (empty)
//! 3 COMMIT   n u32 | n × (topic_len u16 | topic | partition u32 | base_offset u64 | count u64)
//! ```
//!
//! Commit protocol:
//! 1. lock the writers of every partition involved (sorted, so commits never deadlock);
//! 2. append a COMMIT entry recording each partition's current end as the batch's base offset
//!    and fsync the staging file — the decision point;
//! 3. append the staged records to each partition, then fsync the partitions;
//! 4. delete the staging file.
//!
//! Recovery when the log is opened: a file with a COMMIT entry is redone (each partition's end
//! offset tells how much of its share already landed, so redo is idempotent); a file with a
//! PREPARE entry is kept for its owner to commit or abort ([`Log::commit_prepared`],
//! [`Log::abort_prepared`]) — this is the hook two-phase-commit sinks need; any other file is
//! an abandoned transaction and is aborted.

mod staging;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use sluice_types::{PartitionId, Record};

use crate::durable::{create_dir_durably, fsync_dir};
use crate::error::{LogError, Result};
use crate::log::Log;
use crate::names::validate_name;
use crate::partition::AppendInfo;

use staging::{Entry, Staging};

/// Transactional ids in use in this process, and the directory of staging files.
#[derive(Debug)]
pub(crate) struct TxnRegistry {
    dir: PathBuf,
    open: Mutex<HashSet<String>>,
}

impl TxnRegistry {
    pub fn new(dir: PathBuf) -> Self {
        TxnRegistry { dir, open: Mutex::new(HashSet::new()) }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.txn"))
    }

    fn release(&self, id: &str) {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

/// Where a committed transaction's records landed: topic, partition, offsets.
pub type CommitReport = Vec<(String, PartitionId, AppendInfo)>;

/// An open transaction. Dropping it without [`Transaction::commit`] aborts it, unless it was
/// prepared: a prepared transaction survives until committed or aborted, even across restarts.
#[derive(Debug)]
pub struct Transaction {
    log: Log,
    id: String,
    staging: Option<Staging>,
    prepared: bool,
}

impl Log {
    /// Begins a transaction with the transactional id `id`.
    ///
    /// # Errors
    /// The id is invalid, already open in this process, or names a prepared transaction that
    /// must be committed or aborted first; the log is read-only; I/O.
    pub fn begin_transaction(&self, id: &str) -> Result<Transaction> {
        validate_name(id)?;
        if self.is_read_only() {
            return Err(LogError::ReadOnly(self.dir().to_owned()));
        }
        let reg = &self.inner.txns;
        if !reg.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.to_owned()) {
            return Err(LogError::Transaction { id: id.to_owned(), reason: "is already open".into() });
        }
        let path = reg.path(id);
        if path.exists() {
            reg.release(id);
            return Err(LogError::Transaction {
                id: id.to_owned(),
                reason: "is prepared; commit or abort it first (commit_prepared / abort_prepared)".into(),
            });
        }
        let staging = create_dir_durably(&reg.dir).and_then(|()| Staging::create(path));
        match staging {
            Ok(s) => {
                Ok(Transaction { log: self.clone(), id: id.to_owned(), staging: Some(s), prepared: false })
            }
            Err(e) => {
                reg.release(id);
                Err(e)
            }
        }
    }

    /// Ids of prepared transactions waiting for a decision, sorted.
    ///
    /// # Errors
    /// The transaction directory cannot be read.
    pub fn prepared_transactions(&self) -> Result<Vec<String>> {
        let reg = &self.inner.txns;
        let open = reg.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut ids: Vec<String> =
            staging::list(&reg.dir)?.into_iter().filter(|id| !open.contains(id)).collect();
        ids.sort();
        Ok(ids)
    }

    /// Commits a prepared transaction left by an earlier run (or a dropped handle).
    ///
    /// # Errors
    /// No prepared transaction has this id; the commit fails (it can be retried).
    pub fn commit_prepared(&self, id: &str) -> Result<CommitReport> {
        let staging = self.claim_prepared(id)?;
        let result = commit_staged(self, &staging);
        self.inner.txns.release(id);
        result
    }

    /// Aborts a prepared transaction left by an earlier run (or a dropped handle).
    ///
    /// # Errors
    /// No prepared transaction has this id; the file cannot be deleted.
    pub fn abort_prepared(&self, id: &str) -> Result<()> {
        let staging = self.claim_prepared(id)?;
        let result = staging.delete();
        self.inner.txns.release(id);
        result
    }

    fn claim_prepared(&self, id: &str) -> Result<Staging> {
        validate_name(id)?;
        let reg = &self.inner.txns;
        let path = reg.path(id);
        let unknown = || LogError::Transaction {
            id: id.to_owned(),
            reason: "no prepared transaction has this id".into(),
        };
        if !path.exists() {
            return Err(unknown());
        }
        if !reg.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.to_owned()) {
            return Err(LogError::Transaction {
                id: id.to_owned(),
                reason: "is open in this process".into(),
            });
        }
        Staging::open(path).inspect_err(|_| reg.release(id))
    }

    /// Settles the staging files found when the log is opened (see the module docs).
    pub(crate) fn recover_transactions(&self) -> Result<()> {
        let dir = self.inner.txns.dir.clone();
        for id in staging::list(&dir)? {
            let staging = Staging::open(self.inner.txns.path(&id))?;
            let entries = staging.entries()?;
            if entries.iter().any(|e| matches!(e, Entry::Commit(_))) {
                tracing::info!(txn = %id, "redoing a transaction committed before a crash");
                commit_staged(self, &staging)?;
            } else if entries.iter().any(|e| matches!(e, Entry::Prepare)) {
                tracing::info!(txn = %id, "keeping a prepared transaction for its owner to settle");
            } else {
                tracing::info!(txn = %id, "aborting a transaction abandoned by a crash");
                staging.delete()?;
            }
        }
        Ok(())
    }
}

impl Transaction {
    /// The transactional id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn staging(&mut self) -> Result<&mut Staging> {
        if self.prepared {
            return Err(LogError::Transaction {
                id: self.id.clone(),
                reason: "is prepared; no more appends".into(),
            });
        }
        self.staging
            .as_mut()
            .ok_or_else(|| LogError::Transaction { id: String::new(), reason: "is finished".into() })
    }

    /// Stages records for one partition. They become visible only on commit.
    ///
    /// # Errors
    /// Unknown topic or partition, a prepared transaction, I/O.
    pub fn append(&mut self, topic: &str, partition: PartitionId, records: &[Record]) -> Result<()> {
        self.log.topic(topic)?.partition(partition)?;
        self.staging()?.append_records(topic, partition, records)
    }

    /// Stages records for a topic, each to the partition its key chooses.
    ///
    /// # Errors
    /// As [`Transaction::append`].
    pub fn send(&mut self, topic: &str, records: Vec<Record>) -> Result<()> {
        let t = self.log.topic(topic)?;
        let mut by: BTreeMap<PartitionId, Vec<Record>> = BTreeMap::new();
        let sticky = t.partition_for(None);
        for r in records {
            let p = r.key.as_deref().map_or(sticky, |k| t.partition_for(Some(k)));
            by.entry(p).or_default().push(r);
        }
        for (p, recs) in by {
            self.staging()?.append_records(topic, p, &recs)?;
        }
        Ok(())
    }

    /// First phase of a two-phase commit: makes the staged records durable. A prepared
    /// transaction survives crashes and restarts until [`Transaction::commit`] or
    /// [`Log::commit_prepared`] / [`Log::abort_prepared`] settles it.
    ///
    /// # Errors
    /// I/O; the transaction then stays unprepared.
    pub fn prepare(&mut self) -> Result<()> {
        self.staging()?.append_entry(&Entry::Prepare)?;
        let s = self.staging()?;
        s.sync()?;
        // DURABILITY: the staging file's name must survive too.
        fsync_dir(s.dir())?;
        self.prepared = true;
        Ok(())
    }

    /// Commits: every staged record becomes visible, atomically per transaction.
    ///
    /// # Errors
    /// I/O or a poisoned partition. If the COMMIT entry was written the transaction will be
    /// completed when the log is next opened; otherwise it is aborted then.
    pub fn commit(mut self) -> Result<CommitReport> {
        let staging = self
            .staging
            .take()
            .ok_or_else(|| LogError::Transaction { id: self.id.clone(), reason: "is finished".into() })?;
        commit_staged(&self.log, &staging)
    }

    /// Aborts: the staged records are discarded.
    ///
    /// # Errors
    /// The staging file cannot be deleted.
    pub fn abort(mut self) -> Result<()> {
        match self.staging.take() {
            Some(s) => s.delete(),
            None => Ok(()),
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(s) = self.staging.take() {
            if !self.prepared {
                if let Err(e) = s.delete() {
                    tracing::warn!(txn = %self.id, "aborting dropped transaction: {e}");
                }
            }
        }
        self.log.inner.txns.release(&self.id);
    }
}

/// Runs (or redoes) the commit protocol for a staging file, then deletes it.
fn commit_staged(log: &Log, staging: &Staging) -> Result<CommitReport> {
    let entries = staging.entries()?;
    let mut staged: BTreeMap<(String, PartitionId), Vec<Record>> = BTreeMap::new();
    let mut decided: Option<Vec<(String, PartitionId, u64, u64)>> = None;
    for e in entries {
        match e {
            Entry::Records { topic, partition, records } => {
                staged.entry((topic, partition)).or_default().extend(records)
            }
            Entry::Prepare => {}
            Entry::Commit(bases) => decided = Some(bases),
        }
    }
    let mut topics = BTreeMap::new();
    for (t, _) in staged.keys() {
        match log.topic(t) {
            Ok(topic) => {
                topics.insert(t.clone(), topic);
            }
            // A decided transaction whose topic was deleted since: its share went with the topic.
            Err(LogError::UnknownTopic(_)) if decided.is_some() => {
                tracing::warn!(txn = %staging.path().display(), topic = %t, "topic deleted; skipping its share of the commit");
            }
            Err(e) => return Err(e),
        }
    }
    staged.retain(|(t, _), _| topics.contains_key(t));
    if let Some(bases) = decided.as_mut() {
        bases.retain(|(t, ..)| topics.contains_key(t));
    }
    let mut report = Vec::new();
    {
        let mut guards = Vec::new();
        for (t, p) in staged.keys() {
            guards.push(topics[t].partition(*p)?.lock_writer());
        }
        let bases = match decided {
            Some(bases) => bases,
            None => {
                let bases: Vec<_> = staged
                    .iter()
                    .zip(&guards)
                    .map(|(((t, p), recs), g)| (t.clone(), *p, g.end(), recs.len() as u64))
                    .collect();
                // DURABILITY: the recorded base offsets must not refer to data a power loss could
                // still take away, so the partitions are synced up to them first.
                for g in &mut guards {
                    g.sync()?;
                }
                staging.append_entry(&Entry::Commit(bases.clone()))?;
                // DURABILITY: the commit decision (file data and name) must be on disk before
                // any record is published.
                staging.sync()?;
                fsync_dir(staging.dir())?;
                bases
            }
        };
        for ((t, p, base, count), (guard, recs)) in
            bases.into_iter().zip(guards.iter_mut().zip(staged.values()))
        {
            let end = guard.end();
            if end < base || count != recs.len() as u64 {
                return Err(LogError::Corrupt {
                    path: staging.path().to_owned(),
                    position: 0,
                    reason: format!("commit record says {t}/{p} base {base} count {count}, partition ends at {end} and {} records are staged", recs.len()),
                });
            }
            let done = (end - base).min(count);
            guard.append(&recs[done as usize..])?;
            report.push((t, p, AppendInfo { base_offset: base, count }));
        }
    }
    for (t, p, _) in &report {
        // DURABILITY: committed records are fsynced before the staging file (the redo log) goes.
        topics[t].partition(*p)?.flush()?;
    }
    staging.delete()?;
    Ok(report)
}
