//! Behaviour of the loop: budgets, pairing, invalid arguments, cancellation,
//! resume, parallelism, hooks, verification. (Events and checkpoints:
//! `events.rs`; what each model call is sent: `requests.rs`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::checkpoint::{Checkpoint, MemoryCheckpoint};
use agentkit_core::engine::{Budgets, Engine, EngineConfig, Phase, prompts};
use agentkit_core::model::ModelErrorKind;
use agentkit_core::prelude::*;
use agentkit_core::testing::MemorySandbox;
use agentkit_core::usage::Pricing;
use agentkit_core::verify::{CheckResult, VerifyError};
use common::*;

struct Run {
    outcome: Outcome,
    state: RunState,
    events: Vec<Event>,
}

async fn run_with(builder: AgentBuilder) -> Run {
    run_cancellable(builder, CancellationToken::new()).await
}

async fn run_cancellable(builder: AgentBuilder, cancel: CancellationToken) -> Run {
    let store = Arc::new(MemoryCheckpoint::new());
    let sink = Arc::new(MemorySink::new());
    let agent = builder
        .checkpoint(store.clone())
        .shared_sink(sink.clone())
        .build();
    let outcome = agent
        .run(task(), Arc::new(MemorySandbox::new()), cancel)
        .await;
    let state = store
        .load(&task().id)
        .await
        .unwrap()
        .expect("final checkpoint");
    assert_paired(&state.messages);
    Run {
        outcome,
        state,
        events: sink.events(),
    }
}

#[tokio::test]
async fn finish_ends_the_run_with_its_summary() {
    let run = run_with(agent(script(
        r#"[{"text":"on it","tool_calls":[{"name":"echo","arguments":{"text":"a"}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"all good"}}]}]"#,
    )))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::Finished {
            summary: "all good".into()
        }
    );
    assert_eq!(run.outcome.steps, 2);
    let r = results(&run.state.messages);
    assert_eq!(r[0].content, "a");
    assert_eq!(r[1].content, prompts::FINISH_ACK);
}

#[tokio::test]
async fn step_budget_stops_before_the_next_model_call() {
    let model = script(&repeat(ECHO_FOREVER, 10));
    let run = run_with(agent(model.clone()).budgets(Budgets {
        max_steps: 3,
        ..Budgets::default()
    }))
    .await;
    assert_eq!(run.outcome.stop_reason, StopReason::MaxSteps { limit: 3 });
    assert_eq!(model.turns_used(), 3);
}

#[tokio::test]
async fn token_budget_is_checked_before_each_call() {
    let turn = r#"{"tool_calls":[{"name":"echo","arguments":{"text":"hi"}}],"usage":{"input_tokens":600,"output_tokens":100}}"#;
    let model = script(&repeat(turn, 10));
    let run = run_with(agent(model.clone()).budgets(Budgets {
        max_tokens: Some(1_500),
        ..Budgets::default()
    }))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::TokenBudget {
            limit: 1_500,
            used: 2_100
        }
    );
    assert_eq!(model.turns_used(), 3);
}

