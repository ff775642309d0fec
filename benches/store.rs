//! Task-store throughput: enqueue → lease → complete, end to end.
//!
//! ```text
//! cargo bench --bench store --features server                  # SQLite
//! cargo bench --bench store --features server-postgres         # and PostgreSQL
//! ```
//!
//! Each run pushes `TASKS` tasks through a queue the way a deployment does:
//! concurrent enqueuers (the API, the triggers: 4, and 16) and `WORKERS`
//! workers with `sessions` slots each. SQLite is one process's store, so
//! they all share one handle (as agentd's API and pool do); on PostgreSQL the
//! producers and each worker have their own handle and connection pool, as
//! separate processes would. A worker leases as many tasks as it has free slots
//! in one call ([`TaskStore::lease_many`], as the worker pool does), and
//! completes each from its own tokio task, which frees the slot. The figure
//! is tasks per second from the first enqueue to the last completion, with
//! enqueueing and draining overlapped; the enqueue rate alone is printed
//! beside it.
//!
//! SQLite runs on a file in the temporary directory (WAL, `synchronous =
//! NORMAL`: a commit survives a killed process, not a power cut).
//! PostgreSQL is a private server started for the bench from Debian's
//! packages with its default durability (every commit waits for its WAL
//! flush; commits waiting at once share one), reached over a unix socket;
//! it runs once as is and once with the documented knob
//! `options[synchronous_commit]=off` on the workers' and producers'
//! connections (commits stop waiting for the flush; a server crash may lose
//! the last few hundred milliseconds of them).
//!
//! For PostgreSQL it also prints the server's WAL flushes and WAL records
//! per task (`pg_stat_wal`, read once the stores closed). With
//! `AGENTKIT_PG_SETTINGS=shared_preload_libraries=pg_stat_statements` it
//! prints each run's costliest statements too (wall time inside the server,
//! so inflated on a busy machine).
//!
//! Goals on the 2-core reference machine: SQLite ≥ 1,000/s, PostgreSQL with
//! 4 workers ≥ 2,000/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentkit::core::event::now_ms;
use agentkit::core::prelude::*;
use agentkit::core::store::{NewTask, TaskResult};
use agentkit::server::store::SqliteTaskStore;
use tokio::sync::Semaphore;

#[cfg(feature = "server-postgres")]
#[path = "../crates/agentkit-server/tests/support/postgres.rs"]
mod postgres;

const TASKS: usize = 4_000;
const WORKERS: usize = 4;
const TTL: Duration = Duration::from_secs(60);

struct Figures {
    enqueued: Duration,
    total: Duration,
    /// CPU seconds this process spent (client side: the stores, the bench).
    client_cpu: f64,
    /// CPU seconds the database server's processes spent (PostgreSQL only).
    server_cpu: Option<f64>,
    /// Lease calls, and those that found nothing (woken for work another
    /// worker took).
    leases: usize,
    empty_leases: usize,
    /// WAL flushes (`fsync`s, shared by the commits that waited at once) and
    /// WAL records the server wrote (PostgreSQL only).
    wal: Option<(f64, f64)>,
}

fn print(backend: &str, producers: usize, sessions: usize, figures: &Figures) {
    let per_task = |cpu: f64| cpu * 1e6 / TASKS as f64;
    let server = figures
        .server_cpu
        .map(|cpu| format!(", server {:.0} µs", per_task(cpu)))
        .unwrap_or_default();
    let wal = figures
        .wal
        .map(|(syncs, records)| {
            format!(
                "; per task {:.2} WAL flushes, {:.1} WAL records",
                syncs / TASKS as f64,
                records / TASKS as f64
            )
        })
        .unwrap_or_default();
    println!(
        "{backend:<36} {producers:>2} producers, {WORKERS} workers x {sessions} slots: {:>5.0} tasks/s end to end \
         (enqueue alone {:>6.0}/s; {TASKS} tasks in {:.2} s; CPU per task: client {:.0} µs{server}; \
         {} lease calls, {} empty{wal})",
        TASKS as f64 / figures.total.as_secs_f64(),
        TASKS as f64 / figures.enqueued.as_secs_f64(),
        figures.total.as_secs_f64(),
        per_task(figures.client_cpu),
        figures.leases,
        figures.empty_leases,
    );
}

