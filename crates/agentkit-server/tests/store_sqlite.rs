//! `SqliteTaskStore` against the shared `TaskStore` and `RunLog` conformance
//! suites, and what only a file store does: reopening, several handles on
//! one file, parent directories.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::conformance::{StoreUnderTest, TTL, task};
use agentkit_core::store::{NewTask, TaskState, TaskStore};
use agentkit_server::runlog::RunLog;
use agentkit_server::runlog::conformance::{LogUnderTest, event};
use agentkit_server::store::SqliteTaskStore;

async fn open() -> (SqliteTaskStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTaskStore::open(dir.path().join("tasks.db"))
        .await
        .unwrap();
    (store, dir)
}

async fn fresh() -> Option<StoreUnderTest> {
    let (store, dir) = open().await;
    Some(StoreUnderTest::new(store).keeping(dir))
}

async fn fresh_log() -> Option<LogUnderTest> {
    let (store, dir) = open().await;
    Some(LogUnderTest::new(store).keeping(dir))
}

mod task_store {
    agentkit_core::task_store_conformance!(super::fresh);
}

mod run_log {
    agentkit_server::run_log_conformance!(super::fresh_log);
}

#[tokio::test]
async fn open_creates_parent_directories_and_reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/tasks.db");
    let store = SqliteTaskStore::open(&path).await.unwrap();
    store.enqueue(NewTask::new(task("T-1"))).await.unwrap();
    let lease = store.lease("w", TTL, 0).await.unwrap().unwrap();
    store
        .save_checkpoint(&lease.task.id, lease.token, b"turn 3".to_vec())
        .await
        .unwrap();
    store
        .append(&lease.task.id, &[event("T-1", "hello")])
        .await
        .unwrap();
    let before = store.get(&lease.task.id).await.unwrap();
    store.close().await;
    drop(store);

    let reopened = SqliteTaskStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(&lease.task.id).await.unwrap(), before);
    let taken_over = reopened.lease("w2", TTL, 10_000).await.unwrap().unwrap();
    assert_eq!(
        (taken_over.token.0, taken_over.checkpoint),
        (2, Some(b"turn 3".to_vec()))
    );
    let logged = reopened.read(&lease.task.id, 0, 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].record, event("T-1", "hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_share_the_queue_and_never_lease_twice() {
    const TASKS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    // Two handles open the new file at once: both migrate safely.
    let (a, b) = tokio::join!(SqliteTaskStore::open(&path), SqliteTaskStore::open(&path));
    let stores = [Arc::new(a.unwrap()), Arc::new(b.unwrap())];
    for i in 0..TASKS {
        let new = NewTask::new(task(&format!("T-{i}")));
        stores[i % 2].enqueue(new).await.unwrap();
    }
    let mut handles = Vec::new();
    for (w, store) in stores.iter().cycle().take(6).enumerate() {
        let store = Arc::clone(store);
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = store.lease(&format!("w{w}"), TTL, 0).await.unwrap() {
                mine.push(lease.task.id.0.clone());
                let result = agentkit_core::store::TaskResult {
                    summary: format!("by w{w}"),
                    pull_request_url: None,
                    success: true,
                };
                store
                    .complete(&lease.task.id, lease.token, result)
                    .await
                    .unwrap();
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    all.sort();
    let mut expected: Vec<String> = (0..TASKS).map(|i| format!("T-{i}")).collect();
    expected.sort();
    assert_eq!(all, expected);
    let done = stores[1].list(Some(TaskState::Succeeded)).await.unwrap();
    assert_eq!(done.len(), TASKS);
}

#[tokio::test]
async fn wait_for_work_sees_another_handles_enqueue_within_the_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let worker = SqliteTaskStore::open(&path)
        .await
        .unwrap()
        .with_poll_interval(Duration::from_millis(50));
    let other = SqliteTaskStore::open(&path).await.unwrap();
    let waiting = tokio::spawn(async move {
        worker.wait_for_work(Duration::from_secs(60)).await;
        worker.lease("w", TTL, 0).await.unwrap()
    });
    other.enqueue(NewTask::new(task("T-1"))).await.unwrap();
    let leased = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    let lease = leased.expect("still waiting").unwrap();
    assert_eq!(lease.map(|l| l.task.id.0), Some("T-1".to_string()));
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_backend_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = SqliteTaskStore::open(&path).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("not a database"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_two_connections_never_hold_a_task_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.db");
    let mut stores: Vec<Arc<dyn TaskStore>> = Vec::new();
    for _ in 0..2 {
        stores.push(Arc::new(SqliteTaskStore::open(&path).await.unwrap()));
    }
    let report = support::fencing::race(stores, 20, 7).await;
    assert!(report.refused > 0, "no takeover happened: {report:?}");
}
