//! The pool tells its `SessionFactory` when a session starts and when its
//! end was written to the store (what agentd's notifiers hang on), and not
//! when a session is cancelled.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit_core::prelude::*;
use agentkit_core::store::TaskState;
use agentkit_core::testing::MemoryProvider;
use agentkit_server::pool::{SessionFactory, WorkerPool};
use agentkit_server::runlog::MemoryRunLog;
use common::*;

/// `Factory`, recording `started`/`recorded` calls with the store's state at
/// the time of `recorded`.
struct Hooked {
    inner: Factory,
    store: Arc<MemoryTaskStore>,
    calls: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl SessionFactory for Hooked {
    fn agent(&self, task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String> {
        self.inner.agent(task, sinks)
    }

    async fn spec(&self, task: &Task) -> SandboxSpec {
        self.inner.spec(task).await
    }

    fn started(&self, task: &Task, attempt: u32) {
        let line = format!("started {} attempt {attempt}", task.id);
        self.calls.lock().unwrap().push(line);
    }

    fn recorded(&self, task: &Task) {
        let (store, calls, id) = (self.store.clone(), self.calls.clone(), task.id.clone());
        // The end is already in the store when this is called.
        tokio::spawn(async move {
            let state = store.get(&id).await.unwrap().unwrap().state;
            calls
                .lock()
                .unwrap()
                .push(format!("recorded {id} {}", state.as_str()));
        });
    }
}

#[tokio::test]
async fn a_finished_session_is_started_then_recorded_and_a_cancelled_one_only_started() {
    let store = Arc::new(MemoryTaskStore::new());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let done = enqueue(&store, "DONE").await;
    let model = script(
        r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]},
            {"tool_calls":[{"name":"slow","arguments":{}}]}]"#,
    );
    let inner = Factory::new(model);
    let counters = inner.counters.clone();
    let pool = WorkerPool::start(
        config("w", 1),
        store.clone(),
        Arc::new(MemoryRunLog::new()),
        Arc::new(MemoryProvider::new()),
        Arc::new(Hooked {
            inner,
            store: store.clone(),
            calls: calls.clone(),
        }),
    );
    assert_eq!(settled(&store, &done).await.state, TaskState::Succeeded);
    until("the recorded call", || calls.lock().unwrap().len() == 2).await;

    let cancelled = enqueue(&store, "CANCELLED").await;
    until("the slow call to start", || counters.running() == 1).await;
    pool.cancel(&cancelled).await.unwrap();
    until("the session to stop", || pool.running().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    pool.shutdown().await;
    assert_eq!(
        calls.lock().unwrap().clone(),
        vec![
            "started DONE attempt 1",
            "recorded DONE succeeded",
            "started CANCELLED attempt 1",
        ]
    );
}
