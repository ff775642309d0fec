//! In-memory test doubles: a sandbox without processes and a forge without git.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::forge::{Forge, ForgeError, PublishRequest, PullRequest, PullRequestState};
use crate::sandbox::{
    CapturedOutput, ExecOutput, ExecRequest, FileKind, FileStat, Sandbox, SandboxError,
    join_relative,
};
use crate::task::{Task, TaskId};

/// How a [`MemorySandbox`] answers `exec`.
pub type ExecResponder =
    Box<dyn Fn(&ExecRequest) -> Result<ExecOutput, SandboxError> + Send + Sync>;

/// A sandbox whose files live in a map and whose `exec` answers from a
/// caller-supplied function (default: exit 0, no output). For engine and tool
/// tests that need no real processes.
pub struct MemorySandbox {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    exec: ExecResponder,
    executed: Mutex<Vec<ExecRequest>>,
    closed: AtomicBool,
}

impl Default for MemorySandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySandbox {
    /// An empty sandbox.
    pub fn new() -> Self {
        Self {
            files: Mutex::new(BTreeMap::new()),
            exec: Box::new(|_| Ok(exec_output(0, ""))),
            executed: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Adds a file.
    pub fn with_file(self, path: &str, contents: &str) -> Self {
        if let Ok(mut files) = self.files.lock() {
            files.insert(normalize(path), contents.as_bytes().to_vec());
        }
        self
    }

    /// Answers `exec` with `f`.
    pub fn with_exec(
        mut self,
        f: impl Fn(&ExecRequest) -> Result<ExecOutput, SandboxError> + Send + Sync + 'static,
    ) -> Self {
        self.exec = Box::new(f);
        self
    }

    /// The commands run so far.
    pub fn executed(&self) -> Vec<ExecRequest> {
        self.executed.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// A file's contents as text.
    pub fn file(&self, path: &str) -> Option<String> {
        self.files
            .lock()
            .ok()?
            .get(&normalize(path))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn check(&self, path: &str) -> Result<String, SandboxError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(SandboxError::Gone {
                reason: "closed".into(),
            });
        }
        join_relative(std::path::Path::new("/"), path)?;
        Ok(normalize(path))
    }
}

fn normalize(path: &str) -> String {
    let joined = join_relative(std::path::Path::new("/"), path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string());
    joined.trim_start_matches('/').to_string()
}

/// An [`ExecOutput`] with `code` and `stdout`, for test doubles.
pub fn exec_output(code: i32, stdout: &str) -> ExecOutput {
    ExecOutput {
        exit_code: Some(code),
        signal: None,
        stdout: CapturedOutput {
            text: stdout.to_string(),
            truncated: false,
            total_bytes: stdout.len() as u64,
        },
        stderr: CapturedOutput::default(),
        duration: Duration::from_millis(1),
        timed_out: false,
    }
}

#[async_trait]
impl Sandbox for MemorySandbox {
    fn id(&self) -> &str {
        "memory"
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(SandboxError::Gone {
                reason: "closed".into(),
            });
        }
        if let Ok(mut executed) = self.executed.lock() {
            executed.push(request.clone());
        }
        (self.exec)(&request)
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let key = self.check(path)?;
        self.files
            .lock()
            .ok()
            .and_then(|f| f.get(&key).cloned())
            .ok_or(SandboxError::NotFound { path: path.into() })
    }

    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let key = self.check(path)?;
        if let Ok(mut files) = self.files.lock() {
            files.insert(key, contents.to_vec());
        }
        Ok(())
    }

    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        let key = self.check(path)?;
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        let files = self.files.lock().map(|f| f.clone()).unwrap_or_default();
        let mut out: BTreeMap<String, FileStat> = BTreeMap::new();
        for (name, bytes) in files.iter() {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let (first, is_dir) = match rest.split_once('/') {
                Some((dir, _)) => (dir, true),
                None => (rest, false),
            };
            let full = format!("{prefix}{first}");
            out.entry(full.clone()).or_insert(FileStat {
                path: full,
                kind: if is_dir {
                    FileKind::Dir
                } else {
                    FileKind::File
                },
                size: if is_dir { 0 } else { bytes.len() as u64 },
            });
        }
        if out.is_empty() && !key.is_empty() {
            return Err(SandboxError::NotFound { path: path.into() });
        }
        Ok(out.into_values().collect())
    }

    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        let key = self.check(path)?;
        self.files
            .lock()
            .ok()
            .and_then(|mut f| f.remove(&key))
            .map(|_| ())
            .ok_or(SandboxError::NotFound { path: path.into() })
    }

    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        let key = self.check(path)?;
        let files = self.files.lock().map(|f| f.clone()).unwrap_or_default();
        if let Some(bytes) = files.get(&key) {
            return Ok(FileStat {
                path: key,
                kind: FileKind::File,
                size: bytes.len() as u64,
            });
        }
        let prefix = format!("{key}/");
        if key.is_empty() || files.keys().any(|k| k.starts_with(&prefix)) {
            return Ok(FileStat {
                path: key,
                kind: FileKind::Dir,
                size: 0,
            });
        }
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn close(&self) -> Result<(), SandboxError> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// A forge that keeps tickets and pull requests in memory.
#[derive(Default)]
pub struct MemoryForge {
    tasks: Mutex<BTreeMap<String, Task>>,
    pulls: Mutex<Vec<PullRequest>>,
    comments: Mutex<Vec<(TaskId, String)>>,
}

