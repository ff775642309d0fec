//! [`MemoryTaskStore`]: the queue in a mutex, for tests and single-process use.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Enqueued, FencingToken, Lease, LeaseHolder, NewTask, StoreAction, StoreError, TaskRecord,
    TaskResult, TaskState, TaskStore, WorkSignal, lease_expiry,
};
use crate::task::TaskId;

/// Keeps the queue in memory behind one mutex. Nothing survives the process.
///
/// [`wait_for_work`](TaskStore::wait_for_work) returns as soon as an enqueue
/// or a retry makes work ready in this store.
#[derive(Debug)]
pub struct MemoryTaskStore {
    inner: Mutex<Inner>,
    clock: fn() -> u64,
    work: WorkSignal,
}

#[derive(Debug, Default)]
struct Inner {
    /// In enqueue order; never removed from, so indexes stay valid.
    entries: Vec<Entry>,
    by_id: HashMap<TaskId, usize>,
    by_key: HashMap<String, usize>,
}

#[derive(Debug)]
struct Entry {
    record: TaskRecord,
    checkpoint: Option<Vec<u8>>,
}

impl Default for MemoryTaskStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTaskStore {
    /// An empty store whose record timestamps come from the wall clock.
    pub fn new() -> Self {
        Self::with_clock(crate::event::now_ms)
    }

    /// An empty store whose `created_at_ms`/`updated_at_ms` come from `clock`
    /// (lease decisions always use the caller's `now_ms`).
    pub fn with_clock(clock: fn() -> u64) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
            work: WorkSignal::default(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Backend {
            message: "the in-memory task store's lock is poisoned (a thread panicked while \
                      holding it); its state may be inconsistent, restart the process"
                .into(),
        })
    }
}

impl Inner {
    fn entry(&mut self, id: &TaskId) -> Result<&mut Entry, StoreError> {
        match self.by_id.get(id) {
            Some(&i) => Ok(&mut self.entries[i]),
            None => Err(StoreError::NotFound { id: id.clone() }),
        }
    }

    /// The entry, if `token` is current and it is leased (checked in that order).
    fn fenced(
        &mut self,
        id: &TaskId,
        token: FencingToken,
        action: StoreAction,
    ) -> Result<&mut Entry, StoreError> {
        let entry = self.entry(id)?;
        let record = &entry.record;
        if record.token != token {
            return Err(StoreError::LeaseLost {
                id: id.clone(),
                presented: token,
                current: record.token,
            });
        }
        if record.state != TaskState::Leased {
            return Err(StoreError::InvalidTransition {
                id: id.clone(),
                from: record.state,
                action,
            });
        }
        Ok(entry)
    }

    /// Fails leased entries whose lease expired on their last attempt.
    fn reap(&mut self, now_ms: u64, at_ms: u64) {
        for entry in &mut self.entries {
            let record = &mut entry.record;
            let Some(lease) = &record.lease else { continue };
            if record.state == TaskState::Leased
                && lease.expires_at_ms <= now_ms
                && record.attempts >= record.max_attempts
            {
                record.last_error = Some(format!(
                    "the lease held by `{}` expired at {} ms on attempt {} of {}, with no \
                     attempts left (the worker stopped heartbeating)",
                    lease.worker, lease.expires_at_ms, record.attempts, record.max_attempts
                ));
                record.state = TaskState::Failed;
                record.lease = None;
                record.updated_at_ms = at_ms;
            }
        }
    }
}

