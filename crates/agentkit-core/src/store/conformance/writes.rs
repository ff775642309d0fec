//! Cases: fencing on every write, cancel, terminal states, checkpoints,
//! unknown ids, listing, concurrent leases, and wake-ups.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{TTL, enqueue, id, lease, record, result, state, task};
use crate::store::{
    Enqueued, FencingToken, NewTask, StoreAction, StoreError, TaskRecord, TaskState, TaskStore,
};

/// After a take-over every write with the old token is refused with
/// `LeaseLost`, and the new owner's writes are accepted.
pub async fn a_stale_token_is_refused_on_every_write_and_the_new_owner_wins(
    store: Arc<dyn TaskStore>,
) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let t = id("T-1");
    let a = lease(store, "a", 0).await;
    let saved = store.save_checkpoint(&t, a.token, b"a-1".to_vec());
    saved.await.unwrap();
    // A stops heartbeating; its lease expires and B takes over.
    let b = lease(store, "b", 10_000).await;
    assert_eq!(b.checkpoint, Some(b"a-1".to_vec()));
    let lost = Err(StoreError::LeaseLost {
        id: t.clone(),
        presented: a.token,
        current: b.token,
    });
    let heartbeat = store.heartbeat(&t, a.token, TTL, 10_001).await;
    assert_eq!(heartbeat, lost.clone().map(|()| 0));
    let checkpoint = store.save_checkpoint(&t, a.token, b"a-2".to_vec()).await;
    assert_eq!(checkpoint, lost);
    let complete = store.complete(&t, a.token, result("from a")).await;
    assert_eq!(complete, lost);
    let fail = store.fail(&t, a.token, "a broke".into(), Some(0)).await;
    assert_eq!(fail, lost);

    assert_eq!(store.heartbeat(&t, b.token, TTL, 10_001).await, Ok(20_001));
    let saved = store.save_checkpoint(&t, b.token, b"b-1".to_vec());
    saved.await.unwrap();
    store.complete(&t, b.token, result("from b")).await.unwrap();
    // After B finished, A is still told its lease is lost.
    let late = store.complete(&t, a.token, result("from a")).await;
    assert_eq!(late, lost);

    let r = record(store, "T-1").await;
    assert_eq!(
        (r.state, r.result, r.token, r.attempts),
        (
            TaskState::Succeeded,
            Some(result("from b")),
            FencingToken(2),
            2
        )
    );
    assert_eq!(store.lease("c", TTL, 100_000).await.unwrap(), None);
}

/// Cancel ends queued and leased entries; the running worker is told to stop.
pub async fn cancel_stops_queued_and_leased_tasks(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("queued"))).await;
    enqueue(store, NewTask::new(task("leased")).priority(1)).await;
    let l = lease(store, "w", 0).await;
    assert_eq!(l.task.id, id("leased"));

    store.cancel(&id("queued")).await.unwrap();
    store.cancel(&id("leased")).await.unwrap();
    // Cancelling again is a no-op.
    store.cancel(&id("leased")).await.unwrap();
    assert_eq!(state(store, "queued").await, TaskState::Cancelled);
    assert_eq!(store.lease("w", TTL, 100_000).await.unwrap(), None);

    // The worker still running it is told to stop on its next write.
    let stop = |action| StoreError::InvalidTransition {
        id: id("leased"),
        from: TaskState::Cancelled,
        action,
    };
    let t = id("leased");
    let heartbeat = store.heartbeat(&t, l.token, TTL, 1).await;
    assert_eq!(heartbeat, Err(stop(StoreAction::Heartbeat)));
    let checkpoint = store.save_checkpoint(&t, l.token, vec![1]).await;
    assert_eq!(checkpoint, Err(stop(StoreAction::SaveCheckpoint)));
    let complete = store.complete(&t, l.token, result("done")).await;
    assert_eq!(complete, Err(stop(StoreAction::Complete)));
    let fail = store.fail(&t, l.token, "x".into(), Some(5)).await;
    assert_eq!(fail, Err(stop(StoreAction::Fail)));
    let r = record(store, "leased").await;
    assert_eq!(
        (r.state, r.lease, r.result, r.token),
        (TaskState::Cancelled, None, None, l.token)
    );
}

