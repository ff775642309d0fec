//! Behaviour of the task queue: idempotent enqueue, lease order, delays,
//! expiry and takeover, fencing on every write, retries, cancel, terminal
//! states, checkpoints, concurrency.
//!
//! Every test goes through the `TaskStore` trait only, so SQL backends can run
//! the same cases.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::prelude::*;
use agentkit_core::store::{
    Enqueued, FencingToken, Lease, LeaseHolder, NewTask, StoreAction, StoreError, TaskRecord,
    TaskResult, TaskState,
};

const TTL: Duration = Duration::from_secs(10);
/// The store's bookkeeping clock in these tests.
const CLOCK: u64 = 7;

fn store() -> MemoryTaskStore {
    MemoryTaskStore::with_clock(|| CLOCK)
}

fn task(id: &str) -> Task {
    Task::new(id, format!("title {id}"), "body", RepoRef::new("."))
}

fn id(s: &str) -> TaskId {
    TaskId(s.into())
}

fn result(summary: &str) -> TaskResult {
    TaskResult {
        summary: summary.into(),
        pull_request_url: None,
        success: true,
    }
}

async fn enqueue(store: &dyn TaskStore, new: NewTask) {
    assert!(store.enqueue(new).await.unwrap().created);
}

async fn lease(store: &dyn TaskStore, worker: &str, now: u64) -> Lease {
    store.lease(worker, TTL, now).await.unwrap().unwrap()
}

async fn leased_ids(store: &dyn TaskStore, now: u64) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(lease) = store.lease("w", TTL, now).await.unwrap() {
        ids.push(lease.task.id.0);
    }
    ids
}

async fn state(store: &dyn TaskStore, s: &str) -> TaskState {
    store.get(&id(s)).await.unwrap().unwrap().state
}

#[tokio::test]
async fn enqueue_is_idempotent_by_key_and_by_task_id() {
    let store = store();
    let first = store
        .enqueue(NewTask::new(task("T-1")).idempotency_key("gh:7"))
        .await
        .unwrap();
    assert_eq!(
        first,
        Enqueued {
            id: id("T-1"),
            created: true
        }
    );
    // Same key, different task: the existing entry comes back.
    let again = store
        .enqueue(NewTask::new(task("T-2")).idempotency_key("gh:7"))
        .await
        .unwrap();
    assert_eq!(
        again,
        Enqueued {
            id: id("T-1"),
            created: false
        }
    );
    // Same task id, other key: still the same entry, never a second one.
    let by_id = store
        .enqueue(NewTask::new(task("T-1")).idempotency_key("other"))
        .await
        .unwrap();
    assert_eq!(
        by_id,
        Enqueued {
            id: id("T-1"),
            created: false
        }
    );
    // Without a key the task id is the key.
    enqueue(&store, NewTask::new(task("T-3"))).await;
    let dup = store.enqueue(NewTask::new(task("T-3"))).await.unwrap();
    assert_eq!(
        dup,
        Enqueued {
            id: id("T-3"),
            created: false
        }
    );
    let all: Vec<_> = store.list(None).await.unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|r| (r.id().0.as_str(), r.idempotency_key.as_str()))
        .collect();
    assert_eq!(keys, [("T-1", "gh:7"), ("T-3", "T-3")]);
}

#[tokio::test]
async fn enqueue_stores_a_queued_record() {
    let store = store();
    enqueue(
        &store,
        NewTask::new(task("T-1"))
            .priority(3)
            .run_at_ms(50)
            .max_attempts(0),
    )
    .await;
    assert_eq!(
        store.get(&id("T-1")).await.unwrap(),
        Some(TaskRecord {
            task: task("T-1"),
            state: TaskState::Queued,
            priority: 3,
            idempotency_key: "T-1".into(),
            attempts: 0,
            max_attempts: 1, // 0 is stored as 1
            run_at_ms: Some(50),
            token: FencingToken(0),
            lease: None,
            last_error: None,
            result: None,
            created_at_ms: CLOCK,
            updated_at_ms: CLOCK,
        })
    );
    assert_eq!(store.get(&id("nope")).await.unwrap(), None);
}

#[tokio::test]
async fn leases_by_priority_then_first_in_first_out() {
    let store = store();
    for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)] {
        enqueue(&store, NewTask::new(task(name)).priority(priority)).await;
    }
    assert_eq!(leased_ids(&store, 0).await, ["f", "b", "d", "a", "c", "e"]);
}

#[tokio::test]
async fn run_at_delays_the_lease() {
    let store = store();
    enqueue(
        &store,
        NewTask::new(task("later")).priority(9).run_at_ms(100),
    )
    .await;
    enqueue(&store, NewTask::new(task("now"))).await;
    assert_eq!(leased_ids(&store, 99).await, ["now"]);
    assert_eq!(leased_ids(&store, 100).await, ["later"]);
}

