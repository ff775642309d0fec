//! The driver's part of compaction: the IO the engine asked for.
//!
//! The engine ([`crate::engine::compaction`]) decides what to mask and what to
//! summarise; here the current changes are read in the sandbox (`git status`,
//! `git diff --stat` and the start of `git diff` against the base commit, by
//! argv with hooks and external diff drivers off) and the summarising model
//! is called. Neither can fail the run: a diff that cannot be read is
//! re-stated as such, a summariser error makes the engine drop the turns
//! instead.

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::Engine;
use crate::engine::compaction::{CompactionConfig, CompactionInputs, CompactionJob, DiffRequest};
use crate::event::Event;
use crate::handover;
use crate::model::{Model, ModelInfo, ModelRequest};
use crate::outcome::StopReason;
use crate::sandbox::Sandbox;
use crate::tokenizer::ApproxTokenizer;
use crate::usage::{Cost, Usage};

use super::Agent;

/// The agent's compaction settings with the model's window filled in.
pub(super) fn config_for(config: &CompactionConfig, info: &ModelInfo) -> CompactionConfig {
    let mut config = config.clone();
    if config.window_tokens.is_none() && info.context_window > 0 {
        config.window_tokens = Some(info.context_window);
    }
    config
}

/// `engine`, counting tokens with `model`'s tokenizer (an estimate when it has none).
pub(super) fn with_tokenizer(mut engine: Engine, model: &dyn Model) -> Engine {
    let tokenizer = model
        .tokenizer()
        .unwrap_or_else(|| std::sync::Arc::new(ApproxTokenizer));
    engine.set_tokenizer(tokenizer);
    engine
}

/// Carries out one compaction and reports it (event `Compacted`).
pub(super) async fn compact(
    agent: &Agent,
    engine: &mut Engine,
    job: CompactionJob,
    sandbox: &dyn Sandbox,
    cancel: &CancellationToken,
) {
    let work = async {
        let diff = current_diff(sandbox, &job.diff).await;
        let (summary, usage, cost) = match job.summarize {
            Some(request) => summarize(agent, *request).await,
            None => (None, Usage::default(), Cost::default()),
        };
        CompactionInputs {
            diff: Some(diff),
            summary,
            usage,
            cost,
        }
    };
    let inputs = tokio::select! {
        inputs = work => inputs,
        _ = cancel.cancelled() => { engine.stop(StopReason::Cancelled); return; }
    };
    if let Some(report) = engine.on_compacted(inputs) {
        tracing::info!(
            trigger = ?report.trigger,
            before_tokens = report.before_tokens,
            after_tokens = report.after_tokens,
            masked = report.masked,
            summarised = report.summarised,
            dropped = report.dropped,
            "conversation compacted"
        );
        agent
            .events
            .emit_for(&engine.state().task.id, Event::Compacted { report });
    }
}

/// Calls the summariser. Returns its text or why it failed, and what it used.
async fn summarize(
    agent: &Agent,
    request: ModelRequest,
) -> (Option<Result<String, String>>, Usage, Cost) {
    let model = agent.summarizer.as_ref().unwrap_or(&agent.model);
    let info = model.info();
    let span = tracing::info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %info.provider,
        gen_ai.request.model = %info.name,
        agentkit.purpose = "compaction",
    );
    match model.complete(request).instrument(span).await {
        Ok(response) => {
            let cost = info
                .pricing
                .map(|p| p.cost(&response.usage))
                .unwrap_or_default();
            (Some(Ok(response.message.text())), response.usage, cost)
        }
        Err(err) => {
            tracing::warn!(error = %err, "the summariser failed; older turns are dropped instead");
            (
                Some(Err(format!("the summariser `{}` failed: {err}", info.name))),
                Usage::default(),
                Cost::default(),
            )
        }
    }
}

/// `git status`, `git diff --stat` and the start of `git diff` against the
/// base, as one markdown block; or why they could not be read.
pub(crate) async fn current_diff(
    sandbox: &dyn Sandbox,
    request: &DiffRequest,
) -> Result<String, String> {
    let base = request.base.as_deref().unwrap_or("HEAD");
    let status = handover::git(
        sandbox,
        &["status", "--short", "--untracked-files=all"],
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    let stat = handover::git(sandbox, &["diff", "--no-ext-diff", "--stat", base], None)
        .await
        .map_err(|e| e.to_string())?;
    let diff = handover::git(sandbox, &["diff", "--no-ext-diff", base], None)
        .await
        .map_err(|e| e.to_string())?;
    let status = status.stdout.text.trim_end();
    if status.is_empty() && stat.stdout.text.trim().is_empty() {
        return Ok(String::new());
    }
    let short = base.get(..12).unwrap_or(base);
    let mut diff_text: String = diff.stdout.text.chars().take(request.max_chars).collect();
    let total = diff.stdout.text.chars().count();
    if total > request.max_chars || diff.stdout.truncated {
        diff_text.push_str(&format!(
            "\n[… diff cut at {} of {} characters; run `git diff {short}` for the rest]",
            request.max_chars.min(total),
            total
        ));
    }
    Ok(format!(
        "`git status --short`:\n```\n{status}\n```\n\n`git diff --stat {short}`:\n```\n{}\n```\n\n`git diff {short}` (start):\n```diff\n{}\n```",
        stat.stdout.text.trim_end(),
        diff_text.trim_end()
    ))
}
