//! Crash safety: worker *processes* share one queue (SQLite, and with the
//! `postgres` feature PostgreSQL too) and are killed
//! with SIGKILL at seeded random points, then restarted. Every task must end
//! exactly once in a terminal state: none lost, none completed twice, and
//! no task with two pull requests.
//!
//! The workers are this test binary run again with `AGENTKIT_CRASH_WORKER`
//! set (see [`crash_worker_process`]): core's `Worker` (one lease at a
//! time) with an agent whose model replays a script through
//! `ScriptedModel` (write a file, run `sleep`, finish), the `local` sandbox
//! (a real git clone per attempt) and `LocalForge` (pull requests recorded
//! as files, one per branch, serialized across processes by `flock`). A
//! kill lands anywhere: before the lease, mid-run, between publishing and
//! completing. The store's lease TTL and fencing must make the next
//! worker take over, and the forge's per-branch idempotency must turn a
//! second publish into an update.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::agent::Agent;
use agentkit_core::engine::prompts;
use agentkit_core::forge::PullRequest;
use agentkit_core::message::Role;
use agentkit_core::model::{Model, ModelError, ModelInfo, ModelRequest, ModelStream};
use agentkit_core::sandbox::SandboxSpec;
use agentkit_core::scripted::ScriptedModel;
use agentkit_core::store::{NewTask, TaskState, TaskStore};
use agentkit_core::task::{RepoRef, Task};
use agentkit_core::worker::{Disposition, Worker, disposition};
use agentkit_sandbox::local::LocalProvider;
use agentkit_server::store::SqliteTaskStore;
use agentkit_tools::forge::LocalForge;
use agentkit_tools::tools::standard_tools;
use support::Rng;
use tokio_util::sync::CancellationToken;

const RUNS: u64 = 20;
const TASKS: usize = 3;
const WORKERS: usize = 2;
const KILLS_PER_RUN: usize = 3;
const WORKER_ENV: &str = "AGENTKIT_CRASH_WORKER";
/// The PostgreSQL URL of the queue, when the run is on PostgreSQL.
const PG_ENV: &str = "AGENTKIT_CRASH_PG_URL";

/// The script of every run, one turn per model call.
const TURNS: [&str; 3] = [
    r#"{"tool_calls":[{"name":"write_file","arguments":{"path":"FIXED.md","content":"fixed\n"}}]}"#,
    r#"{"tool_calls":[{"name":"shell","arguments":{"command":"sleep 0.2"}}]}"#,
    r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"fixed it"}}]}"#,
];

/// Answers each call of a run with the scripted turn for its step, so a run
/// that starts again (another attempt, another process) starts the script
/// again, and a resumed run goes on where it stopped. Like a real model, it
/// makes a turn again when its calls come back "interrupted" (a worker was
/// killed while they ran, and resuming never re-runs them by itself).
struct PerRun {
    info: ModelInfo,
}

#[async_trait::async_trait]
impl Model for PerRun {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let turns = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let interrupted = request
            .messages
            .iter()
            .filter(|m| m.tool_results().any(|r| r.content == prompts::INTERRUPTED))
            .count();
        let step = turns - interrupted;
        let turn = TURNS.get(step).copied().unwrap_or(TURNS[2]);
        let model = ScriptedModel::from_json(&format!("[{turn}]"), "crash").unwrap();
        model.stream(request).await
    }
}

/// The queue: the SQLite file `db`, or the PostgreSQL database at `pg`.
async fn open(db: &Path, pg: Option<&str>) -> Arc<dyn TaskStore> {
    #[cfg(feature = "postgres")]
    if let Some(url) = pg {
        let store = agentkit_server::store::PgTaskStore::connect(url).await;
        return Arc::new(store.unwrap());
    }
    assert!(pg.is_none(), "this build has no PostgreSQL store");
    let store = SqliteTaskStore::open(db).await.unwrap();
    Arc::new(store.with_poll_interval(Duration::from_millis(50)))
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (
        dir.join("tasks.db"),
        dir.join("repo"),
        dir.join("forge"),
        dir.join("completions.log"),
    )
}

