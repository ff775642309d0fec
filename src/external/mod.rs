//! External CLI agents as the backbone (feature `eval`).
//!
//! An [`ExternalAgent`] runs someone else's agent — mini-swe-agent, Codex
//! CLI, Claude Code, aider — *inside an agentkit sandbox* from a command
//! template, and puts agentkit's guardrails around it:
//!
//! - **sandbox and network policy**: the command is one [`ExecRequest`] in the
//!   sandbox the provider built (clone, setup script, policy), so the backend
//!   enforces what it enforces for the built-in loop (with `bwrap`/`docker`,
//!   give the model's host in an allow-list, see [`ExternalAgent::policy_hosts`]);
//! - **budgets**: wall time kills the whole process group; steps, tokens and
//!   cost are read from what the agent reports (mini-swe-agent's trajectory,
//!   Claude Code's JSON result) and, for mini, also handed to it as its own
//!   limits; a run over budget is not published;
//! - **verification**: the [`Verifier`] runs after the agent exits; a failure
//!   ends the run as [`StopReason::VerificationFailed`] (an external agent
//!   cannot be fed the failure back);
//! - **completion contract / policies**: the hooks' `before_publish` point sees
//!   the [`PublishRequest`] exactly as for the built-in loop and may skip or stop;
//! - **forge**: the work leaves the sandbox through the same path as the
//!   built-in loop — [`handover::export_changes`] (commits and a git bundle)
//!   then [`Forge::publish`] — so a pull request looks the same whoever wrote it;
//! - **transcript**: events go to the sinks as for the built-in loop; the
//!   agent's own trajectory becomes `ModelCallFinished`/`ToolCallFinished`
//!   events where it is parsed, and its whole stdout/stderr is one
//!   `ToolCallFinished` event named `external:<name>` (secrets redacted).
//!
//! # Command templates
//!
//! The template is a bash script run in the workspace. Placeholders:
//! `{program}`, `{task}` (the ticket's title and text, shell-quoted),
//! `{model}`, `{api_base}`, `{step_limit}`, `{cost_limit}` (0 = none),
//! `{trajectory}` (a path inside `.git/agentkit-external/`, out of the diff)
//! and `{state}` (that directory). [`Preset`] has the templates of the four
//! agents named above.
//!
//! ```no_run
//! # async fn demo(sandbox: std::sync::Arc<dyn agentkit::core::sandbox::Sandbox>) {
//! use agentkit::core::CancellationToken;
//! use agentkit::core::task::{RepoRef, Task};
//! use agentkit::external::{ExternalAgent, Preset};
//!
//! let agent = ExternalAgent::preset(Preset::MiniSweAgent, "openai/gpt-4o-mini")
//!     .api_base("http://127.0.0.1:8080/v1");
//! let task = Task::new("BUG-1", "mean() is wrong", "Fix it.", RepoRef::new("/repo"));
//! let outcome = agent.run(task, sandbox, CancellationToken::new()).await;
//! println!("{}", outcome.stop_reason);
//! # }
//! ```
//!
//! [`ExecRequest`]: agentkit_core::sandbox::ExecRequest
//! [`Verifier`]: agentkit_core::verify::Verifier
//! [`StopReason::VerificationFailed`]: agentkit_core::outcome::StopReason::VerificationFailed
//! [`PublishRequest`]: agentkit_core::forge::PublishRequest
//! [`handover::export_changes`]: agentkit_core::handover::export_changes
//! [`Forge::publish`]: agentkit_core::forge::Forge::publish

mod preset;
mod publish;
mod run;
pub mod trajectory;

use std::collections::BTreeMap;
use std::sync::Arc;

use agentkit_core::engine::Budgets;
use agentkit_core::event::EventSink;
use agentkit_core::forge::{DEFAULT_BRANCH_PREFIX, Forge};
use agentkit_core::hook::Hook;
use agentkit_core::redact::Redactor;
use agentkit_core::verify::Verifier;

pub use preset::Preset;
pub use trajectory::{TrajectoryFormat, TrajectoryStats};

