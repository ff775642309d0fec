//! The agent's plan: steps done and pending, re-stated after a compaction.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a plan step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// What the step is.
    pub text: String,
    /// Where it stands.
    pub status: StepStatus,
}

/// The agent's plan and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlan {
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
    /// Where it was read: a tool's name, or `summary`.
    pub source: String,
}

impl TaskPlan {
    /// Reads a plan from the arguments of a plan tool call. Accepts the
    /// shapes of Codex's `update_plan` (`{"plan": [{"step", "status"}]}`),
    /// Claude's `TodoWrite` (`{"todos": [{"content", "status"}]}`) and plain
    /// lists (`{"steps": ["...", ...]}`); `None` when no list of steps is found.
    pub fn from_tool_arguments(tool: &str, arguments: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(arguments).ok()?;
        let list = ["plan", "todos", "steps", "items", "tasks"]
            .iter()
            .find_map(|key| value.get(key).and_then(Value::as_array))
            .or_else(|| value.as_array())?;
        let steps: Vec<PlanStep> = list.iter().filter_map(step_of).collect();
        (!steps.is_empty()).then(|| Self {
            steps,
            source: tool.to_string(),
        })
    }

    /// Reads the `## Plan` checklist (`- [x] done`, `- [ ] pending`) of a summary.
    pub fn from_summary(summary: &str) -> Option<Self> {
        let mut in_plan = false;
        let mut steps = Vec::new();
        for line in summary.lines() {
            let trimmed = line.trim();
            if let Some(plan) = is_plan_heading(trimmed) {
                in_plan = plan;
                continue;
            }
            if !in_plan {
                continue;
            }
            let item = trimmed
                .strip_prefix("- ")
                .or_else(|| trimmed.strip_prefix("* "));
            let Some(item) = item else { continue };
            let (status, text) = if let Some(rest) = item
                .strip_prefix("[x]")
                .or_else(|| item.strip_prefix("[X]"))
            {
                (StepStatus::Completed, rest)
            } else if let Some(rest) = item.strip_prefix("[ ]") {
                (StepStatus::Pending, rest)
            } else if let Some(rest) = item
                .strip_prefix("[~]")
                .or_else(|| item.strip_prefix("[-]"))
            {
                (StepStatus::InProgress, rest)
            } else {
                (StepStatus::Pending, item)
            };
            let text = text.trim();
            if !text.is_empty() {
                steps.push(PlanStep {
                    text: text.to_string(),
                    status,
                });
            }
        }
        (!steps.is_empty()).then(|| Self {
            steps,
            source: "summary".into(),
        })
    }

    /// The plan as a markdown checklist.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            let (mark, note) = match step.status {
                StepStatus::Completed => ("[x]", ""),
                StepStatus::InProgress => ("[ ]", " (in progress)"),
                StepStatus::Pending => ("[ ]", ""),
            };
            out.push_str(&format!("- {mark} {}{note}\n", step.text));
        }
        out
    }
}

/// For a markdown heading line, whether it heads the plan; `None` for other lines.
pub(super) fn is_plan_heading(line: &str) -> Option<bool> {
    line.starts_with('#').then(|| {
        line.trim_start_matches('#')
            .trim()
            .eq_ignore_ascii_case("plan")
    })
}

fn step_of(item: &Value) -> Option<PlanStep> {
    if let Some(text) = item.as_str() {
        return Some(PlanStep {
            text: text.trim().to_string(),
            status: StepStatus::Pending,
        });
    }
    let text = ["step", "content", "text", "title", "description", "task"]
        .iter()
        .find_map(|key| item.get(key).and_then(Value::as_str))?
        .trim()
        .to_string();
    let done = ["done", "completed"]
        .iter()
        .any(|key| item.get(key).and_then(Value::as_bool) == Some(true));
    let status = match item
        .get("status")
        .or_else(|| item.get("state"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        _ if done => StepStatus::Completed,
        Some("completed" | "complete" | "done") => StepStatus::Completed,
        Some("in_progress" | "in-progress" | "active" | "doing") => StepStatus::InProgress,
        _ => StepStatus::Pending,
    };
    (!text.is_empty()).then_some(PlanStep { text, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(text: &str, status: StepStatus) -> PlanStep {
        PlanStep {
            text: text.into(),
            status,
        }
    }

    #[test]
    fn codex_and_claude_plan_shapes_are_read() {
        let codex = TaskPlan::from_tool_arguments(
            "update_plan",
            r#"{"plan":[{"step":"Reproduce","status":"completed"},{"step":"Fix","status":"in_progress"},{"step":"Test","status":"pending"}]}"#,
        );
        assert_eq!(
            codex,
            Some(TaskPlan {
                steps: vec![
                    step("Reproduce", StepStatus::Completed),
                    step("Fix", StepStatus::InProgress),
                    step("Test", StepStatus::Pending)
                ],
                source: "update_plan".into()
            })
        );
        let claude = TaskPlan::from_tool_arguments(
            "TodoWrite",
            r#"{"todos":[{"content":"Read","status":"completed","activeForm":"Reading"}]}"#,
        );
        assert_eq!(
            claude.unwrap().steps,
            vec![step("Read", StepStatus::Completed)]
        );
        assert_eq!(
            TaskPlan::from_tool_arguments("plan", r#"{"note":"x"}"#),
            None
        );
    }

    #[test]
    fn the_summary_checklist_is_read_and_rendered_back() {
        let summary = "## Progress\n- read src/x.rs\n\n## Plan\n- [x] Reproduce the bug\n- [ ] Fix `parse`\n\n## Next step\n- [ ] not a plan step\n";
        let plan = TaskPlan::from_summary(summary).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                step("Reproduce the bug", StepStatus::Completed),
                step("Fix `parse`", StepStatus::Pending)
            ]
        );
        assert_eq!(
            plan.render(),
            "- [x] Reproduce the bug\n- [ ] Fix `parse`\n"
        );
    }
}