/// The worker process: runs tasks until every task is final, then exits.
#[test]
fn crash_worker_process() {
    let Some(dir) = std::env::var_os(WORKER_ENV) else {
        return; // An ordinary test run: this is only a worker's entry point.
    };
    let dir = PathBuf::from(dir);
    let name = std::env::var("AGENTKIT_CRASH_WORKER_NAME").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let (db, repo, forge_dir, log) = paths(&dir);
        let pg = std::env::var(PG_ENV).ok().filter(|url| !url.is_empty());
        let store = open(&db, pg.as_deref()).await;
        let forge = LocalForge::new(repo.join(".git"), forge_dir);
        let model = PerRun {
            info: ScriptedModel::new(Vec::new()).info().clone(),
        };
        let agent = Agent::builder(Arc::new(model))
            .tools(standard_tools())
            .forge(Arc::new(forge))
            .build();
        let sandboxes = dir.join("sandboxes");
        std::fs::create_dir_all(&sandboxes).unwrap();
        let provider = LocalProvider::new().with_temp_root(sandboxes);
        let worker = Worker::new(
            name.clone(),
            Arc::clone(&store),
            Arc::new(agent),
            Arc::new(provider),
            Arc::new(|task: &Task| SandboxSpec::new(task.repo.url.clone())),
        )
        .lease_ttl(Duration::from_millis(1_500))
        .retry_delay(Duration::ZERO);
        loop {
            match worker.run_next(CancellationToken::new()).await {
                Ok(Some(outcome)) => {
                    // Recorded: completed, or handed back for a retry (a
                    // publish or sandbox that failed) when the run did not
                    // end; only the first kind may happen once per task.
                    use std::io::Write;
                    let recorded = match disposition(&outcome.stop_reason) {
                        Disposition::Complete { .. } => "completed".to_string(),
                        _ => format!("retry ({})", outcome.stop_reason),
                    };
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log)
                        .unwrap();
                    writeln!(file, "{} {name} {recorded}", outcome.task_id).unwrap();
                    file.sync_all().unwrap();
                }
                Ok(None) => {
                    let all = store.list(None).await.unwrap();
                    if all.iter().all(|r| r.state.is_terminal()) {
                        return;
                    }
                    store.wait_for_work(Duration::from_millis(100)).await;
                }
                Err(err) => eprintln!("{name}: {err}"),
            }
        }
    });
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn spawn_worker(dir: &Path, name: &str, pg: Option<&str>) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_worker_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, dir)
        .env(PG_ENV, pg.unwrap_or_default())
        .env("AGENTKIT_CRASH_WORKER_NAME", name)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The workers' error output and the queue, for a failure message.
async fn diagnose(dir: &Path, store: &dyn TaskStore) -> String {
    let mut out = String::new();
    for record in store.list(None).await.unwrap() {
        out += &format!(
            "{}: {} attempt {} token {} lease {:?} error {:?}\n",
            record.task.id,
            record.state,
            record.attempts,
            record.token,
            record.lease,
            record.last_error
        );
    }
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out += &format!("--- {}\n{text}", path.display());
        }
    }
    out
}

/// What one run went through.
#[derive(Default)]
struct Tally {
    /// Runs that ended without finishing and were recorded for a retry.
    handed_back: usize,
    kills: usize,
    /// Leases beyond each task's first (taken over after a kill).
    retries: u32,
    /// Pull requests published again by a later attempt (updated, not duplicated).
    republished: usize,
}