fn is_ready(record: &TaskRecord, now_ms: u64) -> bool {
    match record.state {
        TaskState::Queued => record.run_at_ms.is_none_or(|at| at <= now_ms),
        TaskState::Leased => {
            record.attempts < record.max_attempts
                && record
                    .lease
                    .as_ref()
                    .is_some_and(|l| l.expires_at_ms <= now_ms)
        }
        TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled => false,
    }
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError> {
        let now = (self.clock)();
        let mut inner = self.lock()?;
        let key = new.key().to_string();
        let existing = inner
            .by_key
            .get(&key)
            .or_else(|| inner.by_id.get(&new.task.id));
        if let Some(&i) = existing {
            return Ok(Enqueued {
                id: inner.entries[i].record.task.id.clone(),
                created: false,
            });
        }
        let id = new.task.id.clone();
        let record = TaskRecord {
            task: new.task,
            state: TaskState::Queued,
            priority: new.priority,
            idempotency_key: key.clone(),
            attempts: 0,
            max_attempts: new.max_attempts.max(1),
            run_at_ms: new.run_at_ms,
            token: FencingToken(0),
            lease: None,
            last_error: None,
            result: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let index = inner.entries.len();
        inner.entries.push(Entry {
            record,
            checkpoint: None,
        });
        inner.by_id.insert(id.clone(), index);
        inner.by_key.insert(key, index);
        drop(inner);
        self.work.notify();
        Ok(Enqueued { id, created: true })
    }

    async fn lease(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<Option<Lease>, StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        inner.reap(now_ms, at);
        let best = inner
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| is_ready(&e.record, now_ms))
            .min_by_key(|(i, e)| (Reverse(e.record.priority), *i))
            .map(|(i, _)| i);
        let Some(i) = best else { return Ok(None) };
        let entry = &mut inner.entries[i];
        let record = &mut entry.record;
        let expires_at_ms = lease_expiry(now_ms, ttl);
        record.state = TaskState::Leased;
        record.attempts += 1;
        record.token = FencingToken(record.token.0 + 1);
        record.lease = Some(LeaseHolder {
            worker: worker.to_string(),
            expires_at_ms,
        });
        record.updated_at_ms = at;
        Ok(Some(Lease {
            task: record.task.clone(),
            token: record.token,
            attempt: record.attempts,
            expires_at_ms,
            checkpoint: entry.checkpoint.clone(),
        }))
    }

    async fn heartbeat(
        &self,
        id: &TaskId,
        token: FencingToken,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        let record = &mut inner.fenced(id, token, StoreAction::Heartbeat)?.record;
        let expires_at_ms = lease_expiry(now_ms, ttl);
        if let Some(lease) = &mut record.lease {
            lease.expires_at_ms = expires_at_ms;
        }
        record.updated_at_ms = at;
        Ok(expires_at_ms)
    }

    async fn save_checkpoint(
        &self,
        id: &TaskId,
        token: FencingToken,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        let entry = inner.fenced(id, token, StoreAction::SaveCheckpoint)?;
        entry.checkpoint = Some(bytes);
        entry.record.updated_at_ms = at;
        Ok(())
    }

    async fn complete(
        &self,
        id: &TaskId,
        token: FencingToken,
        result: TaskResult,
    ) -> Result<(), StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        let record = &mut inner.fenced(id, token, StoreAction::Complete)?.record;
        record.state = TaskState::Succeeded;
        record.lease = None;
        record.result = Some(result);
        record.updated_at_ms = at;
        Ok(())
    }

    async fn fail(
        &self,
        id: &TaskId,
        token: FencingToken,
        error: String,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        let record = &mut inner.fenced(id, token, StoreAction::Fail)?.record;
        let requeued = match retry_at_ms {
            Some(retry_at) if record.attempts < record.max_attempts => {
                record.state = TaskState::Queued;
                record.run_at_ms = Some(retry_at);
                true
            }
            _ => {
                record.state = TaskState::Failed;
                false
            }
        };
        record.lease = None;
        record.last_error = Some(error);
        record.updated_at_ms = at;
        drop(inner);
        if requeued {
            self.work.notify();
        }
        Ok(())
    }

    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        let at = (self.clock)();
        let mut inner = self.lock()?;
        let record = &mut inner.entry(id)?.record;
        match record.state {
            TaskState::Queued | TaskState::Leased => {
                record.state = TaskState::Cancelled;
                record.lease = None;
                record.updated_at_ms = at;
                Ok(())
            }
            TaskState::Cancelled => Ok(()),
            from @ (TaskState::Succeeded | TaskState::Failed) => {
                Err(StoreError::InvalidTransition {
                    id: id.clone(),
                    from,
                    action: StoreAction::Cancel,
                })
            }
        }
    }

    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .by_id
            .get(id)
            .map(|&i| inner.entries[i].record.clone()))
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.work.wait(timeout).await;
    }

    async fn list(&self, filter: Option<TaskState>) -> Result<Vec<TaskRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .entries
            .iter()
            .map(|e| &e.record)
            .filter(|r| filter.is_none_or(|s| r.state == s))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{RepoRef, Task};

    #[tokio::test]
    async fn a_poisoned_lock_is_a_backend_error_not_a_panic() {
        let store = std::sync::Arc::new(MemoryTaskStore::new());
        let poisoner = std::sync::Arc::clone(&store);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.inner.lock();
            panic!("poison the lock");
        })
        .join();
        let task = Task::new("T-1", "t", "b", RepoRef::new("."));
        let err = store.enqueue(NewTask::new(task)).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err}");
        assert!(!err.ownership_lost());
        assert!(err.to_string().contains("lock is poisoned"), "{err}");
    }
}
