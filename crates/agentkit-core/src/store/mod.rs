//! The durable task queue: [`TaskStore`], its data types and errors.
//!
//! A trigger enqueues a [`Task`]; workers lease entries, heartbeat while they
//! run, checkpoint the run state after every turn, and complete or fail the
//! entry. [`MemoryTaskStore`] keeps everything in memory (tests,
//! single-process use); SQL backends implement the same trait.
//!
//! # Contract
//!
//! - **Idempotent enqueue.** An entry is identified by its task id and by its
//!   idempotency key (the task id when no key is given). Enqueueing again with a
//!   key *or* a task id that is already stored returns that entry with
//!   `created: false` and changes nothing, whatever state it is in: running a
//!   finished ticket again needs a new task id. Keys and task ids share one
//!   namespace, so prefix explicit keys (`gh:owner/repo#7`) if they might
//!   collide with ids.
//! - **Lease order.** [`TaskStore::lease`] takes the ready entry with the highest
//!   `priority`, first enqueued first within a priority. Ready means `Queued`
//!   with `run_at_ms` absent or `<= now_ms`, or `Leased` with a lease that
//!   expired (`expires_at_ms <= now_ms`) and attempts left. Before choosing, it
//!   moves expired leases with no attempts left to `Failed`, so a task that
//!   kills its worker is not retried forever.
//! - **Attempts.** Every lease counts one attempt, including a lease taken over
//!   from an expired one. `max_attempts` bounds them (0 is stored as 1).
//! - **Fencing.** Each lease bumps the entry's [`FencingToken`]; tokens only
//!   grow and are never reused. Every write after a lease ([`heartbeat`],
//!   [`save_checkpoint`], [`complete`], [`fail`]) presents the token and is
//!   refused with [`StoreError::LeaseLost`] unless it is the current one, so a
//!   worker whose lease expired and was taken over cannot overwrite the new
//!   owner's work. A worker whose lease expired but was *not* taken over still
//!   holds the current token; its writes are accepted (a heartbeat revives the
//!   lease).
//! - **Checks, in order**, for a fenced write: the entry exists
//!   ([`StoreError::NotFound`]), the token is current ([`StoreError::LeaseLost`]),
//!   the entry is `Leased` ([`StoreError::InvalidTransition`]).
//! - **Checkpoints** are opaque bytes (the engine's serialized run state). They
//!   survive retries and are handed to the next lease in [`Lease::checkpoint`],
//!   so a resumed run continues where the last one stopped.
//! - **Cancel** moves `Queued` or `Leased` to `Cancelled` and keeps the token,
//!   so the worker still running it gets
//!   `InvalidTransition { from: Cancelled, .. }` on its next write: the signal
//!   to stop. Cancelling a cancelled entry is a no-op; cancelling a succeeded or
//!   failed one is an error.
//! - **Terminal states** (`Succeeded`, `Failed`, `Cancelled`) are never left.
//! - **Time.** Lease decisions use the caller's `now_ms` (milliseconds since
//!   the Unix epoch, see [`now_ms`](crate::event::now_ms)), never a hidden
//!   clock. `created_at_ms`/`updated_at_ms` in a [`TaskRecord`] are bookkeeping
//!   from the store's own clock.
//!
//! [`heartbeat`]: TaskStore::heartbeat
//! [`save_checkpoint`]: TaskStore::save_checkpoint
//! [`complete`]: TaskStore::complete
//! [`fail`]: TaskStore::fail
//!
//! # States
//!
//! ```text
//!                   fail(retry_at: Some), attempts left
//!             ┌───────────────────────────────────────────┐
//!             ▼                                           │
//! enqueue ──► Queued ───── lease (run_at <= now) ────► Leased ──┬── complete ──► Succeeded
//!             │                                        │  ▲     ├── fail ──────► Failed
//!             │                                        └──┘     └── expire ────► Failed
//!             │                            lease after expiry,
//!             │                            attempts left: new token
//!             │
//!             └── cancel ──► Cancelled ◄── cancel ── Leased
//! ```
//!
//! `fail` ends in `Failed` without `retry_at_ms` or with no attempts left;
//! `expire` is a lease that expired on the last attempt, found by the next
//! [`TaskStore::lease`].
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use agentkit_core::prelude::*;
//! use agentkit_core::store::{NewTask, TaskResult, TaskState};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryTaskStore::new();
//! let task = Task::new("T-1", "Fix the parser", "It panics on empty input.", RepoRef::new("."));
//! store.enqueue(NewTask::new(task).priority(5)).await?;
//!
//! let lease = store.lease("worker-1", Duration::from_secs(60), 1_000).await?.unwrap();
//! store.heartbeat(&lease.task.id, lease.token, Duration::from_secs(60), 30_000).await?;
//! store.save_checkpoint(&lease.task.id, lease.token, b"{}".to_vec()).await?;
//! let result = TaskResult { summary: "fixed".into(), pull_request_url: None, success: true };
//! store.complete(&lease.task.id, lease.token, result).await?;
//!
//! let record = store.get(&lease.task.id).await?.unwrap();
//! assert_eq!(record.state, TaskState::Succeeded);
//! # Ok::<(), agentkit_core::store::StoreError>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "conformance")]
pub mod conformance;
mod memory;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::task::{Task, TaskId};

