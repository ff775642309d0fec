//! [`FixIssue`]: a complete background agent built from the default parts.
//!
//! Ticket in, pull request out, on one machine and offline:
//! the repository is cloned into a sandbox (the strongest backend the host
//! supports unless one is given: `bwrap`, else `docker`, else `local` with
//! a loud warning — see [`agentkit_sandbox::auto`]), the rule files
//! (`AGENTS.md`, ...) become context, the model works with the standard tools,
//! the operator's checks verify the result (failures go back to the model),
//! and a [`LocalForge`] pushes the agent's commits to `agent/<task-id>` in the
//! repository and records the pull request under the forge directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentkit_core::CancellationToken;
use agentkit_core::agent::Agent;
use agentkit_core::checkpoint::FileCheckpoint;
use agentkit_core::context::ContextEngine;
use agentkit_core::engine::{Budgets, CallSettings};
use agentkit_core::event::{EventSink, JsonlSink};
use agentkit_core::hook::Hook;
use agentkit_core::model::Model;
use agentkit_core::outcome::Outcome;
use agentkit_core::policy::{CommandPolicy, PathPolicy};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::{SandboxError, SandboxPolicy, SandboxProvider, SandboxSpec};
use agentkit_core::task::Task;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_core::worker::run_task;
use agentkit_sandbox::auto;
use agentkit_tools::context::RuleFiles;
use agentkit_tools::forge::LocalForge;
use agentkit_tools::tools::standard_tools;
use agentkit_tools::verify::CommandVerifier;

/// Tokens of context (rule files; with `repo-map` also the repo map) put into the system prompt at most.
pub const CONTEXT_BUDGET_TOKENS: usize = 8_000;

