//! [`Runner`]: N sessions at once, leased from the task store, their events
//! into the run log and out to live subscribers.
//!
//! Each lease runs in a fresh sandbox; a heartbeat keeps the lease alive
//! (every third of the TTL) and cancels the run when the store says the task
//! is no longer ours (cancelled, or taken over). Cancelling through
//! [`Workers::cancel`] marks the entry and stops the session at once. The
//! outcome is recorded by its [`disposition`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::event::{EventSink, now_ms};
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::SandboxProvider;
use agentkit_core::store::{FencingToken, Lease, StoreError, TaskResult, TaskStore, lease_expiry};
use agentkit_core::task::TaskId;
use agentkit_core::worker::{Disposition, disposition, run_task};
use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::logsink::LogSink;
use super::session::SessionFactory;
use super::workers::{LiveEvent, Workers};
use crate::runlog::RunLog;

/// How the runner works.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Name in leases.
    pub worker_name: String,
    /// Sessions at once.
    pub concurrency: usize,
    /// Lease TTL.
    pub lease_ttl: Duration,
    /// Delay before a retried attempt.
    pub retry_delay: Duration,
}

struct Inner {
    config: RunnerConfig,
    store: Arc<dyn TaskStore>,
    log: Arc<dyn RunLog>,
    provider: Arc<dyn SandboxProvider>,
    factory: Arc<dyn SessionFactory>,
    redactor: Redactor,
    live: broadcast::Sender<LiveEvent>,
    running: Mutex<HashMap<TaskId, CancellationToken>>,
    stop: CancellationToken,
}

/// Runs leased tasks; see the [module documentation](self).
pub struct Runner {
    inner: Arc<Inner>,
    loops: Mutex<JoinSet<()>>,
}

impl Runner {
    /// Starts `config.concurrency` lease loops.
    pub fn start(
        config: RunnerConfig,
        store: Arc<dyn TaskStore>,
        log: Arc<dyn RunLog>,
        provider: Arc<dyn SandboxProvider>,
        factory: Arc<dyn SessionFactory>,
        redactor: Redactor,
    ) -> Self {
        let inner = Arc::new(Inner {
            live: broadcast::channel(4096).0,
            running: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
            config,
            store,
            log,
            provider,
            factory,
            redactor,
        });
        let mut loops = JoinSet::new();
        for _ in 0..inner.config.concurrency.max(1) {
            loops.spawn(lease_loop(inner.clone()));
        }
        Self {
            inner,
            loops: Mutex::new(loops),
        }
    }

    /// Stops leasing, cancels running sessions (they are handed back to the
    /// queue for a later attempt) and waits for the loops to end.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let loops = self
            .loops
            .lock()
            .map(|mut set| std::mem::take(&mut *set))
            .ok();
        if let Some(mut loops) = loops {
            while loops.join_next().await.is_some() {}
        }
    }
}

#[async_trait]
impl Workers for Runner {
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        self.inner.store.cancel(id).await?;
        if let Ok(running) = self.inner.running.lock()
            && let Some(token) = running.get(id)
        {
            token.cancel();
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.live.subscribe()
    }

    fn running(&self) -> Vec<TaskId> {
        self.inner
            .running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }
}

async fn lease_loop(inner: Arc<Inner>) {
    while !inner.stop.is_cancelled() {
        let leased = inner
            .store
            .lease(&inner.config.worker_name, inner.config.lease_ttl, now_ms())
            .await;
        match leased {
            Ok(Some(lease)) => run_lease(&inner, lease).await,
            Ok(None) => {
                tokio::select! {
                    _ = inner.stop.cancelled() => break,
                    _ = inner.store.wait_for_work(Duration::from_secs(1)) => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "leasing failed; trying again in a second");
                tokio::select! {
                    _ = inner.stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

async fn run_lease(inner: &Arc<Inner>, lease: Lease) {
    let id = lease.task.id.clone();
    let token = lease.token;
    let cancel = inner.stop.child_token();
    if let Ok(mut running) = inner.running.lock() {
        running.insert(id.clone(), cancel.clone());
    }
    let sink = LogSink::start(
        id.clone(),
        inner.log.clone(),
        inner.live.clone(),
        inner.redactor.clone(),
    );
    let heartbeat = tokio::spawn(heartbeat(inner.clone(), id.clone(), token, cancel.clone()));
    let outcome = match inner
        .factory
        .agent(&lease.task, vec![sink.clone() as Arc<dyn EventSink>])
    {
        Ok(agent) => {
            let spec = inner.factory.spec(&lease.task);
            run_task(
                &agent,
                inner.provider.as_ref(),
                &spec,
                lease.task,
                cancel.clone(),
            )
            .await
            .unwrap_or_else(|err| failed(&id, format!("could not create the sandbox: {err}")))
        }
        Err(message) => failed(&id, message),
    };
    heartbeat.abort();
    sink.flush().await;
    if let Ok(mut running) = inner.running.lock() {
        running.remove(&id);
    }
    if let Err(err) = record(inner, &id, token, &outcome).await {
        tracing::warn!(task = %id, error = %err, "the outcome was not recorded");
    }
}

fn failed(id: &TaskId, message: String) -> Outcome {
    Outcome {
        task_id: id.clone(),
        stop_reason: StopReason::EnvironmentFailed { message },
        steps: 0,
        usage: Default::default(),
        cost: Default::default(),
        duration: Duration::ZERO,
        verification: None,
        pull_request: None,
    }
}

async fn heartbeat(inner: Arc<Inner>, id: TaskId, token: FencingToken, cancel: CancellationToken) {
    let every = inner.config.lease_ttl / 3;
    loop {
        tokio::time::sleep(every).await;
        match inner
            .store
            .heartbeat(&id, token, inner.config.lease_ttl, now_ms())
            .await
        {
            Ok(_) => {}
            Err(err) if err.ownership_lost() => {
                tracing::info!(task = %id, reason = %err, "stopping the session");
                cancel.cancel();
                return;
            }
            Err(err) => tracing::warn!(task = %id, error = %err, "heartbeat failed"),
        }
    }
}

async fn record(
    inner: &Inner,
    id: &TaskId,
    token: FencingToken,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let reason = &outcome.stop_reason;
    match disposition(reason) {
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
            inner.store.complete(id, token, result).await
        }
        Disposition::Retry => {
            let at = lease_expiry(now_ms(), inner.config.retry_delay);
            inner
                .store
                .fail(id, token, reason.to_string(), Some(at))
                .await
        }
        Disposition::GiveUp => inner.store.fail(id, token, reason.to_string(), None).await,
    }
}
