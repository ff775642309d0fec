//! `PgTaskStore` against a private PostgreSQL server (see
//! `support/postgres.rs`): the shared `TaskStore` and `RunLog` conformance
//! suites, each case on a new database, and what only PostgreSQL does:
//! wake-ups across connections through `LISTEN/NOTIFY`, concurrent
//! migrations, concurrent enqueues and completions coalesced into shared
//! transactions with an answer (and an error) per caller.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::conformance::{StoreUnderTest, TTL, task};
use agentkit_core::store::{
    Enqueued, FencingToken, NewTask, StoreAction, StoreError, TaskResult, TaskState, TaskStore,
};
use agentkit_core::task::TaskId;
use agentkit_server::runlog::conformance::LogUnderTest;
use agentkit_server::store::PgTaskStore;
use sqlx::Connection;
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

/// Rows written by one transaction share its `xmin`: the number of
/// transactions that last wrote the tasks with these ids.
async fn transactions_that_wrote(url: &str, ids: &[String]) -> i64 {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(DISTINCT xmin::text) FROM agentkit.tasks WHERE id = ANY($1)")
            .bind(ids)
            .fetch_one(&mut db)
            .await
            .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_transactions_and_each_get_their_own_answer() {
    let Some(url) = database() else { return };
    let store = Arc::new(PgTaskStore::connect(&url).await.unwrap());
    store
        .enqueue(NewTask::new(task("OLD")).idempotency_key("k-old"))
        .await
        .unwrap();
    // 60 new tasks, plus calls that must not create: an id already stored,
    // a key already stored, and pairs racing each other for one key or id.
    let mut calls: Vec<NewTask> = (0..60)
        .map(|i| NewTask::new(task(&format!("N-{i}"))).priority(i % 3))
        .collect();
    calls.push(NewTask::new(task("OLD")));
    calls.push(NewTask::new(task("OTHER")).idempotency_key("k-old"));
    calls.push(NewTask::new(task("TWIN-A")).idempotency_key("k-twin"));
    calls.push(NewTask::new(task("TWIN-B")).idempotency_key("k-twin"));
    calls.push(NewTask::new(task("SAME")));
    calls.push(NewTask::new(task("SAME")));
    let running: Vec<_> = calls
        .iter()
        .cloned()
        .map(|new| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.enqueue(new).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for call in running {
        answers.push(call.await.unwrap());
    }
    let created = |id: &str| Enqueued {
        id: TaskId(id.into()),
        created: true,
    };
    let found = |id: &str| Enqueued {
        id: TaskId(id.into()),
        created: false,
    };
    let expected_new: Vec<Enqueued> = (0..60).map(|i| created(&format!("N-{i}"))).collect();
    assert_eq!(answers[..60], expected_new[..]);
    assert_eq!(answers[60..62], [found("OLD"), found("OLD")]);
    // Exactly one of each racing pair created the entry; both name it.
    let twins = &answers[62..64];
    assert_eq!(twins.iter().filter(|e| e.created).count(), 1, "{twins:?}");
    let twin = twins.iter().find(|e| e.created).unwrap().id.clone();
    assert!(twins.iter().all(|e| e.id == twin), "{twins:?}");
    let same = &answers[64..66];
    assert_eq!(same.iter().filter(|e| e.created).count(), 1, "{same:?}");
    assert!(same.iter().all(|e| e.id.0 == "SAME"), "{same:?}");
    let stored = store.list(None).await.unwrap();
    assert_eq!(stored.len(), 1 + 60 + 1 + 1, "no duplicate, no loss");
    let record = store.get(&TaskId("N-7".into())).await.unwrap().unwrap();
    assert_eq!(
        (record.task, record.priority, record.state),
        (task("N-7"), 1, TaskState::Queued)
    );
    let ids: Vec<String> = (0..60).map(|i| format!("N-{i}")).collect();
    let transactions = transactions_that_wrote(&url, &ids).await;
    assert!(
        transactions < 60,
        "60 concurrent enqueues took {transactions} transactions: none were coalesced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_postgresql_refuses_fails_only_its_own_enqueue() {
    let Some(url) = database() else { return };
    let store = Arc::new(PgTaskStore::connect(&url).await.unwrap());
    // JSONB cannot hold U+0000: the whole statement fails on this row.
    let mut poisoned = task("NUL");
    poisoned.body = "a\u{0}b".into();
    let mut calls: Vec<NewTask> = (0..30)
        .map(|i| NewTask::new(task(&format!("G-{i}"))))
        .collect();
    calls.insert(15, NewTask::new(poisoned));
    let running: Vec<_> = calls
        .into_iter()
        .map(|new| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.enqueue(new).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in running {
        answers.push(call.await.unwrap());
    }
    let failed = answers.remove(15).unwrap_err();
    let StoreError::Backend { message } = &failed else {
        panic!("{failed:?}")
    };
    assert!(
        message.starts_with("cannot enqueue task `NUL` in the PostgreSQL task store"),
        "{message}"
    );
    let expected: Vec<Enqueued> = (0..30)
        .map(|i| Enqueued {
            id: TaskId(format!("G-{i}")),
            created: true,
        })
        .collect();
    assert_eq!(answers, expected.into_iter().map(Ok).collect::<Vec<_>>());
    assert_eq!(store.list(None).await.unwrap().len(), 30);
    assert_eq!(store.get(&TaskId("NUL".into())).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_batch_with_a_stale_token_fails_only_that_task() {
    let Some(url) = database() else { return };
    let store = Arc::new(PgTaskStore::connect(&url).await.unwrap());
    for i in 0..40 {
        let new = NewTask::new(task(&format!("C-{i}"))).max_attempts(5);
        store.enqueue(new).await.unwrap();
    }
    let leases = store.lease_many("w1", TTL, 0, 40).await.unwrap();
    assert_eq!(leases.len(), 40);
    // The leases expire and another worker takes the first (C-0) over:
    // w1's token for it is stale, its others are still current. C-1 is
    // completed twice at once with the same token.
    let stale = leases[0].clone();
    let takeover = store
        .lease("w2", TTL, TTL.as_millis() as u64 + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(takeover.task.id.0, "C-0");
    let mut calls: Vec<(TaskId, FencingToken)> = leases
        .iter()
        .map(|lease| (lease.task.id.clone(), lease.token))
        .collect();
    calls.push((leases[1].task.id.clone(), leases[1].token));
    let running: Vec<_> = calls
        .into_iter()
        .map(|(id, token)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let result = TaskResult {
                    summary: format!("did {id}"),
                    pull_request_url: None,
                    success: true,
                };
                store.complete(&id, token, result).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in running {
        answers.push(call.await.unwrap());
    }
    assert_eq!(
        answers[0],
        Err(StoreError::LeaseLost {
            id: stale.task.id.clone(),
            presented: stale.token,
            current: takeover.token,
        })
    );
    assert_eq!(answers[2..40], vec![Ok(()); 38][..]);
    // Of the two completions of C-1, one wins and the other finds it done.
    let mut twice = vec![answers[1].clone(), answers[40].clone()];
    twice.sort_by_key(Result::is_ok);
    let refused = StoreError::InvalidTransition {
        id: TaskId("C-1".into()),
        from: TaskState::Succeeded,
        action: StoreAction::Complete,
    };
    assert_eq!(twice, vec![Err(refused), Ok(())]);
    let c0 = store.get(&TaskId("C-0".into())).await.unwrap().unwrap();
    assert_eq!(
        (c0.state, c0.token, c0.result),
        (TaskState::Leased, takeover.token, None)
    );
    let c9 = store.get(&TaskId("C-9".into())).await.unwrap().unwrap();
    assert_eq!(
        (c9.state, c9.result.map(|r| r.summary)),
        (TaskState::Succeeded, Some("did C-9".to_string()))
    );
    let ids: Vec<String> = (2..40).map(|i| format!("C-{i}")).collect();
    let transactions = transactions_that_wrote(&url, &ids).await;
    assert!(
        transactions < 38,
        "38 concurrent completions took {transactions} transactions: none were coalesced"
    );
}
