//! Resume: a task taken over after a crash, or handed back at shutdown,
//! continues from its last checkpoint, workspace included, and never repeats
//! a side effect.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::engine::prompts;
use agentkit_core::event::Event;
use agentkit_core::prelude::*;
use agentkit_core::store::TaskState;
use agentkit_core::testing::MemoryForge;
use agentkit_sandbox::local::LocalProvider;
use agentkit_server::pool::WorkerPool;
use agentkit_server::runlog::{MemoryRunLog, RunLog};
use common::*;

/// Writes two files (one binary), calls `slow`, reads both files, finishes.
const SCRIPT: &str = r#"[
  {"tool_calls":[
    {"name":"write_file","arguments":{"path":"notes.txt","content":"hello from before the crash\n"}},
    {"name":"write_file","arguments":{"path":"data/blob.bin","bytes":[0,159,146,150,255]}}]},
  {"tool_calls":[{"name":"slow","arguments":{}}]},
  {"tool_calls":[
    {"name":"read_file","arguments":{"path":"notes.txt"}},
    {"name":"read_file","arguments":{"path":"data/blob.bin"}}]},
  {"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}
]"#;

struct Setup {
    repo: Repo,
    store: Arc<MemoryTaskStore>,
    log: Arc<MemoryRunLog>,
    forge: Arc<MemoryForge>,
    factory: Arc<Factory>,
}

fn setup(slow: Duration) -> Setup {
    let repo = Repo::new();
    let forge = Arc::new(MemoryForge::new());
    let mut factory = Factory::new(script(SCRIPT));
    factory.slow = slow;
    factory.forge = Some(forge.clone());
    factory.repo = repo.path().display().to_string();
    Setup {
        repo,
        store: Arc::new(MemoryTaskStore::new()),
        log: Arc::new(MemoryRunLog::new()),
        forge,
        factory: Arc::new(factory),
    }
}

impl Setup {
    fn start(&self, name: &str, lease_ttl: Duration) -> agentkit_server::pool::PoolHandle {
        let mut config = config(name, 1);
        config.lease_ttl = lease_ttl;
        WorkerPool::start(
            config,
            self.store.clone(),
            self.log.clone(),
            Arc::new(LocalProvider::new()),
            self.factory.clone(),
        )
    }

    /// What the second attempt's model saw, and checks common to both tests.
    async fn finished_by_the_second_attempt(&self, id: &TaskId) -> Vec<(String, String)> {
        let record = settled(&self.store, id).await;
        assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
        assert_eq!(record.attempts, 2);
        let result = record.result.unwrap();
        assert_eq!(
            (result.success, result.pull_request_url.as_deref()),
            (true, Some("memory://pulls/1"))
        );
        let pulls = self.forge.pull_requests();
        assert_eq!(pulls.len(), 1, "published exactly once");
        // The writes of the first attempt were not repeated.
        assert_eq!(self.factory.counters.writes(), 2);
        assert_eq!(self.factory.counters.slow_runs(), 1);
        let events = self.log.read(id, 0, 10_000).await.unwrap();
        let starts: Vec<bool> = events
            .iter()
            .filter_map(|e| match &e.record.event {
                Event::RunStarted { resumed, .. } => Some(*resumed),
                _ => None,
            })
            .collect();
        assert_eq!(starts.last(), Some(&true), "{starts:?}");
        assert!(self.repo.path().exists());
        last_results(&self.factory.model)
    }
}

fn read_back() -> Vec<(String, String)> {
    vec![
        ("read_file".into(), "hello from before the crash\n".into()),
        ("read_file".into(), "[0, 159, 146, 150, 255]".into()),
    ]
}

#[tokio::test]
async fn a_task_taken_over_after_a_crash_resumes_with_its_workspace_and_repeats_nothing() {
    let s = setup(Duration::from_secs(30));
    let id = enqueue(&s.store, "T-1").await;

    // The first worker runs on its own runtime, which is torn down in the
    // middle of the slow call: no hand-back, no last words, like a kill -9.
    let crashed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let first = {
        let _inside = crashed.enter();
        s.start("crashes", Duration::from_secs(1))
    };
    let counters = s.factory.counters.clone();
    until("the slow call to start", || counters.running() == 1).await;
    crashed.shutdown_background();
    drop(first);

    // The second worker takes the task over once the lease expires.
    let second = s.start("survivor", Duration::from_secs(5));
    let results = s.finished_by_the_second_attempt(&id).await;
    second.shutdown().await;
    let slow = ("slow".to_string(), prompts::INTERRUPTED.to_string());
    assert!(results.contains(&slow), "{results:#?}");
    assert!(results.ends_with(&read_back()), "{results:#?}");
}

#[tokio::test]
async fn graceful_shutdown_lets_the_step_finish_hands_the_lease_back_and_another_pool_resumes() {
    let s = setup(Duration::from_millis(1500));
    let id = enqueue(&s.store, "T-1").await;
    let first = s.start("first", Duration::from_secs(5));
    let counters = s.factory.counters.clone();
    until("the slow call to start", || counters.running() == 1).await;
    let asked = Instant::now();
    first.shutdown().await;
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    let record = s.store.get(&id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (TaskState::Queued, 1));
    assert_eq!(
        record.last_error.as_deref(),
        Some("handed back: the worker shut down before the run ended")
    );
    // The step in flight was finished, not interrupted.
    assert_eq!((counters.running(), counters.slow_runs()), (0, 1));

    let second = s.start("second", Duration::from_secs(5));
    let results = s.finished_by_the_second_attempt(&id).await;
    second.shutdown().await;
    assert!(
        results.contains(&("slow".to_string(), "slept".to_string())),
        "{results:#?}"
    );
    assert!(results.ends_with(&read_back()), "{results:#?}");
}

#[tokio::test]
async fn an_unreadable_checkpoint_starts_the_run_over_with_a_warning() {
    let store = Arc::new(MemoryTaskStore::new());
    let log = Arc::new(MemoryRunLog::new());
    let id = enqueue(&store, "T-1").await;
    let lease = store
        .lease("old", Duration::from_secs(5), 0)
        .await
        .unwrap()
        .unwrap();
    store
        .save_checkpoint(&id, lease.token, b"garbage".to_vec())
        .await
        .unwrap();
    store
        .fail(&id, lease.token, "crashed".into(), Some(0))
        .await
        .unwrap();
    let model = script(r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}]"#);
    let pool = WorkerPool::start(
        config("w", 1),
        store.clone(),
        log.clone(),
        Arc::new(agentkit_core::testing::MemoryProvider::new()),
        Arc::new(Factory::new(model)),
    );
    assert_eq!(settled(&store, &id).await.state, TaskState::Succeeded);
    pool.shutdown().await;
    let events: Vec<Event> = log
        .read(&id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record.event)
        .collect();
    assert_eq!(
        events[0],
        Event::Warning {
            message: "the stored checkpoint was not used, so the run starts over: the 7 stored \
                      bytes are not an agentkit run checkpoint (no `AKCP` header)"
                .into()
        }
    );
    assert!(matches!(
        events[1],
        Event::RunStarted { resumed: false, .. }
    ));
}