#[tokio::test]
async fn cost_budget_uses_the_model_pricing() {
    let turn = r#"{"tool_calls":[{"name":"echo","arguments":{"text":"hi"}}],"usage":{"input_tokens":100000,"output_tokens":0}}"#;
    let mut info = script("[]").info().clone();
    info.pricing = Some(Pricing {
        input_per_mtok: 10.0,
        output_per_mtok: 30.0,
        cached_input_per_mtok: None,
    });
    let model = Arc::new(
        ScriptedModel::from_json(&repeat(turn, 10), "t")
            .unwrap()
            .with_info(info),
    );
    let run = run_with(Agent::builder(model.clone()).tool(Echo).budgets(Budgets {
        max_cost_usd: Some(2.5),
        ..Budgets::default()
    }))
    .await;
    // Each call costs $1: the budget is found exceeded before the fourth call.
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::CostBudget {
            limit_usd: 2.5,
            used_usd: 3.0
        }
    );
    assert_eq!(model.turns_used(), 3);
    assert!((run.outcome.cost.usd - 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn wall_time_budget_interrupts_a_slow_tool_and_pairs_its_call() {
    let gauge = Gauge::default();
    let model = script(r#"[{"tool_calls":[{"name":"slow","arguments":{}}]}]"#);
    let run = run_with(
        Agent::builder(model)
            .tool(Sleepy::new("slow", false, Duration::from_secs(30), &gauge))
            .budgets(Budgets {
                max_wall_time: Some(Duration::from_millis(200)),
                ..Budgets::default()
            }),
    )
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::WallTime {
            limit: Duration::from_millis(200)
        }
    );
    assert_eq!(results(&run.state.messages)[0].content, prompts::NOT_RUN);
}

#[tokio::test]
async fn invalid_arguments_tell_the_model_exactly_what_was_wrong() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[
              {"name":"echo","arguments":{"text":5}},
              {"name":"echo","arguments":{}},
              {"name":"echo","arguments_raw":"{\"text\": \"unterminated"},
              {"name":"echo","arguments":{"text":"x","loud":true}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    )))
    .await;
    let r = results(&run.state.messages);
    assert!(r[..4].iter().all(|r| r.is_error));
    assert_eq!(
        r[0].content,
        "Invalid arguments: at `text`: invalid type: integer `5`, expected a string at line 1 column 9"
    );
    assert_eq!(
        r[1].content,
        "Invalid arguments: missing field `text` at line 1 column 2"
    );
    assert!(
        r[2].content
            .starts_with("Invalid arguments: the arguments are not valid JSON"),
        "{}",
        r[2].content
    );
    assert_eq!(
        r[3].content,
        "Invalid arguments: at `loud`: unknown field `loud`, expected `text` or `times` at line 1 column 7"
    );
    assert!(run.outcome.stop_reason.is_success());
}

#[tokio::test]
async fn unknown_tool_lists_the_available_ones() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[{"name":"rm_rf","arguments":{}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    )))
    .await;
    let r = &results(&run.state.messages)[0];
    assert_eq!(
        (r.content.as_str(), r.is_error),
        (
            "Unknown tool `rm_rf`. Available tools: broken, echo, fail, finish.",
            true
        )
    );
}

#[tokio::test]
async fn tool_failure_reaches_the_model_and_detail_only_the_operator() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[{"name":"fail","arguments":{}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    )))
    .await;
    let r = &results(&run.state.messages)[0];
    assert_eq!(
        (r.content.as_str(), r.is_error),
        ("it broke; try echo instead", true)
    );
    let detail = run.events.iter().find_map(|e| match e {
        Event::ToolCallFinished {
            operator_detail, ..
        } => operator_detail.clone(),
        _ => None,
    });
    assert_eq!(detail.as_deref(), Some("stack trace for the operator"));
    assert!(
        !serde_json::to_string(&run.state.messages)
            .unwrap()
            .contains("stack trace")
    );
}

#[tokio::test]
async fn a_dead_sandbox_stops_the_run_and_later_calls_are_still_answered() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[{"name":"broken","arguments":{}},{"name":"echo","arguments":{"text":"never"}}]}]"#,
    )))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::EnvironmentFailed {
            message: "the sandbox is gone: container exited".into()
        }
    );
    let r = results(&run.state.messages);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].content, prompts::NOT_RUN);
}

#[tokio::test]
async fn model_errors_stop_with_their_class() {
    let run = run_with(agent(script(
        r#"[{"error":{"kind":"quota","message":"out of credit"}}]"#,
    )))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::ModelError {
            kind: ModelErrorKind::Quota,
            message: "the provider account's quota is exhausted (add credit or raise the limit): out of credit".into()
        }
    );
}

#[tokio::test]
async fn replies_without_tools_are_nudged_then_stopped() {
    let run = run_with(agent(script(
        r#"[{"text":"I think"},{"text":"it is"},{"text":"fixed"}]"#,
    )))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::NoProgress { replies: 3 }
    );
    let nudges = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Nudged { .. }))
        .count();
    assert_eq!(nudges, 2);
}

