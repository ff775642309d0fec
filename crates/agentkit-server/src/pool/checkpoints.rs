//! The store a session's run sees: checkpoints wait for the session's events.

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::{
    Enqueued, FencingToken, Lease, NewTask, StoreError, TaskRecord, TaskResult, TaskState,
    TaskStore,
};
use agentkit_core::task::TaskId;
use async_trait::async_trait;

use super::events::SessionSink;

/// The longest a checkpoint waits for the run log to take the events before
/// it (a failing log must not stall the run).
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// The pool's store as one session uses it: a checkpoint is saved only once
/// every event the session emitted before it is in the run log, so whoever
/// resumes from that checkpoint finds the transcript whole up to it. Every
/// other operation goes straight to the store.
pub(super) struct EventsBeforeCheckpoints {
    pub store: Arc<dyn TaskStore>,
    pub sink: Arc<SessionSink>,
}

#[async_trait]
impl TaskStore for EventsBeforeCheckpoints {
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError> {
        self.store.enqueue(new).await
    }

    async fn lease(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<Option<Lease>, StoreError> {
        self.store.lease(worker, ttl, now_ms).await
    }

    async fn lease_many(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
        max: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        self.store.lease_many(worker, ttl, now_ms, max).await
    }

    async fn heartbeat(
        &self,
        id: &TaskId,
        token: FencingToken,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        self.store.heartbeat(id, token, ttl, now_ms).await
    }

    async fn save_checkpoint(
        &self,
        id: &TaskId,
        token: FencingToken,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.sink.flush(FLUSH_LIMIT).await;
        self.store.save_checkpoint(id, token, bytes).await
    }

    async fn complete(
        &self,
        id: &TaskId,
        token: FencingToken,
        result: TaskResult,
    ) -> Result<(), StoreError> {
        self.store.complete(id, token, result).await
    }

    async fn fail(
        &self,
        id: &TaskId,
        token: FencingToken,
        error: String,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.store.fail(id, token, error, retry_at_ms).await
    }

    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        self.store.cancel(id).await
    }

    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        self.store.get(id).await
    }

    async fn list(&self, filter: Option<TaskState>) -> Result<Vec<TaskRecord>, StoreError> {
        self.store.list(filter).await
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.store.wait_for_work(timeout).await;
    }
}
