//! Which forge a task's repository publishes to, and reading its pull
//! requests back (for the task page's diff and for metrics).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agentkit_core::forge::{Forge, ForgeError, PullRequest};
use agentkit_tools::forge::LocalForge;
use async_trait::async_trait;

/// Pull requests as the forge reports them now.
#[async_trait]
pub trait PullRequests: Send + Sync {
    /// Pull request `id` of the forge serving `repo`.
    async fn pull_request(&self, repo: &str, id: &str) -> Result<PullRequest, ForgeError>;

    /// The changes of `pr` (a unified diff).
    async fn diff(&self, repo: &str, pr: &PullRequest) -> Result<String, ForgeError>;
}

/// One [`LocalForge`] per repository: the origin is the repository's git
/// directory (the agent's branch is pushed into it), the records live in
/// `state_dir/<repo slug>/` when a state directory is configured, else in
/// `<git dir>/agentkit-forge` (where `fix_issue prs` looks too).
pub struct LocalForges {
    state_dir: Option<PathBuf>,
    allowed: Vec<PathBuf>,
    forges: Mutex<HashMap<String, Arc<LocalForge>>>,
}

impl LocalForges {
    /// Forges keeping records under `state_dir` (or in each repository),
    /// serving only `allowed` repositories (any local repository when empty).
    pub fn new(state_dir: Option<PathBuf>, allowed: Vec<PathBuf>) -> Self {
        let allowed = allowed
            .into_iter()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect();
        Self {
            state_dir,
            allowed,
            forges: Mutex::new(HashMap::new()),
        }
    }

    /// Whether tasks may name `repo`.
    pub fn allows(&self, repo: &str) -> bool {
        if self.allowed.is_empty() {
            return true;
        }
        let path = Path::new(repo);
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.allowed.contains(&path)
    }

    /// The forge for `repo` (a local path to a git repository, with a work
    /// tree or bare).
    pub fn forge_for(&self, repo: &str) -> Result<Arc<LocalForge>, ForgeError> {
        if !self.allows(repo) {
            return Err(ForgeError::Refused {
                reason: format!(
                    "repository `{repo}` is not one of forge.repos in the agentd config"
                ),
            });
        }
        let mut forges = self.forges.lock().map_err(|_| ForgeError::Other {
            message: "the forge table's lock was poisoned by a panic; restart agentd".into(),
        })?;
        if let Some(forge) = forges.get(repo) {
            return Ok(forge.clone());
        }
        let root = Path::new(repo);
        let git_dir = git_dir_of(root).ok_or_else(|| ForgeError::NotFound {
            what: format!(
                "git repository `{repo}` (the local forge needs a local path with .git, or a bare repository)"
            ),
        })?;
        let state = match &self.state_dir {
            Some(dir) => dir.join(slug(repo)),
            None => git_dir.join("agentkit-forge"),
        };
        let forge = Arc::new(LocalForge::new(git_dir, state));
        forges.insert(repo.to_string(), forge.clone());
        Ok(forge)
    }
}

#[async_trait]
impl PullRequests for LocalForges {
    async fn pull_request(&self, repo: &str, id: &str) -> Result<PullRequest, ForgeError> {
        self.forge_for(repo)?.pull_request(id).await
    }

    async fn diff(&self, repo: &str, pr: &PullRequest) -> Result<String, ForgeError> {
        self.forge_for(repo)?.diff(pr).await
    }
}

/// `<repo>/.git` when it is a directory, else `repo` when it is a bare repository.
pub fn git_dir_of(repo: &Path) -> Option<PathBuf> {
    let dotgit = repo.join(".git");
    if dotgit.is_dir() {
        return Some(dotgit);
    }
    (repo.join("HEAD").is_file() && repo.join("objects").is_dir()).then(|| repo.to_path_buf())
}

fn slug(repo: &str) -> String {
    agentkit_core::task::TaskId(repo.to_string()).slug()
}
