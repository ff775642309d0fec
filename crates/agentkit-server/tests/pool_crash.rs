//! A worker *process* running the pool on SQLite is killed with SIGKILL in the
//! middle of a tool call; a new process takes the task over, resumes it from
//! the checkpoint stored in the database (workspace included), never re-runs
//! a call, and publishes exactly one pull request.
//!
//! The workers are this test binary run again with `AGENTKIT_POOL_CRASH_DIR`
//! set (see [`pool_crash_worker_process`]). Tool runs are marked in a file on
//! the host, since each process has its own memory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::engine::prompts;
use agentkit_core::event::{Event, EventSink};
use agentkit_core::forge::PullRequest;
use agentkit_core::message::Role;
use agentkit_core::model::{Model, ModelError, ModelInfo, ModelRequest, ModelStream};
use agentkit_core::prelude::*;
use agentkit_core::store::{NewTask, TaskState};
use agentkit_sandbox::local::LocalProvider;
use agentkit_server::pool::{PoolConfig, SessionFactory, WorkerPool};
use agentkit_server::runlog::RunLog;
use agentkit_server::store::SqliteTaskStore;
use agentkit_tools::forge::LocalForge;
use common::{Counters, Finish, ReadFile, Slow, WriteFile, git};

const DIR_ENV: &str = "AGENTKIT_POOL_CRASH_DIR";

/// One turn per model call: write two files, a long call, read them back, finish.
const TURNS: [&str; 4] = [
    r#"{"tool_calls":[
        {"name":"write_file","arguments":{"path":"notes.txt","content":"hello from before the crash\n"}},
        {"name":"write_file","arguments":{"path":"data/blob.bin","bytes":[0,159,146,150,255]}}]}"#,
    r#"{"tool_calls":[{"name":"slow","arguments":{}}]}"#,
    r#"{"tool_calls":[
        {"name":"read_file","arguments":{"path":"notes.txt"}},
        {"name":"read_file","arguments":{"path":"data/blob.bin"}}]}"#,
    r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"wrote the notes"}}]}"#,
];

/// Answers each call with the turn for its step (assistant messages so far),
/// so whichever process asks gets the next turn of the conversation. Marks
/// what it is told about the `slow` call when it asks for the third turn.
struct PerStep {
    info: ModelInfo,
    marks: Counters,
}

