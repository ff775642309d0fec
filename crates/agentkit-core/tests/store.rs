//! The task-store contract against [`MemoryTaskStore`]: the shared
//! conformance suite (`agentkit_core::store::conformance`, which the SQL
//! stores of `agentkit-server` run too), plus what only the memory store
//! does (its injectable bookkeeping clock, its wake-ups).

use std::time::Duration;

use agentkit_core::prelude::*;
use agentkit_core::store::conformance::{StoreUnderTest, TTL, task};
use agentkit_core::store::{NewTask, TaskState};

async fn fresh() -> Option<StoreUnderTest> {
    Some(StoreUnderTest::new(MemoryTaskStore::new()))
}

agentkit_core::task_store_conformance!(fresh);

#[tokio::test]
async fn bookkeeping_timestamps_come_from_the_injected_clock() {
    let store = MemoryTaskStore::with_clock(|| 7);
    store.enqueue(NewTask::new(task("T-1"))).await.unwrap();
    let lease = store.lease("w", TTL, 1_000).await.unwrap().unwrap();
    let record = store.get(&lease.task.id).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.created_at_ms, record.updated_at_ms),
        (TaskState::Leased, 7, 7)
    );
}

#[tokio::test]
async fn a_wake_up_sent_before_the_worker_waits_is_not_lost() {
    let store = MemoryTaskStore::new();
    // The worker found nothing; the enqueue lands before it starts waiting.
    assert_eq!(store.lease("w", TTL, 0).await.unwrap(), None);
    store.enqueue(NewTask::new(task("T-1"))).await.unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(5),
        store.wait_for_work(Duration::from_secs(60)),
    );
    assert!(
        waited.await.is_ok(),
        "the permit left by the enqueue was lost"
    );
}