pub use memory::MemoryTaskStore;

/// The durable queue of tasks. See the [module documentation](self) for the
/// contract every implementation keeps.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Adds a task, or returns the entry that already has its idempotency key
    /// or task id (`created: false`, nothing changed).
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError>;

    /// Leases the best ready entry to `worker` until `now_ms + ttl`, or returns
    /// `None` when nothing is ready.
    async fn lease(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<Option<Lease>, StoreError>;

    /// Leases up to `max` ready entries at once, best first (the order
    /// [`lease`](TaskStore::lease) would hand them out in), each exactly as
    /// `lease` would: one attempt and a new token each. Fewer (or none) when
    /// fewer are ready.
    ///
    /// A worker with several free session slots fills them in one round trip
    /// instead of one per slot. The default calls `lease` up to `max` times;
    /// SQL backends override it with one statement. When a later `lease`
    /// fails after some succeeded, the default returns those taken (the
    /// error shows again on the next call).
    async fn lease_many(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
        max: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        let mut leases = Vec::new();
        while leases.len() < max {
            match self.lease(worker, ttl, now_ms).await {
                Ok(Some(lease)) => leases.push(lease),
                Ok(None) => break,
                Err(err) if leases.is_empty() => return Err(err),
                Err(_) => break,
            }
        }
        Ok(leases)
    }

    /// Extends the lease held with `token` to `now_ms + ttl` and returns the
    /// new expiry.
    async fn heartbeat(
        &self,
        id: &TaskId,
        token: FencingToken,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<u64, StoreError>;

    /// Replaces the entry's checkpoint (opaque run-state bytes) under the lease
    /// held with `token`.
    async fn save_checkpoint(
        &self,
        id: &TaskId,
        token: FencingToken,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// Records the run's result and moves the entry to `Succeeded`.
    async fn complete(
        &self,
        id: &TaskId,
        token: FencingToken,
        result: TaskResult,
    ) -> Result<(), StoreError>;

    /// Records `error`; with `retry_at_ms` and attempts left the entry goes back
    /// to `Queued` (ready at `retry_at_ms`), otherwise to `Failed`.
    async fn fail(
        &self,
        id: &TaskId,
        token: FencingToken,
        error: String,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StoreError>;

    /// Moves a `Queued` or `Leased` entry to `Cancelled` (a no-op when it
    /// already is).
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError>;

    /// The entry for `id`, if there is one.
    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError>;

    /// All entries in enqueue order, or only those in state `filter`.
    async fn list(&self, filter: Option<TaskState>) -> Result<Vec<TaskRecord>, StoreError>;

    /// Waits until an entry may have become ready to lease (an enqueue, a
    /// retry, a released lease), or until `timeout` passes, whichever is
    /// first. Workers call it between empty [`lease`](TaskStore::lease)s
    /// instead of polling. Spurious wake-ups are allowed; the default just
    /// sleeps for `timeout`. Backends with a notification channel (an
    /// in-process signal, PostgreSQL's `LISTEN/NOTIFY`) return early.
    async fn wait_for_work(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
}

/// A task to enqueue, with its scheduling options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// The task.
    pub task: Task,
    /// Higher runs first.
    pub priority: i32,
    /// Deduplicates enqueues; the task id when `None`.
    pub idempotency_key: Option<String>,
    /// Not leased before this time (ms since the Unix epoch); ready at once when `None`.
    pub run_at_ms: Option<u64>,
    /// How many leases the task gets in total (0 is stored as 1).
    pub max_attempts: u32,
}

impl NewTask {
    /// Attempts a task gets unless told otherwise.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

    /// `task` at priority 0, ready now, keyed by its id, with
    /// [`DEFAULT_MAX_ATTEMPTS`](Self::DEFAULT_MAX_ATTEMPTS).
    pub fn new(task: Task) -> Self {
        Self {
            task,
            priority: 0,
            idempotency_key: None,
            run_at_ms: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Sets the priority (higher runs first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Delays the first lease until `run_at_ms`.
    pub fn run_at_ms(mut self, run_at_ms: u64) -> Self {
        self.run_at_ms = Some(run_at_ms);
        self
    }

    /// Sets the total number of attempts.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The key this task is deduplicated by.
    pub fn key(&self) -> &str {
        self.idempotency_key.as_deref().unwrap_or(&self.task.id.0)
    }
}

/// What [`TaskStore::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    /// The entry's task id (the existing entry's when `created` is false).
    pub id: TaskId,
    /// False when an entry with the same key or task id was already stored.
    pub created: bool,
}

/// A worker's claim on an entry, returned by [`TaskStore::lease`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The task to run.
    pub task: Task,
    /// Present it on every write for this lease.
    pub token: FencingToken,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The lease ends here unless a heartbeat extends it.
    pub expires_at_ms: u64,
    /// The last checkpoint saved for this task, to resume from.
    pub checkpoint: Option<Vec<u8>>,
}

/// The version of an entry's lease: bumped by every lease, never reused.
/// Token 0 means the entry was never leased.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct FencingToken(pub u64);

impl std::fmt::Display for FencingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting to be leased (possibly not before `run_at_ms`).
    Queued,
    /// A worker holds (or held, if expired) a lease on it.
    Leased,
    /// Completed; the result is recorded. Final.
    Succeeded,
    /// Failed with no retry left. Final.
    Failed,
    /// Cancelled. Final.
    Cancelled,
}

impl TaskState {
    /// The snake_case name, as serialized (and as stored by SQL backends).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Leased => "leased",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the state is final (`Succeeded`, `Failed`, `Cancelled`).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, recorded by [`TaskStore::complete`].
///
/// `success` is the agent's verdict (did it resolve the ticket); the entry is
/// `Succeeded` either way, because the run finished and must not be retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// What the run did, for humans.
    pub summary: String,
    /// The pull request opened or updated, if any.
    pub pull_request_url: Option<String>,
    /// Whether the agent resolved the ticket.
    pub success: bool,
}

/// The current holder of a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The worker name given to [`TaskStore::lease`].
    pub worker: String,
    /// When the lease ends unless extended.
    pub expires_at_ms: u64,
}

/// Everything the store knows about an entry, as returned by
/// [`TaskStore::get`] and [`TaskStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task.
    pub task: Task,
    /// Where it is in its life.
    pub state: TaskState,
    /// Higher runs first.
    pub priority: i32,
    /// The key it is deduplicated by (the task id unless one was given).
    pub idempotency_key: String,
    /// Leases taken so far.
    pub attempts: u32,
    /// Leases allowed in total.
    pub max_attempts: u32,
    /// Not leased before this time, when set.
    pub run_at_ms: Option<u64>,
    /// The current fencing token (0 before the first lease).
    pub token: FencingToken,
    /// The lease, exactly while the state is `Leased` (it may have expired).
    pub lease: Option<LeaseHolder>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// The result, once `Succeeded`.
    pub result: Option<TaskResult>,
    /// When it was enqueued (store clock, ms since the Unix epoch).
    pub created_at_ms: u64,
    /// When it last changed (store clock, ms since the Unix epoch).
    pub updated_at_ms: u64,
}

impl TaskRecord {
    /// The entry's task id.
    pub fn id(&self) -> &TaskId {
        &self.task.id
    }
}

/// A store operation, named in [`StoreError::InvalidTransition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreAction {
    /// [`TaskStore::heartbeat`].
    Heartbeat,
    /// [`TaskStore::save_checkpoint`].
    SaveCheckpoint,
    /// [`TaskStore::complete`].
    Complete,
    /// [`TaskStore::fail`].
    Fail,
    /// [`TaskStore::cancel`].
    Cancel,
}