#[tokio::test]
async fn cancellation_during_a_tool_pairs_the_call_and_stops() {
    let gauge = Gauge::default();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let model = script(
        r#"[{"tool_calls":[{"name":"slow","arguments":{}},{"name":"echo","arguments":{"text":"x"}}]}]"#,
    );
    let run = run_cancellable(
        Agent::builder(model).tool(Echo).tool(Sleepy::new(
            "slow",
            false,
            Duration::from_secs(30),
            &gauge,
        )),
        cancel,
    )
    .await;
    assert_eq!(run.outcome.stop_reason, StopReason::Cancelled);
    assert_eq!(results(&run.state.messages).len(), 2);
}

#[tokio::test]
async fn read_only_calls_run_in_parallel_and_mutating_ones_alone() {
    let ro = Gauge::default();
    let rw = Gauge::default();
    let model = script(
        r#"[{"tool_calls":[{"name":"look_a","arguments":{}},{"name":"look_b","arguments":{}},{"name":"look_a","arguments":{}},
                            {"name":"change_a","arguments":{}},{"name":"change_b","arguments":{}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    );
    let d = Duration::from_millis(150);
    let run = run_with(
        Agent::builder(model)
            .tool(Finish)
            .tool(Sleepy::new("look_a", true, d, &ro))
            .tool(Sleepy::new("look_b", true, d, &ro))
            .tool(Sleepy::new("change_a", false, d, &rw))
            .tool(Sleepy::new("change_b", false, d, &rw)),
    )
    .await;
    assert!(run.outcome.stop_reason.is_success());
    assert_eq!(ro.max(), 3);
    assert_eq!(rw.max(), 1);
}

struct SkipEcho;

#[async_trait::async_trait]
impl Hook for SkipEcho {
    async fn before_tool_call(&self, _task: &Task, call: &ToolCall) -> ToolCallAction {
        match call.name.as_str() {
            "echo" if call.arguments.contains("secret") => ToolCallAction::Skip {
                reason: "echoing secrets is not allowed".into(),
            },
            "echo" => ToolCallAction::Rewrite {
                arguments: r#"{"text":"rewritten"}"#.into(),
            },
            "fail" => ToolCallAction::Stop {
                reason: "fail is forbidden".into(),
            },
            _ => ToolCallAction::Run,
        }
    }
}

#[tokio::test]
async fn hooks_skip_rewrite_and_stop_calls() {
    let run = run_with(
        agent(script(
            r#"[{"tool_calls":[{"name":"echo","arguments":{"text":"secret"}},{"name":"echo","arguments":{"text":"plain"}}]},
                {"tool_calls":[{"name":"fail","arguments":{}},{"name":"echo","arguments":{"text":"after"}}]}]"#,
        ))
        .hook(SkipEcho),
    )
    .await;
    let r = results(&run.state.messages);
    assert_eq!(r[0].content, "Not run: echoing secrets is not allowed");
    assert_eq!(r[1].content, "rewritten");
    assert_eq!(
        r[2].content,
        "Not run: stopped by policy: fail is forbidden"
    );
    assert_eq!(r[3].content, prompts::NOT_RUN);
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::HookStopped {
            reason: "fail is forbidden".into()
        }
    );
}

/// Fails the first `n` verifications.
struct FlakyVerifier {
    failures_left: std::sync::Mutex<u32>,
}

#[async_trait::async_trait]
impl Verifier for FlakyVerifier {
    async fn verify(&self, _sandbox: &dyn Sandbox) -> Result<Verification, VerifyError> {
        let mut left = self.failures_left.lock().unwrap();
        let passed = *left == 0;
        *left = left.saturating_sub(1);
        Ok(Verification::from_checks(vec![CheckResult {
            name: "tests".into(),
            command: "cargo test".into(),
            passed,
            status: if passed {
                "exit 0".into()
            } else {
                "exit 101".into()
            },
            output: if passed {
                String::new()
            } else {
                "test roman::four ... FAILED".into()
            },
            duration: Duration::from_millis(5),
        }]))
    }
}

