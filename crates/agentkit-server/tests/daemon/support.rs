//! A served app over memory backends, and event records to seed logs with.

use std::sync::Arc;

use agentkit_core::event::{Event, EventRecord};
use agentkit_core::store::{MemoryTaskStore, TaskStore};
use agentkit_core::task::TaskId;
use agentkit_server::daemon::workers::{LiveEvent, NoWorkers};
use agentkit_server::daemon::{App, Services};
use agentkit_server::runlog::{MemoryRunLog, RunLog};
use tokio::sync::broadcast;

/// A running app and handles on its backends.
pub struct Served {
    pub base: String,
    pub store: Arc<dyn TaskStore>,
    pub log: Arc<dyn RunLog>,
    pub live: broadcast::Sender<LiveEvent>,
    pub client: reqwest::Client,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON and returns status and body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// GETs JSON and returns status and body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Enqueues a task with `id` in `repo`.
    pub async fn enqueue(&self, id: &str, repo: &str) {
        let (status, _) = self
            .post(
                "/api/tasks",
                serde_json::json!({"task": {"id": id, "title": format!("title of {id}"), "repo": repo}}),
            )
            .await;
        assert_eq!(status, 201);
    }
}

/// Serves an app over fresh memory backends; `adjust` may change the services.
pub async fn serve_with(token: Option<&str>, adjust: impl FnOnce(&mut Services)) -> Served {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryTaskStore::new());
    let log: Arc<dyn RunLog> = Arc::new(MemoryRunLog::new());
    let workers = NoWorkers::new(store.clone());
    let live = workers.sender();
    let mut services = Services::new(store.clone(), log.clone(), Arc::new(workers));
    adjust(&mut services);
    let router = App::new(services)
        .with_token(token.map(str::to_string))
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum_serve(listener, router).await });
    Served {
        base: format!("http://{addr}"),
        store,
        log,
        live,
        client: reqwest::Client::new(),
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: agentkit_server::daemon::Router) {
    agentkit_server::daemon::serve(listener, router)
        .await
        .unwrap();
}

pub async fn serve() -> Served {
    serve_with(None, |_| {}).await
}

/// A record of `event` for `task`.
pub fn record(task: &str, at_ms: u64, event: Event) -> EventRecord {
    EventRecord {
        seq: at_ms,
        task_id: Some(TaskId(task.into())),
        at_ms,
        event,
    }
}

/// A small distinct event.
pub fn nudge(task: &str, n: u64) -> EventRecord {
    record(
        task,
        n,
        Event::Nudged {
            message: format!("m{n}"),
        },
    )
}