/// One seeded run, on SQLite or on the PostgreSQL database at `pg`.
async fn run(seed: u64, pg: Option<&str>) -> Tally {
    let dir = tempfile::tempdir().unwrap();
    let (db, repo, forge_dir, log) = paths(dir.path());
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "a repository\n").unwrap();
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "-q", "-m", "start"]);
    let store = open(&db, pg).await;
    for i in 0..TASKS {
        let task = Task::new(
            format!("C-{i}"),
            format!("crash task {i}"),
            "Write FIXED.md.",
            RepoRef::new(repo.display().to_string()),
        );
        store
            .enqueue(NewTask::new(task).max_attempts(20))
            .await
            .unwrap();
    }

    let mut rng = Rng(seed * 7_919 + 13);
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|w| spawn_worker(dir.path(), &format!("s{seed}-w{w}-0"), pg))
        .collect();
    let mut kills = 0;
    for k in 0..KILLS_PER_RUN {
        tokio::time::sleep(Duration::from_millis(50 + rng.below(900))).await;
        let victim = rng.below(WORKERS as u64) as usize;
        if workers[victim].try_wait().unwrap().is_none() {
            workers[victim].kill().unwrap(); // SIGKILL
            workers[victim].wait().unwrap();
            kills += 1;
        }
        workers[victim] = spawn_worker(dir.path(), &format!("s{seed}-w{victim}-{}", k + 1), pg);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for worker in &mut workers {
        while worker.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = worker.kill();
                let why = diagnose(dir.path(), store.as_ref()).await;
                panic!("seed {seed}: workers did not finish the queue within 120 s\n{why}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Every task final and succeeded, each with its one pull request.
    let records = store.list(None).await.unwrap();
    let pulls = pull_requests(&forge_dir);
    let mut per_task: BTreeMap<String, Vec<&PullRequest>> = BTreeMap::new();
    for pull in &pulls {
        per_task
            .entry(pull.task_id.0.clone())
            .or_default()
            .push(pull);
    }
    for record in &records {
        let id = &record.task.id.0;
        assert_eq!(
            record.state,
            TaskState::Succeeded,
            "seed {seed}: {record:?}"
        );
        let result = record.result.as_ref().unwrap();
        let prs = per_task.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            prs.len(),
            1,
            "seed {seed}: task {id} has {} pull requests",
            prs.len()
        );
        assert_eq!(
            result.pull_request_url.as_deref(),
            Some(prs[0].url.as_str())
        );
    }
    assert_eq!((records.len(), pulls.len()), (TASKS, TASKS), "seed {seed}");
    // No task was completed twice (a kill may lose the log line, never add
    // one); runs handed back for a retry are counted apart.
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let mut completions: BTreeMap<&str, usize> = BTreeMap::new();
    let mut handed_back = 0;
    for line in logged.lines() {
        let mut words = line.splitn(3, ' ');
        let (task, recorded) = (words.next().unwrap(), words.nth(1).unwrap_or(""));
        if recorded == "completed" {
            *completions.entry(task).or_default() += 1;
        } else {
            handed_back += 1;
        }
    }
    assert!(
        completions.values().all(|&n| n == 1),
        "seed {seed}: completions {completions:?}\n{logged}"
    );
    Tally {
        handed_back,
        kills,
        retries: records.iter().map(|r| r.attempts - 1).sum(),
        republished: pulls.iter().filter(|p| p.revisions > 1).count(),
    }
}

fn pull_requests(forge_dir: &Path) -> Vec<PullRequest> {
    let Ok(entries) = std::fs::read_dir(forge_dir.join("pulls")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

/// Runs the seeds on SQLite, or on a new database of `server` for each.
async fn crash_runs(backend: &str, server: Option<&dyn Fn() -> String>) {
    let mut total = Tally::default();
    for seed in 1..=RUNS {
        let url = server.map(|create| create());
        let tally = run(seed, url.as_deref()).await;
        total.kills += tally.kills;
        total.retries += tally.retries;
        total.republished += tally.republished;
        total.handed_back += tally.handed_back;
    }
    println!(
        "{backend}, {RUNS} runs: {} workers killed with SIGKILL, {} leases taken over, {} runs \
         handed back for a retry, {} pull requests published again (updated); 0 lost, 0 \
         duplicates",
        total.kills, total.retries, total.handed_back, total.republished
    );
    assert!(
        total.kills >= RUNS as usize,
        "only {} workers were killed",
        total.kills
    );
    assert!(
        total.retries > 0,
        "no kill interrupted a run: nothing was recovered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_lose_no_task_and_duplicate_no_pull_request() {
    if std::env::var_os(WORKER_ENV).is_some() {
        return;
    }
    crash_runs("SQLite", None).await;
}

/// The same on PostgreSQL: worker processes on one queue, killed at the
/// same seeded points.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_on_postgres_lose_no_task_and_duplicate_no_pull_request() {
    if std::env::var_os(WORKER_ENV).is_some() {
        return;
    }
    let Some(server) = support::postgres::PgServer::shared() else {
        return;
    };
    let create = || server.lock().unwrap().create_database();
    crash_runs("PostgreSQL", Some(&create)).await;
}
