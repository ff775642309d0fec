//! The worker pool: concurrency, cancel, store failures, the event log.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentkit_core::event::Event;
use agentkit_core::prelude::*;
use agentkit_core::store::{
    Enqueued, FencingToken, Lease, NewTask, StoreError, TaskRecord, TaskResult, TaskState,
};
use agentkit_core::testing::MemoryProvider;
use agentkit_server::pool::{PoolStatus, WorkerPool};
use agentkit_server::runlog::{MemoryRunLog, RunLog};
use common::*;

const SLOW_THEN_FINISH: &str = r#"[
  {"tool_calls":[{"name":"slow","arguments":{}}]},
  {"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}
]"#;

#[tokio::test]
async fn sessions_run_concurrently_up_to_the_configured_number() {
    let store = Arc::new(MemoryTaskStore::new());
    let ids = [
        enqueue(&store, "A").await,
        enqueue(&store, "B").await,
        enqueue(&store, "C").await,
        enqueue(&store, "D").await,
    ];
    // Four sessions share one scripted model: each gets `slow` first, as the
    // first four replies are all `slow` calls.
    let model = script(&format!(
        r#"[{slow},{slow},{slow},{slow},{finish},{finish},{finish},{finish}]"#,
        slow = r#"{"tool_calls":[{"name":"slow","arguments":{}}]}"#,
        finish = r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}"#,
    ));
    let mut factory = Factory::new(model);
    factory.slow = Duration::from_millis(1500);
    let counters = factory.counters.clone();
    let pool = WorkerPool::start(
        config("w", 3),
        store.clone(),
        Arc::new(MemoryRunLog::new()),
        Arc::new(MemoryProvider::new()),
        Arc::new(factory),
    );
    for id in &ids {
        assert_eq!(settled(&store, id).await.state, TaskState::Succeeded);
    }
    pool.shutdown().await;
    assert_eq!((counters.max_running(), counters.slow_runs()), (3, 4));
}

/// Runs one task whose `slow` call takes 10 s and returns the pool once the
/// call is in flight.
async fn pool_in_slow_call(
    store: &Arc<MemoryTaskStore>,
    log: Arc<MemoryRunLog>,
) -> (agentkit_server::pool::PoolHandle, TaskId, Counters) {
    let id = enqueue(store, "T-1").await;
    let factory = Factory::new(script(SLOW_THEN_FINISH));
    let counters = factory.counters.clone();
    let pool = WorkerPool::start(
        config("w", 2),
        store.clone(),
        log,
        Arc::new(MemoryProvider::new()),
        Arc::new(factory),
    );
    until("the slow call to start", || counters.running() == 1).await;
    (pool, id, counters)
}

