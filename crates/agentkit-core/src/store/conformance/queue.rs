//! Cases: idempotent enqueue, lease order and delays, leases and take-overs,
//! heartbeats, attempts and retries.

use std::sync::Arc;

use super::{TTL, enqueue, id, lease, leased_ids, record, result, state, task, with_timestamps_of};
use crate::store::{
    Enqueued, FencingToken, Lease, LeaseHolder, NewTask, StoreAction, StoreError, TaskRecord,
    TaskState, TaskStore,
};

/// Enqueueing again with a stored key or task id returns the stored entry.
pub async fn enqueue_is_idempotent_by_key_and_by_task_id(store: Arc<dyn TaskStore>) {
    let store = &*store;
    let enqueued = |s: &str, created| Enqueued { id: id(s), created };
    let first = store.enqueue(NewTask::new(task("T-1")).idempotency_key("gh:7"));
    assert_eq!(first.await.unwrap(), enqueued("T-1", true));
    // Same key, different task: the existing entry comes back.
    let again = store.enqueue(NewTask::new(task("T-2")).idempotency_key("gh:7"));
    assert_eq!(again.await.unwrap(), enqueued("T-1", false));
    // Same task id, other key: still the same entry, never a second one.
    let by_id = store.enqueue(NewTask::new(task("T-1")).idempotency_key("other"));
    assert_eq!(by_id.await.unwrap(), enqueued("T-1", false));
    // Without a key the task id is the key.
    enqueue(store, NewTask::new(task("T-3"))).await;
    let dup = store.enqueue(NewTask::new(task("T-3")));
    assert_eq!(dup.await.unwrap(), enqueued("T-3", false));
    let all = store.list(None).await.unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|r| (r.id().0.as_str(), r.idempotency_key.as_str()))
        .collect();
    assert_eq!(keys, [("T-1", "gh:7"), ("T-3", "T-3")]);
}

/// A new entry is stored whole, `Queued`, with 0 attempts stored as 1.
pub async fn enqueue_stores_a_queued_record(store: Arc<dyn TaskStore>) {
    let store = &*store;
    let new = NewTask::new(task("T-1")).priority(3).run_at_ms(50);
    enqueue(store, new.max_attempts(0)).await;
    let actual = record(store, "T-1").await;
    let expected = TaskRecord {
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
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    assert_eq!(actual, with_timestamps_of(&actual, expected));
    assert_eq!(store.get(&id("nope")).await.unwrap(), None);
}

/// Highest priority first, first enqueued first within a priority.
pub async fn leases_by_priority_then_first_in_first_out(store: Arc<dyn TaskStore>) {
    let store = &*store;
    for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)] {
        enqueue(store, NewTask::new(task(name)).priority(priority)).await;
    }
    assert_eq!(leased_ids(store, 0).await, ["f", "b", "d", "a", "c", "e"]);
}

/// `lease_many` hands out the best ready entries in lease order, an expired
/// lease with attempts left among them, each with its own attempt and token.
pub async fn lease_many_takes_the_best_ready_entries_in_order(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("old")).priority(4)).await;
    let old = lease(store, "a", 0).await;
    for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 3)] {
        enqueue(store, NewTask::new(task(name)).priority(priority)).await;
    }
    enqueue(
        store,
        NewTask::new(task("later")).priority(9).run_at_ms(50_000),
    )
    .await;
    assert_eq!(store.lease_many("w", TTL, 10_000, 0).await.unwrap(), []);
    // At 10 s the lease of `old` has expired: it is taken over in its place.
    let got = store.lease_many("w", TTL, 10_000, 3).await.unwrap();
    let summary: Vec<_> = got
        .iter()
        .map(|l| (l.task.id.0.as_str(), l.token.0, l.attempt, l.expires_at_ms))
        .collect();
    assert_eq!(
        summary,
        [
            ("b", 1, 1, 20_000),
            ("old", 2, 2, 20_000),
            ("d", 1, 1, 20_000)
        ]
    );
    assert_eq!(old.token, FencingToken(1));
    let rest = store.lease_many("w", TTL, 10_000, 10).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|l| l.task.id.0.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(store.lease_many("w", TTL, 10_000, 10).await.unwrap(), []);
    let leased = store.list(Some(TaskState::Leased)).await.unwrap();
    assert_eq!(leased.len(), 5);
}

/// An entry is not leased before its `run_at_ms`.
pub async fn run_at_delays_the_lease(store: Arc<dyn TaskStore>) {
    let store = &*store;
    let later = NewTask::new(task("later")).priority(9).run_at_ms(100);
    enqueue(store, later).await;
    enqueue(store, NewTask::new(task("now"))).await;
    assert_eq!(leased_ids(store, 99).await, ["now"]);
    assert_eq!(leased_ids(store, 100).await, ["later"]);
}