#[tokio::test]
async fn a_lease_is_recorded_and_returned_whole() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1")).priority(2)).await;
    let lease = lease(&store, "w1", 1_000).await;
    assert_eq!(
        lease,
        Lease {
            task: task("T-1"),
            token: FencingToken(1),
            attempt: 1,
            expires_at_ms: 11_000,
            checkpoint: None,
        }
    );
    assert_eq!(
        store.get(&id("T-1")).await.unwrap(),
        Some(TaskRecord {
            task: task("T-1"),
            state: TaskState::Leased,
            priority: 2,
            idempotency_key: "T-1".into(),
            attempts: 1,
            max_attempts: NewTask::DEFAULT_MAX_ATTEMPTS,
            run_at_ms: None,
            token: FencingToken(1),
            lease: Some(LeaseHolder {
                worker: "w1".into(),
                expires_at_ms: 11_000,
            }),
            last_error: None,
            result: None,
            created_at_ms: CLOCK,
            updated_at_ms: CLOCK,
        })
    );
    // A valid lease is not handed out again.
    assert_eq!(store.lease("w2", TTL, 10_999).await.unwrap(), None);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_a_new_token() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let a = lease(&store, "a", 0).await;
    let b = lease(&store, "b", 10_000).await;
    assert_eq!((a.token, a.attempt), (FencingToken(1), 1));
    assert_eq!((b.token, b.attempt), (FencingToken(2), 2));
    let record = store.get(&id("T-1")).await.unwrap().unwrap();
    assert_eq!(
        record.lease,
        Some(LeaseHolder {
            worker: "b".into(),
            expires_at_ms: 20_000
        })
    );
}

#[tokio::test]
async fn a_stale_token_is_refused_on_every_write_and_the_new_owner_wins() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let t = id("T-1");
    let a = lease(&store, "a", 0).await;
    store
        .save_checkpoint(&t, a.token, b"a-1".to_vec())
        .await
        .unwrap();
    // A stops heartbeating; its lease expires and B takes over.
    let b = lease(&store, "b", 10_000).await;
    assert_eq!(b.checkpoint, Some(b"a-1".to_vec()));
    let lost = StoreError::LeaseLost {
        id: t.clone(),
        presented: a.token,
        current: b.token,
    };

    assert_eq!(
        store.heartbeat(&t, a.token, TTL, 10_001).await,
        Err(lost.clone())
    );
    assert_eq!(
        store.save_checkpoint(&t, a.token, b"a-2".to_vec()).await,
        Err(lost.clone())
    );
    assert_eq!(
        store.complete(&t, a.token, result("from a")).await,
        Err(lost.clone())
    );
    assert_eq!(
        store.fail(&t, a.token, "a broke".into(), Some(0)).await,
        Err(lost.clone())
    );

    assert_eq!(store.heartbeat(&t, b.token, TTL, 10_001).await, Ok(20_001));
    store
        .save_checkpoint(&t, b.token, b"b-1".to_vec())
        .await
        .unwrap();
    store.complete(&t, b.token, result("from b")).await.unwrap();
    // After B finished, A is still told its lease is lost.
    assert_eq!(
        store.complete(&t, a.token, result("from a")).await,
        Err(lost)
    );

    let record = store.get(&t).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.result, record.token, record.attempts),
        (
            TaskState::Succeeded,
            Some(result("from b")),
            FencingToken(2),
            2
        )
    );
}

#[tokio::test]
async fn an_expired_lease_not_taken_over_still_accepts_its_owner() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let a = lease(&store, "a", 0).await;
    // Expired at 10_000, but nobody leased it: the heartbeat revives it.
    assert_eq!(
        store.heartbeat(&id("T-1"), a.token, TTL, 15_000).await,
        Ok(25_000)
    );
    assert_eq!(store.lease("b", TTL, 24_999).await.unwrap(), None);
    assert_eq!(lease(&store, "b", 25_000).await.token, FencingToken(2));
}

#[tokio::test]
async fn heartbeats_extend_the_lease() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let a = lease(&store, "a", 0).await;
    for now in [5_000, 12_000, 19_000] {
        assert_eq!(
            store.heartbeat(&id("T-1"), a.token, TTL, now).await,
            Ok(now + 10_000)
        );
        assert_eq!(store.lease("b", TTL, now + 9_999).await.unwrap(), None);
    }
    let record = store.get(&id("T-1")).await.unwrap().unwrap();
    assert_eq!(
        record.lease,
        Some(LeaseHolder {
            worker: "a".into(),
            expires_at_ms: 29_000
        })
    );
}

