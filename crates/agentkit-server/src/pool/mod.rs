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

mod events;
mod leasing;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::agent::Agent;
use agentkit_core::event::EventSink;
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::{SandboxProvider, SandboxSpec};
use agentkit_core::store::{StoreError, TaskStore};
use agentkit_core::task::{Task, TaskId};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast, watch};
use tokio_util::task::TaskTracker;

use crate::runlog::{LoggedEvent, RunLog};
use events::EventWriter;
use session::{Slot, StopCause};

/// How a [`WorkerPool`] runs. Build it with [`PoolConfig::new`] or
/// `PoolConfig { worker_name, .., ..Default::default() }`: fields may be added.
#[derive(Debug, Clone)]
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
    /// Redacts every event before it reaches the [`RunLog`] and subscribers
    /// (default: token shapes and the values of the usual secret variables).
    pub redactor: Redactor,
    /// Live events kept for slow subscribers before they lag (and must catch
    /// up from the [`RunLog`]).
    pub live_capacity: usize,
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
            redactor: Redactor::new().with_env_secrets(),
            live_capacity: 4096,
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
#[async_trait::async_trait]
pub trait SessionFactory: Send + Sync {
    /// The agent for `task`. It must emit its events to `sinks` (add them with
    /// [`AgentBuilder::shared_sink`](agentkit_core::agent::AgentBuilder::shared_sink)):
    /// that is how the run reaches the [`RunLog`] and live subscribers.
    /// An error fails the task for good with that message (a configuration
    /// problem an operator must fix).
    fn agent(&self, task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String>;

    /// The sandbox `task` runs in (async: deciding it may read the
    /// repository, e.g. its declared setup).
    async fn spec(&self, task: &Task) -> SandboxSpec;

    /// A session of `task` starts, its `attempt`-th lease (from 1). Called
    /// after [`agent`](Self::agent) succeeded; must not block (spawn any IO).
    /// Default: nothing.
    fn started(&self, _task: &Task, _attempt: u32) {}

    /// The session's end was written to the store: the task completed,
    /// failed, or waits for a retry (read the store for which). Not called
    /// when the session was cancelled, lost its lease or was handed back at
    /// shutdown. Must not block (spawn any IO). Default: nothing.
    fn recorded(&self, _task: &Task) {}
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

/// What the leasing loop, the sessions and the handle share.
struct Shared {
    config: PoolConfig,
    store: Arc<dyn TaskStore>,
    provider: Arc<dyn SandboxProvider>,
    factory: Arc<dyn SessionFactory>,
    events: EventWriter,
    running: Mutex<HashMap<TaskId, Slot>>,
    status: watch::Sender<PoolStatus>,
    /// Fired by shutdown: no new leases.
    stopping: CancellationToken,
    sessions: TaskTracker,
}

impl Shared {
    /// Sets the status unless the pool is stopping.
    fn set_status(&self, status: PoolStatus) {
        self.status.send_if_modified(|current| {
            let keep = matches!(current, PoolStatus::Stopping | PoolStatus::Stopped);
            let changed = !keep && *current != status;
            if changed {
                *current = status;
            }
            changed
        });
    }
}

impl WorkerPool {
    /// Starts leasing from `store` (on the current tokio runtime; call it
    /// inside one) and returns the handle that controls the pool.
    pub fn start(
        config: PoolConfig,
        store: Arc<dyn TaskStore>,
        log: Arc<dyn RunLog>,
        provider: Arc<dyn SandboxProvider>,
        factory: Arc<dyn SessionFactory>,
    ) -> PoolHandle {
        let (live, _) = broadcast::channel(config.live_capacity.max(1));
        let events = EventWriter::start(log, config.redactor.clone(), live.clone());
        let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let shared = Arc::new(Shared {
            config,
            store,
            provider,
            factory,
            events,
            running: Mutex::new(HashMap::new()),
            status: watch::Sender::new(PoolStatus::Leasing),
            stopping: CancellationToken::new(),
            sessions: TaskTracker::new(),
        });
        let leasing = tokio::spawn(leasing::run(shared.clone(), slots));
        PoolHandle {
            shared,
            live,
            leasing,
        }
    }
}

/// Controls a running [`WorkerPool`]. Dropping it without
/// [`shutdown`](Self::shutdown) leaves the pool running until the runtime ends.
pub struct PoolHandle {
    shared: Arc<Shared>,
    live: broadcast::Sender<LiveEvent>,
    leasing: tokio::task::JoinHandle<()>,
}

impl PoolHandle {
    /// Cancels `id` in the store (so no worker anywhere runs it again) and, if
    /// it runs in this pool, stops its session at once: a tool or model call
    /// in flight is interrupted and nothing more is recorded. Sessions of
    /// other processes notice within their `cancel_poll`.
    pub async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        self.shared.store.cancel(id).await?;
        if let Ok(running) = self.shared.running.lock()
            && let Some(slot) = running.get(id)
        {
            let _ = slot.cause.set(StopCause::Cancelled);
            slot.cancel.cancel();
        }
        Ok(())
    }

    /// Every event of every session from now on, after it reached the
    /// [`RunLog`]. A subscriber that lags gets `RecvError::Lagged` and catches
    /// up with [`RunLog::read`] from the last id it saw.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// The tasks running in this pool.
    pub fn running(&self) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = self
            .shared
            .running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        ids
    }

