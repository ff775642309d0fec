//! `PgTaskStore` against a private PostgreSQL server (see
//! `support/postgres.rs`): the shared `TaskStore` and `RunLog` conformance
//! suites, each case on a new database, and what only PostgreSQL does:
//! wake-ups across connections through `LISTEN/NOTIFY`, concurrent
//! migrations.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::conformance::{StoreUnderTest, TTL, task};
use agentkit_core::store::{NewTask, StoreError, TaskStore};
use agentkit_server::runlog::conformance::LogUnderTest;
use agentkit_server::store::PgTaskStore;
use support::postgres::PgServer;

/// A new database on the shared server, or `None` after `SKIPPED`.
fn database() -> Option<String> {
    let server = PgServer::shared()?.lock().unwrap();
    Some(server.create_database())
}

async fn fresh() -> Option<StoreUnderTest> {
    let store = PgTaskStore::connect(&database()?).await.unwrap();
    Some(StoreUnderTest::new(store))
}

async fn fresh_log() -> Option<LogUnderTest> {
    let store = PgTaskStore::connect(&database()?).await.unwrap();
    Some(LogUnderTest::new(store))
}

mod task_store {
    agentkit_core::task_store_conformance!(super::fresh);
}

mod run_log {
    agentkit_server::run_log_conformance!(super::fresh_log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_another_connection_is_woken_by_notify_not_by_polling() {
    let Some(url) = database() else { return };
    let (worker, producer) = tokio::join!(PgTaskStore::connect(&url), PgTaskStore::connect(&url));
    let (worker, producer) = (Arc::new(worker.unwrap()), producer.unwrap());
    for round in 0..3 {
        let waiter = Arc::clone(&worker);
        // Left-over wake-ups from earlier rounds are used up first.
        waiter.wait_for_work(Duration::from_millis(200)).await;
        let waiting = tokio::spawn(async move {
            waiter.wait_for_work(Duration::from_secs(60)).await;
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let id = format!("T-{round}");
        producer.enqueue(NewTask::new(task(&id))).await.unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(
            woke.is_ok(),
            "round {round}: the NOTIFY did not wake the worker"
        );
        let lease = worker.lease("w", TTL, 0).await.unwrap().unwrap();
        assert_eq!(lease.task.id.0, id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_connecting_at_once_migrate_once() {
    let Some(url) = database() else { return };
    let connect = || PgTaskStore::connect(&url);
    let (a, b, c, d) = tokio::join!(connect(), connect(), connect(), connect());
    let stores = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    stores[0].enqueue(NewTask::new(task("T-1"))).await.unwrap();
    let seen = stores[3].get(&task("T-1").id).await.unwrap();
    assert_eq!(seen.map(|r| r.task), Some(task("T-1")));
}

#[tokio::test]
async fn a_bad_url_and_an_unreachable_server_say_what_to_do() {
    let bad = PgTaskStore::connect("mysql://nope").await.unwrap_err();
    assert!(
        bad.to_string()
            .contains("postgres://user:password@host:port/database"),
        "{bad}"
    );
    // A socket directory with no server in it.
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@localhost/db?host={}",
        dir.path().display()
    );
    let down = PgTaskStore::connect(&url).await.unwrap_err();
    let StoreError::Backend { message } = &down else {
        panic!("{down:?}")
    };
    assert!(
        message.starts_with("cannot open a connection in the PostgreSQL task store `db` on ")
            && message.contains("the database is down or unreachable"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_queue_never_hold_a_task_at_once() {
    let Some(url) = database() else { return };
    let mut stores: Vec<Arc<dyn TaskStore>> = Vec::new();
    for _ in 0..2 {
        stores.push(Arc::new(PgTaskStore::connect(&url).await.unwrap()));
    }
    let report = support::fencing::race(stores, 20, 11).await;
    assert!(report.refused > 0, "no takeover happened: {report:?}");
}