/// Why a job could not run (a run that ran always ends in an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The repository is not a git repository.
    #[error(
        "`{path}` is not a git repository (expected a directory with .git, or a bare repository)"
    )]
    NotARepository {
        /// The path given.
        path: String,
    },
    /// The sandbox could not be created.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The transcript file could not be created.
    #[error("cannot create the transcript file `{path}`: {source}")]
    Transcript {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A fix-an-issue job. Build with [`FixIssue::new`], adjust the public
/// fields, then [`FixIssue::run`].
pub struct FixIssue {
    /// The repository the work is about: a local git repository (with a work
    /// tree or bare). It plays the remote: the agent's branch is pushed into it.
    pub repo: PathBuf,
    /// The ticket.
    pub task: Task,
    /// The model.
    pub model: Arc<dyn Model>,
    /// Checks run to verify the work: `(name, shell command)`, e.g. `("tests", "cargo test")`.
    pub checks: Vec<(String, String)>,
    /// Run once in the fresh sandbox before the agent starts (install dependencies, ...).
    pub setup_script: Option<String>,
    /// Where the local forge keeps pull-request records and comments
    /// (`None`: `agentkit-forge/` inside the repository's git directory, so
    /// the records travel with the repository).
    pub forge_dir: Option<PathBuf>,
    /// Where to write the JSONL transcript (secrets redacted), if anywhere.
    pub transcript: Option<PathBuf>,
    /// Where the work runs. `None` (the default): the strongest backend
    /// this host supports, chosen when the job runs ([`FixIssue::choose_sandbox`]).
    pub provider: Option<Arc<dyn SandboxProvider>>,
    /// The sandbox policy: network, protected paths, limits, environment.
    pub policy: SandboxPolicy,
    /// Limits of the run.
    pub budgets: Budgets,
    /// Extra event sinks (progress printers, metrics).
    pub sinks: Vec<Arc<dyn EventSink>>,
    /// What every model call asks for (temperature, reasoning effort, ...).
    pub call: CallSettings,
    /// Policy hooks, in order. Default: [`CommandPolicy::default`] (no
    /// pushing, no remote/config changes, no `curl | sh`, no sudo) and
    /// [`PathPolicy::default`] (no writes under `.git`).
    pub policies: Vec<Arc<dyn Hook>>,
}

impl FixIssue {
    /// A job for `task` in `repo` with `model`, with no checks and the default forge directory.
    pub fn new(repo: impl Into<PathBuf>, task: Task, model: Arc<dyn Model>) -> Self {
        Self {
            repo: repo.into(),
            task,
            model,
            checks: Vec::new(),
            setup_script: None,
            forge_dir: None,
            transcript: None,
            provider: None,
            policy: SandboxPolicy::default(),
            budgets: Budgets::default(),
            sinks: Vec::new(),
            call: CallSettings::default(),
            policies: vec![
                Arc::new(CommandPolicy::default()),
                Arc::new(PathPolicy::default()),
            ],
        }
    }

    /// The git directory of the repository (`<repo>/.git` or the bare repo itself).
    pub fn git_dir(&self) -> Result<PathBuf, JobError> {
        git_dir_of(&self.repo)
    }

    /// The forge the job publishes through.
    pub fn forge(&self) -> Result<LocalForge, JobError> {
        local_forge(&self.repo, self.forge_dir.as_deref())
    }

    /// Where run states are checkpointed after every step: `runs/` in the forge directory.
    pub fn checkpoint_dir(&self) -> Result<PathBuf, JobError> {
        Ok(forge_state_dir(&self.repo, self.forge_dir.as_deref())?.join("runs"))
    }

    /// Fills in [`provider`](Self::provider) when it is unset: the strongest
    /// backend the host supports. Returns the provider, the backend's name
    /// and, when it is an unconfined `local` fallback, the warning to show
    /// the operator.
    pub async fn choose_sandbox(
        &mut self,
    ) -> (Arc<dyn SandboxProvider>, &'static str, Option<String>) {
        if let Some(provider) = &self.provider {
            let name = match provider.name() {
                "bwrap" => "bwrap",
                "docker" => "docker",
                "local" => "local",
                _ => "custom",
            };
            return (provider.clone(), name, None);
        }
        let choice = auto::strongest(&auto::Options::default()).await;
        self.provider = Some(choice.provider.clone());
        (choice.provider, choice.backend, choice.warning)
    }

    /// Runs the job to its end.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<Outcome, JobError> {
        let (provider, backend, warning) = self.choose_sandbox().await;
        if let Some(warning) = warning {
            tracing::warn!(backend, "{warning}");
        }
        let forge = Arc::new(self.forge()?);
        let mut verifier = CommandVerifier::new();
        for (name, command) in &self.checks {
            verifier = verifier.check(name, command);
        }
        let tokenizer = self
            .model
            .tokenizer()
            .unwrap_or_else(|| Arc::new(ApproxTokenizer));
        let context = ContextEngine::new(tokenizer.clone(), CONTEXT_BUDGET_TOKENS)
            .with_provider(RuleFiles::new());
        // With `repo-map`: the map as context and the code tools, over one index
        // cached next to the forge records (outside the work tree).
        #[cfg(feature = "repo-map")]
        let (tools, context) = {
            use agentkit_tools::context::{CodeIndex, RepoMap};
            let cache = forge_state_dir(&self.repo, self.forge_dir.as_deref())?.join("code-index");
            let map = RepoMap::new(CodeIndex::with_cache_dir(cache)).tokenizer(tokenizer);
            let tools = agentkit_tools::tools::code_tools(standard_tools(), &map);
            (tools, context.with_provider(map))
        };
        #[cfg(not(feature = "repo-map"))]
        let tools = standard_tools();
        let mut builder = Agent::builder(self.model.clone())
            .tools(tools)
            .context(context)
            .forge(forge)
            .checkpoint(Arc::new(FileCheckpoint::new(self.checkpoint_dir()?)))
            .budgets(self.budgets.clone());
        if !self.checks.is_empty() {
            builder = builder.verifier(verifier);
        }
        builder = builder.call_settings(self.call.clone());
        if let Some(path) = &self.transcript {
            let sink =
                JsonlSink::create(path, Redactor::new().with_env_secrets()).map_err(|source| {
                    JobError::Transcript {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
            builder = builder.sink(sink);
        }
        for policy in &self.policies {
            builder = builder.shared_hook(policy.clone());
        }
        for sink in &self.sinks {
            builder = builder.shared_sink(sink.clone());
        }
        let agent = builder.build();
        let mut spec = SandboxSpec::new(self.repo.display().to_string());
        spec.rev = self.task.repo.base.clone();
        spec.setup_script = self.setup_script.clone();
        spec.policy = self.policy.clone();
        let outcome = run_task(&agent, provider.as_ref(), &spec, self.task, cancel).await?;
        Ok(outcome)
    }
}

/// `<repo>/.git` when it exists, else `repo` itself when it is a bare repository.
pub fn git_dir_of(repo: &Path) -> Result<PathBuf, JobError> {
    let dotgit = repo.join(".git");
    if dotgit.is_dir() {
        return Ok(dotgit);
    }
    if repo.join("HEAD").is_file() && repo.join("objects").is_dir() {
        return Ok(repo.to_path_buf());
    }
    Err(JobError::NotARepository {
        path: repo.display().to_string(),
    })
}

/// The forge for `repo`: records in `forge_dir`, or in `agentkit-forge/`
/// inside the repository's git directory.
pub fn local_forge(repo: &Path, forge_dir: Option<&Path>) -> Result<LocalForge, JobError> {
    Ok(LocalForge::new(
        git_dir_of(repo)?,
        forge_state_dir(repo, forge_dir)?,
    ))
}

fn forge_state_dir(repo: &Path, forge_dir: Option<&Path>) -> Result<PathBuf, JobError> {
    match forge_dir {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(git_dir_of(repo)?.join("agentkit-forge")),
    }
}
