//! The worker pool: N sessions per process, each running one leased task in
//! its own sandbox, resumed from the task's last checkpoint.
//!
//! ```text
//!  leasing loop ── waits for a free slot, then TaskStore::lease
//!      │            (idle: TaskStore::wait_for_work; store down: back off, status says why)
//!      ▼
//!  session (one per lease, in its own tokio task)
//!      ├─ guard: heartbeat every lease_ttl/3, store state polled every cancel_poll
//!      ├─ factory.agent(task, [event sink]) + provider.create(factory.spec(task))
//!      ├─ agentkit_core::worker::run_lease: restore the checkpoint, run or resume,
//!      │  checkpoint every turn into the store
//!      └─ record by disposition / hand back on shutdown / nothing when cancelled or lost
//!  event writer ── every session's events, redacted, appended to the RunLog in
//!                  order, then broadcast as LiveEvents
//! ```
//!
//! Start it with [`WorkerPool::start`]; the [`PoolHandle`] cancels tasks,
//! streams live events, reports [`PoolStatus`] and shuts the pool down.

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::agent::Agent;
use agentkit_core::event::EventSink;
use agentkit_core::sandbox::{SandboxProvider, SandboxSpec};
use agentkit_core::store::{StoreError, TaskStore};
use agentkit_core::task::{Task, TaskId};
use serde::{Deserialize, Serialize};

use crate::runlog::{LoggedEvent, RunLog};

/// How a [`WorkerPool`] runs. Build it with [`PoolConfig::new`] or
/// `PoolConfig { worker_name, .., ..Default::default() }`: fields may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The name leases are taken under (unique per process: host and pid).
    pub worker_name: String,
    /// Sessions running at once (at least 1).
    pub concurrency: usize,
    /// Lease TTL; heartbeats run every third of it.
    pub lease_ttl: Duration,
    /// How long a task that failed for a passing reason waits before its retry.
    pub retry_delay: Duration,
    /// How long [`PoolHandle::shutdown`] lets running sessions reach their next
    /// checkpoint before it interrupts them.
    pub shutdown_grace: Duration,
    /// The longest the leasing loop waits in [`TaskStore::wait_for_work`]
    /// before it tries to lease again (tasks whose `run_at` arrives are found
    /// after at most this long on stores without notifications).
    pub idle_wait: Duration,
    /// How often a session reads its task's state from the store, to notice a
    /// cancel made by another process.
    pub cancel_poll: Duration,
    /// The longest pause between lease attempts while the store fails.
    pub max_backoff: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            worker_name: default_worker_name(),
            concurrency: 4,
            lease_ttl: Duration::from_secs(60),
            retry_delay: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            idle_wait: Duration::from_secs(1),
            cancel_poll: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl PoolConfig {
    /// The defaults, leasing as `worker_name`.
    pub fn new(worker_name: impl Into<String>) -> Self {
        Self {
            worker_name: worker_name.into(),
            ..Self::default()
        }
    }
}

/// `agentd-<host>-<pid>`.
fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("agentd-{host}-{}", std::process::id())
}

/// Builds what one task runs with. The pool calls it once per lease.
pub trait SessionFactory: Send + Sync {
    /// The agent for `task`. It must emit its events to `sinks` (add them with
    /// [`AgentBuilder::shared_sink`](agentkit_core::agent::AgentBuilder::shared_sink)):
    /// that is how the run reaches the [`RunLog`] and live subscribers.
    /// An error fails the task for good with that message (a configuration
    /// problem an operator must fix).
    fn agent(&self, task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String>;

    /// The sandbox `task` runs in.
    fn spec(&self, task: &Task) -> SandboxSpec;
}

/// One event of a running task, as broadcast by [`PoolHandle::subscribe`]:
/// already appended to the [`RunLog`] under `event.id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// The task.
    pub task: TaskId,
    /// The event and its id in the task's log.
    pub event: LoggedEvent,
}

/// What the pool is doing, for the daemon to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PoolStatus {
    /// Taking tasks (or waiting for one).
    Leasing,
    /// Not leasing: the store failed; the next attempt is after `retry_in_ms`.
    BackingOff {
        /// The store's error.
        reason: String,
        /// When the failures began (ms since the Unix epoch).
        since_ms: u64,
        /// How long until the next attempt, in milliseconds.
        retry_in_ms: u64,
    },
    /// Shutting down: no new leases; running sessions are stopping.
    Stopping,
    /// Shut down.
    Stopped,
}

/// Runs queued tasks, `concurrency` at a time. See the [module docs](self).
pub struct WorkerPool;

impl WorkerPool {
    /// Starts leasing from `store` (on the current tokio runtime) and returns
    /// the handle that controls the pool.
    pub fn start(
        config: PoolConfig,
        store: Arc<dyn TaskStore>,
        log: Arc<dyn RunLog>,
        provider: Arc<dyn SandboxProvider>,
        factory: Arc<dyn SessionFactory>,
    ) -> PoolHandle {
        let _ = (config, store, log, provider, factory);
        let (live, _) = tokio::sync::broadcast::channel(1024);
        PoolHandle { live }
    }
}

/// Controls a running [`WorkerPool`].
pub struct PoolHandle {
    live: tokio::sync::broadcast::Sender<LiveEvent>,
}

impl PoolHandle {
    /// Cancels `id` in the store and stops its session if it runs here
    /// (within a second).
    pub async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        let _ = id;
        Ok(())
    }

    /// Every event of every session from now on, after it reached the RunLog.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// The tasks running in this pool.
    pub fn running(&self) -> Vec<TaskId> {
        Vec::new()
    }

    /// What the pool is doing.
    pub fn status(&self) -> PoolStatus {
        PoolStatus::Stopped
    }

    /// Stops leasing, lets running sessions reach a checkpoint, hands their
    /// leases back for retry, and returns within the shutdown grace period.
    pub async fn shutdown(self) {}
}