/// A lease comes back whole, is recorded, and is not handed out twice.
pub async fn a_lease_is_recorded_and_returned_whole(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1")).priority(2)).await;
    let got = lease(store, "w1", 1_000).await;
    let expected = Lease {
        task: task("T-1"),
        token: FencingToken(1),
        attempt: 1,
        expires_at_ms: 11_000,
        checkpoint: None,
    };
    assert_eq!(got, expected);
    let actual = record(store, "T-1").await;
    let expected = TaskRecord {
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
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    assert_eq!(actual, with_timestamps_of(&actual, expected));
    // A valid lease is not handed out again.
    assert_eq!(store.lease("w2", TTL, 10_999).await.unwrap(), None);
}

/// An expired lease is leased again with the next token and attempt.
pub async fn an_expired_lease_is_taken_over_with_a_new_token(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let a = lease(store, "a", 0).await;
    let b = lease(store, "b", 10_000).await;
    assert_eq!((a.token, a.attempt), (FencingToken(1), 1));
    assert_eq!((b.token, b.attempt), (FencingToken(2), 2));
    let holder = LeaseHolder {
        worker: "b".into(),
        expires_at_ms: 20_000,
    };
    assert_eq!(record(store, "T-1").await.lease, Some(holder));
}

/// An expired lease nobody took over still belongs to its holder.
pub async fn an_expired_lease_not_taken_over_still_accepts_its_owner(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let a = lease(store, "a", 0).await;
    // Expired at 10_000, but nobody leased it: the heartbeat revives it.
    let revived = store.heartbeat(&id("T-1"), a.token, TTL, 15_000).await;
    assert_eq!(revived, Ok(25_000));
    assert_eq!(store.lease("b", TTL, 24_999).await.unwrap(), None);
    assert_eq!(lease(store, "b", 25_000).await.token, FencingToken(2));
}

/// Heartbeats move the expiry to `now + ttl`.
pub async fn heartbeats_extend_the_lease(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let a = lease(store, "a", 0).await;
    for now in [5_000, 12_000, 19_000] {
        let extended = store.heartbeat(&id("T-1"), a.token, TTL, now).await;
        assert_eq!(extended, Ok(now + 10_000));
        assert_eq!(store.lease("b", TTL, now + 9_999).await.unwrap(), None);
    }
    let holder = LeaseHolder {
        worker: "a".into(),
        expires_at_ms: 29_000,
    };
    assert_eq!(record(store, "T-1").await.lease, Some(holder));
}

/// `fail` with a retry time requeues until the attempts run out.
pub async fn failures_retry_until_max_attempts_then_the_task_is_failed(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1")).max_attempts(2)).await;
    let t = id("T-1");
    let first = lease(store, "w", 0).await;
    let failed = store.fail(&t, first.token, "tests failed".into(), Some(500));
    failed.await.unwrap();
    let r = record(store, "T-1").await;
    assert_eq!(
        (r.state, r.attempts, r.run_at_ms, r.lease, r.last_error),
        (
            TaskState::Queued,
            1,
            Some(500),
            None,
            Some("tests failed".into())
        )
    );
    // Not before retry_at.
    assert_eq!(store.lease("w", TTL, 499).await.unwrap(), None);
    let second = lease(store, "w", 500).await;
    assert_eq!((second.attempt, second.token), (2, FencingToken(2)));
    // No attempts left: a retry request still ends the task.
    let failed = store.fail(&t, second.token, "still failing".into(), Some(1_000));
    failed.await.unwrap();
    let r = record(store, "T-1").await;
    assert_eq!(
        (r.state, r.attempts, r.last_error),
        (TaskState::Failed, 2, Some("still failing".into()))
    );
    assert_eq!(store.lease("w", TTL, 10_000).await.unwrap(), None);
}

/// `fail` without a retry time is final.
pub async fn a_failure_without_retry_is_final(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let l = lease(store, "w", 0).await;
    let t = id("T-1");
    store
        .fail(&t, l.token, "bad ticket".into(), None)
        .await
        .unwrap();
    assert_eq!(state(store, "T-1").await, TaskState::Failed);
}

/// A lease that expires on the last attempt fails the task at the next lease.
pub async fn a_lease_expiring_on_the_last_attempt_fails_the_task(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1")).max_attempts(1)).await;
    let l = lease(store, "crashy", 0).await;
    assert_eq!(store.lease("w", TTL, 10_000).await.unwrap(), None);
    let r = record(store, "T-1").await;
    assert_eq!(
        (r.state, r.lease, r.last_error.as_deref()),
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