#[tokio::test]
async fn failures_retry_until_max_attempts_then_the_task_is_failed() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1")).max_attempts(2)).await;
    let t = id("T-1");
    let first = lease(&store, "w", 0).await;
    store
        .fail(&t, first.token, "tests failed".into(), Some(500))
        .await
        .unwrap();
    let record = store.get(&t).await.unwrap().unwrap();
    assert_eq!(
        (
            record.state,
            record.attempts,
            record.run_at_ms,
            record.lease,
            record.last_error
        ),
        (
            TaskState::Queued,
            1,
            Some(500),
            None,
            Some("tests failed".to_string())
        )
    );
    // Not before retry_at.
    assert_eq!(store.lease("w", TTL, 499).await.unwrap(), None);
    let second = lease(&store, "w", 500).await;
    assert_eq!((second.attempt, second.token), (2, FencingToken(2)));
    // No attempts left: a retry request still ends the task.
    store
        .fail(&t, second.token, "still failing".into(), Some(1_000))
        .await
        .unwrap();
    let record = store.get(&t).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.attempts, record.last_error),
        (TaskState::Failed, 2, Some("still failing".to_string()))
    );
    assert_eq!(store.lease("w", TTL, 10_000).await.unwrap(), None);
}

#[tokio::test]
async fn a_failure_without_retry_is_final() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let l = lease(&store, "w", 0).await;
    store
        .fail(&id("T-1"), l.token, "bad ticket".into(), None)
        .await
        .unwrap();
    assert_eq!(state(&store, "T-1").await, TaskState::Failed);
}

#[tokio::test]
async fn a_lease_expiring_on_the_last_attempt_fails_the_task() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1")).max_attempts(1)).await;
    let l = lease(&store, "crashy", 0).await;
    assert_eq!(store.lease("w", TTL, 10_000).await.unwrap(), None);
    let record = store.get(&id("T-1")).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.lease, record.last_error.as_deref()),
        (
            TaskState::Failed,
            None,
            Some(
                "the lease held by `crashy` expired at 10000 ms on attempt 1 of 1, with no \
                 attempts left (the worker stopped heartbeating)"
            )
        )
    );
    // The old owner holds the current token, but the task is final.
    assert_eq!(
        store.complete(&id("T-1"), l.token, result("late")).await,
        Err(StoreError::InvalidTransition {
            id: id("T-1"),
            from: TaskState::Failed,
            action: StoreAction::Complete
        })
    );
}

#[tokio::test]
async fn cancel_stops_queued_and_leased_tasks() {
    let store = store();
    enqueue(&store, NewTask::new(task("queued"))).await;
    enqueue(&store, NewTask::new(task("leased")).priority(1)).await;
    let l = lease(&store, "w", 0).await;
    assert_eq!(l.task.id, id("leased"));

    store.cancel(&id("queued")).await.unwrap();
    store.cancel(&id("leased")).await.unwrap();
    // Cancelling again is a no-op.
    store.cancel(&id("leased")).await.unwrap();
    assert_eq!(state(&store, "queued").await, TaskState::Cancelled);
    assert_eq!(store.lease("w", TTL, 100_000).await.unwrap(), None);

    // The worker still running it is told to stop on its next write.
    let stop = |action| StoreError::InvalidTransition {
        id: id("leased"),
        from: TaskState::Cancelled,
        action,
    };
    let t = id("leased");
    assert_eq!(
        store.heartbeat(&t, l.token, TTL, 1).await,
        Err(stop(StoreAction::Heartbeat))
    );
    assert_eq!(
        store.save_checkpoint(&t, l.token, vec![1]).await,
        Err(stop(StoreAction::SaveCheckpoint))
    );
    assert_eq!(
        store.complete(&t, l.token, result("done")).await,
        Err(stop(StoreAction::Complete))
    );
    assert_eq!(
        store.fail(&t, l.token, "x".into(), Some(5)).await,
        Err(stop(StoreAction::Fail))
    );
    let record = store.get(&t).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.lease, record.result),
        (TaskState::Cancelled, None, None)
    );
}

#[tokio::test]
async fn terminal_states_are_never_left() {
    let store = store();
    for name in ["ok", "dead"] {
        enqueue(&store, NewTask::new(task(name))).await;
    }
    let ok = lease(&store, "w", 0).await;
    let dead = lease(&store, "w", 0).await;
    store
        .complete(&id("ok"), ok.token, result("done"))
        .await
        .unwrap();
    store
        .fail(&id("dead"), dead.token, "gave up".into(), None)
        .await
        .unwrap();

    for (name, token, from) in [
        ("ok", ok.token, TaskState::Succeeded),
        ("dead", dead.token, TaskState::Failed),
    ] {
        let t = id(name);
        let refused = |action| StoreError::InvalidTransition {
            id: t.clone(),
            from,
            action,
        };
        assert_eq!(
            store.complete(&t, token, result("again")).await,
            Err(refused(StoreAction::Complete))
        );
        assert_eq!(
            store.fail(&t, token, "again".into(), Some(0)).await,
            Err(refused(StoreAction::Fail))
        );
        assert_eq!(
            store.heartbeat(&t, token, TTL, 0).await,
            Err(refused(StoreAction::Heartbeat))
        );
        assert_eq!(store.cancel(&t).await, Err(refused(StoreAction::Cancel)));
        assert_eq!(state(&store, name).await, from);
        // Re-enqueueing a finished task changes nothing.
        assert_eq!(
            store.enqueue(NewTask::new(task(name))).await.unwrap(),
            Enqueued {
                id: t.clone(),
                created: false
            }
        );
    }
    assert_eq!(store.lease("w", TTL, u64::MAX).await.unwrap(), None);
    let succeeded = store.list(Some(TaskState::Succeeded)).await.unwrap();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].result, Some(result("done")));
}

