//! agentd's GitHub forges (cargo feature `github`): one [`GitHubForge`] per
//! repository of `[forge.github]`, built on first use with the configured
//! App or token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agentkit_core::forge::ForgeError;
use agentkit_tools::forge::github::{GitHubAuth, GitHubForge};

use crate::config::GitHubForgeConfig;

/// The GitHub forges of `[forge.github]`, by `owner/repo`.
pub struct GitHubForges {
    config: GitHubForgeConfig,
    auth: GitHubAuth,
    scratch: PathBuf,
    forges: Mutex<HashMap<String, Arc<GitHubForge>>>,
}

impl std::fmt::Debug for GitHubForges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubForges")
            .field("repos", &self.config.repos)
            .field("api_base", &self.config.api_base)
            .finish_non_exhaustive()
    }
}

impl GitHubForges {
    /// The forges of `config`, authenticated as it says: the App's private
    /// key is read from `private_key_path`, a token through `env` (or its
    /// file). Host-side push repositories go under `scratch_dir`, else
    /// `<data_dir>/github`.
    pub fn new(
        config: &GitHubForgeConfig,
        data_dir: &std::path::Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let auth = match (&config.app_id, &config.private_key_path, &config.token) {
            (Some(app_id), Some(path), _) => {
                let pem = std::fs::read(path).map_err(|err| {
                    format!(
                        "forge.github.private_key_path: cannot read `{}`: {err}",
                        path.display()
                    )
                })?;
                GitHubAuth::app(app_id.clone(), &pem, config.installation_id)
                    .map_err(|err| format!("forge.github.private_key_path: {err}"))?
            }
            (_, _, Some(token)) => GitHubAuth::token(token.read("forge.github.token", env)?),
            _ => {
                return Err("forge.github needs app_id + private_key_path or token".to_string());
            }
        };
        Ok(Self {
            scratch: config
                .scratch_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("github")),
            config: config.clone(),
            auth,
            forges: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GitHubForgeConfig {
        &self.config
    }

    /// The forge of `url` when it names a configured GitHub repository;
    /// `None` when it is not a GitHub URL of this forge; an error when it is
    /// one but not an allowed repository.
    pub fn forge_for(&self, url: &str) -> Option<Result<Arc<GitHubForge>, ForgeError>> {
        let repository = self.config.repository_of(url)?;
        if !self.config.allows(&repository) {
            return Some(Err(ForgeError::Refused {
                reason: format!(
                    "repository `{repository}` is not one of forge.github.repos in the agentd config"
                ),
            }));
        }
        let key = repository.to_ascii_lowercase();
        let mut forges = self
            .forges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(forge) = forges.get(&key) {
            return Some(Ok(forge.clone()));
        }
        let (owner, repo) = repository.split_once('/')?;
        let built = GitHubForge::builder(owner, repo, self.auth.clone())
            .api_base(&self.config.api_base)
            .git_base(&self.config.git_base)
            .draft(self.config.draft)
            .labels(self.config.labels.clone())
            .scratch_dir(self.scratch.join(owner).join(format!("{repo}.git")))
            .build()
            .map(Arc::new);
        if let Ok(forge) = &built {
            forges.insert(key, forge.clone());
        }
        Some(built)
    }
}
