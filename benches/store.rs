//! Task-store throughput: enqueue → lease → complete, end to end.
//!
//! ```text
//! cargo bench --bench store --features server                  # SQLite
//! cargo bench --bench store --features server-postgres         # and PostgreSQL
//! ```
//!
//! Each backend gets `TASKS` tasks enqueued, then `WORKERS` concurrent
//! workers lease and complete them until the queue is empty. The figure is
//! tasks per second through the whole pipeline (enqueue time included).
//! SQLite runs on a file in the temporary directory (WAL, `synchronous =
//! NORMAL`); PostgreSQL is a private server started for the bench from
//! Debian's packages (its default durability: every commit flushed),
//! reached over a unix socket, each worker with its own connection pool.
//! Goals on the 2-core reference machine: SQLite ≥ 1,000/s, PostgreSQL with
//! 4 workers ≥ 2,000/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit::core::event::now_ms;
use agentkit::core::prelude::*;
use agentkit::core::store::{NewTask, TaskResult};
use agentkit::server::store::SqliteTaskStore;

#[cfg(feature = "server-postgres")]
#[path = "../crates/agentkit-server/tests/support/postgres.rs"]
mod postgres;

const TASKS: usize = 4_000;
const WORKERS: usize = 4;
const TTL: Duration = Duration::from_secs(60);

struct Figures {
    enqueue: Duration,
    drain: Duration,
}

impl Figures {
    fn print(&self, backend: &str, workers: usize) {
        let total = self.enqueue + self.drain;
        println!(
            "{backend:<30} {workers} worker(s): {:>7.0} tasks/s end to end \
             (enqueue {:>7.0}/s, lease+complete {:>7.0}/s; {TASKS} tasks in {:.2} s)",
            TASKS as f64 / total.as_secs_f64(),
            TASKS as f64 / self.enqueue.as_secs_f64(),
            TASKS as f64 / self.drain.as_secs_f64(),
            total.as_secs_f64(),
        );
    }
}

/// Enqueues on `stores[0]`, then drains with one worker per store.
async fn pipeline(stores: Vec<Arc<dyn TaskStore>>) -> Figures {
    let start = Instant::now();
    for i in 0..TASKS {
        let task = Task::new(format!("B-{i}"), "bench", "body", RepoRef::new("."));
        stores[0]
            .enqueue(NewTask::new(task))
            .await
            .expect("enqueue");
    }
    let enqueue = start.elapsed();
    let start = Instant::now();
    let mut workers = Vec::new();
    for (w, store) in stores.into_iter().enumerate() {
        workers.push(tokio::spawn(async move {
            let mut done = 0;
            let name = format!("w{w}");
            while let Some(lease) = store.lease(&name, TTL, now_ms()).await.expect("lease") {
                let result = TaskResult {
                    summary: "done".into(),
                    pull_request_url: None,
                    success: true,
                };
                store
                    .complete(&lease.task.id, lease.token, result)
                    .await
                    .expect("complete");
                done += 1;
            }
            done
        }));
    }
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("worker");
    }
    assert_eq!(done, TASKS, "every task is completed once");
    Figures {
        enqueue,
        drain: start.elapsed(),
    }
}

async fn sqlite(workers: usize) -> Figures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn TaskStore> = Arc::new(
        SqliteTaskStore::open(dir.path().join("tasks.db"))
            .await
            .expect("open"),
    );
    pipeline(vec![store; workers]).await
}

#[cfg(feature = "server-postgres")]
async fn postgres(workers: usize) -> Option<Figures> {
    use agentkit::server::store::PgTaskStore;
    let server = postgres::PgServer::start(postgres::Durability::Default)?;
    let url = server.create_database();
    let mut stores: Vec<Arc<dyn TaskStore>> = Vec::new();
    for _ in 0..workers {
        stores.push(Arc::new(PgTaskStore::connect(&url).await.expect("connect")));
    }
    let figures = pipeline(stores).await;
    drop(server);
    Some(figures)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: stay quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("store bench: run with `cargo bench --bench store` to measure");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        sqlite(1).await.print("SQLite (WAL, one file)", 1);
        sqlite(WORKERS)
            .await
            .print("SQLite (WAL, one file)", WORKERS);
        #[cfg(feature = "server-postgres")]
        if let Some(figures) = postgres(WORKERS).await {
            figures.print("PostgreSQL 15 (unix socket)", WORKERS);
        }
    });
}