/// `Succeeded` and `Failed` refuse every write, cancel and re-enqueue.
pub async fn terminal_states_are_never_left(store: Arc<dyn TaskStore>) {
    let store = &*store;
    for name in ["ok", "dead"] {
        enqueue(store, NewTask::new(task(name))).await;
    }
    let ok = lease(store, "w", 0).await;
    let dead = lease(store, "w", 0).await;
    let (ok_id, dead_id) = (id("ok"), id("dead"));
    store
        .complete(&ok_id, ok.token, result("done"))
        .await
        .unwrap();
    store
        .fail(&dead_id, dead.token, "gave up".into(), None)
        .await
        .unwrap();

    for (name, token, from) in [
        ("ok", ok.token, TaskState::Succeeded),
        ("dead", dead.token, TaskState::Failed),
    ] {
        let t = id(name);
        let refused = |action| {
            Err(StoreError::InvalidTransition {
                id: t.clone(),
                from,
                action,
            })
        };
        let complete = store.complete(&t, token, result("again")).await;
        assert_eq!(complete, refused(StoreAction::Complete));
        let fail = store.fail(&t, token, "again".into(), Some(0)).await;
        assert_eq!(fail, refused(StoreAction::Fail));
        let heartbeat = store.heartbeat(&t, token, TTL, 0).await;
        assert_eq!(heartbeat, refused(StoreAction::Heartbeat).map(|()| 0));
        assert_eq!(store.cancel(&t).await, refused(StoreAction::Cancel));
        assert_eq!(state(store, name).await, from);
        // Re-enqueueing a finished task changes nothing.
        let again = store.enqueue(NewTask::new(task(name))).await.unwrap();
        assert_eq!(
            again,
            Enqueued {
                id: t.clone(),
                created: false
            }
        );
    }
    assert_eq!(store.lease("w", TTL, u64::MAX).await.unwrap(), None);
    let succeeded = store.list(Some(TaskState::Succeeded)).await.unwrap();
    let results: Vec<_> = succeeded.into_iter().map(|r| r.result).collect();
    assert_eq!(results, [Some(result("done"))]);
}

/// The last checkpoint survives a retry and comes with the next lease.
pub async fn the_checkpoint_is_handed_to_the_next_lease(store: Arc<dyn TaskStore>) {
    let store = &*store;
    enqueue(store, NewTask::new(task("T-1"))).await;
    let t = id("T-1");
    let first = lease(store, "w", 0).await;
    assert_eq!(first.checkpoint, None);
    for turn in ["turn 1", "turn 2"] {
        let saved = store.save_checkpoint(&t, first.token, turn.as_bytes().to_vec());
        saved.await.unwrap();
    }
    let failed = store.fail(&t, first.token, "sandbox died".into(), Some(0));
    failed.await.unwrap();
    let second = lease(store, "w", 0).await;
    assert_eq!(second.checkpoint, Some(b"turn 2".to_vec()));
    // Binary, not text: every byte value survives.
    let bytes: Vec<u8> = (0..=255).collect();
    let saved = store.save_checkpoint(&t, second.token, bytes.clone());
    saved.await.unwrap();
    let third = lease(store, "w", 20_000).await;
    assert_eq!(third.checkpoint, Some(bytes));
}

/// Every operation on an unknown id is `NotFound`.
pub async fn unknown_ids_are_not_found(store: Arc<dyn TaskStore>) {
    let store = &*store;
    let t = id("ghost");
    let not_found = Err(StoreError::NotFound { id: t.clone() });
    let token = FencingToken(1);
    let heartbeat = store.heartbeat(&t, token, TTL, 0).await;
    assert_eq!(heartbeat, not_found.clone().map(|()| 0));
    let checkpoint = store.save_checkpoint(&t, token, vec![]).await;
    assert_eq!(checkpoint, not_found);
    let complete = store.complete(&t, token, result("x")).await;
    assert_eq!(complete, not_found);
    let fail = store.fail(&t, token, "x".into(), None).await;
    assert_eq!(fail, not_found);
    assert_eq!(store.cancel(&t).await, not_found);
}