#[tokio::test]
async fn cancel_through_the_handle_stops_a_running_session_at_once() {
    let store = Arc::new(MemoryTaskStore::new());
    let log = Arc::new(MemoryRunLog::new());
    let (pool, id, counters) = pool_in_slow_call(&store, log.clone()).await;
    assert_eq!(pool.running(), vec![id.clone()]);
    let asked = Instant::now();
    pool.cancel(&id).await.unwrap();
    until("the session to stop", || pool.running().is_empty()).await;
    // The slow call would have taken 10 s.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(counters.running(), 0);
    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!((record.state, record.result), (TaskState::Cancelled, None));
    pool.shutdown().await;
    let events = log.read(&id, 0, 1000).await.unwrap();
    let last = &events.last().unwrap().record.event;
    assert!(
        matches!(last, Event::RunFinished { outcome } if outcome.stop_reason == StopReason::Cancelled),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_cancel_made_through_the_store_by_another_process_stops_the_session() {
    let store = Arc::new(MemoryTaskStore::new());
    let (pool, id, _counters) = pool_in_slow_call(&store, Arc::new(MemoryRunLog::new())).await;
    let asked = Instant::now();
    store.cancel(&id).await.unwrap();
    until("the session to stop", || pool.running().is_empty()).await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().state,
        TaskState::Cancelled
    );
    pool.shutdown().await;
}

/// A store whose backend can be switched off; counts lease attempts.
#[derive(Default)]
struct Flaky {
    inner: MemoryTaskStore,
    dead: AtomicBool,
    leases: AtomicUsize,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                message: "disk I/O error on agentkit.db".into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl TaskStore for Flaky {
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError> {
        self.check()?;
        self.inner.enqueue(new).await
    }
    async fn lease(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<Option<Lease>, StoreError> {
        self.leases.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.lease(worker, ttl, now_ms).await
    }
    async fn heartbeat(
        &self,
        id: &TaskId,
        token: FencingToken,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.heartbeat(id, token, ttl, now_ms).await
    }
    async fn save_checkpoint(
        &self,
        id: &TaskId,
        token: FencingToken,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save_checkpoint(id, token, bytes).await
    }
    async fn complete(
        &self,
        id: &TaskId,
        token: FencingToken,
        result: TaskResult,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.complete(id, token, result).await
    }
    async fn fail(
        &self,
        id: &TaskId,
        token: FencingToken,
        error: String,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.fail(id, token, error, retry_at_ms).await
    }
    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.cancel(id).await
    }
    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn list(&self, filter: Option<TaskState>) -> Result<Vec<TaskRecord>, StoreError> {
        self.check()?;
        self.inner.list(filter).await
    }
}

#[tokio::test]
async fn a_dead_store_makes_the_pool_back_off_and_say_why_then_recover() {
    let store = Arc::new(Flaky::default());
    store.dead.store(true, Ordering::SeqCst);
    let model = script(r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}]"#);
    let pool = WorkerPool::start(
        config("w", 2),
        store.clone(),
        Arc::new(MemoryRunLog::new()),
        Arc::new(MemoryProvider::new()),
        Arc::new(Factory::new(model)),
    );
    until("the pool to back off", || {
        matches!(pool.status(), PoolStatus::BackingOff { .. })
    })
    .await;
    let PoolStatus::BackingOff { reason, .. } = pool.status() else {
        unreachable!()
    };
    assert_eq!(
        reason,
        "task store backend failed: disk I/O error on agentkit.db"
    );
    let before = store.leases.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Backing off 250 ms, 500 ms, 1 s...: a handful of attempts, not a spin.
    let attempts = store.leases.load(Ordering::SeqCst) - before;
    assert!(attempts <= 4, "{attempts} lease attempts in 1.5 s");
    store.dead.store(false, Ordering::SeqCst);
    store
        .inner
        .enqueue(NewTask::new(task("T-1")))
        .await
        .unwrap();
    until("the pool to lease again", || {
        pool.status() == PoolStatus::Leasing
    })
    .await;
    let started = Instant::now();
    loop {
        let record = store
            .inner
            .get(&TaskId("T-1".into()))
            .await
            .unwrap()
            .unwrap();
        if record.state == TaskState::Succeeded {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{record:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn every_event_reaches_the_run_log_in_order_redacted_and_live() {
    let store = Arc::new(MemoryTaskStore::new());
    let log = Arc::new(MemoryRunLog::new());
    let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    let model = script(&format!(
        r#"[{{"text":"key {secret}","tool_calls":[{{"name":"read_file","arguments":{{"path":"a"}}}}]}},
            {{"tool_calls":[{{"name":"read_file","arguments":{{"path":"b"}}}}]}},
            {{"tool_calls":[{{"name":"finish","arguments":{{"summary":"done"}}}}]}}]"#
    ));
    let factory = Factory::new(model);
    let seen = factory.seen.clone();
    let pool = WorkerPool::start(
        config("w", 1),
        store.clone(),
        log.clone(),
        Arc::new(MemoryProvider::new()),
        Arc::new(factory),
    );
    let mut live = pool.subscribe();
    let id = enqueue(&store, "T-1").await;
    assert_eq!(settled(&store, &id).await.state, TaskState::Succeeded);
    pool.shutdown().await;

    let logged = log.read(&id, 0, 10_000).await.unwrap();
    let ids: Vec<u64> = logged.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=logged.len() as u64).collect::<Vec<_>>());
    let seqs: Vec<u64> = logged.iter().map(|e| e.record.seq).collect();
    let emitted: Vec<u64> = seen.records().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, emitted, "every emitted event is logged, in order");
    assert!(matches!(logged[0].record.event, Event::RunStarted { .. }));
    assert!(matches!(
        logged.last().unwrap().record.event,
        Event::RunFinished { .. }
    ));
    let text = serde_json::to_string(&logged).unwrap();
    assert!(!text.contains(secret) && text.contains("key [REDACTED]"));

    let mut streamed = Vec::new();
    while let Ok(event) = live.try_recv() {
        assert_eq!(event.task, id);
        streamed.push(event.event);
    }
    assert_eq!(streamed, logged);
}
