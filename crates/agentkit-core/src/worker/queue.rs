//! A worker: lease a task, keep the lease alive, run it, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::disposition::{Disposition, disposition};
use super::guard::{LeaseLoss, LeaseWatch, guard_lease};
use super::resume::run_lease;
use crate::agent::{Agent, RunControl};
use crate::event::now_ms;
use crate::outcome::{Outcome, StopReason};
use crate::sandbox::{SandboxProvider, SandboxSpec};
use crate::store::{FencingToken, StoreError, TaskResult, TaskStore};
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
/// For each lease: a heartbeat keeps the lease alive (every third of the TTL)
/// and the entry is read every `cancel_poll` (1 s); if the store says the
/// lease is gone (expired and taken over, or the task cancelled, possibly by
/// another process), the run is cancelled and its result is not written.
/// Otherwise the outcome is recorded by its [`disposition`]: completed
/// (successfully or not), failed with a retry after `retry_delay`, or failed
/// for good.
///
/// Every turn is checkpointed into the store, workspace changes included, and
/// a retried or taken-over lease continues from the last checkpoint in a fresh
/// sandbox ([`run_lease`]; see [`super::resume`]).
pub struct Worker {
    name: String,
    store: Arc<dyn TaskStore>,
    agent: Arc<Agent>,
    provider: Arc<dyn SandboxProvider>,
    spec_for: SpecFor,
    lease_ttl: Duration,
    retry_delay: Duration,
    idle_poll: Duration,
    cancel_poll: Duration,
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
            cancel_poll: Duration::from_secs(1),
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

    /// Sets how often a running task's entry is read to notice a cancel.
    pub fn cancel_poll(mut self, poll: Duration) -> Self {
        self.cancel_poll = poll;
        self
    }

    /// Sets how long [`Worker::run`] waits for work when the queue is empty.
    pub fn idle_poll(mut self, poll: Duration) -> Self {
        self.idle_poll = poll;
        self
    }

    /// Processes tasks until `cancel` fires, waiting with
    /// [`TaskStore::wait_for_work`] when the queue is empty. Store errors are
    /// logged and retried after the idle poll; a cancelled run is handed back
    /// for retry.
    pub async fn run(&self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.run_next(cancel.clone()).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(err) => tracing::warn!(worker = %self.name, error = %err, "task not recorded"),
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.store.wait_for_work(self.idle_poll) => {}
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
        let watch = LeaseWatch::new(run_cancel.clone());
        let guard = tokio::spawn(guard_lease(
            self.store.clone(),
            id.clone(),
            token,
            self.lease_ttl,
            self.cancel_poll,
            watch.clone(),
        ));
        let spec = (self.spec_for)(&lease.task);
        let outcome = run_lease(
            &self.agent,
            self.provider.as_ref(),
            &spec,
            self.store.clone(),
            lease,
            RunControl::new(run_cancel),
            watch.clone(),
        )
        .await;
        guard.abort();
        if let Some(loss) = watch.loss() {
            return Err(WorkerError::LeaseLost {
                task: id,
                reason: match loss {
                    LeaseLoss::Cancelled => "the task was cancelled".into(),
                    LeaseLoss::Lost { reason } => reason,
                },
            });
        }
        record_outcome(self.store.as_ref(), &id, token, &outcome, self.retry_delay).await?;
        Ok(Some(outcome))
    }
}

/// Records how a run ended by its [`disposition`]: completed (successfully or
/// not), failed with a retry `retry_delay` from now, or failed for good. A
/// refusal because the lease is gone is [`WorkerError::LeaseLost`].
pub async fn record_outcome(
    store: &dyn TaskStore,
    id: &TaskId,
    token: FencingToken,
    outcome: &Outcome,
    retry_delay: Duration,
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
            store.complete(id, token, result).await
        }
        Disposition::Retry => {
            let at = now_ms().saturating_add(retry_delay.as_millis() as u64);
            store.fail(id, token, reason.to_string(), Some(at)).await
        }
        Disposition::GiveUp => store.fail(id, token, reason.to_string(), None).await,
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
