//! The [`TaskStore`] contract as runnable checks, for every backend.
//!
//! Each case is a public `async fn(Arc<dyn TaskStore>)` that panics (with an
//! `assert_eq!` diff) when the store breaks the [contract](super). The cases go
//! through the trait only, so they run unchanged against the memory store, the
//! SQL stores of `agentkit-server`, and a store of your own.
//! [`task_store_conformance!`](crate::task_store_conformance) turns them into
//! one `#[tokio::test]` per case, each with a fresh, empty store from your
//! factory.
//!
//! Enabled by the `conformance` feature of `agentkit-core` (use it from
//! `[dev-dependencies]`). The generated tests need `tokio` with the `macros`
//! and `rt-multi-thread` features.
//!
//! ```
//! use agentkit_core::store::MemoryTaskStore;
//! use agentkit_core::store::conformance::StoreUnderTest;
//!
//! async fn fresh() -> Option<StoreUnderTest> {
//!     Some(StoreUnderTest::new(MemoryTaskStore::new()))
//! }
//!
//! agentkit_core::task_store_conformance!(fresh);
//! # fn main() {}
//! ```
//!
//! A factory returns `None` when the store cannot run here (its server is not
//! installed): it says so (`SKIPPED: …`) and the case passes without running.
//! A store that needs a resource to outlive it (a temporary directory, a
//! database to drop) hands it over with [`StoreUnderTest::keeping`].
//!
//! Lease decisions use the `now_ms` the cases pass (small numbers from 0), so
//! a store must never consult its own clock for them; `created_at_ms` and
//! `updated_at_ms` only have to be ordered.

mod queue;
mod writes;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

pub use queue::*;
pub use writes::*;

use super::{Lease, NewTask, TaskRecord, TaskResult, TaskState, TaskStore};
use crate::task::{RepoRef, Task, TaskId};

/// A fresh, empty store for one case, and whatever must live as long as it.
pub struct StoreUnderTest {
    /// The store the case runs against (declared first: dropped before the
    /// guards, which may delete what it uses).
    pub store: Arc<dyn TaskStore>,
    keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl StoreUnderTest {
    /// Wraps `store`.
    pub fn new(store: impl TaskStore + 'static) -> Self {
        Self {
            store: Arc::new(store),
            keep: Vec::new(),
        }
    }

    /// Keeps `guard` (a temporary directory, a database handle) alive until
    /// the case ends, and drops it after the store.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self.keep.push(Box::new(guard));
        self
    }
}

/// Generates one `#[tokio::test]` per conformance case, each running against
/// a fresh store from `$factory` (an `async fn() -> Option<StoreUnderTest>`,
/// `None` to skip). See the
/// [`conformance`](crate::store::conformance) module.
#[macro_export]
macro_rules! task_store_conformance {
    ($factory:path) => {
        $crate::task_store_conformance!(@cases $factory;
            enqueue_is_idempotent_by_key_and_by_task_id,
            enqueue_stores_a_queued_record,
            leases_by_priority_then_first_in_first_out,
            lease_many_takes_the_best_ready_entries_in_order,
            run_at_delays_the_lease,
            a_lease_is_recorded_and_returned_whole,
            an_expired_lease_is_taken_over_with_a_new_token,
            an_expired_lease_not_taken_over_still_accepts_its_owner,
            heartbeats_extend_the_lease,
            failures_retry_until_max_attempts_then_the_task_is_failed,
            a_failure_without_retry_is_final,
            a_lease_expiring_on_the_last_attempt_fails_the_task,
            a_stale_token_is_refused_on_every_write_and_the_new_owner_wins,
            cancel_stops_queued_and_leased_tasks,
            terminal_states_are_never_left,
            the_checkpoint_is_handed_to_the_next_lease,
            unknown_ids_are_not_found,
            list_filters_by_state_in_enqueue_order,
            concurrent_workers_never_lease_the_same_entry_twice,
            wait_for_work_wakes_on_enqueue,
            wait_for_work_wakes_on_a_retry,
            wait_for_work_returns_after_its_timeout,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let subject: ::std::option::Option<$crate::store::conformance::StoreUnderTest> =
                    $factory().await;
                if let ::std::option::Option::Some(subject) = subject {
                    $crate::store::conformance::$case(::std::sync::Arc::clone(&subject.store))
                        .await;
                }
            }
        )*
    };
}

/// The lease length every case uses.
pub const TTL: Duration = Duration::from_secs(10);

/// A task named `id` (title `title {id}`, body `body`, repository `.`).
pub fn task(id: &str) -> Task {
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
    let key = new.key().to_string();
    let enqueued = store.enqueue(new).await.unwrap();
    assert!(enqueued.created, "`{key}` was enqueued before");
}

async fn lease(store: &dyn TaskStore, worker: &str, now: u64) -> Lease {
    store
        .lease(worker, TTL, now)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("nothing to lease at {now} ms"))
}

async fn leased_ids(store: &dyn TaskStore, now: u64) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(lease) = store.lease("w", TTL, now).await.unwrap() {
        ids.push(lease.task.id.0);
    }
    ids
}

async fn record(store: &dyn TaskStore, s: &str) -> TaskRecord {
    store
        .get(&id(s))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("task `{s}` is not stored"))
}

async fn state(store: &dyn TaskStore, s: &str) -> TaskState {
    record(store, s).await.state
}

/// `expected` with the store's bookkeeping timestamps, after checking they
/// are ordered (the store's clock is its own).
fn with_timestamps_of(actual: &TaskRecord, expected: TaskRecord) -> TaskRecord {
    assert!(
        actual.created_at_ms <= actual.updated_at_ms,
        "created at {} ms, after its last update at {} ms",
        actual.created_at_ms,
        actual.updated_at_ms
    );
    TaskRecord {
        created_at_ms: actual.created_at_ms,
        updated_at_ms: actual.updated_at_ms,
        ..expected
    }
}
