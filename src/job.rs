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
use agentkit_core::event::Event;
use agentkit_core::event::{EventSink, JsonlSink};
use agentkit_core::forge::Forge;
use agentkit_core::hook::Hook;
use agentkit_core::model::Model;
use agentkit_core::outcome::Outcome;
use agentkit_core::policy::file::{Policy, PolicyFileError, PolicyLayer, REPO_POLICY_PATH};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::{SandboxError, SandboxPolicy, SandboxProvider, SandboxSpec};
use agentkit_core::task::Task;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_core::worker::run_task;
use agentkit_sandbox::auto;
use agentkit_sandbox::setup::{self, SetupOptions, SetupPlan};
use agentkit_tools::context::RuleFiles;
use agentkit_tools::forge::{BundleInspector, LocalForge};
use agentkit_tools::tools::{RunTests, standard_tools};
use agentkit_tools::verify::CommandVerifier;

/// Tokens of context (rule files) put into the system prompt at most.
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
    /// A policy file is invalid (the error names file, line and key).
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyFileError),
    /// Publishing the chosen change failed (best-of-N).
    #[error("publishing failed: {0}")]
    Publish(agentkit_core::forge::ForgeError),
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
    /// The operator's setup script, run once in the fresh sandbox before the
    /// agent starts (install dependencies, ...). It wins over the
    /// repository's `.agentkit/setup.sh` and `[setup]` table.
    pub setup_script: Option<String>,
    /// The operator's say over repository setups: allowed or forbidden,
    /// detection applied or only shown (default: shown), the variables a
    /// setup may ask for, where per-repository caches live. See
    /// [`agentkit_sandbox::setup`].
    pub setup: SetupOptions,
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
    /// Extra policy hooks, run after the policy file's (tool allow-list,
    /// command rules — by default no pushing, no remote/config changes, no
    /// `curl | sh`, no sudo — and path rules, by default no writes under `.git`).
    pub policies: Vec<Arc<dyn Hook>>,
    /// The operator's policy file ([`agentkit_core::policy::file`]). It
    /// overrides the repository's `.agentkit/policy.toml` key by key.
    pub policy_file: Option<PathBuf>,
    /// Whether the repository's `.agentkit/policy.toml` is read (host-side,
    /// at the commit the work starts from). Default: true.
    pub repo_policy: bool,
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
            setup: SetupOptions::default(),
            forge_dir: None,
            transcript: None,
            provider: None,
            policy: SandboxPolicy::default(),
            budgets: Budgets::default(),
            sinks: Vec::new(),
            call: CallSettings::default(),
            policies: Vec::new(),
            policy_file: None,
            repo_policy: true,
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

    /// The effective policy: this job's budgets and network, overridden by
    /// the repository's `.agentkit/policy.toml` (at the starting commit), then
    /// by the operator's [`policy_file`](Self::policy_file).
    pub fn effective_policy(&self) -> Result<Policy, JobError> {
        let base = Policy {
            budgets: self.budgets.clone(),
            network: Some(self.policy.network.clone()),
            ..Policy::default()
        };
        let mut layers = Vec::new();
        if self.repo_policy {
            let rev = self.task.repo.base.as_deref().unwrap_or("HEAD");
            if let Some(layer) = repo_policy_layer(&self.git_dir()?, rev)? {
                layers.push(layer);
            }
        }
        if let Some(path) = &self.policy_file {
            layers.push(PolicyLayer::read(path)?);
        }
        Ok(Policy::layered_over(base, layers)?)
    }

    /// Fills in [`provider`](Self::provider) when it is unset: the strongest
    /// backend the host supports. Returns the provider, the backend's name
    /// and, when it is an unconfined `local` fallback, the warning to show
    /// the operator.
    pub async fn choose_sandbox(
        &mut self,
    ) -> (Arc<dyn SandboxProvider>, &'static str, Option<String>) {
        if let Some(provider) = &self.provider {
            let name = auto::available()
                .into_iter()
                .find(|backend| *backend == provider.name())
                .unwrap_or("custom");
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
        let policy = self.effective_policy()?;
        let forge = Arc::new(self.forge()?);
        let agent = self.agent(
            &policy,
            self.model.clone(),
            self.call.clone(),
            forge,
            self.checkpoint_dir()?,
        )?;
        let mut spec = self.sandbox_spec(&policy);
        self.setup_plan(&policy, Some(&agent))
            .await?
            .apply(&mut spec);
        let outcome = run_task(&agent, provider.as_ref(), &spec, self.task, cancel).await?;
        Ok(outcome)
    }

    /// The setup of this job's repository at its starting commit under
    /// `policy` (its `[setup]` table) and [`setup`](Self::setup): the
    /// operator's script, else the repository's, else detection. What
    /// detection proposes and any warning go to `agent`'s events.
    pub async fn setup_plan(
        &self,
        policy: &Policy,
        agent: Option<&Agent>,
    ) -> Result<SetupPlan, JobError> {
        let mut options = self.setup.clone();
        if let Some(script) = &self.setup_script {
            options.script = Some(script.clone());
        }
        let plan = setup::plan(
            &self.repo,
            self.task.repo.base.as_deref(),
            policy.setup.as_ref(),
            &options,
        )
        .await?;
        if let Some(agent) = agent {
            let id = &self.task.id;
            if let Some(proposed) = &plan.proposed {
                agent.events().emit_for(
                    id,
                    Event::SetupProposed {
                        stacks: proposed.stacks.clone(),
                        script: proposed.script.clone(),
                        applied: plan.script.is_some(),
                    },
                );
            }
            for message in &plan.warnings {
                agent.events().emit_for(
                    id,
                    Event::Warning {
                        message: message.clone(),
                    },
                );
            }
        }
        Ok(plan)
    }

    /// The agent of this job under `policy`, with `model` and `call`,
    /// publishing through `forge` and checkpointing under `checkpoints`.
    pub(crate) fn agent(
        &self,
        policy: &Policy,
        model: Arc<dyn Model>,
        call: CallSettings,
        forge: Arc<dyn Forge>,
        checkpoints: PathBuf,
    ) -> Result<Agent, JobError> {
        let mut verifier = CommandVerifier::new();
        for (name, command) in &self.checks {
            verifier = verifier.check(name, command);
        }
        let tokenizer = model
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
        let mut builder = Agent::builder(model.clone())
            .tools(tools)
            .tool(RunTests)
            .context(context)
            .forge(forge)
            .checkpoint(Arc::new(FileCheckpoint::new(checkpoints)))
            .budgets(policy.budgets.clone());
        if let Some(contract) = policy.contract.clone() {
            let inspector = BundleInspector::new(self.git_dir()?);
            builder = builder.contract(contract, Arc::new(inspector));
        }
        for hook in policy.hooks() {
            builder = builder.shared_hook(hook);
        }
        if !self.checks.is_empty() {
            builder = builder.verifier(verifier);
        }
        builder = builder.call_settings(call);
        if let Some(path) = &self.transcript {
            // The values the operator offers setups are secrets too (tokens).
            let redactor = self
                .setup
                .env
                .values()
                .fold(Redactor::new().with_env_secrets(), |r, v| {
                    r.with_secret(v.clone())
                });
            let sink =
                JsonlSink::create(path, redactor).map_err(|source| JobError::Transcript {
                    path: path.display().to_string(),
                    source,
                })?;
            builder = builder.sink(sink);
        }
        for policy in &self.policies {
            builder = builder.shared_hook(policy.clone());
        }
        for sink in &self.sinks {
            builder = builder.shared_sink(sink.clone());
        }
        Ok(builder.build())
    }

    /// What the sandbox of this job is made from under `policy`.
    pub(crate) fn sandbox_spec(&self, policy: &Policy) -> SandboxSpec {
        let mut spec = SandboxSpec::new(self.repo.display().to_string());
        spec.rev = self.task.repo.base.clone();
        spec.setup_script = self.setup_script.clone();
        spec.policy = self.policy.clone();
        if let Some(network) = &policy.network {
            spec.policy.network = network.clone();
        }
        spec
    }
}

/// The repository's policy file at `rev`, read with host-side git (hooks
/// off, no outside configuration); `None` when the commit has none.
fn repo_policy_layer(git_dir: &Path, rev: &str) -> Result<Option<PolicyLayer>, JobError> {
    let object = format!("{rev}:{REPO_POLICY_PATH}");
    let source = format!("{REPO_POLICY_PATH} (at {rev})");
    let unreadable = |message: String| PolicyFileError {
        file: source.clone(),
        line: 0,
        column: 0,
        key: String::new(),
        message,
    };
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(git_dir)
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.fsmonitor=false",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_CONFIG_PARAMETERS")
            .output()
            .map_err(|e| unreadable(format!("cannot run git: {e}")))
    };
    let exists = git(&["rev-parse", "--verify", "--quiet", &object])?;
    if !exists.status.success() {
        return Ok(None);
    }
    let blob = git(&["cat-file", "blob", &object])?;
    if !blob.status.success() {
        return Err(unreadable(String::from_utf8_lossy(&blob.stderr).trim().to_string()).into());
    }
    let text =
        String::from_utf8(blob.stdout).map_err(|_| unreadable("the file is not UTF-8".into()))?;
    Ok(Some(PolicyLayer::parse(&source, &text)?))
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
