//! One session: a leased task run to its end in its own sandbox.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::agent::RunControl;
use agentkit_core::event::now_ms;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::store::{FencingToken, Lease, StoreError};
use agentkit_core::task::TaskId;
use agentkit_core::worker::{
    LeaseLoss, LeaseWatch, WorkerError, guard_lease, record_outcome, run_lease,
};
use tokio::sync::OwnedSemaphorePermit;

use super::Shared;

/// Why the pool itself stopped a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    /// [`PoolHandle::cancel`](super::PoolHandle::cancel): the store already
    /// says `Cancelled`, nothing is recorded.
    Cancelled,
    /// Shutdown: the lease is handed back for an immediate retry.
    Shutdown,
}

/// The pool's grip on a running session.
pub(super) struct Slot {
    /// Interrupts the run at once.
    pub cancel: CancellationToken,
    /// Stops the run at its next step boundary.
    pub pause: CancellationToken,
    /// Why the pool stopped it (first reason wins).
    pub cause: Arc<OnceLock<StopCause>>,
}

/// Removes the session from the running map however it ends.
struct Registered<'a> {
    shared: &'a Shared,
    id: TaskId,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(&self.id);
        }
    }
}

/// Runs `lease` to its end and records it. `permit` is the session's slot in
/// the pool, released when it returns.
pub(super) async fn run(shared: Arc<Shared>, lease: Lease, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    let id = lease.task.id.clone();
    let token = lease.token;
    let cancel = CancellationToken::new();
    let pause = CancellationToken::new();
    let cause = Arc::new(OnceLock::new());
    if let Ok(mut running) = shared.running.lock() {
        running.insert(
            id.clone(),
            Slot {
                cancel: cancel.clone(),
                pause: pause.clone(),
                cause: cause.clone(),
            },
        );
    }
    // Registered first, checked second: a shutdown either sees the slot or
    // is seen here.
    if shared.stopping.is_cancelled() {
        let _ = cause.set(StopCause::Shutdown);
        pause.cancel();
    }
    let _registered = Registered {
        shared: &shared,
        id: id.clone(),
    };
    tracing::info!(task = %id, attempt = lease.attempt, resumed = lease.checkpoint.is_some(), "session started");
    let watch = LeaseWatch::new(cancel.clone());
    let guard = tokio::spawn(guard_lease(
        shared.store.clone(),
        id.clone(),
        token,
        shared.config.lease_ttl,
        shared.config.cancel_poll,
        watch.clone(),
    ));
    let sink = Arc::new(shared.events.sink(id.clone()));
    let agent = match shared.factory.agent(&lease.task, vec![sink.clone()]) {
        Ok(agent) => agent,
        Err(message) => {
            guard.abort();
            let error = format!("the agent for this task could not be built: {message}");
            tracing::error!(task = %id, "{error}");
            let written = shared.store.fail(&id, token, error, None).await;
            if written.is_ok() {
                shared.factory.recorded(&lease.task);
            }
            report_write(&id, written.map_err(WorkerError::from));
            return;
        }
    };
    shared.factory.started(&lease.task, lease.attempt);
    let task = lease.task.clone();
    let spec = shared.factory.spec(&lease.task).await;
    let control = RunControl {
        cancel,
        pause,
        checkpoint: None,
    };
    let outcome = run_lease(
        &agent,
        shared.provider.as_ref(),
        &spec,
        shared.store.clone(),
        lease,
        control,
        watch.clone(),
    )
    .await;
    guard.abort();
    drop(agent);
    let recorded = finish(
        &shared,
        &id,
        token,
        &outcome,
        watch.loss(),
        cause.get().copied(),
    )
    .await;
    if recorded {
        shared.factory.recorded(&task);
    }
}

/// Records how the session ended; true when its outcome was recorded
/// (not for a cancel, a lost lease or a hand-back).
async fn finish(
    shared: &Shared,
    id: &TaskId,
    token: FencingToken,
    outcome: &Outcome,
    loss: Option<LeaseLoss>,
    cause: Option<StopCause>,
) -> bool {
    let stopped = outcome.stop_reason == StopReason::Cancelled;
    match (loss, cause) {
        (Some(LeaseLoss::Cancelled), _) | (None, Some(StopCause::Cancelled)) if stopped => {
            tracing::info!(task = %id, "session stopped: the task was cancelled");
            false
        }
        (Some(LeaseLoss::Lost { reason }), _) => {
            tracing::warn!(task = %id, %reason, "session stopped: the lease was lost; nothing recorded");
            false
        }
        (None, Some(StopCause::Shutdown)) if stopped => {
            let written = with_retries(|| async {
                let error = "handed back: the worker shut down before the run ended";
                let retry_now = Some(now_ms());
                Ok(shared
                    .store
                    .fail(id, token, error.into(), retry_now)
                    .await?)
            })
            .await;
            report_write(id, written);
            tracing::info!(task = %id, "session handed back for retry at shutdown");
            false
        }
        _ => {
            let delay = shared.config.retry_delay;
            let store = shared.store.as_ref();
            let written = with_retries(|| record_outcome(store, id, token, outcome, delay)).await;
            let recorded = written.is_ok();
            report_write(id, written);
            tracing::info!(task = %id, stop_reason = %outcome.stop_reason, "session ended");
            recorded
        }
    }
}

/// Retries a store write that failed with a backend error, three times.
async fn with_retries<F, Fut>(mut write: F) -> Result<(), WorkerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), WorkerError>>,
{
    let mut result = write().await;
    for pause in [100, 500, 2_000] {
        if !matches!(&result, Err(WorkerError::Store(StoreError::Backend { .. }))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(pause)).await;
        result = write().await;
    }
    result
}

fn report_write(id: &TaskId, written: Result<(), WorkerError>) {
    if let Err(err) = written {
        tracing::warn!(
            task = %id,
            error = %err,
            "the session's end was not recorded; the lease will expire and the task resume from its last checkpoint"
        );
    }
}