/// `list` keeps enqueue order and filters by state.
pub async fn list_filters_by_state_in_enqueue_order(store: Arc<dyn TaskStore>) {
    let store = &*store;
    for name in ["a", "b", "c"] {
        enqueue(store, NewTask::new(task(name))).await;
    }
    store.cancel(&id("b")).await.unwrap();
    let names = |records: Vec<TaskRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.task.id.0).collect()
    };
    assert_eq!(names(store.list(None).await.unwrap()), ["a", "b", "c"]);
    let queued = store.list(Some(TaskState::Queued)).await.unwrap();
    assert_eq!(names(queued), ["a", "c"]);
    let cancelled = store.list(Some(TaskState::Cancelled)).await.unwrap();
    assert_eq!(names(cancelled), ["b"]);
    let leased = store.list(Some(TaskState::Leased)).await.unwrap();
    assert_eq!(names(leased), Vec::<String>::new());
}

/// Eight workers leasing at once get every entry exactly once.
pub async fn concurrent_workers_never_lease_the_same_entry_twice(store: Arc<dyn TaskStore>) {
    const ENTRIES: usize = 50;
    const WORKERS: usize = 8;
    for i in 0..ENTRIES {
        let new = NewTask::new(task(&format!("T-{i}"))).priority((i % 3) as i32);
        enqueue(&*store, new).await;
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
    let tokens: HashSet<_> = all.iter().map(|(_, token)| *token).collect();
    assert_eq!(tokens, HashSet::from([FencingToken(1)]));
    let leased = store.list(Some(TaskState::Leased)).await.unwrap();
    assert_eq!(leased.len(), ENTRIES);
}

/// How long a waiter may take to notice work (far below its timeout).
const WAKE_WITHIN: Duration = Duration::from_secs(5);
/// The timeout waiters are given: a store that just sleeps fails the case.
const LONG_WAIT: Duration = Duration::from_secs(60);

/// Runs `wake` while a worker waits for work, and checks the wait ends early.
async fn assert_wakes<F>(store: &Arc<dyn TaskStore>, what: &str, wake: F)
where
    F: std::future::Future<Output = ()>,
{
    let waiter = Arc::clone(store);
    let waiting = tokio::spawn(async move { waiter.wait_for_work(LONG_WAIT).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    wake.await;
    let woke = tokio::time::timeout(WAKE_WITHIN, waiting).await;
    assert!(
        matches!(woke, Ok(Ok(()))),
        "a worker waiting for work was not woken within {WAKE_WITHIN:?} by {what}"
    );
}

/// A worker in `wait_for_work` wakes up when a task is enqueued.
pub async fn wait_for_work_wakes_on_enqueue(store: Arc<dyn TaskStore>) {
    assert_wakes(&store, "an enqueue", async {
        enqueue(&*store, NewTask::new(task("T-1"))).await;
    })
    .await;
    assert_eq!(lease(&*store, "w", 0).await.task.id, id("T-1"));
}

/// A worker in `wait_for_work` wakes up when a failed lease is requeued.
pub async fn wait_for_work_wakes_on_a_retry(store: Arc<dyn TaskStore>) {
    enqueue(&*store, NewTask::new(task("T-1"))).await;
    let l = lease(&*store, "w", 0).await;
    // Let any wake-up left over from the enqueue arrive and be used up.
    store.wait_for_work(Duration::from_millis(200)).await;
    assert_wakes(&store, "a failed lease requeued for a retry", async {
        let failed = store.fail(&l.task.id, l.token, "flaky".into(), Some(0));
        failed.await.unwrap();
    })
    .await;
    assert_eq!(lease(&*store, "w", 0).await.token, FencingToken(2));
}

/// With nothing happening, `wait_for_work` returns once its timeout passes.
pub async fn wait_for_work_returns_after_its_timeout(store: Arc<dyn TaskStore>) {
    let waited = tokio::time::timeout(WAKE_WITHIN, store.wait_for_work(Duration::from_millis(50)));
    assert!(
        waited.await.is_ok(),
        "wait_for_work(50 ms) still waiting after {WAKE_WITHIN:?}"
    );
}
