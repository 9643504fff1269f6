//! Memory accounting: how many bytes of state each operator holds, against an optional budget.
//!
//! A [`MemoryTracker`] is shared by a job (cheap to clone: an `Arc`). Each stateful operator
//! instance opens a [`MemoryAccount`] on it and reports its bytes as they change — `add` and
//! `release`, or `set` after measuring. The tracker keeps the total in one atomic, so accounts on
//! different threads never lock; metrics read the total and each account's figure.
//!
//! The budget is advisory for [`MemoryAccount::add`] and `set` (they always record, so the figure
//! stays true) and enforced by [`MemoryAccount::try_add`], which refuses growth past it. What an
//! operator does over budget (spill, fail, shed) is its decision; `over_budget` tells it.
//! Dropping an account releases its bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::error::{Result, StateError};

/// A job-wide byte count with an optional budget; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct MemoryTracker {
    inner: Arc<TrackerInner>,
}

#[derive(Debug, Default)]
struct TrackerInner {
    used: AtomicUsize,
    budget: Option<usize>,
    accounts: Mutex<Vec<Weak<AccountInner>>>,
}

#[derive(Debug)]
struct AccountInner {
    name: String,
    used: AtomicUsize,
}

/// One operator instance's share of a [`MemoryTracker`].
#[derive(Debug)]
pub struct MemoryAccount {
    tracker: Arc<TrackerInner>,
    inner: Arc<AccountInner>,
}

impl MemoryTracker {
    /// A tracker without a budget.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker with a budget of `bytes`.
    #[must_use]
    pub fn with_budget(bytes: usize) -> Self {
        MemoryTracker { inner: Arc::new(TrackerInner { budget: Some(bytes), ..TrackerInner::default() }) }
    }

    /// Opens an account named `name` (shown in metrics and errors).
    #[must_use]
    pub fn account(&self, name: impl Into<String>) -> MemoryAccount {
        let inner = Arc::new(AccountInner { name: name.into(), used: AtomicUsize::new(0) });
        let mut accounts = self.inner.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.retain(|a| a.strong_count() > 0);
        accounts.push(Arc::downgrade(&inner));
        MemoryAccount { tracker: Arc::clone(&self.inner), inner }
    }

    /// Bytes in use over all accounts.
    #[must_use]
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// The budget, if any.
    #[must_use]
    pub fn budget(&self) -> Option<usize> {
        self.inner.budget
    }

    /// Whether the total exceeds the budget.
    #[must_use]
    pub fn over_budget(&self) -> bool {
        self.inner.budget.is_some_and(|b| self.used() > b)
    }

    /// `(name, bytes)` of every open account, for metrics.
    #[must_use]
    pub fn accounts(&self) -> Vec<(String, usize)> {
        let accounts = self.inner.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts
            .iter()
            .filter_map(Weak::upgrade)
            .map(|a| (a.name.clone(), a.used.load(Ordering::Relaxed)))
            .collect()
    }
}

impl MemoryAccount {
    /// A standalone account on a tracker of its own without a budget (for tests and tools).
    #[must_use]
    pub fn detached(name: impl Into<String>) -> Self {
        MemoryTracker::new().account(name)
    }

    /// The account's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Bytes this account holds.
    #[must_use]
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Records `bytes` more, whatever the budget.
    #[inline]
    pub fn add(&self, bytes: usize) {
        self.inner.used.fetch_add(bytes, Ordering::Relaxed);
        self.tracker.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records `bytes` more if the tracker's total stays within its budget.
    ///
    /// # Errors
    /// [`StateError::MemoryBudget`] if it would not; nothing is recorded then.
    pub fn try_add(&self, bytes: usize) -> Result<()> {
        if let Some(budget) = self.tracker.budget {
            let reserved = self.tracker.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= budget)
            });
            if let Err(used) = reserved {
                return Err(StateError::MemoryBudget {
                    account: self.inner.name.clone(),
                    requested: bytes,
                    used,
                    budget,
                });
            }
            self.inner.used.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        }
        self.add(bytes);
        Ok(())
    }

    /// Records `bytes` fewer (at most what the account holds).
    #[inline]
    pub fn release(&self, bytes: usize) {
        let prev = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_sub(bytes)))
            .unwrap_or_else(|used| used);
        self.tracker.used.fetch_sub(bytes.min(prev), Ordering::Relaxed);
    }

    /// Sets the account to `bytes` (after measuring the state).
    pub fn set(&self, bytes: usize) {
        let prev = self.inner.used.swap(bytes, Ordering::Relaxed);
        if bytes >= prev {
            self.tracker.used.fetch_add(bytes - prev, Ordering::Relaxed);
        } else {
            self.tracker.used.fetch_sub(prev - bytes, Ordering::Relaxed);
        }
    }

    /// Whether the tracker's total exceeds its budget.
    #[must_use]
    pub fn over_budget(&self) -> bool {
        self.tracker.budget.is_some_and(|b| self.tracker.used.load(Ordering::Relaxed) > b)
    }
}

impl Drop for MemoryAccount {
    fn drop(&mut self) {
        let used = self.inner.used.swap(0, Ordering::Relaxed);
        self.tracker.used.fetch_sub(used, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn accounts_sum_into_the_tracker_and_release_on_drop() {
        let tracker = MemoryTracker::with_budget(1000);
        let a = tracker.account("window-0");
        let b = tracker.account("window-1");
        a.add(300);
        b.add(200);
        a.release(100);
        assert_eq!((a.used(), b.used(), tracker.used()), (200, 200, 400));
        b.set(50);
        assert_eq!(tracker.used(), 250);
        a.release(10_000); // more than it holds: clamps
        assert_eq!((a.used(), tracker.used()), (0, 50));
        let mut names = tracker.accounts();
        names.sort();
        assert_eq!(names, [("window-0".to_string(), 0), ("window-1".to_string(), 50)]);
        drop(b);
        assert_eq!(tracker.used(), 0);
        assert_eq!(tracker.accounts().len(), 1);
    }

    #[test]
    fn try_add_enforces_the_budget() {
        let tracker = MemoryTracker::with_budget(100);
        let a = tracker.account("dedup");
        assert!(a.try_add(60).is_ok());
        let err = a.try_add(50).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("memory budget exceeded: dedup asked for 50 bytes, 60 of 100 in use")
        );
        assert_eq!(a.used(), 60);
        a.add(50); // advisory path records anyway
        assert!(a.over_budget() && tracker.over_budget());
    }
}
