//! Fixtures shared by the pool tests: counting tools, a session factory, a
//! git repository, polling helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentkit_core::event::{EventSink, MemorySink};
use agentkit_core::prelude::*;
use agentkit_core::store::{NewTask, TaskRecord, TaskState};
use agentkit_core::testing::MemoryForge;
use agentkit_server::pool::{PoolConfig, SessionFactory};
use schemars::JsonSchema;
use serde::Deserialize;

/// How often each test tool ran, and how many ran at once; with `marks`,
/// each run is also appended to that file (for runs in other processes).
#[derive(Default, Clone)]
pub struct Counters {
    pub slow_runs: Arc<AtomicUsize>,
    pub writes: Arc<AtomicUsize>,
    pub running: Arc<AtomicUsize>,
    pub max_running: Arc<AtomicUsize>,
    pub marks: Option<PathBuf>,
}

impl Counters {
    /// Appends `line` to the marks file, if any (synced: the process may die next).
    pub fn mark(&self, line: &str) {
        use std::io::Write;
        let Some(path) = &self.marks else { return };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
        file.sync_all().unwrap();
    }

    pub fn slow_runs(&self) -> usize {
        self.slow_runs.load(Ordering::SeqCst)
    }
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
    pub fn max_running(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// `slow {}`: mutating; sleeps, counting its runs and how many run at once.
pub struct Slow {
    pub delay: Duration,
    pub counters: Counters,
}

#[async_trait::async_trait]
impl Tool for Slow {
    type Args = NoArgs;
    fn name(&self) -> &str {
        "slow"
    }
    fn description(&self) -> &str {
        "Takes a while."
    }
    async fn call(&self, _args: NoArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let c = &self.counters;
        c.mark("slow");
        c.slow_runs.fetch_add(1, Ordering::SeqCst);
        let now = c.running.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_running.fetch_max(now, Ordering::SeqCst);
        // Counted out even when the call is dropped (cancelled) mid-sleep.
        let _running = Running(c.running.clone());
        tokio::time::sleep(self.delay).await;
        Ok(ToolOutput::text("slept"))
    }
}

struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    pub path: String,
    #[serde(default)]
    pub content: String,
    /// Raw bytes instead of `content`.
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
}

/// `write_file {path, content | bytes}`: mutating, counted.
pub struct WriteFile(pub Counters);

#[async_trait::async_trait]
impl Tool for WriteFile {
    type Args = WriteArgs;
    fn name(&self) -> &str {
        "write_file"
    }
    fn description(&self) -> &str {
        "Writes a file."
    }
    async fn call(&self, args: WriteArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        self.0.mark(&format!("write {}", args.path));
        let bytes = args.bytes.unwrap_or_else(|| args.content.into_bytes());
        cx.sandbox.write(&args.path, &bytes).await?;
        Ok(ToolOutput::text("written"))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    pub path: String,
}

/// `read_file {path}`: read-only; the text, the bytes when not UTF-8, or `missing`.
pub struct ReadFile;

#[async_trait::async_trait]
impl Tool for ReadFile {
    type Args = PathArgs;
    fn name(&self) -> &str {
        "read_file"
    }
    fn description(&self) -> &str {
        "Reads a file."
    }
    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }
    async fn call(&self, args: PathArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text(match cx.sandbox.read(&args.path).await {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(err) => format!("{:?}", err.into_bytes()),
            },
            Err(_) => "missing".into(),
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    pub summary: String,
}

/// `finish {summary}`.
pub struct Finish;

#[async_trait::async_trait]
impl Tool for Finish {
    type Args = FinishArgs;
    fn name(&self) -> &str {
        "finish"
    }
    fn description(&self) -> &str {
        "Ends the task."
    }
    async fn call(&self, args: FinishArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::Finish {
            summary: args.summary,
        })
    }
}

/// Builds agents around one shared scripted model (its cursor carries over
/// between pools, like a conversation that goes on).
pub struct Factory {
    pub model: Arc<ScriptedModel>,
    pub slow: Duration,
    pub counters: Counters,
    pub forge: Option<Arc<MemoryForge>>,
    pub repo: String,
    /// Sees every event the agents emit, unredacted.
    pub seen: Arc<MemorySink>,
}

impl Factory {
    pub fn new(model: Arc<ScriptedModel>) -> Self {
        Self {
            model,
            slow: Duration::from_secs(10),
            counters: Counters::default(),
            forge: None,
            repo: ".".into(),
            seen: Arc::new(MemorySink::new()),
        }
    }
}

#[async_trait::async_trait]
impl SessionFactory for Factory {
    fn agent(&self, _task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String> {
        let mut builder = Agent::builder(self.model.clone())
            .tool(Finish)
            .tool(ReadFile)
            .tool(WriteFile(self.counters.clone()))
            .tool(Slow {
                delay: self.slow,
                counters: self.counters.clone(),
            })
            .shared_sink(self.seen.clone());
        for sink in sinks {
            builder = builder.shared_sink(sink);
        }
        if let Some(forge) = &self.forge {
            builder = builder.forge(forge.clone());
        }
        Ok(Arc::new(builder.build()))
    }

    async fn spec(&self, _task: &Task) -> SandboxSpec {
        SandboxSpec::new(self.repo.clone())
    }
}

/// A scripted model from JSON.
pub fn script(json: &str) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_json(json, "test").expect("valid script"))
}

/// A pool config with short waits, for tests.
pub fn config(name: &str, concurrency: usize) -> PoolConfig {
    PoolConfig {
        worker_name: name.into(),
        concurrency,
        lease_ttl: Duration::from_secs(2),
        retry_delay: Duration::ZERO,
        shutdown_grace: Duration::from_secs(10),
        idle_wait: Duration::from_millis(50),
        cancel_poll: Duration::from_millis(100),
        ..PoolConfig::default()
    }
}

pub fn task(id: &str) -> Task {
    Task::new(id, "Fix it", "Something is broken.", RepoRef::new("."))
}

pub async fn enqueue(store: &MemoryTaskStore, id: &str) -> TaskId {
    store.enqueue(NewTask::new(task(id))).await.unwrap().id
}

/// Polls `check` every 10 ms until it holds; panics after 20 s.
pub async fn until(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `pool` backs off from its store and returns the reason it
/// gives.
pub async fn backing_off_reason(pool: &agentkit_server::pool::PoolHandle) -> String {
    use agentkit_server::pool::PoolStatus;
    until("the pool to back off", || {
        matches!(pool.status(), PoolStatus::BackingOff { .. })
    })
    .await;
    match pool.status() {
        PoolStatus::BackingOff { reason, .. } => reason,
        other => panic!("the pool stopped backing off at once: {other:?}"),
    }
}

/// Waits until the task is in a final state in any store (polling every
/// 20 ms, for 20 s at most) and returns its record.
pub async fn finished(store: &dyn agentkit_core::store::TaskStore, id: &TaskId) -> TaskRecord {
    let started = Instant::now();
    loop {
        let record = store.get(id).await.unwrap().unwrap();
        if record.state.is_terminal() {
            return record;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "task {id} never finished: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the task is in a final state and returns its record.
pub async fn settled(store: &MemoryTaskStore, id: &TaskId) -> TaskRecord {
    state_where(store, id, "settled", TaskState::is_terminal).await
}

/// Waits until the task is back in the queue.
pub async fn queued(store: &MemoryTaskStore, id: &TaskId) -> TaskRecord {
    state_where(store, id, "requeued", |s| s == TaskState::Queued).await
}

async fn state_where(
    store: &MemoryTaskStore,
    id: &TaskId,
    what: &str,
    wanted: impl Fn(TaskState) -> bool,
) -> TaskRecord {
    let started = Instant::now();
    loop {
        let record = store.get(id).await.unwrap().unwrap();
        if wanted(record.state) {
            return record;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "task {id} never {what}: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A git repository with one commit, in a temporary directory.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "# demo\n").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target/\n").unwrap();
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "start"]);
        Self { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Runs host git with a fixed identity and no global or system config.
pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tool results the model was shown in its last request, as (name, content).
pub fn last_results(model: &ScriptedModel) -> Vec<(String, String)> {
    let requests = model.requests();
    let last = requests.last().expect("the model was called");
    last.messages
        .iter()
        .flat_map(|m| m.tool_results().cloned())
        .map(|r| (r.name, r.content))
        .collect()
}
