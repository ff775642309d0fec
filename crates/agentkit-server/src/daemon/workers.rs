//! What the daemon needs from whatever runs the tasks: cancel one, follow
//! every run's events live, say which are running and how the workers fare.
//! The [`PoolHandle`] of this process's [`WorkerPool`](crate::pool::WorkerPool)
//! is one; [`NoWorkers`] serves an API in front of a queue that other
//! processes work on.

use std::sync::Arc;

use agentkit_core::store::{StoreError, TaskStore};
use agentkit_core::task::TaskId;
use async_trait::async_trait;
use tokio::sync::broadcast;

pub use crate::pool::LiveEvent;
use crate::pool::{PoolHandle, PoolStatus};

/// The running side of the daemon, as the API sees it.
///
/// Every event a run emits is appended to the run log *before* it is sent to
/// subscribers, so a subscriber that reads the log after subscribing misses
/// nothing (see [`crate::api::events`]).
#[async_trait]
pub trait Workers: Send + Sync {
    /// Cancels `id`: the store entry becomes `Cancelled` and a running
    /// session stops.
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError>;

    /// Every event appended from now on, for every task.
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent>;

    /// The tasks running in this process.
    fn running(&self) -> Vec<TaskId>;

    /// What the workers are doing (`None`: no workers in this process).
    fn status(&self) -> Option<PoolStatus> {
        None
    }
}

#[async_trait]
impl Workers for PoolHandle {
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        PoolHandle::cancel(self, id).await
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        PoolHandle::subscribe(self)
    }

    fn running(&self) -> Vec<TaskId> {
        PoolHandle::running(self)
    }

    fn status(&self) -> Option<PoolStatus> {
        Some(PoolHandle::status(self))
    }
}

/// A [`Workers`] that runs nothing: cancelling only marks the store entry,
/// and live events are whatever is sent on [`NoWorkers::sender`] (by tests,
/// or by a bridge from the workers' processes).
pub struct NoWorkers {
    store: Arc<dyn TaskStore>,
    live: broadcast::Sender<LiveEvent>,
}

impl NoWorkers {
    /// Over `store`.
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        Self {
            store,
            live: broadcast::channel(1024).0,
        }
    }

    /// The sender subscribers listen to.
    pub fn sender(&self) -> broadcast::Sender<LiveEvent> {
        self.live.clone()
    }
}

#[async_trait]
impl Workers for NoWorkers {
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        self.store.cancel(id).await
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    fn running(&self) -> Vec<TaskId> {
        Vec::new()
    }
}
