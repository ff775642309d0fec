//! One run of an external agent: command, report, budgets, verification, publish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::CancellationToken;
use agentkit_core::event::{Event, EventBus};
use agentkit_core::handover::current_base;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::sandbox::{ExecOutput, ExecRequest, Sandbox};
use agentkit_core::task::Task;
use agentkit_core::verify::Verification;
use async_trait::async_trait;

use super::preset::{TRAJECTORY_PATH, render};
use super::trajectory::{TrajectoryFormat, TrajectoryStats, parse_claude_code, parse_mini};
use super::{ExternalAgent, publish};
use crate::eval::{AgentRun, Attempt, EvalAgent};

/// Output kept of the agent's stdout and stderr each.
const LOG_LIMIT: usize = 1 << 20;
/// Wall time when the budgets set none.
const DEFAULT_WALL_TIME: Duration = Duration::from_secs(30 * 60);

impl ExternalAgent {
    /// Runs the agent on `task` in `sandbox` (repository checked out, setup
    /// done), then verifies and publishes like the built-in loop. The
    /// sandbox is left open: its owner closes it.
    pub async fn run(
        &self,
        task: Task,
        sandbox: Arc<dyn Sandbox>,
        cancel: CancellationToken,
    ) -> Outcome {
        let started = Instant::now();
        let mut events = EventBus::new();
        for sink in &self.sinks {
            events.add(Arc::clone(sink));
        }
        let mut redactor = self.redactor.clone();
        let api_key = self
            .api_key
            .as_ref()
            .and_then(|(host, inner)| std::env::var(host).ok().map(|v| (inner.clone(), v)));
        if let Some((_, key)) = &api_key {
            redactor = redactor.with_secret(key.clone());
        }
        let emit = |event: Event| events.emit_for(&task.id, event);
        emit(Event::RunStarted {
            task_id: task.id.clone(),
            title: task.title.clone(),
            model: format!("{}:{}", self.name, self.model),
            resumed: false,
        });
        let mut outcome = Outcome::nothing_done(task.id.clone(), StopReason::Cancelled);
        let finish = |mut outcome: Outcome, stop: StopReason| {
            outcome.stop_reason = stop;
            outcome.duration = started.elapsed();
            emit(Event::RunFinished {
                outcome: Box::new(outcome.clone()),
            });
            outcome
        };

        let (base, base_branch) = match current_base(sandbox.as_ref()).await {
            Ok(found) => found,
            Err(err) => {
                let message = format!("cannot read the starting commit: {err}");
                return finish(outcome, StopReason::EnvironmentFailed { message });
            }
        };
        let task_text = format!("{}\n\n{}", task.title.trim(), task.body.trim());
        let script = match render(self, &task_text) {
            Ok(script) => script,
            Err(message) => return finish(outcome, StopReason::EnvironmentFailed { message }),
        };
        emit(Event::PromptPrepared {
            system: redactor.redact(&script).into_owned(),
            opening: redactor.redact(&task_text).into_owned(),
        });
        let wall = self.budgets.max_wall_time.unwrap_or(DEFAULT_WALL_TIME);
        let mut request = ExecRequest::script(script)
            .timeout(wall)
            .output_limit(LOG_LIMIT);
        for (key, value) in &self.env {
            request = request.env(key, value);
        }
        if let Some((name, value)) = api_key {
            request = request.env(name, value);
        }
        let call_id = format!("external-{}", task.id.slug());
        emit(Event::ToolCallStarted {
            call_id: call_id.clone(),
            name: format!("external:{}", self.name),
            arguments: redactor.redact(&self.template).into_owned(),
        });
        let exec_started = Instant::now();
        let output = tokio::select! {
            out = sandbox.exec(request) => Some(out),
            () = cancel.cancelled() => None,
        };
        let Some(output) = output else {
            return finish(outcome, StopReason::Cancelled);
        };
        let output = match output {
            Ok(output) => output,
            Err(err) => {
                let message = format!("{} could not run: {err}", self.name);
                return finish(outcome, StopReason::EnvironmentFailed { message });
            }
        };
        emit(Event::ToolCallFinished {
            call_id,
            name: format!("external:{}", self.name),
            is_error: !output.success(),
            content: redactor.redact(&log_of(&output)).into_owned(),
            operator_detail: Some(output.status_line()),
            duration_ms: u64::try_from(exec_started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });

        let stats = self.report(sandbox.as_ref(), &output).await;
        for event in &stats.events {
            emit(redact_event(event.clone(), &redactor));
        }
        outcome.steps = stats.steps;
        outcome.usage = stats.usage;
        outcome.cost = stats.cost;
        if let Some(stop) = self.stop_reason(&output, &stats, wall) {
            return finish(outcome, stop);
        }

        if let Some(verifier) = &self.verifier {
            emit(Event::VerificationStarted { attempt: 1 });
            let verification = match verifier.verify(sandbox.as_ref()).await {
                Ok(v) => v,
                Err(err) => {
                    let message = err.to_string();
                    return finish(outcome, StopReason::EnvironmentFailed { message });
                }
            };
            emit(Event::VerificationFinished {
                attempt: 1,
                verification: verification.clone(),
            });
            let passed = verification.passed;
            outcome.verification = Some(verification);
            if !passed {
                return finish(outcome, StopReason::VerificationFailed { attempts: 1 });
            }
        }

        let summary = stats
            .summary
            .clone()
            .unwrap_or_else(|| format!("{} finished ({})", self.name, output.status_line()));
        if let Some(forge) = &self.forge {
            let published = publish::publish(
                self,
                forge.as_ref(),
                sandbox.as_ref(),
                &task,
                (&base, &base_branch),
                &summary,
                &outcome,
                &redactor,
                &emit,
            )
            .await;
            match published {
                Ok(pr) => outcome.pull_request = pr,
                Err(stop) => return finish(outcome, stop),
            }
        }
        finish(
            outcome,
            StopReason::Finished {
                summary: redactor.redact(&summary).into_owned(),
            },
        )
    }

    async fn report(&self, sandbox: &dyn Sandbox, output: &ExecOutput) -> TrajectoryStats {
        let parsed = match self.trajectory {
            TrajectoryFormat::None => return TrajectoryStats::default(),
            TrajectoryFormat::MiniSweAgent => match sandbox.read(TRAJECTORY_PATH).await {
                Ok(bytes) => parse_mini(&String::from_utf8_lossy(&bytes)),
                Err(err) => Err(format!("no trajectory at {TRAJECTORY_PATH}: {err}")),
            },
            TrajectoryFormat::ClaudeCodeJson => parse_claude_code(&output.stdout.text),
        };
        parsed.unwrap_or_else(|err| {
            tracing::warn!(agent = %self.name, error = %err, "the agent's report could not be read; steps, tokens and cost are unknown");
            TrajectoryStats::default()
        })
    }

    /// Why the run must end before verification, if it must.
    fn stop_reason(
        &self,
        output: &ExecOutput,
        stats: &TrajectoryStats,
        wall: Duration,
    ) -> Option<StopReason> {
        let budgets = &self.budgets;
        if output.timed_out {
            return Some(StopReason::WallTime { limit: wall });
        }
        if stats.steps > budgets.max_steps {
            return Some(StopReason::MaxSteps {
                limit: budgets.max_steps,
            });
        }
        if let Some(limit) = budgets.max_tokens
            && stats.usage.total() > limit
        {
            return Some(StopReason::TokenBudget {
                limit,
                used: stats.usage.total(),
            });
        }
        if let Some(limit_usd) = budgets.max_cost_usd
            && stats.cost.usd > limit_usd
        {
            return Some(StopReason::CostBudget {
                limit_usd,
                used_usd: stats.cost.usd,
            });
        }
        if matches!(stats.exit_status.as_deref(), Some("LimitsExceeded")) {
            return Some(StopReason::MaxSteps {
                limit: budgets.max_steps,
            });
        }
        if !output.success() {
            let tail = crate::eval::source::tail(&log_of(output), 1_500);
            return Some(StopReason::EnvironmentFailed {
                message: format!("{} ended with {}: {tail}", self.name, output.status_line()),
            });
        }
        None
    }
}

fn log_of(output: &ExecOutput) -> String {
    format!(
        "$ exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status_line(),
        output.stdout.text,
        output.stderr.text
    )
}

fn redact_event(event: Event, redactor: &agentkit_core::redact::Redactor) -> Event {
    match event {
        Event::ModelCallFinished {
            step,
            text,
            tool_calls,
            usage,
            cost,
            finish_reason,
        } => Event::ModelCallFinished {
            step,
            text: redactor.redact(&text).into_owned(),
            tool_calls: tool_calls
                .into_iter()
                .map(|mut c| {
                    c.arguments = redactor.redact(&c.arguments).into_owned();
                    c
                })
                .collect(),
            usage,
            cost,
            finish_reason,
        },
        Event::ToolCallFinished {
            call_id,
            name,
            is_error,
            content,
            operator_detail,
            duration_ms,
        } => Event::ToolCallFinished {
            call_id,
            name,
            is_error,
            content: redactor.redact(&content).into_owned(),
            operator_detail,
            duration_ms,
        },
        other => other,
    }
}

/// The verification of a run, for the pull-request body.
pub(super) fn verification_text(verification: Option<&Verification>) -> String {
    verification.map_or_else(
        || "Not verified (no verifier configured).".to_string(),
        Verification::summary,
    )
}

#[async_trait]
impl EvalAgent for ExternalAgent {
    fn name(&self) -> String {
        format!("{}:{}", self.name, self.model)
    }

    async fn solve(&self, attempt: Attempt<'_>) -> AgentRun {
        let outcome = self
            .run(attempt.ticket, attempt.sandbox, attempt.cancel)
            .await;
        AgentRun {
            outcome,
            contract_violations: None,
        }
    }
}
