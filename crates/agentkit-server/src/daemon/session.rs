//! Building one session (an [`Agent`] and its sandbox spec) per task from the
//! configuration.

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::agent::Agent;
use agentkit_core::context::ContextEngine;
use agentkit_core::engine::Budgets;
use agentkit_core::event::EventSink;
use agentkit_core::model::Model;
use agentkit_core::policy::{CommandPolicy, PathPolicy};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::{NetworkPolicy, SandboxPolicy, SandboxSpec};
use agentkit_core::task::Task;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_tools::context::RuleFiles;
use agentkit_tools::tools::standard_tools;
use agentkit_tools::verify::CommandVerifier;

use super::forge_set::Forges;
use super::notify::Lifecycle;
use crate::config::{BudgetsConfig, Config, NetworkMode};
use crate::pool::SessionFactory;

/// Tokens of rule-file context put into the system prompt at most.
pub const CONTEXT_BUDGET_TOKENS: usize = 8_000;

/// The sessions agentd runs: a fresh model from the configured spec(s) per
/// task, the standard tools, rule-file context, the configured checks, the
/// local forge of the task's repository, the default command and path
/// policies, the configured budgets and sandbox policy.
pub struct ConfiguredSessions {
    lifecycle: Option<Arc<Lifecycle>>,
    model_spec: String,
    fallbacks: Vec<String>,
    checks: Vec<(String, String)>,
    budgets: Budgets,
    policy: SandboxPolicy,
    setup: agentkit_sandbox::setup::SetupOptions,
    forges: Arc<Forges>,
    redactor: Redactor,
}

impl ConfiguredSessions {
    /// Sessions for `config`, with the model `model_spec` (the configured one,
    /// or the demo's), publishing through `forges` (the forge of each task's
    /// repository).
    pub fn new(config: &Config, model_spec: String, forges: Arc<Forges>) -> Self {
        let mut policy = SandboxPolicy {
            network: match config.sandbox.network {
                NetworkMode::Deny => NetworkPolicy::Deny,
                NetworkMode::AllowList => NetworkPolicy::AllowList(config.sandbox.allow.clone()),
                NetworkMode::Full => NetworkPolicy::Full,
            },
            ..SandboxPolicy::default()
        };
        if let Some(env) = &config.sandbox.env_allow {
            policy.env_allow = env.clone();
        }
        let mut redactor = Redactor::new().with_env_secrets();
        if let Some(token) = &config.token {
            redactor = redactor.with_secret(token.clone());
        }
        Self {
            lifecycle: None,
            model_spec,
            fallbacks: config.model.fallbacks.clone(),
            checks: config
                .checks
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            budgets: budgets(&config.budgets),
            policy,
            setup: setup_options(&config.sandbox),
            forges,
            redactor,
        }
    }

    /// Tells `lifecycle` when sessions start and when their ends are recorded.
    pub fn with_lifecycle(mut self, lifecycle: Arc<Lifecycle>) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Builds the model (checks the specs; called once at startup too).
    pub fn model(&self) -> Result<Arc<dyn Model>, String> {
        let build = |spec: &str| {
            agentkit_llm::from_spec(spec)
                .map_err(|err| format!("model spec `{spec}` does not work: {err}"))
        };
        let primary = build(&self.model_spec)?;
        if self.fallbacks.is_empty() {
            return Ok(primary);
        }
        let fallbacks = self
            .fallbacks
            .iter()
            .map(|spec| build(spec))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(agentkit_llm::wrap::Fallback::new(
            primary, fallbacks,
        )))
    }
}

/// The engine's budgets from `[budgets]`.
pub fn budgets(config: &BudgetsConfig) -> Budgets {
    Budgets {
        max_steps: config.max_steps,
        max_tokens: config.max_tokens,
        max_cost_usd: config.max_cost_usd,
        max_wall_time: config.max_wall_secs.map(Duration::from_secs),
    }
}

#[async_trait::async_trait]
impl SessionFactory for ConfiguredSessions {
    fn agent(&self, task: &Task, sinks: Vec<Arc<dyn EventSink>>) -> Result<Arc<Agent>, String> {
        let model = self.model()?;
        let forge = self
            .forges
            .forge_for(&task.repo.url)
            .map_err(|err| err.to_string())?;
        let tokenizer = model
            .tokenizer()
            .unwrap_or_else(|| Arc::new(ApproxTokenizer));
        let mut builder = Agent::builder(model)
            .tools(standard_tools())
            .context(
                ContextEngine::new(tokenizer, CONTEXT_BUDGET_TOKENS)
                    .with_provider(RuleFiles::new()),
            )
            .forge(forge)
            .budgets(self.budgets.clone())
            .redactor(self.redactor.clone())
            .hook(CommandPolicy::default())
            .hook(PathPolicy::default());
        if !self.checks.is_empty() {
            let mut verifier = CommandVerifier::new();
            for (name, command) in &self.checks {
                verifier = verifier.check(name, command);
            }
            builder = builder.verifier(verifier);
        }
        for sink in sinks {
            builder = builder.shared_sink(sink);
        }
        Ok(Arc::new(builder.build()))
    }