#[tokio::test]
async fn failed_verification_goes_back_to_the_model_then_passes() {
    let finish = r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"fixed"}}]}"#;
    let run = run_with(agent(script(&repeat(finish, 2))).verifier(FlakyVerifier {
        failures_left: std::sync::Mutex::new(1),
    }))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::Finished {
            summary: "fixed".into()
        }
    );
    assert!(run.outcome.verification.unwrap().passed);
    let feedback = run
        .state
        .messages
        .iter()
        .map(|m| m.text())
        .find(|t| t.starts_with("Verification failed"));
    assert!(feedback.unwrap().contains("test roman::four ... FAILED"));
}

#[tokio::test]
async fn verification_attempts_are_bounded() {
    let finish = r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"fixed"}}]}"#;
    let run = run_with(agent(script(&repeat(finish, 5))).verifier(FlakyVerifier {
        failures_left: std::sync::Mutex::new(99),
    }))
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::VerificationFailed { attempts: 3 }
    );
}

#[tokio::test]
async fn a_serialized_run_resumes_where_it_stopped() {
    // First worker: two steps, then the step budget stops it.
    let turns = r#"[{"tool_calls":[{"name":"echo","arguments":{"text":"one"}}]},
                    {"tool_calls":[{"name":"echo","arguments":{"text":"two"}}]}]"#;
    let store = Arc::new(MemoryCheckpoint::new());
    let first = agent(script(turns))
        .budgets(Budgets {
            max_steps: 2,
            ..Budgets::default()
        })
        .checkpoint(store.clone())
        .build();
    let outcome = run_once(first).await;
    assert_eq!(outcome.stop_reason, StopReason::MaxSteps { limit: 2 });

    // The state goes through JSON, as it would through a database.
    let stored = store.load(&task().id).await.unwrap().unwrap();
    let json = serde_json::to_string(&stored).unwrap();
    let mut state: RunState = serde_json::from_str(&json).unwrap();
    assert_eq!(state, stored);
    state.phase = Phase::Ready; // an operator raises the budget and resumes

    // Second worker continues with a model that sees the earlier history.
    let model = script(
        r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done after resume"}}]}]"#,
    );
    let second = agent(model.clone()).checkpoint(store.clone()).build();
    let outcome = second
        .resume(
            state,
            Arc::new(MemorySandbox::new()),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        outcome.stop_reason,
        StopReason::Finished {
            summary: "done after resume".into()
        }
    );
    assert_eq!(outcome.steps, 3);
    let seen = &model.requests()[0].messages;
    assert_eq!(seen.len(), 5);
    assert_eq!(results(seen)[1].content, "two");
    assert_paired(&store.load(&task().id).await.unwrap().unwrap().messages);
}

#[test]
fn resume_answers_calls_interrupted_mid_turn() {
    let config = EngineConfig {
        tools: agent(script("[]")).build_specs(),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config.clone(), task(), "go".into());
    assert!(matches!(engine.next_step(), Step::CallModel(_)));
    engine.on_model_response(ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts: vec![
                Part::ToolCall(ToolCall {
                    id: "a".into(),
                    name: "echo".into(),
                    arguments: r#"{"text":"1"}"#.into(),
                }),
                Part::ToolCall(ToolCall {
                    id: "b".into(),
                    name: "echo".into(),
                    arguments: r#"{"text":"2"}"#.into(),
                }),
            ],
        },
        usage: Usage::default(),
        finish_reason: agentkit_core::model::FinishReason::ToolCalls,
    });
    engine.on_tool_result(
        0,
        agentkit_core::engine::ToolCallOutcome::Output {
            content: "1".into(),
            is_error: false,
        },
    );
    // The process dies here; another worker loads the state.
    let state: RunState =
        serde_json::from_str(&serde_json::to_string(engine.state()).unwrap()).unwrap();
    let mut resumed = Engine::resume(config, state);
    assert!(matches!(resumed.next_step(), Step::CallModel(_)));
    let messages = &resumed.state().messages;
    assert_paired(messages);
    let r = results(messages);
    assert_eq!((r[0].content.as_str(), r[0].is_error), ("1", false));
    assert_eq!(
        (r[1].content.as_str(), r[1].is_error),
        (prompts::INTERRUPTED, true)
    );
}

