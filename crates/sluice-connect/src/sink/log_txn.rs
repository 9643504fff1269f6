//! The transactions of an exactly-once [`LogSink`](super::LogSink): one log transaction per
//! checkpoint interval, prepared on the checkpoint's barrier and committed when the checkpoint
//! completes (two-phase commit over `sluice_log`'s transactions).
//!
//! # Names
//! A sink's transactions are named `<prefix>-<n>`. The transaction opens at the first row after
//! a barrier, before the next checkpoint's id is known, so `n` is the id that checkpoint will
//! most likely get: one more than the previous barrier's id (the runtime numbers checkpoints
//! consecutively), after a restart one more than the highest number the checkpoint's pending
//! ids or this prefix's prepared transactions carry, and 1 for a fresh job. When the guess is
//! wrong (a checkpoint was abandoned before its barrier reached the sink) the transaction keeps
//! its name: names only need to be unique and to grow within an attempt, and they do, because
//! each guess is above every earlier name and barrier id. Only `<prefix>-<digits>` names belong
//! to the sink, so a sink with prefix `job.t` never touches the transactions of `job.t-1`.
//!
//! # Without checkpoints
//! A job that does not checkpoint never calls `pre_commit`; `finish` then commits the open
//! transaction, so the job's output appears when it ends. With checkpoints the runtime takes a
//! last checkpoint when the input ends and commits it before `finish`, so `finish` finds no open
//! transaction. If it does find one (rows after the last barrier), it commits it too: that is
//! only at-least-once, should the process die between that commit and the end of the job.
//! Prepared transactions are never committed by `finish`: only a completed checkpoint may.

use std::collections::HashSet;

use sluice_dataflow::Result;
use sluice_log::{Log, Transaction};
use sluice_types::Record;

use crate::error;

/// The open and prepared transactions of one sink.
#[derive(Debug)]
pub(crate) struct LogTransactions {
    log: Log,
    prefix: String,
    /// The transaction rows go into until the next barrier.
    open: Option<Transaction>,
    /// The number the next transaction is named with, once known.
    next: Option<u64>,
}

impl LogTransactions {
    /// Transactions named `<prefix>-<n>` in `log`.
    ///
    /// # Errors
    /// `prefix` would make an invalid transaction name.
    pub(crate) fn new(log: &Log, prefix: &str) -> Result<Self> {
        sluice_log::validate_name(&format!("{prefix}-{}", u64::MAX))
            .map_err(|e| error::user(format!("log sink: transaction prefix `{prefix}`: {e}")))?;
        Ok(LogTransactions { log: log.clone(), prefix: prefix.to_string(), open: None, next: None })
    }

    /// The `n` of a name `<prefix>-<n>` of this sink.
    fn number(&self, name: &str) -> Option<u64> {
        let n = name.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    }

    /// Prepared transactions of this log (of every sink), by name.
    fn prepared(&self) -> Result<HashSet<String>> {
        let ids =
            self.log.prepared_transactions().map_err(|e| error::log("log sink: listing transactions", &e))?;
        Ok(ids.into_iter().collect())
    }

    /// Stages `records` for `topic` in the open transaction, opening one if needed.
    pub(crate) fn send(&mut self, topic: &str, records: Vec<Record>) -> Result<()> {
        let txn = match &mut self.open {
            Some(txn) => txn,
            None => {
                let n = match self.next {
                    Some(n) => n,
                    None => self
                        .prepared()?
                        .iter()
                        .filter_map(|id| self.number(id))
                        .max()
                        .map_or(1, |m| m.saturating_add(1)),
                };
                let name = format!("{}-{n}", self.prefix);
                let txn = self.log.begin_transaction(&name).map_err(|e| error::log("log sink", &e))?;
                self.next = Some(n.saturating_add(1));
                self.open.insert(txn)
            }
        };
        match txn.send(topic, records) {
            Ok(()) => Ok(()),
            Err(e) => {
                let context =
                    format!("log sink: staging rows for topic `{topic}` in transaction `{}`", txn.id());
                Err(error::log(&context, &e))
            }
        }
    }