/// CPU seconds (user + system) of process `pid` from `/proc`, with its
/// reaped children's when `children` is set.
fn cpu_of(pid: &str, children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime, stime, cutime, cstime are fields 14-17 (index 11-14 after `)`).
    let own = ticks(11) + ticks(12);
    let reaped = if children { ticks(13) + ticks(14) } else { 0.0 };
    (own + reaped) / 100.0
}

/// CPU seconds of the PostgreSQL servers this process started: each
/// postmaster with the backends it reaped, plus its live processes.
fn server_cpu() -> f64 {
    let me = std::process::id().to_string();
    let parent_of = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default()
    };
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    let is_postgres = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
    };
    let postmasters: Vec<&String> = pids
        .iter()
        .filter(|p| parent_of(p) == me && is_postgres(p))
        .collect();
    let mut total = 0.0;
    for postmaster in postmasters {
        total += cpu_of(postmaster, true);
        for child in pids.iter().filter(|p| parent_of(p) == *postmaster) {
            total += cpu_of(child, false);
        }
    }
    total
}

/// One worker: leases into its free slots, completes each lease in its own
/// task, until `done` reaches `TASKS`.
/// Counts shared by the workers of one run.
#[derive(Default)]
struct Counts {
    done: AtomicUsize,
    leases: AtomicUsize,
    empty_leases: AtomicUsize,
}

async fn worker(store: Arc<dyn TaskStore>, name: String, sessions: usize, counts: Arc<Counts>) {
    let slots = Arc::new(Semaphore::new(sessions));
    while counts.done.load(Ordering::SeqCst) < TASKS {
        let first = slots.clone().acquire_owned().await.expect("open");
        let mut permits = vec![first];
        while let Ok(more) = slots.clone().try_acquire_owned() {
            permits.push(more);
        }
        let leases = store
            .lease_many(&name, TTL, now_ms(), permits.len())
            .await
            .expect("lease");
        counts.leases.fetch_add(1, Ordering::Relaxed);
        if leases.is_empty() {
            counts.empty_leases.fetch_add(1, Ordering::Relaxed);
            drop(permits);
            store.wait_for_work(Duration::from_millis(20)).await;
            continue;
        }
        for (lease, permit) in leases.into_iter().zip(permits) {
            let (store, counts) = (Arc::clone(&store), Arc::clone(&counts));
            tokio::spawn(async move {
                let result = TaskResult {
                    summary: "done".into(),
                    pull_request_url: None,
                    success: true,
                };
                store
                    .complete(&lease.task.id, lease.token, result)
                    .await
                    .expect("complete");
                counts.done.fetch_add(1, Ordering::SeqCst);
                drop(permit);
            });
        }
    }
}

/// Enqueues `TASKS` tasks from `producers` loops on `producer` while one
/// worker per store in `workers` drains them.
async fn pipeline(
    producer: Arc<dyn TaskStore>,
    producers: usize,
    workers: Vec<Arc<dyn TaskStore>>,
    sessions: usize,
) -> Figures {
    let counts = Arc::new(Counts::default());
    let (client_before, server_before) = (cpu_of("self", false), server_cpu());
    let start = Instant::now();
    let draining: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(w, store)| tokio::spawn(worker(store, format!("w{w}"), sessions, counts.clone())))
        .collect();
    let producing: Vec<_> = (0..producers)
        .map(|p| {
            let store = Arc::clone(&producer);
            tokio::spawn(async move {
                for i in (p..TASKS).step_by(producers) {
                    let task = Task::new(format!("B-{i}"), "bench", "body", RepoRef::new("."));
                    let enqueued = store.enqueue(NewTask::new(task)).await.expect("enqueue");
                    assert!(enqueued.created);
                }
            })
        })
        .collect();
    for p in producing {
        p.await.expect("producer");
    }
    let enqueued = start.elapsed();
    for w in draining {
        w.await.expect("worker");
    }
    let total = start.elapsed();
    assert_eq!(
        counts.done.load(Ordering::SeqCst),
        TASKS,
        "every task completed once"
    );
    let succeeded = producer
        .list(Some(agentkit::core::store::TaskState::Succeeded))
        .await
        .expect("list");
    assert_eq!(succeeded.len(), TASKS);
    let server = server_cpu() - server_before;
    Figures {
        enqueued,
        total,
        client_cpu: cpu_of("self", false) - client_before,
        server_cpu: (server > 0.0).then_some(server),
        leases: counts.leases.load(Ordering::SeqCst),
        empty_leases: counts.empty_leases.load(Ordering::SeqCst),
        wal: None,
    }
}

