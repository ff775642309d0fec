//! Durable [`TaskStore`](agentkit_core::store::TaskStore) backends, which are
//! also [`RunLog`](crate::runlog::RunLog)s on the same database.
//!
//! - [`SqliteTaskStore`] (feature `sqlite`, on by default): one file, WAL,
//!   safe with several worker processes on one machine. The embedded default.
//! - [`PgTaskStore`] (feature `postgres`): many workers on many machines;
//!   leases with `FOR UPDATE SKIP LOCKED`, wake-ups with `LISTEN/NOTIFY`.
//!
//! Both keep the contract of [`agentkit_core::store`] exactly (the shared
//! conformance suite runs against each), run their embedded migrations when
//! opened, and enforce fencing in SQL: every write after a lease is one
//! `UPDATE … WHERE id = ? AND token = ? AND state = 'leased'`, so a worker
//! whose lease was taken over cannot change the row whatever it races with.
//! One handle serves the queue and the run log (`impl RunLog`): share it in
//! an `Arc`.
//!
//! The smallest use: open a file, enqueue, lease, complete, log an event.
//!
//! ```
//! use std::time::Duration;
//! use agentkit_core::event::{now_ms, Event, EventRecord};
//! use agentkit_core::prelude::*;
//! use agentkit_core::store::{NewTask, TaskResult, TaskState};
//! use agentkit_server::runlog::RunLog;
//! use agentkit_server::store::SqliteTaskStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("agentkit/tasks.db");
//! let store = SqliteTaskStore::open(&path).await?;
//! let task = Task::new("T-1", "Fix the parser", "It panics on empty input.", RepoRef::new("."));
//! store.enqueue(NewTask::new(task)).await?;
//!
//! let lease = store.lease("worker-1", Duration::from_secs(60), now_ms()).await?.unwrap();
//! let event = Event::Nudged { message: "go on".into() };
//! let record = EventRecord { seq: 0, task_id: Some(lease.task.id.clone()), at_ms: now_ms(), event };
//! assert_eq!(store.append(&lease.task.id, &[record]).await?, 1);
//! let result = TaskResult { summary: "fixed".into(), pull_request_url: None, success: true };
//! store.complete(&lease.task.id, lease.token, result).await?;
//! assert_eq!(store.get(&lease.task.id).await?.unwrap().state, TaskState::Succeeded);
//! # Ok::<(), agentkit_core::store::StoreError>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "postgres")]
mod coalesce;
#[cfg(feature = "postgres")]
mod pg_batch;
#[cfg(feature = "postgres")]
mod pg_notify;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PgTaskStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{DEFAULT_POLL_INTERVAL, SqliteTaskStore};

use agentkit_core::event::{Event, EventRecord};
use agentkit_core::store::StoreError;
use agentkit_core::task::TaskId;
use serde::{Deserialize, Serialize};

use crate::runlog::LoggedEvent;

/// An [`EventRecord`] as the run log stores it: the event nested under
/// `event` rather than flattened, so no event field can ever collide with
/// the record's own keys (the format rows already stored are in).
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    seq: u64,
    task_id: Option<TaskId>,
    at_ms: u64,
    event: Event,
}

/// The events as the JSON the run log stores.
fn event_json(task: &TaskId, events: &[EventRecord]) -> Result<Vec<String>, StoreError> {
    events
        .iter()
        .map(|record| {
            let stored = StoredEvent {
                seq: record.seq,
                task_id: record.task_id.clone(),
                at_ms: record.at_ms,
                event: record.event.clone(),
            };
            serde_json::to_string(&stored).map_err(|e| StoreError::Backend {
                message: format!(
                    "an event of task `{task}` cannot be serialized to JSON ({e}); nothing was \
                     appended"
                ),
            })
        })
        .collect()
}

/// A stored event back from its JSON.
fn logged_event(task: &TaskId, id: u64, json: &str) -> Result<LoggedEvent, StoreError> {
    let stored: StoredEvent = serde_json::from_str(json).map_err(|e| StoreError::Backend {
        message: format!(
            "event {id} of task `{task}` is stored in a shape this version cannot read ({e}): \
             the database was written by another version"
        ),
    })?;
    let record = EventRecord {
        seq: stored.seq,
        task_id: stored.task_id,
        at_ms: stored.at_ms,
        event: stored.event,
    };
    Ok(LoggedEvent { id, record })
}