    /// Checkpoint `id`'s barrier: prepares the open transaction (durable, still invisible) and
    /// returns its name; nothing if no row came since the last barrier.
    pub(crate) fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        self.next = Some(self.next.unwrap_or(0).max(id.saturating_add(1)));
        let Some(mut txn) = self.open.take() else { return Ok(Vec::new()) };
        let name = txn.id().to_string();
        txn.prepare().map_err(|e| error::log(&format!("log sink: preparing transaction `{name}`"), &e))?;
        // A prepared transaction outlives its handle; it is committed by name.
        drop(txn);
        Ok(vec![name])
    }

    /// Commits `pending`; a name that is no longer prepared was committed already. A name of
    /// another prefix is refused: it is not this sink's to settle.
    pub(crate) fn commit(&mut self, pending: &[String]) -> Result<()> {
        if let Some(name) = pending.iter().find(|n| self.number(n).is_none()) {
            return Err(error::user(format!(
                "log sink: `{name}` is not a transaction of prefix `{}`; refusing to commit it",
                self.prefix
            )));
        }
        let prepared = self.prepared()?;
        for name in pending.iter().filter(|n| prepared.contains(*n)) {
            self.log
                .commit_prepared(name)
                .map_err(|e| error::log(&format!("log sink: committing transaction `{name}`"), &e))?;
        }
        Ok(())
    }

    /// After a restart: commits `pending` (those still prepared) and aborts every other
    /// prepared transaction of this sink.
    pub(crate) fn recover(&mut self, pending: &[String]) -> Result<()> {
        let prepared = self.prepared()?;
        let highest = pending.iter().chain(&prepared).filter_map(|n| self.number(n)).max();
        self.commit(pending)?;
        for name in prepared.iter().filter(|n| self.number(n).is_some() && !pending.contains(n)) {
            self.log
                .abort_prepared(name)
                .map_err(|e| error::log(&format!("log sink: aborting transaction `{name}`"), &e))?;
        }
        let after = highest.map_or(1, |h| h.saturating_add(1));
        self.next = Some(self.next.unwrap_or(0).max(after));
        Ok(())
    }

    /// The job ended: commits the open transaction, if any (see the module docs).
    pub(crate) fn finish(&mut self) -> Result<()> {
        let Some(txn) = self.open.take() else { return Ok(()) };
        let name = txn.id().to_string();
        txn.commit().map_err(|e| error::log(&format!("log sink: committing transaction `{name}`"), &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_log::{LogOptions, TopicConfig};

    #[test]
    fn names_belong_to_one_prefix_only() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("log");
        let t = LogTransactions::new(&log, "job.t").expect("prefix");
        assert_eq!(t.number("job.t-12"), Some(12));
        for other in ["job.t-1-5", "job.t-", "job.t12", "job.tx-3", "job.t-+3", "other-1"] {
            assert_eq!(t.number(other), None, "{other}");
        }
        assert!(LogTransactions::new(&log, "bad/prefix").is_err());
        assert!(LogTransactions::new(&log, &"x".repeat(240)).is_err(), "too long with the number");
    }

    #[test]
    fn names_follow_the_barriers() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("log");
        log.create_topic("out", TopicConfig::new(1)).expect("topic");
        let mut t = LogTransactions::new(&log, "j").expect("prefix");
        let row = || vec![Record::new("{}", 0)];
        t.send("out", row()).expect("send");
        assert_eq!(t.pre_commit(1).expect("pre"), ["j-1"]);
        assert!(t.pre_commit(2).expect("pre").is_empty(), "an empty interval has nothing to commit");
        t.send("out", row()).expect("send");
        // Checkpoint 4 was abandoned before its barrier: the guess 3 stays the name.
        assert_eq!(t.pre_commit(5).expect("pre"), ["j-3"]);
        t.send("out", row()).expect("send");
        assert_eq!(t.pre_commit(6).expect("pre"), ["j-6"]);
        t.commit(&["j-1".into(), "j-3".into(), "j-6".into()]).expect("commit");
        t.commit(&["j-1".into()]).expect("commit is idempotent");
        assert_eq!(log.topic("out").expect("topic").end_offsets(), [3]);
    }
}