#[test]
fn next_step_is_idempotent() {
    let mut engine = Engine::new(EngineConfig::default(), task(), "go".into());
    let a = engine.next_step();
    let b = engine.next_step();
    assert_eq!(a, b);
    assert_eq!(engine.state().steps, 0);
}

trait Specs {
    fn build_specs(self) -> Vec<agentkit_core::tool::ToolSpec>;
}

impl Specs for AgentBuilder {
    fn build_specs(self) -> Vec<agentkit_core::tool::ToolSpec> {
        ToolSet::new()
            .with(Finish)
            .with(Echo)
            .with(Fail)
            .with(Broken)
            .specs()
    }
}

#[test]
fn empty_and_repeated_call_ids_are_replaced_so_results_pair_by_id() {
    let config = EngineConfig {
        tools: ToolSet::new().with(Echo).specs(),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, task(), "go".into());
    let call = |id: &str| {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: "echo".into(),
            arguments: r#"{"text":"x"}"#.into(),
        })
    };
    engine.next_step();
    engine.on_model_response(ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts: vec![call("a"), call("a"), call("")],
        },
        usage: Usage::default(),
        finish_reason: agentkit_core::model::FinishReason::ToolCalls,
    });
    let ids: Vec<String> = engine.state().messages[1]
        .tool_calls()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(ids, vec!["a", "call_1_2", "call_1_3"]);
}

#[tokio::test]
async fn a_call_cut_off_by_the_output_limit_is_not_run_and_the_model_is_told() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[
              {"name":"echo","arguments":{"text":"whole"}},
              {"name":"echo","arguments_raw":"{\"text\": \"half a li"}],
             "finish_reason":"length"},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    )))
    .await;
    let r = results(&run.state.messages);
    assert!(!r[0].is_error, "a complete call in a cut reply still runs");
    assert!(r[1].is_error);
    assert_eq!(r[1].content, prompts::CALL_CUT_OFF);
    assert!(run.outcome.stop_reason.is_success());
}

#[tokio::test]
async fn a_call_to_an_unknown_tool_is_reported_with_the_error_the_model_was_given() {
    let run = run_with(agent(script(
        r#"[{"tool_calls":[{"name":"teleport","arguments":{"to":"prod"}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    )))
    .await;
    assert!(run.outcome.stop_reason.is_success(), "{:?}", run.outcome);
    let calls: Vec<(String, String)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallStarted {
                name, arguments, ..
            } if name == "teleport" => Some(("started".to_string(), arguments.clone())),
            Event::ToolCallFinished {
                name,
                is_error: true,
                content,
                ..
            } if name == "teleport" => Some(("failed".to_string(), content.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("started".to_string(), r#"{"to":"prod"}"#.to_string()),
            (
                "failed".to_string(),
                "Unknown tool `teleport`. Available tools: broken, echo, fail, finish.".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn a_call_by_an_alias_runs_the_tool_and_is_recorded_under_its_name() {
    let model = script(
        r#"[{"tool_calls":[{"name":"say","arguments":{"text":"hi"}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    );
    let tools = ToolSet::new().with(Echo).with_alias("say", "echo");
    let run = run_with(Agent::builder(model.clone()).tool(Finish).tools(tools)).await;
    assert!(run.outcome.stop_reason.is_success(), "{:?}", run.outcome);
    let first = &results(&run.state.messages)[0];
    assert_eq!(
        (first.name.as_str(), first.is_error),
        ("echo", false),
        "{first:?}"
    );
    // The model is shown only the tool's own name.
    let shown: Vec<String> = model.requests()[0]
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(shown, vec!["echo".to_string(), "finish".to_string()]);
}