impl std::fmt::Display for StoreAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Heartbeat => "heartbeat",
            Self::SaveCheckpoint => "save a checkpoint for",
            Self::Complete => "complete",
            Self::Fail => "fail",
            Self::Cancel => "cancel",
        })
    }
}

/// A [`TaskStore`] operation was refused or the backend broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No entry has this task id.
    #[error("task `{id}` is not in the store: check the id, or enqueue the task first")]
    NotFound {
        /// The id looked up.
        id: TaskId,
    },
    /// The presented token is not the entry's current one: the lease expired
    /// and another worker leased the task.
    #[error(
        "lease on task `{id}` was lost (token {presented} presented, {current} is current): \
         stop working on it, another worker owns it now"
    )]
    LeaseLost {
        /// The task.
        id: TaskId,
        /// The token the caller holds.
        presented: FencingToken,
        /// The entry's current token.
        current: FencingToken,
    },
    /// The entry's state does not allow the action.
    #[error("cannot {action} task `{id}` while it is {from}: {}", advice(*.from))]
    InvalidTransition {
        /// The task.
        id: TaskId,
        /// The state it is in.
        from: TaskState,
        /// What was attempted.
        action: StoreAction,
    },
    /// The backend failed (connection, storage, poisoned lock, ...).
    #[error("task store backend failed: {message}")]
    Backend {
        /// What happened.
        message: String,
    },
}

