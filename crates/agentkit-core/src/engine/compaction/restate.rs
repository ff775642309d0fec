//! The texts of a compaction: the summariser's request and the restatement
//! that opens a compacted history.

use crate::message::{Message, Part, Role};
use crate::verify::Verification;

use super::mask::one_line;
use super::task_plan::{TaskPlan, is_plan_heading};

/// What compaction says, to the summariser and to the agent.
pub mod prompts {
    /// The summarising model's system prompt.
    pub const SUMMARIZE: &str = "You compact the history of an autonomous coding agent's run so that it can continue with less context. \
You receive the task, the previous summary (if any) and the older part of the conversation: the agent's messages, the tools it called and what they returned. \
The agent will keep working from your summary alone, without those messages, so keep everything it still needs and nothing it does not. \
Be specific: name files, functions, commands, test names and error messages exactly as they appeared. \
Answer with exactly these sections:\n\n\
## Progress\nWhat was done and learned, in order: what the relevant files contain, changes made (file and what changed), commands run and their results.\n\n\
## Plan\nThe steps of the work as a checklist, finished ones first: `- [x] step` for done, `- [ ] step` for pending. Keep the agent's own plan when it had one.\n\n\
## Open problems\nErrors not yet solved, failing tests, hypotheses already ruled out.\n\n\
## Next step\nThe single next action.\n\n\
Only state what the transcript shows; never invent results. Do not call tools. Write at most 600 words.";

    /// Heads the restatement that opens a compacted history.
    pub const HEADING: &str = "# Where the work stands (the conversation was compacted)";

    /// Explains the restatement to the agent.
    pub const PREAMBLE: &str = "The conversation was compacted to fit the model's context window. This message re-states the task and the state of the work; the messages after it are the most recent turns, unchanged. Outputs shown as `[output of ... masked ...]` were removed to save space: call the tool again if you need them. Continue the work from here.";
}

/// The user message sent to the summariser: the task, the previous summary
/// and the turns to fold, rendered as a plain transcript (no tool-call parts,
/// so any model can summarise, tools or not).
pub(super) fn summary_request_text(
    task: &str,
    previous: Option<&str>,
    turns: &[Message],
    output_chars: usize,
) -> String {
    let mut out = format!("# The task\n\n{}\n\n", task.trim_end());
    if let Some(previous) = previous {
        out.push_str(&format!(
            "# Summary of the turns before these\n\n{}\n\n",
            previous.trim_end()
        ));
    }
    out.push_str("# Conversation to summarise\n\n");
    for message in turns {
        for part in &message.parts {
            match (message.role, part) {
                (Role::Assistant, Part::Text { text }) if !text.trim().is_empty() => {
                    out.push_str(&format!("## Agent\n{}\n\n", text.trim_end()));
                }
                (Role::User, Part::Text { text }) => {
                    out.push_str(&format!(
                        "## Operator\n{}\n\n",
                        cut(text.trim_end(), output_chars)
                    ));
                }
                (_, Part::ToolCall(call)) => out.push_str(&format!(
                    "## Agent calls `{}`\n{}\n\n",
                    call.name,
                    one_line(&call.arguments, output_chars / 2)
                )),
                (_, Part::ToolResult(result)) => out.push_str(&format!(
                    "## `{}` {}\n{}\n\n",
                    result.name,
                    if result.is_error {
                        "failed"
                    } else {
                        "returned"
                    },
                    cut(result.content.trim_end(), output_chars)
                )),
                _ => {}
            }
        }
    }
    out.push_str("Write the summary now, in the sections asked for.");
    out
}

/// The pieces of a restatement.
pub(super) struct Restatement<'a> {
    pub compaction: u32,
    pub task: &'a str,
    pub plan: Option<&'a TaskPlan>,
    pub summary: Option<&'a str>,
    /// Messages dropped without summary in this compaction, and why.
    pub dropped: Option<(usize, &'a str)>,
    pub diff: Option<&'a Result<String, String>>,
    pub verification: Option<&'a Verification>,
    pub verification_chars: usize,
}

impl Restatement<'_> {
    /// The restatement as a user message.
    pub fn message(&self) -> Message {
        let mut out = format!(
            "{}\n\n{} (Compaction {} of this run.)\n\n## The task\n\n{}\n\n## Plan\n\n",
            prompts::HEADING,
            prompts::PREAMBLE,
            self.compaction,
            self.task.trim_end()
        );
        match self.plan {
            Some(plan) => out.push_str(&format!(
                "{}\n(from {})\n\n",
                plan.render().trim_end(),
                if plan.source == "summary" {
                    "the summary of earlier turns".to_string()
                } else {
                    format!("your `{}` tool", plan.source)
                }
            )),
            None => out.push_str(
                "No plan was recorded. Decide the remaining steps from the task, the summary and the changes below.\n\n",
            ),
        }
        if let Some(summary) = self.summary {
            out.push_str(&format!(
                "## Summary of earlier turns\n\n{}\n\n",
                strip_plan(summary).trim_end()
            ));
        }
        if let Some((count, why)) = self.dropped {
            out.push_str(&format!(
                "## Dropped turns\n\n{count} earlier messages were dropped without a summary ({why}). Re-read the files you need and check the changes below.\n\n"
            ));
        }
        out.push_str("## Current changes\n\n");
        match self.diff {
            Some(Ok(diff)) if diff.trim().is_empty() => {
                out.push_str("No changes yet: the workspace matches the base commit.\n\n")
            }
            Some(Ok(diff)) => out.push_str(&format!("{}\n\n", diff.trim_end())),
            Some(Err(why)) => out.push_str(&format!(
                "The changes could not be read ({why}); run `git status` and `git diff` to see them.\n\n"
            )),
            None => out.push_str("Not read; run `git status` and `git diff` to see them.\n\n"),
        }
        out.push_str("## Last failing verification\n\n");
        match self.verification.filter(|v| !v.passed) {
            Some(v) => out.push_str(&cut(v.feedback().trim_end(), self.verification_chars)),
            None => out.push_str("No verification has failed."),
        }
        out.push('\n');
        Message::user(out)
    }
}

/// The summary without its `## Plan` section (the plan is re-stated on its
/// own), its headings one level down.
fn strip_plan(summary: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in summary.lines() {
        let heading = is_plan_heading(line.trim());
        if let Some(plan) = heading {
            skipping = plan;
        }
        if !skipping {
            // One level down: the summary's sections sit under its own heading.
            if heading.is_some() {
                out.push('#');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `text` cut to `max` characters, saying how much was left out.
pub(super) fn cut(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}\n[… {} more characters]", total - max)
}