    /// What the pool is doing.
    pub fn status(&self) -> PoolStatus {
        self.shared.status.borrow().clone()
    }

    /// The status as it changes (for a daemon that shows it live).
    pub fn watch_status(&self) -> watch::Receiver<PoolStatus> {
        self.shared.status.subscribe()
    }

    /// Stops the pool within `shutdown_grace` (plus a second for the last
    /// writes):
    /// 1. no new leases;
    /// 2. every running session stops at its next step boundary, after that
    ///    step's checkpoint; a session still inside a step when three quarters
    ///    of the grace period have passed is interrupted (a tool call in
    ///    flight is then answered "interrupted" when the task resumes);
    /// 3. each stopped session hands its lease back (`fail` with a retry at
    ///    once), so another worker resumes it from its checkpoint;
    /// 4. the events emitted so far reach the [`RunLog`].
    pub async fn shutdown(self) {
        let shared = &self.shared;
        let started = tokio::time::Instant::now();
        let grace = shared.config.shutdown_grace;
        shared.set_status(PoolStatus::Stopping);
        shared.stopping.cancel();
        // The loop stops at once, unless a lease call is in flight: its
        // session then starts paused, so it is handed back below.
        let mut leasing = self.leasing;
        if tokio::time::timeout(grace / 4, &mut leasing).await.is_err() {
            tracing::warn!("the leasing loop is stuck in the task store; abandoning it");
            leasing.abort();
        }
        shared.sessions.close();
        let slots: Vec<(CancellationToken, CancellationToken)> = shared
            .running
            .lock()
            .map(|running| {
                running
                    .values()
                    .map(|slot| {
                        let _ = slot.cause.set(StopCause::Shutdown);
                        (slot.pause.clone(), slot.cancel.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (pause, _) in &slots {
            pause.cancel();
        }
        let patient = started + grace.mul_f32(0.75);
        if tokio::time::timeout_at(patient, shared.sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions did not reach a checkpoint in time; interrupting them");
            if let Ok(running) = shared.running.lock() {
                for slot in running.values() {
                    let _ = slot.cause.set(StopCause::Shutdown);
                    slot.cancel.cancel();
                }
            }
            let last = started + grace;
            if tokio::time::timeout_at(last, shared.sessions.wait())
                .await
                .is_err()
            {
                tracing::error!("sessions did not stop within the shutdown grace period");
            }
        }
        let deadline = started + grace + Duration::from_secs(1);
        shared.events.close(deadline).await;
        shared.status.send_replace(PoolStatus::Stopped);
        tracing::info!("worker pool stopped");
    }
}