/// SQLite is one process's store (agentd's): producers and workers share
/// one handle, as the API and the pool do.
async fn sqlite(producers: usize, sessions: usize) -> Figures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn TaskStore> = Arc::new(
        SqliteTaskStore::open(dir.path().join("tasks.db"))
            .await
            .expect("open"),
    );
    pipeline(
        Arc::clone(&store),
        producers,
        vec![store; WORKERS],
        sessions,
    )
    .await
}

#[cfg(feature = "server-postgres")]
async fn postgres(
    server: &postgres::PgServer,
    producers: usize,
    sessions: usize,
    relaxed: bool,
) -> Figures {
    use agentkit::server::store::PgTaskStore;
    let mut url = server.create_database();
    if relaxed {
        url.push_str("&options[synchronous_commit]=off");
    }
    let database = url
        .split_once("localhost/")
        .and_then(|(_, rest)| rest.split('?').next())
        .expect("a database name in the URL")
        .to_string();
    let connect = || async { Arc::new(PgTaskStore::connect(&url).await.expect("connect")) };
    let mut stores = vec![connect().await];
    for _ in 0..WORKERS {
        stores.push(connect().await);
    }
    let producer: Arc<dyn TaskStore> = stores[0].clone();
    let workers: Vec<Arc<dyn TaskStore>> = stores[1..]
        .iter()
        .map(|s| s.clone() as Arc<dyn TaskStore>)
        .collect();
    server.query(&database, "SELECT pg_stat_reset_shared('wal')");
    // With AGENTKIT_PG_SETTINGS=shared_preload_libraries=pg_stat_statements:
    // the statements that cost the server most, per run.
    let profile =
        std::env::var("AGENTKIT_PG_SETTINGS").is_ok_and(|s| s.contains("pg_stat_statements"));
    if profile {
        server.query(
            &database,
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        );
        server.query(&database, "SELECT pg_stat_statements_reset()");
    }
    let mut figures = pipeline(producer, producers, workers, sessions).await;
    // Backends report their WAL counts when they exit.
    for store in &stores {
        store.close().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if profile {
        let top = server.query(
            &database,
            "SELECT round(total_exec_time::numeric, 0) || ' ms, ' || calls || ' calls, ' \
             || round((total_exec_time / calls * 1000)::numeric, 0) || ' µs each: ' \
             || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 90) \
             FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 8",
        );
        println!("{top}");
    }
    let wal = server.query(&database, "SELECT wal_sync, wal_records FROM pg_stat_wal");
    let mut fields = wal.split('|').map(|f| f.parse::<f64>().unwrap_or(0.0));
    figures.wal = Some((fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0)));
    figures
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: stay quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("store bench: run with `cargo bench --bench store` to measure");
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (producers, sessions) in [(4, 1), (4, 8)] {
            let figures = sqlite(producers, sessions).await;
            print("SQLite (WAL, one file)", producers, sessions, &figures);
        }
        #[cfg(feature = "server-postgres")]
        if let Some(server) = postgres::PgServer::start(postgres::Durability::Default) {
            let cases = [(4, 1, false), (4, 8, false), (16, 8, false), (16, 8, true)];
            for (producers, sessions, relaxed) in cases {
                let figures = postgres(&server, producers, sessions, relaxed).await;
                let backend = if relaxed {
                    "PostgreSQL (synchronous_commit=off)"
                } else {
                    "PostgreSQL (flush per commit)"
                };
                print(backend, producers, sessions, &figures);
            }
        }
    });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
