//! The run log: every event of every run, kept per task and numbered.
//!
//! # Contract
//!
//! - [`RunLog::append`] gives each appended event the next id *of its task*:
//!   ids start at 1, grow by one, and are never reused or reordered. One
//!   `append` is atomic: all of its events are stored, or none.
//! - [`RunLog::read`] returns the events of a task whose id is greater than
//!   `after`, in id order, at most `limit` of them. A live view that saw id
//!   `n` resumes with `read(task, n, ..)` and neither misses nor repeats an
//!   event (this is what SSE's `Last-Event-ID` maps to).
//! - Events are stored as given: redacting secrets is the appender's job.
//!
//! [`MemoryRunLog`] is the in-process implementation (tests, single-process
//! use); the SQL backends implement the same trait on the task store's
//! database.

pub mod conformance;

use std::collections::HashMap;
use std::sync::Mutex;

use agentkit_core::event::EventRecord;
use agentkit_core::store::StoreError;
use agentkit_core::task::TaskId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One stored event and its id within its task's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// The id (1-based, per task).
    pub id: u64,
    /// The event as it was emitted.
    pub record: EventRecord,
}

/// Where runs' events are kept. See the [module documentation](self).
#[async_trait]
pub trait RunLog: Send + Sync {
    /// Appends `events` to `task`'s log and returns the id of the last one
    /// (the current last id when `events` is empty; 0 for an empty log).
    async fn append(&self, task: &TaskId, events: &[EventRecord]) -> Result<u64, StoreError>;

    /// The events of `task` with an id greater than `after`, in order, at
    /// most `limit`.
    async fn read(
        &self,
        task: &TaskId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError>;
}

/// A [`RunLog`] in memory.
#[derive(Debug, Default)]
pub struct MemoryRunLog {
    logs: Mutex<HashMap<TaskId, Vec<EventRecord>>>,
}

impl MemoryRunLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend {
        message: "the in-memory run log's lock was poisoned by a panic; restart the process".into(),
    }
}

#[async_trait]
impl RunLog for MemoryRunLog {
    async fn append(&self, task: &TaskId, events: &[EventRecord]) -> Result<u64, StoreError> {
        let mut logs = self.logs.lock().map_err(|_| poisoned())?;
        let log = logs.entry(task.clone()).or_default();
        log.extend_from_slice(events);
        Ok(log.len() as u64)
    }

    async fn read(
        &self,
        task: &TaskId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let logs = self.logs.lock().map_err(|_| poisoned())?;
        let Some(log) = logs.get(task) else {
            return Ok(Vec::new());
        };
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(log.len());
        Ok(log[start..]
            .iter()
            .take(limit)
            .zip(after + 1..)
            .map(|(record, id)| LoggedEvent {
                id,
                record: record.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentkit_core::event::Event;

    fn record(seq: u64) -> EventRecord {
        EventRecord {
            seq,
            task_id: None,
            at_ms: seq,
            event: Event::Nudged {
                message: format!("m{seq}"),
            },
        }
    }

    #[tokio::test]
    async fn ids_are_per_task_and_reads_resume_after_the_last_seen_id() {
        let log = MemoryRunLog::new();
        let a = TaskId("a".into());
        let b = TaskId("b".into());
        assert_eq!(log.append(&a, &[record(0), record(1)]).await.unwrap(), 2);
        assert_eq!(log.append(&b, &[record(7)]).await.unwrap(), 1);
        assert_eq!(log.append(&a, &[record(2)]).await.unwrap(), 3);
        let ids: Vec<u64> = log
            .read(&a, 1, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(log.read(&a, 1, 1).await.unwrap()[0].record, record(1));
        assert_eq!(log.read(&a, 3, 10).await.unwrap(), vec![]);
        assert_eq!(
            log.read(&TaskId("none".into()), 0, 10).await.unwrap(),
            vec![]
        );
    }
}
