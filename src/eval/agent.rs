//! What the harness evaluates: anything that works on a ticket in a sandbox.
//!
//! [`EvalAgent::solve`] gets the ticket and a fresh sandbox holding the
//! repository at the base commit (setup done) and returns an [`AgentRun`].
//! The harness takes the agent's work from the sandbox afterwards (`git diff`
//! against the base, committed or not), so an agent only has to leave its
//! changes in the workspace.
//!
//! Ready-made: [`NoopAgent`] (changes nothing: must resolve nothing),
//! [`OracleAgent`] (applies the upstream fix: must resolve everything),
//! [`ModelAgent`] (agentkit's own loop with any model spec),
//! [`FnAgent`] (a closure), and [`ExternalAgent`](crate::external::ExternalAgent)
//! (a CLI agent such as mini-swe-agent).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::CancellationToken;
use agentkit_core::agent::Agent;
use agentkit_core::context::ContextEngine;
use agentkit_core::engine::Budgets;
use agentkit_core::event::JsonlSink;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::policy::{CommandPolicy, PathPolicy};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::{ExecRequest, Sandbox};
use agentkit_core::task::Task;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_tools::context::RuleFiles;
use agentkit_tools::tools::standard_tools;
use async_trait::async_trait;

use super::task::EvalTask;

/// One attempt at a task, as the agent sees it.
pub struct Attempt<'a> {
    /// The task (agents must use only `ticket`; the rest is for the oracle and tooling).
    pub task: &'a EvalTask,
    /// The ticket.
    pub ticket: Task,
    /// A fresh sandbox at the base commit, setup done.
    pub sandbox: Arc<dyn Sandbox>,
    /// The base commit.
    pub base_commit: String,
    /// Cancelled when the harness is stopped.
    pub cancel: CancellationToken,
}

/// What an agent reports about its attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// How the run ended, with steps, tokens, cost and time.
    pub outcome: Outcome,
    /// Completion-contract violations, for agents that check a contract.
    pub contract_violations: Option<u32>,
}

impl AgentRun {
    /// A run that ended with `stop_reason` and used nothing (no model calls).
    pub fn without_model(task: &Task, stop_reason: StopReason, duration: Duration) -> Self {
        Self {
            outcome: Outcome {
                duration,
                ..Outcome::nothing_done(task.id.clone(), stop_reason)
            },
            contract_violations: None,
        }
    }
}

/// An agent under evaluation.
#[async_trait]
pub trait EvalAgent: Send + Sync {
    /// A name for reports (`noop`, `oracle`, the model spec, `mini-swe-agent`).
    fn name(&self) -> String;

    /// Works on the ticket in the sandbox and says how it went.
    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun;
}

/// Changes nothing. Scores 0 on a sound task set.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopAgent;

#[async_trait]
impl EvalAgent for NoopAgent {
    fn name(&self) -> String {
        "noop".into()
    }

    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun {
        AgentRun::without_model(
            &attempt.ticket,
            StopReason::Finished {
                summary: "changed nothing".into(),
            },
            Duration::ZERO,
        )
    }
}

/// Applies the task's upstream fix. Scores 1 on a sound task set.
#[derive(Debug, Clone, Copy, Default)]
pub struct OracleAgent;

#[async_trait]
impl EvalAgent for OracleAgent {
    fn name(&self) -> String {
        "oracle".into()
    }

    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun {
        let started = Instant::now();
        let stop = match attempt.task.oracle_text() {
            Ok(Some(patch)) => match apply_patch(attempt.sandbox.as_ref(), &patch).await {
                Ok(()) => StopReason::Finished {
                    summary: "applied the upstream fix".into(),
                },
                Err(message) => StopReason::EnvironmentFailed { message },
            },
            Ok(None) => StopReason::EnvironmentFailed {
                message: format!("task `{}` has no oracle patch", attempt.task.id),
            },
            Err(err) => StopReason::EnvironmentFailed {
                message: format!(
                    "cannot read the oracle patch of `{}`: {err}",
                    attempt.task.id
                ),
            },
        };
        AgentRun::without_model(&attempt.ticket, stop, started.elapsed())
    }
}