impl StoreError {
    /// Whether the caller no longer owns the task and should stop working on it
    /// (`NotFound`, `LeaseLost`, `InvalidTransition`). `Backend` errors may be
    /// transient: retry the write before giving up.
    pub fn ownership_lost(&self) -> bool {
        !matches!(self, Self::Backend { .. })
    }
}

fn advice(from: TaskState) -> &'static str {
    match from {
        TaskState::Queued => "it is not leased, so stop working on it (lease it to run it)",
        TaskState::Leased => "wait for the lease to end",
        TaskState::Succeeded | TaskState::Failed => {
            "the task is final, stop working on it (enqueue a new task id to run it again)"
        }
        TaskState::Cancelled => "it was cancelled, stop working on it",
    }
}

/// The in-process wake-up behind [`TaskStore::wait_for_work`], for store
/// implementations: [`notify`](Self::notify) after a change that may have made
/// work ready, [`wait`](Self::wait) in `wait_for_work`.
///
/// A notification wakes every worker waiting at that moment *and* leaves one
/// permit, so a worker that found nothing to lease just before the change and
/// starts waiting just after it returns at once instead of sleeping through
/// its timeout (at worst one spurious wake-up, which the contract allows).
#[derive(Debug, Default)]
pub struct WorkSignal {
    notify: tokio::sync::Notify,
}

impl WorkSignal {
    /// Wakes the waiting workers and leaves a permit for the next one.
    pub fn notify(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Returns at the next notification (or at once with a permit left), or
    /// after `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}

/// When a lease of `ttl` taken at `now_ms` ends (saturating).
pub fn lease_expiry(now_ms: u64, ttl: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}