#[async_trait::async_trait]
impl Model for PerStep {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let step = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        if step == 2 {
            let told = request
                .messages
                .iter()
                .flat_map(|m| m.tool_results())
                .filter(|r| r.name == "slow")
                .map(|r| {
                    if r.content == prompts::INTERRUPTED {
                        "interrupted"
                    } else {
                        "other"
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            self.marks.mark(&format!("model told: slow {told}"));
        }
        let turn = TURNS.get(step).copied().unwrap_or(TURNS[3]);
        let model = ScriptedModel::from_json(&format!("[{turn}]"), "pool-crash").unwrap();
        model.stream(request).await
    }
}

fn marks(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("marks"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct CrashFactory {
    dir: PathBuf,
}

#[async_trait::async_trait]
impl SessionFactory for CrashFactory {
    fn agent(&self, _task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String> {
        let counters = Counters {
            marks: Some(self.dir.join("marks")),
            ..Counters::default()
        };
        let model = PerStep {
            info: ScriptedModel::new(Vec::new()).info().clone(),
            marks: counters.clone(),
        };
        let forge = LocalForge::new(self.dir.join("repo/.git"), self.dir.join("forge"));
        let mut builder = Agent::builder(Arc::new(model))
            .tool(Finish)
            .tool(ReadFile)
            .tool(WriteFile(counters.clone()))
            .tool(Slow {
                delay: Duration::from_secs(60),
                counters,
            })
            .forge(Arc::new(forge));
        for sink in sinks {
            builder = builder.shared_sink(sink);
        }
        Ok(Arc::new(builder.build()))
    }

    async fn spec(&self, task: &Task) -> SandboxSpec {
        SandboxSpec::new(task.repo.url.clone())
    }
}

/// The worker process: runs the pool until every task is final.
#[test]
fn pool_crash_worker_process() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return; // An ordinary test run: this is only a worker's entry point.
    };
    let dir = PathBuf::from(dir);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let store = SqliteTaskStore::open(dir.join("tasks.db"))
                .await
                .unwrap()
                .with_poll_interval(Duration::from_millis(50));
            let store = Arc::new(store);
            let sandboxes = dir.join("sandboxes");
            std::fs::create_dir_all(&sandboxes).unwrap();
            let config = PoolConfig {
                worker_name: format!("pool-crash-{}", std::process::id()),
                concurrency: 2,
                lease_ttl: Duration::from_secs(1),
                retry_delay: Duration::ZERO,
                idle_wait: Duration::from_millis(100),
                cancel_poll: Duration::from_millis(100),
                ..PoolConfig::default()
            };
            let pool = WorkerPool::start(
                config,
                store.clone(),
                store.clone(),
                Arc::new(LocalProvider::new().with_temp_root(sandboxes)),
                Arc::new(CrashFactory { dir: dir.clone() }),
            );
            loop {
                let all = store.list(None).await.unwrap();
                if all.iter().all(|r| r.state.is_terminal()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            pool.shutdown().await;
        });
}

fn spawn_worker(dir: &Path, name: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "pool_crash_worker_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn eventually(what: &str, dir: &Path, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        let logs: Vec<String> = ["first", "second"]
            .iter()
            .map(|n| std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default())
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}\n{logs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bytes of `path` on `branch` of the repository.
fn file_on_branch(repo: &Path, branch: &str, path: &str) -> Vec<u8> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "blob", &format!("{branch}:{path}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_s_task_resumes_in_another_from_the_stored_checkpoint() {
    if std::env::var_os(DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "a repository\n").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "start"]);
    let store = SqliteTaskStore::open(dir.join("tasks.db")).await.unwrap();
    let task = Task::new(
        "P-1",
        "Write notes",
        "Write the notes.",
        RepoRef::new(repo.display().to_string()),
    );
    let id = task.id.clone();
    store
        .enqueue(NewTask::new(task).max_attempts(5))
        .await
        .unwrap();

    let mut first = spawn_worker(dir, "first");
    eventually("the slow call to start", dir, || {
        marks(dir).contains(&"slow".to_string())
    })
    .await;
    first.kill().unwrap(); // SIGKILL, mid-call
    first.wait().unwrap();

    let mut second = spawn_worker(dir, "second");
    eventually("the second worker to finish", dir, || {
        second.try_wait().unwrap().is_some()
    })
    .await;

    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.attempts),
        (TaskState::Succeeded, 2),
        "{record:?}"
    );
    // Nothing ran twice: the writes and the slow call happened once, in the
    // first process.
    // The call in flight at the kill is answered "interrupted" in the history.
    assert_eq!(
        marks(dir),
        vec![
            "write notes.txt",
            "write data/blob.bin",
            "slow",
            "model told: slow interrupted"
        ]
    );
    let pulls: Vec<PullRequest> = std::fs::read_dir(dir.join("forge/pulls"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        record.result.unwrap().pull_request_url,
        Some(pulls[0].url.clone())
    );
    // The pull request holds the first process's edits, restored in the second.
    assert_eq!(
        file_on_branch(&repo, &pulls[0].branch, "notes.txt"),
        b"hello from before the crash\n"
    );
    // The binary file came back too; new binaries are kept out of pull
    // requests by the completion contract's defaults, which the body says.
    assert!(
        pulls[0].body.contains("Left out of the commit") && pulls[0].body.contains("data/blob.bin"),
        "{}",
        pulls[0].body
    );

    let events: Vec<Event> = store
        .read(&id, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record.event)
        .collect();
    let resumed: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            Event::RunStarted { resumed, .. } => Some(*resumed),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, vec![false, true]);
    let mut finished: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallFinished { name, content, .. } => Some((name.clone(), content.clone())),
            _ => None,
        })
        .collect();
    // The two reads are read-only calls of one turn, so they run in parallel
    // and their events come in the order they finish (the history still
    // answers them in call order): compare them in a fixed order.
    if let Some(reads) = finished.get_mut(2..4) {
        reads.sort();
    }
    // The interrupted call never finished: the resume answered it in the
    // history without running it.
    assert_eq!(
        finished,
        vec![
            ("write_file".into(), "written".into()),
            ("write_file".into(), "written".into()),
            ("read_file".into(), "[0, 159, 146, 150, 255]".into()),
            ("read_file".into(), "hello from before the crash\n".into()),
            ("finish".into(), "finish: wrote the notes".into()),
        ]
    );
}