/// Applies `patch` in the sandbox with `git apply` (the text goes through stdin).
pub async fn apply_patch(sandbox: &dyn Sandbox, patch: &str) -> Result<(), String> {
    if patch.trim().is_empty() {
        return Ok(());
    }
    let out = sandbox
        .exec(
            ExecRequest::argv([
                "git",
                "-c",
                "core.hooksPath=/dev/null",
                "apply",
                "--whitespace=nowarn",
                "-",
            ])
            .stdin(patch.as_bytes().to_vec())
            .timeout(Duration::from_secs(60)),
        )
        .await
        .map_err(|err| format!("git apply could not run: {err}"))?;
    if out.success() {
        Ok(())
    } else {
        Err(format!(
            "the patch does not apply ({}): {}",
            out.status_line(),
            out.stderr.text.trim()
        ))
    }
}

/// agentkit's own loop (standard tools, rule-file context, the default
/// command and path policies) with a model from a spec, built fresh for
/// every task.
#[derive(Debug, Clone)]
pub struct ModelAgent {
    /// The model spec (`openai:gpt-5`, `scripted:PATH`, ...; see `agentkit::llm::from_spec`).
    pub model: String,
    /// Limits of each run.
    pub budgets: Budgets,
    /// Where to write one JSONL transcript per task (`<dir>/<task id>.jsonl`), if anywhere.
    pub transcripts: Option<PathBuf>,
}

impl ModelAgent {
    /// The loop with `model` and default budgets.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            budgets: Budgets::default(),
            transcripts: None,
        }
    }
}

#[async_trait]
impl EvalAgent for ModelAgent {
    fn name(&self) -> String {
        self.model.clone()
    }

    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun {
        let model = match agentkit_llm::from_spec(&self.model) {
            Ok(model) => model,
            Err(err) => {
                return AgentRun::without_model(
                    &attempt.ticket,
                    StopReason::EnvironmentFailed {
                        message: format!("model spec `{}`: {err}", self.model),
                    },
                    Duration::ZERO,
                );
            }
        };
        let tokenizer = model
            .tokenizer()
            .unwrap_or_else(|| Arc::new(ApproxTokenizer));
        let mut builder = Agent::builder(model)
            .tools(standard_tools())
            .context(
                ContextEngine::new(tokenizer, crate::job::CONTEXT_BUDGET_TOKENS)
                    .with_provider(RuleFiles::new()),
            )
            .budgets(self.budgets.clone())
            .hook(CommandPolicy::default())
            .hook(PathPolicy::default());
        if let Some(dir) = &self.transcripts {
            let path = dir.join(format!("{}.jsonl", attempt.ticket.id.slug()));
            match JsonlSink::create(&path, Redactor::new().with_env_secrets()) {
                Ok(sink) => builder = builder.sink(sink),
                Err(err) => tracing::warn!(path = %path.display(), error = %err, "no transcript"),
            }
        }
        let outcome = builder
            .build()
            .run(attempt.ticket, attempt.sandbox, attempt.cancel)
            .await;
        AgentRun {
            outcome,
            contract_violations: None,
        }
    }
}

/// The future a [`FnAgent`] closure returns.
pub type AgentFuture<'a> = Pin<Box<dyn Future<Output = AgentRun> + Send + 'a>>;

/// An agent given as a closure, for experiments and tests.
pub struct FnAgent<F> {
    name: String,
    solve: F,
}

impl<F> FnAgent<F>
where
    F: for<'a> Fn(Attempt<'a>) -> AgentFuture<'a> + Send + Sync,
{
    /// An agent named `name` that runs `solve`.
    pub fn new(name: impl Into<String>, solve: F) -> Self {
        Self {
            name: name.into(),
            solve,
        }
    }
}

#[async_trait]
impl<F> EvalAgent for FnAgent<F>
where
    F: for<'a> Fn(Attempt<'a>) -> AgentFuture<'a> + Send + Sync,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun {
        (self.solve)(attempt).await
    }
}
