//! Property: whatever the history, compaction keeps every tool call paired
//! with exactly one result and always re-states the task in the first
//! message, followed by a reply of the model.

mod common;

use agentkit_core::engine::compaction::{CompactionConfig, CompactionInputs};
use agentkit_core::engine::{Engine, EngineConfig, ToolCallOutcome};
use agentkit_core::model::{ErrorDetail, FinishReason, ModelResponse};
use agentkit_core::prelude::*;
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_core::verify::CheckResult;
use proptest::prelude::*;

/// One thing that happens in a random run.
#[derive(Debug, Clone)]
enum Beat {
    /// The model replies with text of this size and these calls
    /// (`(tool index, output size, is_error)`).
    Reply {
        text: usize,
        calls: Vec<(usize, usize, bool)>,
    },
    /// The model refuses the request as too long.
    TooLong,
    /// The agent finishes and verification fails (feedback of this size).
    FailedVerification(usize),
}

fn beat() -> impl Strategy<Value = Beat> {
    prop_oneof![
        8 => (0usize..600, prop::collection::vec((0usize..3, 0usize..6_000, any::<bool>()), 0..4))
            .prop_map(|(text, calls)| Beat::Reply { text, calls }),
        1 => Just(Beat::TooLong),
        1 => (10usize..3_000).prop_map(Beat::FailedVerification),
    ]
}

const TOOLS: [&str; 3] = ["read_file", "edit_file", "update_plan"];

fn engine(window: u64, keep: usize, verify: bool) -> Engine {
    let tools = TOOLS
        .iter()
        .map(|name| ToolSpec {
            name: (*name).into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
            annotations: ToolAnnotations::read_only(),
        })
        .chain(std::iter::once(ToolSpec {
            name: "finish".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
            annotations: ToolAnnotations::mutating(),
        }))
        .collect();
    let config = EngineConfig {
        tools,
        verify,
        max_verify_attempts: 1_000,
        max_replies_without_tools: 1_000,
        budgets: Budgets {
            max_steps: 100_000,
            max_wall_time: None,
            ..Budgets::default()
        },
        compaction: CompactionConfig {
            window_tokens: Some(window),
            keep_recent_outputs: keep,
            ..CompactionConfig::default()
        },
        ..EngineConfig::default()
    };
    let task = common::task();
    let opening = format!("# Task {}: {}\n\n{}\n", task.id, task.title, task.body);
    Engine::new(config, task, opening)
}

fn reply(parts: Vec<Part>) -> ModelResponse {
    ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts,
        },
        usage: Usage::default(),
        finish_reason: FinishReason::ToolCalls,
    }
}

fn check(messages: &[Message], task: &Task) {
    common::assert_paired(messages);
    assert_eq!(messages[0].role, Role::User);
    let first = messages[0].text();
    assert!(
        first.contains(&task.title),
        "the task is not re-stated: {first}"
    );
    assert!(
        first.contains(&task.body),
        "the task is not re-stated: {first}"
    );
    if messages.len() > 1 {
        assert_eq!(
            messages[1].role,
            Role::Assistant,
            "the kept turns do not start with a reply"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn compaction_keeps_calls_paired_and_restates_the_task(
        beats in prop::collection::vec(beat(), 1..60),
        window in 2_000u64..20_000,
        keep in 0usize..4,
        summaries in prop::collection::vec(any::<bool>(), 64),
    ) {
        let task = common::task();
        let mut engine = engine(window, keep, true);
        let mut compactions = 0;
        let mut beats = beats.into_iter();
        let mut n = 0;
        loop {
            match engine.next_step() {
                Step::Compact(job) => {
                    let ok = summaries[compactions % summaries.len()];
                    let summary = job.summarize.as_ref().map(|_| if ok {
                        Ok("## Progress\n- did things\n\n## Plan\n- [x] one\n- [ ] two".to_string())
                    } else {
                        Err("summariser down".to_string())
                    });
                    let report = engine.on_compacted(CompactionInputs {
                        diff: Some(Ok(String::new())),
                        summary,
                        ..CompactionInputs::default()
                    });
                    prop_assert!(report.is_some());
                    compactions += 1;
                    check(&engine.state().messages, &task);
                }
                Step::CallModel(_) => {
                    let Some(beat) = beats.next() else { break };
                    match beat {
                        Beat::Reply { text, calls } => {
                            let mut parts = Vec::new();
                            if text > 0 {
                                parts.push(Part::Text { text: "t".repeat(text) });
                            }
                            for (tool, _, _) in &calls {
                                n += 1;
                                parts.push(Part::ToolCall(ToolCall {
                                    id: format!("call{n}"),
                                    name: TOOLS[*tool].into(),
                                    arguments: r#"{"path":"src/lib.rs"}"#.into(),
                                }));
                            }
                            engine.on_model_response(reply(parts));
                            for (i, (_, size, is_error)) in calls.iter().enumerate() {
                                engine.on_tool_result(i, ToolCallOutcome::Output {
                                    content: "o".repeat(*size),
                                    is_error: *is_error,
                                });
                            }
                        }
                        Beat::TooLong => engine.on_model_error(&ModelError::ContextLength {
                            detail: ErrorDetail::message("too long"),
                        }),
                        Beat::FailedVerification(size) => {
                            n += 1;
                            engine.on_model_response(reply(vec![Part::ToolCall(ToolCall {
                                id: format!("call{n}"),
                                name: "finish".into(),
                                arguments: r#"{"summary":"done"}"#.into(),
                            })]));
                            engine.on_tool_result(0, ToolCallOutcome::Finish { summary: "done".into() });
                            prop_assert_eq!(engine.next_step(), Step::Verify);
                            engine.on_verification(Verification::from_checks(vec![CheckResult {
                                name: "tests".into(),
                                command: "cargo test".into(),
                                passed: false,
                                status: "exit 101".into(),
                                output: "f".repeat(size),
                                duration: std::time::Duration::ZERO,
                            }]));
                        }
                    }
                }
                Step::Done(_) => break,
                other => panic!("unexpected step {other:?}"),
            }
        }
        check(&engine.state().messages, &task);
    }
}
