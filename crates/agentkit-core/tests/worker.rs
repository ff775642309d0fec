//! The worker: leases, heartbeats, and how outcomes are recorded.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::event::MemorySink;
use agentkit_core::prelude::*;
use agentkit_core::sandbox::SandboxSpec;
use agentkit_core::store::{NewTask, TaskState};
use agentkit_core::testing::MemoryProvider;
use agentkit_core::worker::{Worker, WorkerError};
use common::*;

fn worker(
    model: Arc<ScriptedModel>,
    store: Arc<MemoryTaskStore>,
    provider: Arc<MemoryProvider>,
) -> Worker {
    let gauge = Gauge::default();
    let agent = Agent::builder(model)
        .tool(Finish)
        .tool(Echo)
        .tool(Sleepy::new("slow", false, Duration::from_secs(30), &gauge))
        .build();
    Worker::new(
        "w1",
        store,
        Arc::new(agent),
        provider,
        Arc::new(|task: &Task| SandboxSpec::new(task.repo.url.clone())),
    )
    .retry_delay(Duration::ZERO)
}

async fn queued(store: &MemoryTaskStore) {
    store.enqueue(NewTask::new(task())).await.unwrap();
}

const FINISH: &str = r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"fixed"}}]}"#;

#[tokio::test]
async fn a_finished_run_is_completed_with_its_summary() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let w = worker(
        script(&format!("[{FINISH}]")),
        store.clone(),
        Arc::new(MemoryProvider::new()),
    );
    let outcome = w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    assert!(outcome.stop_reason.is_success());
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Succeeded);
    let result = record.result.unwrap();
    assert_eq!((result.summary.as_str(), result.success), ("fixed", true));
    assert!(
        w.run_next(CancellationToken::new())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_transient_model_error_is_retried_and_the_retry_succeeds() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let model = script(&format!(
        r#"[{{"error":{{"kind":"transient","message":"overloaded"}}}},{FINISH}]"#
    ));
    let w = worker(model, store.clone(), Arc::new(MemoryProvider::new()));
    let first = w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    assert!(!first.stop_reason.is_success());
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (TaskState::Queued, 1));
    assert!(record.last_error.unwrap().contains("overloaded"));
    w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 2));
}

#[tokio::test]
async fn refused_credentials_fail_the_task_for_good() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let model = script(r#"[{"error":{"kind":"auth","message":"bad key"}}]"#);
    let w = worker(model, store.clone(), Arc::new(MemoryProvider::new()));
    w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Failed);
    assert!(
        w.run_next(CancellationToken::new())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unfinished_run_is_completed_as_unsuccessful() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let model = script(r#"[{"text":"hmm"},{"text":"hmm"},{"text":"hmm"}]"#);
    let w = worker(model, store.clone(), Arc::new(MemoryProvider::new()));
    w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Succeeded);
    let result = record.result.unwrap();
    assert!(!result.success);
    assert_eq!(
        result.summary,
        "the model replied 3 times without calling a tool"
    );
}

#[tokio::test]
async fn a_sandbox_that_cannot_be_created_is_retried_later() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let w = worker(
        script(&format!("[{FINISH}]")),
        store.clone(),
        Arc::new(MemoryProvider::failing("clone failed: disk full")),
    );
    w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Queued);
    assert!(
        record
            .last_error
            .unwrap()
            .contains("clone failed: disk full")
    );
}

#[tokio::test]
async fn a_cancelled_task_stops_its_run_and_nothing_is_overwritten() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    let model = script(r#"[{"tool_calls":[{"name":"slow","arguments":{}}]}]"#);
    let w = worker(model, store.clone(), Arc::new(MemoryProvider::new()))
        .lease_ttl(Duration::from_millis(60));
    let canceller = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel(&task().id).await.unwrap();
    });
    let started = std::time::Instant::now();
    let err = w.run_next(CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, WorkerError::LeaseLost { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run was not cancelled"
    );
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!((record.state, record.result), (TaskState::Cancelled, None));
}