/// A CLI agent run inside the sandbox. Build with [`ExternalAgent::new`] or
/// [`ExternalAgent::preset`] and the setters.
#[derive(Clone)]
pub struct ExternalAgent {
    /// A name for events and reports (`mini-swe-agent`).
    pub name: String,
    /// The program (`{program}`), e.g. the path of a venv's `mini`.
    pub program: String,
    /// The command template (a bash script; see the module docs).
    pub template: String,
    /// The model (`{model}`), in the agent's own naming.
    pub model: String,
    /// The model server (`{api_base}`).
    pub api_base: String,
    /// Environment variables for the command (on top of the sandbox's).
    pub env: BTreeMap<String, String>,
    /// `(host variable, sandbox variable)`: the API key is read from the host
    /// when the run starts, passed under the sandbox's name, and redacted.
    pub api_key: Option<(String, String)>,
    /// How to read what the agent reports.
    pub trajectory: TrajectoryFormat,
    /// Steps, tokens, cost and wall time.
    pub budgets: Budgets,
    /// Checks run after the agent exits.
    pub verifier: Option<Arc<dyn Verifier>>,
    /// Where the work is published (none: it stays in the sandbox).
    pub forge: Option<Arc<dyn Forge>>,
    /// Hooks; their `before_publish` point gates publishing.
    pub hooks: Vec<Arc<dyn Hook>>,
    /// Event sinks (transcripts, progress).
    pub sinks: Vec<Arc<dyn EventSink>>,
    /// Redacts secrets from events, commit messages and the pull request.
    pub redactor: Redactor,
    /// The branch prefix of pull requests.
    pub branch_prefix: String,
}

impl ExternalAgent {
    /// An agent named `name` running `template` with `program`.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            template: template.into(),
            model: String::new(),
            api_base: String::new(),
            env: BTreeMap::new(),
            api_key: None,
            trajectory: TrajectoryFormat::None,
            budgets: Budgets::default(),
            verifier: None,
            forge: None,
            hooks: Vec::new(),
            sinks: Vec::new(),
            redactor: Redactor::new().with_env_secrets(),
            branch_prefix: DEFAULT_BRANCH_PREFIX.to_string(),
        }
    }

    /// A ready-made agent (see [`Preset`]) with `model`.
    pub fn preset(preset: Preset, model: impl Into<String>) -> Self {
        preset.agent(model.into())
    }

    /// Sets the program.
    pub fn program(mut self, program: impl Into<String>) -> Self {
        self.program = program.into();
        self
    }

    /// Sets the model server.
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into();
        self
    }

    /// Passes the host variable `host` into the sandbox as `sandbox` (redacted everywhere).
    pub fn api_key_from(mut self, host: impl Into<String>, sandbox: impl Into<String>) -> Self {
        self.api_key = Some((host.into(), sandbox.into()));
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the budgets.
    pub fn budgets(mut self, budgets: Budgets) -> Self {
        self.budgets = budgets;
        self
    }

    /// Sets the verifier.
    pub fn verifier(mut self, verifier: impl Verifier + 'static) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Sets the forge.
    pub fn forge(mut self, forge: Arc<dyn Forge>) -> Self {
        self.forge = Some(forge);
        self
    }

    /// Adds a hook.
    pub fn hook(mut self, hook: Arc<dyn Hook>) -> Self {
        self.hooks.push(hook);
        self
    }

    /// Adds an event sink.
    pub fn sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The hosts an allow-list network policy must let through for this
    /// agent: the host of `api_base` (empty when it has none).
    pub fn policy_hosts(&self) -> Vec<String> {
        let rest = self
            .api_base
            .split_once("://")
            .map_or(self.api_base.as_str(), |(_, r)| r);
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            Vec::new()
        } else {
            vec![host.to_string()]
        }
    }
}

impl std::fmt::Debug for ExternalAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalAgent")
            .field("name", &self.name)
            .field("program", &self.program)
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("trajectory", &self.trajectory)
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}