impl MemoryForge {
    /// An empty forge.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a ticket, fetchable by its id.
    pub fn with_task(self, task: Task) -> Self {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.insert(task.id.0.clone(), task);
        }
        self
    }

    /// Every pull request.
    pub fn pull_requests(&self) -> Vec<PullRequest> {
        self.pulls.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Every comment.
    pub fn comments(&self) -> Vec<(TaskId, String)> {
        self.comments.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Forge for MemoryForge {
    fn name(&self) -> &str {
        "memory"
    }

    async fn task(&self, reference: &str) -> Result<Task, ForgeError> {
        self.tasks
            .lock()
            .ok()
            .and_then(|t| t.get(reference).cloned())
            .ok_or(ForgeError::NotFound {
                what: format!("task `{reference}`"),
            })
    }

    async fn publish(&self, request: PublishRequest) -> Result<PullRequest, ForgeError> {
        crate::forge::check_agent_branch(
            &request.branch,
            crate::forge::DEFAULT_BRANCH_PREFIX,
            &[],
        )?;
        let mut pulls = self.pulls.lock().map_err(|_| ForgeError::Other {
            message: "state poisoned".into(),
        })?;
        let now = crate::event::now_ms();
        if let Some(pr) = pulls
            .iter_mut()
            .find(|p| p.branch == request.branch && p.state == PullRequestState::Open)
        {
            *pr = pr.revised(request, now);
            return Ok(pr.clone());
        }
        let id = (pulls.len() + 1).to_string();
        let pr = PullRequest::opened(id.clone(), format!("memory://pulls/{id}"), request, now);
        pulls.push(pr.clone());
        Ok(pr)
    }

    async fn comment(&self, task: &TaskId, body: &str) -> Result<(), ForgeError> {
        if let Ok(mut comments) = self.comments.lock() {
            comments.push((task.clone(), body.to_string()));
        }
        Ok(())
    }

    async fn pull_request(&self, id: &str) -> Result<PullRequest, ForgeError> {
        self.pull_requests()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(ForgeError::NotFound {
                what: format!("pull request `{id}`"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ChangeSet;
    use crate::task::RepoRef;

    fn request(head: &str) -> PublishRequest {
        PublishRequest {
            task: Task::new("T-1", "t", "b", RepoRef::new(".")),
            branch: "agent/T-1".into(),
            base_branch: "main".into(),
            title: format!("title {head}"),
            body: "body".into(),
            changes: ChangeSet {
                bundle: Vec::new(),
                base_commit: "base".into(),
                head_commit: head.into(),
                diff_stat: String::new(),
                left_out: Vec::new(),
            },
        }
    }

    #[tokio::test]
    async fn memory_forge_updates_the_open_pull_request_of_a_branch() {
        let forge = MemoryForge::new();
        let first = forge.publish(request("a")).await.unwrap();
        let second = forge.publish(request("b")).await.unwrap();
        assert_eq!((first.id.as_str(), first.revisions), ("1", 1));
        assert_eq!(
            (
                second.id.as_str(),
                second.revisions,
                second.head_commit.as_str()
            ),
            ("1", 2, "b")
        );
        assert_eq!(forge.pull_requests().len(), 1);
        let mut bad = request("c");
        bad.branch = "main".into();
        assert!(matches!(
            forge.publish(bad).await,
            Err(ForgeError::Refused { .. })
        ));
    }
}

/// A provider of [`MemorySandbox`]es, optionally failing every creation.
#[derive(Debug, Default)]
pub struct MemoryProvider {
    failure: Option<String>,
    created: std::sync::atomic::AtomicUsize,
}

impl MemoryProvider {
    /// A provider whose sandboxes are empty `MemorySandbox`es.
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider whose `create` always fails with `reason` (as a setup failure).
    pub fn failing(reason: impl Into<String>) -> Self {
        Self {
            failure: Some(reason.into()),
            ..Self::default()
        }
    }

    /// How many sandboxes were created.
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl crate::sandbox::SandboxProvider for MemoryProvider {
    fn name(&self) -> &str {
        "memory"
    }

    async fn create(
        &self,
        _spec: &crate::sandbox::SandboxSpec,
    ) -> Result<std::sync::Arc<dyn Sandbox>, SandboxError> {
        if let Some(reason) = &self.failure {
            return Err(SandboxError::Setup {
                reason: reason.clone(),
            });
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        Ok(std::sync::Arc::new(MemorySandbox::new()))
    }
}
