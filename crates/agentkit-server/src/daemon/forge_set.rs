//! [`Forges`]: which forge a task's repository publishes to — the GitHub
//! forge for repositories under `[forge.github]`'s `git_base` (feature
//! `github`), the local forge for local paths (unless `forge.kind =
//! "github"`).

use std::sync::Arc;

use agentkit_core::forge::{Forge, ForgeError, PullRequest};
use async_trait::async_trait;

use super::forges::{LocalForges, PullRequests};

/// Every forge agentd publishes to.
pub struct Forges {
    local: Arc<LocalForges>,
    local_allowed: bool,
    #[cfg(feature = "github")]
    github: Option<Arc<super::github::GitHubForges>>,
}

impl Forges {
    /// Only local forges.
    pub fn local(local: Arc<LocalForges>) -> Self {
        Self {
            local,
            local_allowed: true,
            #[cfg(feature = "github")]
            github: None,
        }
    }

    /// Adds the GitHub forges; with `only`, local repositories are refused.
    #[cfg(feature = "github")]
    pub fn with_github(mut self, github: Arc<super::github::GitHubForges>, only: bool) -> Self {
        self.github = Some(github);
        self.local_allowed = !only;
        self
    }

    /// The local forges.
    pub fn local_forges(&self) -> &Arc<LocalForges> {
        &self.local
    }

    /// The forge of `repo` (a GitHub URL of `[forge.github]`, or a local path).
    pub fn forge_for(&self, repo: &str) -> Result<Arc<dyn Forge>, ForgeError> {
        #[cfg(feature = "github")]
        if let Some(github) = &self.github
            && let Some(found) = github.forge_for(repo)
        {
            return found.map(|forge| forge as Arc<dyn Forge>);
        }
        if !self.local_allowed {
            return Err(ForgeError::Refused {
                reason: format!(
                    "repository `{repo}` is not a GitHub repository of [forge.github] \
                     (forge.kind = \"github\" serves no local repositories)"
                ),
            });
        }
        Ok(self.local.forge_for(repo)? as Arc<dyn Forge>)
    }

    /// Whether tasks may name `repo`.
    pub fn allows(&self, repo: &str) -> bool {
        #[cfg(feature = "github")]
        if let Some(github) = &self.github
            && let Some(found) = github.config().repository_of(repo)
        {
            return github.config().allows(&found);
        }
        self.local_allowed && self.local.allows(repo)
    }
}

#[async_trait]
impl PullRequests for Forges {
    async fn pull_request(&self, repo: &str, id: &str) -> Result<PullRequest, ForgeError> {
        self.forge_for(repo)?.pull_request(id).await
    }

    async fn diff(&self, repo: &str, pr: &PullRequest) -> Result<String, ForgeError> {
        let forge = self.forge_for(repo)?;
        if forge.name() == "local" {
            return self.local.diff(repo, pr).await;
        }
        Err(ForgeError::Other {
            message: format!(
                "the changes of pull request #{} are shown on {}: {}",
                pr.id,
                forge.name(),
                pr.url
            ),
        })
    }
}
