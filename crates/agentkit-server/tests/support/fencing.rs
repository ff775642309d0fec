//! Workers racing for the same tasks with short leases, on any store: no
//! two holders' leases of one task ever overlap, and every write with a
//! stale token is refused.
//!
//! Each worker leases with the real clock and a short TTL, then runs a few
//! steps, heartbeating before each; now and then it stalls past its TTL, so
//! other workers take its task over. Per token, the run's *interval* is
//! from the `now_ms` it leased at to the last expiry the store granted it
//! (lease or accepted heartbeat), or the time it completed. The store only
//! hands a task over at or after the current expiry, so sorted by token the
//! intervals of one task must not overlap: an overlap is a second holder
//! the store let run (or a stale heartbeat it accepted).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Rng;
use agentkit_core::event::now_ms;
use agentkit_core::store::conformance::task;
use agentkit_core::store::{FencingToken, NewTask, StoreError, TaskResult, TaskState, TaskStore};

/// The lease TTL the workers use.
const TTL: Duration = Duration::from_millis(60);
const STEPS: u32 = 4;

/// One holder's run of one task.
#[derive(Debug, Clone)]
struct Run {
    worker: usize,
    token: FencingToken,
    start_ms: u64,
    end_ms: u64,
    completed: bool,
}

/// What the race saw.
#[derive(Debug)]
pub struct RaceReport {
    /// Takeovers observed (writes refused with `LeaseLost`).
    pub refused: usize,
    /// Leases taken in total.
    pub leases: usize,
}

/// Enqueues `tasks` tasks and lets one worker per store race for them until
/// all are done; panics on an overlap or an accepted stale write.
pub async fn race(stores: Vec<Arc<dyn TaskStore>>, tasks: usize, seed: u64) -> RaceReport {
    for i in 0..tasks {
        let new = NewTask::new(task(&format!("F-{i}"))).max_attempts(1_000);
        stores[i % stores.len()].enqueue(new).await.unwrap();
    }
    let runs: Arc<Mutex<BTreeMap<String, Vec<Run>>>> = Arc::default();
    let refused = Arc::new(Mutex::new(0usize));
    let mut handles = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        let (store, runs, refused) = (Arc::clone(store), Arc::clone(&runs), Arc::clone(&refused));
        let mut rng = Rng(seed.wrapping_mul(2_654_435_761).wrapping_add(w as u64 + 1));
        handles.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let start_ms = now_ms();
                let Some(lease) = store.lease(&format!("w{w}"), TTL, start_ms).await.unwrap()
                else {
                    idle += 1;
                    store.wait_for_work(Duration::from_millis(20)).await;
                    continue;
                };
                idle = 0;
                let id = lease.task.id.clone();
                let mut run = Run {
                    worker: w,
                    token: lease.token,
                    start_ms,
                    end_ms: lease.expires_at_ms,
                    completed: false,
                };
                let mut lost = None;
                for _ in 0..STEPS {
                    // One step in six stalls past the TTL.
                    let pause = if rng.below(6) == 0 { 90 } else { rng.below(15) };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    match store.heartbeat(&id, lease.token, TTL, now_ms()).await {
                        Ok(expires) => run.end_ms = expires,
                        Err(err) => {
                            lost = Some(err);
                            break;
                        }
                    }
                }
                if lost.is_none() {
                    let at = now_ms();
                    let result = TaskResult {
                        summary: format!("w{w} with token {}", lease.token),
                        pull_request_url: None,
                        success: true,
                    };
                    match store.complete(&id, lease.token, result).await {
                        Ok(()) => {
                            run.end_ms = at;
                            run.completed = true;
                        }
                        Err(err) => lost = Some(err),
                    }
                }
                if let Some(err) = lost {
                    let StoreError::LeaseLost { current, .. } = &err else {
                        panic!("w{w}: a refused write must be LeaseLost, got {err}");
                    };
                    assert!(*current > lease.token, "{err}");
                    // Every other write with the stale token is refused too.
                    let stale = store.save_checkpoint(&id, lease.token, b"stale".to_vec());
                    assert!(matches!(stale.await, Err(StoreError::LeaseLost { .. })));
                    let result = TaskResult {
                        summary: "stale".into(),
                        pull_request_url: None,
                        success: false,
                    };
                    let stale = store.complete(&id, lease.token, result).await;
                    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })));
                    *refused.lock().unwrap() += 1;
                }
                runs.lock()
                    .unwrap()
                    .entry(id.0.clone())
                    .or_default()
                    .push(run);
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }

    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), tasks, "some tasks were never leased");
    let mut leases = 0;
    for (id, mut task_runs) in runs {
        leases += task_runs.len();
        task_runs.sort_by_key(|r| r.token);
        for pair in task_runs.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                a.end_ms <= b.start_ms,
                "task {id}: token {} (w{}) held it until {} ms, but token {} (w{}) leased it at \
                 {} ms",
                a.token,
                a.worker,
                a.end_ms,
                b.token,
                b.worker,
                b.start_ms
            );
        }
        let completed: Vec<_> = task_runs.iter().filter(|r| r.completed).collect();
        assert_eq!(
            completed.len(),
            1,
            "task {id} was completed {} times",
            completed.len()
        );
        let record = stores[0]
            .get(&agentkit_core::task::TaskId(id.clone()))
            .await
            .unwrap();
        let record = record.unwrap();
        let winner = completed[0];
        assert_eq!(
            (record.state, record.token, record.result.map(|r| r.summary)),
            (
                TaskState::Succeeded,
                winner.token,
                Some(format!("w{} with token {}", winner.worker, winner.token))
            )
        );
    }
    let refused = *refused.lock().unwrap();
    RaceReport { refused, leases }
}
