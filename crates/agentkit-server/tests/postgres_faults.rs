//! A PostgreSQL server that dies under the store: every operation fails with
//! a `Backend` error that says the database is down and what to do, no
//! transaction is left half-written, and once the server is back the same
//! store handle carries on (wake-ups included) on a consistent queue. A
//! worker pool on it stops leasing and says why, then runs the queue again.

mod common;
mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::conformance::{TTL, task};
use agentkit_core::store::{NewTask, StoreError, TaskResult, TaskState, TaskStore};
use agentkit_core::testing::MemoryProvider;
use agentkit_server::pool::{PoolStatus, WorkerPool};
use agentkit_server::runlog::conformance::event;
use agentkit_server::runlog::{MemoryRunLog, RunLog};
use agentkit_server::store::PgTaskStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use support::postgres::{Durability, PgServer};

async fn connect(url: &str) -> PgTaskStore {
    // Operations give up after 2 s without a connection (10 s by default).
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2));
    let options = PgConnectOptions::from_str(url).unwrap();
    PgTaskStore::connect_with(options, pool).await.unwrap()
}

fn assert_down<T: std::fmt::Debug>(result: Result<T, StoreError>, doing: &str) {
    let err = result.expect_err(doing);
    let StoreError::Backend { message } = &err else {
        panic!("{doing}: expected a backend error, got {err:?}")
    };
    assert!(
        message.starts_with(&format!("cannot {doing} in the PostgreSQL task store"))
            && (message.contains("down") || message.contains("shutting down"))
            && message.contains("retry"),
        "{message}"
    );
    assert!(
        !err.ownership_lost(),
        "a dead database does not take the lease away"
    );
}

fn result() -> TaskResult {
    TaskResult {
        summary: "done".into(),
        pull_request_url: None,
        success: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_database_fails_cleanly_and_the_store_recovers_when_it_is_back() {
    let Some(mut server) = PgServer::start(Durability::Fast) else {
        return;
    };
    let url = server.create_database();
    let store = Arc::new(connect(&url).await);
    for id in ["A", "B"] {
        store.enqueue(NewTask::new(task(id))).await.unwrap();
    }
    let a = store.lease("w", TTL, 0).await.unwrap().unwrap();

    // A writer appends batches of 500 events while the server goes down.
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let batch: Vec<_> = (0..500).map(|i| event("A", &format!("e{i}"))).collect();
            let mut appended = 0;
            while store.append(&a_id(), &batch).await.is_ok() {
                appended += 1;
            }
            appended
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    let appended = writer.await.unwrap();

    assert_down(
        store.enqueue(NewTask::new(task("C"))).await,
        "enqueue task `C`",
    );
    assert_down(store.lease("w", TTL, 0).await, "lease a task");
    assert_down(
        store.complete(&a.task.id, a.token, result()).await,
        "complete task `A`",
    );
    assert_down(store.get(&a.task.id).await, "read task `A`");

    server.restart();
    // The same handle reconnects; the queue is as it was before the fault.
    let states: Vec<_> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.task.id.0, r.state, r.token.0))
        .collect();
    assert_eq!(
        states,
        [
            ("A".to_string(), TaskState::Leased, 1),
            ("B".to_string(), TaskState::Queued, 0)
        ]
    );
    // Each append was all or nothing: whole batches, ids without a gap.
    let log = store.read(&a_id(), 0, usize::MAX).await.unwrap();
    assert_eq!(log.len() % 500, 0, "a batch was half-written");
    assert!(
        log.len() / 500 >= appended,
        "an acknowledged append was lost"
    );
    let ids: Vec<u64> = log.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=log.len() as u64).collect::<Vec<_>>());

    store.complete(&a.task.id, a.token, result()).await.unwrap();
    // Wake-ups work again once the listener has reconnected.
    let other = connect(&url).await;
    let waiter = Arc::clone(&store);
    let woken = tokio::spawn(async move {
        // A worker's loop: lease until nothing is ready, then wait.
        loop {
            while let Some(lease) = waiter.lease("w", TTL, 0).await.unwrap() {
                if lease.task.id.0 == "C" {
                    return;
                }
            }
            waiter.wait_for_work(Duration::from_secs(60)).await;
        }
    });
    other.enqueue(NewTask::new(task("C"))).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(10), woken).await;
    assert!(woke.is_ok(), "no wake-up after the server came back");
    let a_record = store.get(&a.task.id).await.unwrap().unwrap();
    assert_eq!(a_record.state, TaskState::Succeeded);
}

fn a_id() -> agentkit_core::task::TaskId {
    task("A").id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_on_a_dead_database_stops_leasing_says_why_and_carries_on_when_it_is_back() {
    let Some(mut server) = PgServer::start(Durability::Fast) else {
        return;
    };
    let url = server.create_database();
    let store = Arc::new(connect(&url).await);
    let finish = r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}]"#;
    let pool = WorkerPool::start(
        common::config("w", 2),
        store.clone(),
        Arc::new(MemoryRunLog::new()),
        Arc::new(MemoryProvider::new()),
        Arc::new(common::Factory::new(common::script(finish))),
    );
    common::until("the pool to lease", || pool.status() == PoolStatus::Leasing).await;
    server.stop();
    let reason = common::backing_off_reason(&pool).await;
    assert!(
        reason.starts_with(
            "task store backend failed: cannot lease up to 2 tasks in the PostgreSQL task store"
        ) && reason.contains("down")
            && reason.contains("retry"),
        "{reason}"
    );

    server.restart();
    store.enqueue(NewTask::new(task("T-1"))).await.unwrap();
    common::until("the pool to lease again", || {
        pool.status() == PoolStatus::Leasing
    })
    .await;
    let record = common::finished(store.as_ref(), &task("T-1").id).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 1));
    pool.shutdown().await;
}
