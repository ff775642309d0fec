//! Keeping a lease alive and noticing when it is gone.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::now_ms;
use crate::store::{FencingToken, StoreError, TaskState, TaskStore};
use crate::task::TaskId;

/// Why a worker no longer owns a running task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseLoss {
    /// The task was cancelled (through the store, possibly by another process).
    Cancelled,
    /// The lease expired and another worker took the task over, or the entry
    /// changed under the worker.
    Lost {
        /// What the store said.
        reason: String,
    },
}

/// Shared between a run and what watches its lease: the first loss reported
/// is kept, and it cancels the run.
#[derive(Debug, Clone)]
pub struct LeaseWatch {
    inner: Arc<WatchInner>,
}

#[derive(Debug)]
struct WatchInner {
    loss: OnceLock<LeaseLoss>,
    run: CancellationToken,
}

impl LeaseWatch {
    /// A watch that cancels `run` when the lease is lost.
    pub fn new(run: CancellationToken) -> Self {
        Self {
            inner: Arc::new(WatchInner {
                loss: OnceLock::new(),
                run,
            }),
        }
    }

    /// Records `loss` (the first report wins) and cancels the run.
    pub fn report(&self, loss: LeaseLoss) {
        let _ = self.inner.loss.set(loss);
        self.inner.run.cancel();
    }

    /// Records the loss a store error means, if it means one (`Backend`
    /// errors do not). Returns whether it did.
    pub fn report_error(&self, error: &StoreError) -> bool {
        if !error.ownership_lost() {
            return false;
        }
        self.report(match error {
            StoreError::InvalidTransition {
                from: TaskState::Cancelled,
                ..
            } => LeaseLoss::Cancelled,
            other => LeaseLoss::Lost {
                reason: other.to_string(),
            },
        });
        true
    }

    /// The loss, once one was reported.
    pub fn loss(&self) -> Option<LeaseLoss> {
        self.inner.loss.get().cloned()
    }
}

/// Heartbeats the lease every third of `ttl` and reads the entry every
/// `poll`, reporting to `watch` when the task was cancelled or the lease lost.
/// Passing store errors are logged and retried at the next tick. Runs until
/// aborted or a loss is found.
pub async fn guard_lease(
    store: Arc<dyn TaskStore>,
    id: TaskId,
    token: FencingToken,
    ttl: Duration,
    poll: Duration,
    watch: LeaseWatch,
) {
    let beat_every = (ttl / 3).max(Duration::from_millis(10));
    let tick = poll.min(beat_every).max(Duration::from_millis(10));
    let mut last_beat = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        if last_beat.elapsed() >= beat_every {
            match store.heartbeat(&id, token, ttl, now_ms()).await {
                Ok(_) => last_beat = tokio::time::Instant::now(),
                Err(err) if watch.report_error(&err) => {
                    tracing::warn!(task = %id, error = %err, "lease lost; stopping the run");
                    return;
                }
                Err(err) => {
                    tracing::warn!(task = %id, error = %err, "heartbeat failed; will retry")
                }
            }
        }
        match store.get(&id).await {
            Ok(Some(record)) if record.state == TaskState::Cancelled => {
                watch.report(LeaseLoss::Cancelled);
                return;
            }
            Ok(Some(record)) if record.token != token || record.state != TaskState::Leased => {
                watch.report(LeaseLoss::Lost {
                    reason: format!(
                        "the task is {} under token {} (this worker holds {token})",
                        record.state, record.token
                    ),
                });
                return;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                watch.report(LeaseLoss::Lost {
                    reason: "the task is no longer in the store".into(),
                });
                return;
            }
            Err(err) => {
                tracing::debug!(task = %id, error = %err, "reading the task's state failed")
            }
        }
    }
}