#[tokio::test]
async fn the_checkpoint_is_handed_to_the_next_lease() {
    let store = store();
    enqueue(&store, NewTask::new(task("T-1"))).await;
    let t = id("T-1");
    let first = lease(&store, "w", 0).await;
    assert_eq!(first.checkpoint, None);
    store
        .save_checkpoint(&t, first.token, b"turn 1".to_vec())
        .await
        .unwrap();
    store
        .save_checkpoint(&t, first.token, b"turn 2".to_vec())
        .await
        .unwrap();
    store
        .fail(&t, first.token, "sandbox died".into(), Some(0))
        .await
        .unwrap();
    let second = lease(&store, "w", 0).await;
    assert_eq!(second.checkpoint, Some(b"turn 2".to_vec()));
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let store = store();
    let t = id("ghost");
    let not_found = StoreError::NotFound { id: t.clone() };
    let token = FencingToken(1);
    assert_eq!(
        store.heartbeat(&t, token, TTL, 0).await,
        Err(not_found.clone())
    );
    assert_eq!(
        store.save_checkpoint(&t, token, vec![]).await,
        Err(not_found.clone())
    );
    assert_eq!(
        store.complete(&t, token, result("x")).await,
        Err(not_found.clone())
    );
    assert_eq!(
        store.fail(&t, token, "x".into(), None).await,
        Err(not_found.clone())
    );
    assert_eq!(store.cancel(&t).await, Err(not_found));
}

#[tokio::test]
async fn list_filters_by_state_in_enqueue_order() {
    let store = store();
    for name in ["a", "b", "c"] {
        enqueue(&store, NewTask::new(task(name))).await;
    }
    store.cancel(&id("b")).await.unwrap();
    let names = |records: Vec<TaskRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.task.id.0).collect()
    };
    assert_eq!(names(store.list(None).await.unwrap()), ["a", "b", "c"]);
    assert_eq!(
        names(store.list(Some(TaskState::Queued)).await.unwrap()),
        ["a", "c"]
    );
    assert_eq!(
        names(store.list(Some(TaskState::Cancelled)).await.unwrap()),
        ["b"]
    );
    assert!(
        store
            .list(Some(TaskState::Leased))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn errors_say_what_happened_and_what_to_do() {
    let lost = StoreError::LeaseLost {
        id: id("T-1"),
        presented: FencingToken(1),
        current: FencingToken(2),
    };
    assert_eq!(
        lost.to_string(),
        "lease on task `T-1` was lost (token 1 presented, 2 is current): stop working on it, \
         another worker owns it now"
    );
    let cancelled = StoreError::InvalidTransition {
        id: id("T-1"),
        from: TaskState::Cancelled,
        action: StoreAction::SaveCheckpoint,
    };
    assert_eq!(
        cancelled.to_string(),
        "cannot save a checkpoint for task `T-1` while it is cancelled: it was cancelled, stop \
         working on it"
    );
    assert!(lost.ownership_lost() && cancelled.ownership_lost());
    assert!(
        !StoreError::Backend {
            message: "disk full".into()
        }
        .ownership_lost()
    );
    assert_eq!(
        serde_json::to_string(&TaskState::Succeeded).unwrap(),
        r#""succeeded""#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_never_lease_the_same_entry_twice() {
    const ENTRIES: usize = 50;
    const WORKERS: usize = 8;
    let store = Arc::new(store());
    for i in 0..ENTRIES {
        enqueue(
            &*store,
            NewTask::new(task(&format!("T-{i}"))).priority((i % 3) as i32),
        )
        .await;
    }
    let mut handles = Vec::new();
    for w in 0..WORKERS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = store.lease(&format!("w{w}"), TTL, 0).await.unwrap() {
                mine.push((lease.task.id.0, lease.token));
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!((all.len(), distinct.len()), (ENTRIES, ENTRIES));
    assert!(all.iter().all(|(_, token)| *token == FencingToken(1)));
    assert_eq!(
        store.list(Some(TaskState::Leased)).await.unwrap().len(),
        ENTRIES
    );
}