#[tokio::test]
async fn run_processes_the_queue_until_cancelled() {
    let store = Arc::new(MemoryTaskStore::new());
    for i in 0..3 {
        let mut t = task();
        t.id = TaskId(format!("T-{i}"));
        store.enqueue(NewTask::new(t)).await.unwrap();
    }
    let provider = Arc::new(MemoryProvider::new());
    let w = worker(
        script(&format!("[{FINISH},{FINISH},{FINISH}]")),
        store.clone(),
        provider.clone(),
    )
    .idle_poll(Duration::from_millis(10));
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    let watcher = store.clone();
    tokio::spawn(async move {
        for _ in 0..500 {
            let done = watcher
                .list(Some(TaskState::Succeeded))
                .await
                .unwrap()
                .len();
            if done == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stopper.cancel();
    });
    w.run(cancel).await;
    assert_eq!(
        store.list(Some(TaskState::Succeeded)).await.unwrap().len(),
        3
    );
    assert_eq!(provider.created(), 3);
}

/// A worker whose agent reports its events to `sink`.
fn observed_worker(
    model: Arc<ScriptedModel>,
    store: Arc<MemoryTaskStore>,
    sink: Arc<MemorySink>,
) -> Worker {
    let agent = Agent::builder(model)
        .tool(Finish)
        .tool(Echo)
        .tool(Fail)
        .shared_sink(sink)
        .build();
    Worker::new(
        "w1",
        store,
        Arc::new(agent),
        Arc::new(MemoryProvider::new()),
        Arc::new(|task: &Task| SandboxSpec::new(task.repo.url.clone())),
    )
    .retry_delay(Duration::ZERO)
}

#[tokio::test]
async fn a_retried_lease_continues_from_the_last_checkpoint() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    // Replayed from the first step, this script would answer the opening
    // with the error and never finish.
    let model = script(&format!(
        r#"[{{"tool_calls":[{{"name":"echo","arguments":{{"text":"looked"}}}}]}},
            {{"error":{{"kind":"transient","message":"overloaded"}}}},
            {FINISH}]"#
    ));
    let sink = Arc::new(MemorySink::new());
    let w = observed_worker(model.clone(), store.clone(), sink.clone());
    let first = w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    assert_eq!(first.steps, 1);
    let record = store.get(&task().id).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Queued);
    let second = w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    assert_eq!(
        (second.stop_reason, second.steps),
        (
            StopReason::Finished {
                summary: "fixed".into()
            },
            2
        )
    );
    // The resumed run's only model call saw the first attempt's work.
    let last = model.requests().pop().unwrap();
    assert_eq!(
        results(&last.messages)
            .into_iter()
            .map(|r| r.content)
            .collect::<Vec<_>>(),
        vec!["looked".to_string()]
    );
    let resumed: Vec<bool> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RunStarted { resumed, .. } => Some(resumed),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, vec![false, true]);
}

#[tokio::test]
async fn a_workspace_that_could_not_be_captured_makes_the_retry_start_over_with_a_warning() {
    let store = Arc::new(MemoryTaskStore::new());
    queued(&store).await;
    // `fail` is mutating, and the memory sandbox is no git repository: its
    // changes cannot be captured, so resuming would describe edits that are
    // not in the fresh sandbox.
    let model = script(&format!(
        r#"[{{"tool_calls":[{{"name":"fail","arguments":{{}}}}]}},
            {{"error":{{"kind":"transient","message":"overloaded"}}}},
            {FINISH}]"#
    ));
    let sink = Arc::new(MemorySink::new());
    let w = observed_worker(model, store.clone(), sink.clone());
    w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    let second = w.run_next(CancellationToken::new()).await.unwrap().unwrap();
    assert_eq!(second.steps, 1);
    let warnings: Vec<Event> = sink
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Warning { .. }))
        .collect();
    assert_eq!(
        warnings,
        vec![Event::Warning {
            message: "the stored checkpoint was not used, so the run starts over: the workspace's \
                      changes were not saved with it (the workspace is not a git repository, so \
                      its changes cannot be captured)"
                .into()
        }]
    );
}
