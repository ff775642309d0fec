//! A worker: lease a task, keep the lease alive, run it, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::disposition::{Disposition, disposition};
use crate::agent::Agent;
use crate::event::now_ms;
use crate::outcome::{Outcome, StopReason};
use crate::sandbox::{SandboxProvider, SandboxSpec};
use crate::store::{FencingToken, Lease, StoreError, TaskResult, TaskStore};
use crate::task::{Task, TaskId};

/// Builds the sandbox spec for a task (repository, setup script, policy).
pub type SpecFor = Arc<dyn Fn(&Task) -> SandboxSpec + Send + Sync>;

/// Why a worker could not process a lease.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The store failed.
    #[error("task store error: {0}")]
    Store(#[from] StoreError),
    /// The lease was lost while the task ran (expired and taken over, or the
    /// task was cancelled); nothing was recorded for this run.
    #[error("lost the lease on task `{task}` while running it; its result was discarded: {reason}")]
    LeaseLost {
        /// The task.
        task: TaskId,
        /// What the store said.
        reason: String,
    },
}

/// Takes tasks from a [`TaskStore`] and runs them with an [`Agent`], one at a time.
///
/// For each lease: a heartbeat keeps the lease alive (every third of the TTL);
/// if the store says the lease is gone (expired and taken over, or the task
/// cancelled), the run is cancelled and its result is not written. Otherwise
/// the outcome is recorded by its [`disposition`]: completed (successfully or
/// not), failed with a retry after `retry_delay`, or failed for good.
///
/// Runs start from scratch on every attempt: a fresh sandbox is a fresh
/// clone, so replaying an earlier attempt's conversation into it would
/// describe edits that are not there.
pub struct Worker {
    name: String,
    store: Arc<dyn TaskStore>,
    agent: Arc<Agent>,
    provider: Arc<dyn SandboxProvider>,
    spec_for: SpecFor,
    lease_ttl: Duration,
    retry_delay: Duration,
    idle_poll: Duration,
}

impl Worker {
    /// A worker called `name` (it appears in leases) with a 60 s lease TTL,
    /// 30 s retry delay and 1 s idle poll.
    pub fn new(
        name: impl Into<String>,
        store: Arc<dyn TaskStore>,
        agent: Arc<Agent>,
        provider: Arc<dyn SandboxProvider>,
        spec_for: SpecFor,
    ) -> Self {
        Self {
            name: name.into(),
            store,
            agent,
            provider,
            spec_for,
            lease_ttl: Duration::from_secs(60),
            retry_delay: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
        }
    }

    /// Sets the lease TTL (heartbeats run every third of it).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets how long a retried task waits before it can be leased again.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Sets how long [`Worker::run`] sleeps when the queue is empty.
    pub fn idle_poll(mut self, poll: Duration) -> Self {
        self.idle_poll = poll;
        self
    }

    /// Processes tasks until `cancel` fires. Store errors are logged and
    /// retried after the idle poll; a cancelled run is handed back for retry.
    pub async fn run(&self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.run_next(cancel.clone()).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(err) => tracing::warn!(worker = %self.name, error = %err, "task not recorded"),
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(self.idle_poll) => {}
            }
        }
    }

    /// Leases one task and runs it. `Ok(None)` when nothing is ready.
    pub async fn run_next(
        &self,
        cancel: CancellationToken,
    ) -> Result<Option<Outcome>, WorkerError> {
        let Some(lease) = self
            .store
            .lease(&self.name, self.lease_ttl, now_ms())
            .await?
        else {
            return Ok(None);
        };
        let id = lease.task.id.clone();
        let token = lease.token;
        let run_cancel = cancel.child_token();
        let lost = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            id.clone(),
            token,
            self.lease_ttl,
            run_cancel.clone(),
            lost.clone(),
        ));
        let outcome = self.execute(lease, run_cancel.clone()).await;
        heartbeat.abort();
        if lost.is_cancelled() {
            return Err(WorkerError::LeaseLost {
                task: id,
                reason: "the store refused a heartbeat".into(),
            });
        }
        self.record(&id, token, &outcome).await?;
        Ok(Some(outcome))
    }

    async fn execute(&self, lease: Lease, cancel: CancellationToken) -> Outcome {
        let spec = (self.spec_for)(&lease.task);
        match self.provider.create(&spec).await {
            Ok(sandbox) => {
                let outcome = self.agent.run(lease.task, sandbox.clone(), cancel).await;
                if let Err(err) = sandbox.close().await {
                    tracing::warn!(error = %err, sandbox = sandbox.id(), "closing the sandbox failed");
                }
                outcome
            }
            Err(err) => Outcome {
                task_id: lease.task.id,
                stop_reason: StopReason::EnvironmentFailed {
                    message: format!("could not create the sandbox: {err}"),
                },
                steps: 0,
                usage: Default::default(),
                cost: Default::default(),
                duration: Duration::ZERO,
                verification: None,
                pull_request: None,
            },
        }
    }

    async fn record(
        &self,
        id: &TaskId,
        token: FencingToken,
        outcome: &Outcome,
    ) -> Result<(), WorkerError> {
        let reason = &outcome.stop_reason;
        let written = match disposition(reason) {
            Disposition::Complete { success } => {
                let summary = match reason {
                    StopReason::Finished { summary } => summary.clone(),
                    other => other.to_string(),
                };
                let result = TaskResult {
                    summary,
                    pull_request_url: outcome.pull_request.as_ref().map(|pr| pr.url.clone()),
                    success,
                };
                self.store.complete(id, token, result).await
            }
            Disposition::Retry => {
                let at = now_ms().saturating_add(self.retry_delay.as_millis() as u64);
                self.store
                    .fail(id, token, reason.to_string(), Some(at))
                    .await
            }
            Disposition::GiveUp => self.store.fail(id, token, reason.to_string(), None).await,
        };
        written.map_err(|err| {
            if err.ownership_lost() {
                WorkerError::LeaseLost {
                    task: id.clone(),
                    reason: err.to_string(),
                }
            } else {
                WorkerError::Store(err)
            }
        })
    }
}

/// Extends the lease every third of its TTL. When the store says the lease
/// is gone, marks `lost` and cancels the run. Passing store errors are retried
/// at the next beat.
async fn heartbeat(
    store: Arc<dyn TaskStore>,
    id: TaskId,
    token: FencingToken,
    ttl: Duration,
    run: CancellationToken,
    lost: CancellationToken,
) {
    let every = (ttl / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        match store.heartbeat(&id, token, ttl, now_ms()).await {
            Ok(_) => {}
            Err(err) if err.ownership_lost() => {
                tracing::warn!(task = %id, error = %err, "lease lost; cancelling the run");
                lost.cancel();
                run.cancel();
                return;
            }
            Err(err) => tracing::warn!(task = %id, error = %err, "heartbeat failed; will retry"),
        }
    }
}
