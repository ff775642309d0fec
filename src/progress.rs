//! A human-readable progress printer for terminals.

use std::io::Write;

use agentkit_core::event::{Event, EventRecord, EventSink};

/// Prints one or two lines per event to standard error (tool calls, model
/// replies, verification, the pull request). Long text is shortened.
#[derive(Debug, Clone, Default)]
pub struct ConsoleProgress {
    /// Print whole tool outputs instead of their first lines.
    pub verbose: bool,
}

fn shorten(text: &str, max_lines: usize, max_chars: usize) -> String {
    let mut out: String = text
        .lines()
        .take(max_lines)
        .collect::<Vec<_>>()
        .join("\n      ");
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars).collect::<String>() + "…";
    } else if text.lines().count() > max_lines {
        out.push_str(&format!(
            "\n      … ({} more lines)",
            text.lines().count() - max_lines
        ));
    }
    out
}

impl ConsoleProgress {
    /// The text printed for `record`, or `None` for events not shown.
    pub fn line(&self, record: &EventRecord) -> Option<String> {
        let (lines, chars) = if self.verbose {
            (10_000, 1_000_000)
        } else {
            (6, 600)
        };
        let line = match &record.event {
            Event::RunStarted {
                task_id,
                title,
                model,
                resumed,
            } => format!(
                "▶ {} task {task_id}: {title}\n  model: {model}",
                if *resumed { "resuming" } else { "starting" }
            ),
            Event::ContextAssembled { items, tokens, .. } => {
                format!(
                    "  context: {} ({tokens} tokens)",
                    if items.is_empty() {
                        "none".into()
                    } else {
                        items.join(", ")
                    }
                )
            }
            Event::ModelCallFinished { step, text, .. } if !text.is_empty() => {
                format!("\n[{step}] {}", shorten(text, lines, chars))
            }
            Event::ToolCallStarted {
                name, arguments, ..
            } => {
                format!("  → {name} {}", shorten(arguments, 3, 160))
            }
            Event::ToolCallFinished {
                name,
                is_error,
                content,
                duration_ms,
                ..
            } => format!(
                "    {} {name} ({duration_ms} ms)\n      {}",
                if *is_error { "✗" } else { "✓" },
                shorten(content, lines, chars)
            ),
            Event::SetupOutput { text, .. } => text
                .trim_end()
                .lines()
                .map(|line| format!("  setup │ {line}"))
                .collect::<Vec<_>>()
                .join("\n"),
            Event::Nudged { message } => format!("  ! {message}"),
            Event::VerificationStarted { attempt } => {
                format!("\n◆ verification, attempt {attempt}")
            }
            Event::VerificationFinished { verification, .. } => format!(
                "  {}\n{}",
                if verification.passed {
                    "passed"
                } else {
                    "FAILED"
                },
                verification.summary()
            ),
            Event::Published { pull_request } => format!(
                "\n✔ pull request #{} on {} (revision {})",
                pull_request.id, pull_request.branch, pull_request.revisions
            ),
            Event::Compacted { report } => format!("  ⇣ {report}"),
            Event::PublishSkipped { reason } => format!("  publish skipped: {reason}"),
            Event::HookDecision { point, decision } => format!("  policy at {point}: {decision}"),
            Event::RunFinished { outcome } => format!(
                "\n■ {} after {} steps, {:.1}s, {} tokens in / {} out, {}",
                outcome.stop_reason,
                outcome.steps,
                outcome.duration.as_secs_f64(),
                outcome.usage.input_tokens,
                outcome.usage.output_tokens,
                outcome.cost
            ),
            _ => return None,
        };
        Some(line)
    }
}

impl EventSink for ConsoleProgress {
    fn emit(&self, record: &EventRecord) {
        if let Some(line) = self.line(record) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: Event) -> EventRecord {
        EventRecord {
            seq: 0,
            task_id: None,
            at_ms: 0,
            event,
        }
    }

    #[test]
    fn a_refused_call_shows_with_the_error_the_model_was_given() {
        let progress = ConsoleProgress::default();
        let started = progress.line(&record(Event::ToolCallStarted {
            call_id: "c1".into(),
            name: "teleport".into(),
            arguments: r#"{"to":"prod"}"#.into(),
        }));
        let finished = progress.line(&record(Event::ToolCallFinished {
            call_id: "c1".into(),
            name: "teleport".into(),
            is_error: true,
            content: "Unknown tool `teleport`. Available tools: read_file, finish.".into(),
            operator_detail: None,
            duration_ms: 0,
        }));
        assert_eq!(
            (started.as_deref(), finished.as_deref()),
            (
                Some(r#"  → teleport {"to":"prod"}"#),
                Some(
                    "    ✗ teleport (0 ms)\n      Unknown tool `teleport`. Available tools: read_file, finish."
                )
            )
        );
    }
}