    async fn spec(&self, task: &Task) -> SandboxSpec {
        let mut spec = SandboxSpec::new(task.repo.url.clone());
        // A follow-up revision (`<id>@rev<n>`) starts from the agent's branch,
        // so it builds on the earlier revision's commits.
        spec.rev =
            agentkit_core::forge::start_revision(task, agentkit_core::forge::DEFAULT_BRANCH_PREFIX);
        spec.policy = self.policy.clone();
        // A repository the forge keeps a host-side mirror of (a GitHub
        // repository, private ones included) is planned — and cloned — from
        // that mirror, fetched at the revision now: git cannot read a URL's
        // `.agentkit/setup.sh` and `policy.toml` in place. The agent's
        // `sandbox_source` then leaves the mirror path as it is.
        match self.forges.forge_for(&task.repo.url) {
            Ok(forge) => match forge.source(&task.repo.url, spec.rev.as_deref()).await {
                Ok(Some(mirror)) => spec.repo = mirror,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(task = %task.id, %error, "the forge could not fetch the repository to read its setup; only the operator's runs")
                }
            },
            Err(error) => tracing::debug!(task = %task.id, %error, "no forge for the repository"),
        }
        let repo = std::path::Path::new(&spec.repo);
        match plan_setup(repo, spec.rev.as_deref(), &self.setup).await {
            Ok(plan) => {
                for warning in &plan.warnings {
                    tracing::warn!(task = %task.id, "{warning}");
                }
                if let Some(proposed) = &plan.proposed {
                    tracing::info!(task = %task.id, applied = plan.script.is_some(), script = %proposed.script, "setup detected");
                }
                plan.apply(&mut spec);
            }
            Err(error) => {
                tracing::warn!(task = %task.id, %error, "the repository's setup could not be read; only the operator's runs");
                spec.setup_script = self.setup.script.clone();
            }
        }
        spec
    }

    fn started(&self, task: &Task, attempt: u32) {
        if let Some(lifecycle) = &self.lifecycle {
            lifecycle.started(task, attempt);
        }
    }

    fn recorded(&self, task: &Task) {
        if let Some(lifecycle) = &self.lifecycle {
            lifecycle.recorded(task);
        }
    }
}

/// The repository's setup at `rev`, with its own `[setup]` table.
async fn plan_setup(
    repo: &std::path::Path,
    rev: Option<&str>,
    options: &agentkit_sandbox::setup::SetupOptions,
) -> Result<agentkit_sandbox::setup::SetupPlan, agentkit_core::sandbox::SandboxError> {
    let table = agentkit_sandbox::setup::repo_table(repo, rev).await?;
    agentkit_sandbox::setup::plan(repo, rev, table.as_ref(), options).await
}

/// The operator's say over setups, from `[sandbox]`.
fn setup_options(sandbox: &crate::config::SandboxConfig) -> agentkit_sandbox::setup::SetupOptions {
    let mut options = agentkit_sandbox::setup::SetupOptions::default()
        .allow_repo(sandbox.repo_setup)
        .auto(sandbox.auto_setup);
    options.script = sandbox.setup_script.clone();
    if let Some(dir) = &sandbox.cache_dir {
        options = options.cache_root(Some(dir.clone()));
    }
    for name in &sandbox.setup_env {
        if let Ok(value) = std::env::var(name) {
            options = options.env(name.clone(), value);
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_table_sets_the_operators_say_over_setups() {
        let config = Config::parse(
            std::path::Path::new("agentd.toml"),
            "[sandbox]\nsetup_script = \"make deps\"\nrepo_setup = false\nauto_setup = true\n\
             setup_env = [\"PATH\", \"AGENTKIT_SURELY_UNSET_VARIABLE\"]\ncache_dir = \"/var/cache/agentkit/repos\"\n",
        )
        .unwrap();
        let options = setup_options(&config.sandbox);
        assert_eq!(
            (
                options.script.as_deref(),
                options.allow_repo,
                options.auto,
                options.env.keys().cloned().collect::<Vec<_>>(),
                options.cache_root.clone(),
            ),
            (
                Some("make deps"),
                false,
                true,
                vec!["PATH".to_string()],
                Some(std::path::PathBuf::from("/var/cache/agentkit/repos")),
            )
        );
        let defaults = setup_options(&Config::default().sandbox);
        assert_eq!(
            (defaults.allow_repo, defaults.auto, defaults.script),
            (true, false, None)
        );
    }
}
