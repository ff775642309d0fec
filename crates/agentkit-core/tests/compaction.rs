//! Compaction: long runs in small windows, `ContextLength` retries, the
//! summariser failing, and the shape of a compacted history.

mod common;

use std::sync::{Arc, Mutex};

use agentkit_core::engine::compaction::{
    self, CompactionConfig, CompactionInputs, CompactionTrigger,
};
use agentkit_core::engine::{Engine, EngineConfig, Phase};
use agentkit_core::model::{
    Capabilities, ErrorDetail, FinishReason, ModelInfo, ModelStream, StreamEvent,
};
use agentkit_core::prelude::*;
use agentkit_core::testing::MemorySandbox;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use common::*;
use futures::stream;

/// Wraps a model and refuses, like a provider, every request larger than
/// `window` tokens (counted like the engine counts), recording the largest
/// request it accepted.
struct Windowed {
    inner: Arc<dyn Model>,
    info: ModelInfo,
    largest: Mutex<usize>,
    refused: Mutex<usize>,
}

impl Windowed {
    fn new(inner: Arc<dyn Model>, window: u64) -> Self {
        let mut info = inner.info().clone();
        info.context_window = window;
        Self {
            inner,
            info,
            largest: Mutex::new(0),
            refused: Mutex::new(0),
        }
    }
}

fn request_tokens(request: &ModelRequest) -> usize {
    compaction::request_tokens(&ApproxTokenizer, request)
}

#[async_trait::async_trait]
impl Model for Windowed {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let size = request_tokens(&request);
        if size as u64 > self.info.context_window {
            *self.refused.lock().unwrap() += 1;
            return Err(ModelError::ContextLength {
                detail: ErrorDetail::http(
                    400,
                    "{}",
                    format!("{size} tokens > {}", self.info.context_window),
                ),
            });
        }
        {
            let mut largest = self.largest.lock().unwrap();
            *largest = (*largest).max(size);
        }
        self.inner.stream(request).await
    }
}

/// A summariser that answers with a fixed summary, or always fails.
struct Summarizer {
    fail: bool,
    calls: Mutex<Vec<ModelRequest>>,
    info: ModelInfo,
}

impl Summarizer {
    fn new(fail: bool) -> Self {
        Self {
            fail,
            calls: Mutex::new(Vec::new()),
            info: ModelInfo {
                name: "cheap-summarizer".into(),
                provider: "test".into(),
                context_window: 100_000,
                max_output_tokens: 4_000,
                pricing: None,
                capabilities: Capabilities::default(),
            },
        }
    }
}

const SUMMARY: &str = "## Progress\n- Read blobs 1 to n; nothing suspicious yet.\n\n## Plan\n- [x] Read the blobs\n- [ ] Call finish\n\n## Open problems\n- None.\n\n## Next step\nRead the next blob.";

#[async_trait::async_trait]
impl Model for Summarizer {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        self.calls.lock().unwrap().push(request);
        if self.fail {
            return Err(ModelError::Transient {
                detail: ErrorDetail::message("summariser overloaded"),
            });
        }
        Ok(Box::pin(stream::iter([
            Ok(StreamEvent::TextDelta {
                text: SUMMARY.into(),
            }),
            Ok(StreamEvent::Finish {
                reason: FinishReason::Stop,
            }),
        ])))
    }
}

/// A turn that reads a 1,600-character blob through `echo`.
fn blob_turn(i: usize) -> String {
    format!(
        r#"{{"text":"Reading blob {i}.","tool_calls":[{{"name":"echo","arguments":{{"text":"{}abc","times":400}}}}]}}"#,
        (b'a' + (i % 26) as u8) as char
    )
}

fn long_script(turns: usize) -> Arc<ScriptedModel> {
    let mut all: Vec<String> = (0..turns - 1).map(blob_turn).collect();
    all.push(
        r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"read them all"}}]}"#.into(),
    );
    script(&format!("[{}]", all.join(",")))
}

struct LongRun {
    outcome: Outcome,
    events: Vec<Event>,
    state: RunState,
    model: Arc<Windowed>,
}

async fn run_windowed(
    scripted: Arc<ScriptedModel>,
    window: u64,
    summarizer: Arc<Summarizer>,
    sandbox: MemorySandbox,
) -> LongRun {
    let model = Arc::new(Windowed::new(scripted, window));
    let sink = Arc::new(MemorySink::new());
    let store = Arc::new(agentkit_core::checkpoint::MemoryCheckpoint::new());
    let agent = Agent::builder(model.clone())
        .tool(Finish)
        .tool(Echo)
        .budgets(Budgets {
            max_steps: 500,
            ..Budgets::default()
        })
        .summarizer(summarizer)
        .shared_sink(sink.clone())
        .checkpoint(store.clone())
        .build();
    let outcome = agent
        .run(task(), Arc::new(sandbox), CancellationToken::new())
        .await;
    use agentkit_core::checkpoint::Checkpoint;
    let state = store.load(&task().id).await.unwrap().unwrap();
    LongRun {
        outcome,
        events: sink.events(),
        state,
        model,
    }
}

fn compactions(events: &[Event]) -> Vec<agentkit_core::engine::compaction::CompactionReport> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Compacted { report } => Some(report.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_200_step_run_in_a_small_window_finishes_without_a_context_length_failure() {
    let summarizer = Arc::new(Summarizer::new(false));
    let run = run_windowed(
        long_script(200),
        12_000,
        summarizer.clone(),
        MemorySandbox::new(),
    )
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::Finished {
            summary: "read them all".into()
        }
    );
    assert_eq!(run.outcome.steps, 200);
    assert_eq!(*run.model.refused.lock().unwrap(), 0);
    assert!(*run.model.largest.lock().unwrap() <= 12_000);
    let reports = compactions(&run.events);
    assert!(reports.len() >= 5, "only {} compactions", reports.len());
    eprintln!(
        "{} compactions; first: {}; last: {}",
        reports.len(),
        reports[0],
        reports[reports.len() - 1]
    );
    for report in &reports {
        assert_eq!(report.trigger, CompactionTrigger::Threshold);
        assert!(report.before_tokens > 9_600, "{report:?}");
        assert!(report.after_tokens < report.before_tokens, "{report:?}");
    }
    assert!(reports.iter().any(|r| r.masked > 0));
    assert!(reports.iter().any(|r| r.summarised > 0));
    assert!(!summarizer.calls.lock().unwrap().is_empty());
    assert_paired(&run.state.messages);
    let first = run.state.messages[0].text();
    assert!(first.contains("# Task T-1"), "{first}");
    assert!(
        first.contains("- [x] Read the blobs\n- [ ] Call finish"),
        "{first}"
    );
}

#[tokio::test]
async fn a_failing_summariser_drops_old_turns_instead_of_failing_the_run() {
    let summarizer = Arc::new(Summarizer::new(true));
    let run = run_windowed(long_script(60), 6_000, summarizer, MemorySandbox::new()).await;
    assert!(run.outcome.stop_reason.is_success(), "{:?}", run.outcome);
    let reports = compactions(&run.events);
    let failed: Vec<_> = reports.iter().filter(|r| r.dropped > 0).collect();
    assert!(!failed.is_empty());
    assert_eq!(
        failed[0].summary_error.as_deref(),
        Some(
            "the summariser `cheap-summarizer` failed: transient provider error: summariser overloaded"
        )
    );
    assert_eq!(*run.model.refused.lock().unwrap(), 0);
    assert_paired(&run.state.messages);
}

#[tokio::test]
async fn a_context_length_error_compacts_and_retries_the_call_once() {
    let scripted = script(&format!(
        r#"[{}, {}, {{"error":{{"kind":"context_length","message":"prompt too long"}}}},
            {{"tool_calls":[{{"name":"finish","arguments":{{"summary":"done"}}}}]}}]"#,
        blob_turn(0),
        blob_turn(1)
    ));
    let summarizer = Arc::new(Summarizer::new(false));
    let sandbox = MemorySandbox::new().with_exec(|request| {
        let argv = format!("{:?}", request.command);
        let out = if argv.contains("\"rev-parse\"") {
            "0123456789abcdef0123\n"
        } else if argv.contains("\"--stat\"") {
            " src/lib.rs | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n"
        } else if argv.contains("\"status\"") {
            " M src/lib.rs\n"
        } else {
            "-old\n+new\n"
        };
        Ok(agentkit_core::testing::exec_output(0, out))
    });
    let run = run_windowed(scripted.clone(), 200_000, summarizer, sandbox).await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::Finished {
            summary: "done".into()
        }
    );
    let reports = compactions(&run.events);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].trigger, CompactionTrigger::ContextLength);
    // Half the size is the target after a refusal: the oldest turn is
    // summarised, the output kept is masked (none are protected).
    assert_eq!((reports[0].masked, reports[0].summarised), (1, 2));
    // The failed call was made again, after compaction, with the restatement first.
    let requests = scripted.requests();
    assert_eq!(requests.len(), 4);
    let retried = &requests[3].messages;
    let restatement = retried[0].text();
    assert!(restatement.contains("`git diff --stat "), "{restatement}");
    assert!(restatement.contains(" src/lib.rs | 2 +-"), "{restatement}");
    assert!(
        results(retried)
            .iter()
            .all(|r| r.content.starts_with("[output of echo {\"text\":")),
        "{retried:?}"
    );
}

#[tokio::test]
async fn a_second_context_length_error_for_the_same_call_ends_the_run() {
    let scripted = script(&format!(
        r#"[{}, {{"error":{{"kind":"context_length","message":"too long"}}}},
            {{"error":{{"kind":"context_length","message":"still too long"}}}}]"#,
        blob_turn(0)
    ));
    let run = run_windowed(
        scripted,
        200_000,
        Arc::new(Summarizer::new(false)),
        MemorySandbox::new(),
    )
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::ModelError {
            kind: agentkit_core::model::ModelErrorKind::ContextLength,
            message: "the prompt is longer than the model's context window: still too long".into()
        }
    );
    assert_eq!(compactions(&run.events).len(), 1);
}

// ---- engine-level: the shape of a compacted history ----

fn spec(name: &str, read_only: bool) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("The {name} tool."),
        parameters: serde_json::json!({"type": "object", "properties": {}}),
        annotations: if read_only {
            ToolAnnotations::read_only()
        } else {
            ToolAnnotations::mutating()
        },
    }
}

fn engine(window: u64) -> Engine {
    let config = EngineConfig {
        system_prompt: "You fix bugs.".into(),
        tools: vec![
            spec("read_file", true),
            spec("edit_file", false),
            spec("update_plan", false),
            spec("finish", false),
        ],
        budgets: Budgets {
            max_steps: 10_000,
            max_wall_time: None,
            ..Budgets::default()
        },
        verify: true,
        compaction: CompactionConfig {
            window_tokens: Some(window),
            keep_recent_outputs: 0,
            ..CompactionConfig::default()
        },
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(
        config,
        task(),
        "# Task T-1: Fix the parser\n\nThe parser drops the last line.\n".into(),
    );
    engine.set_base("0123456789abcdef0123".into(), "main".into());
    engine
}

/// One model turn with `calls` as `(id, tool, arguments)`, answered with `outputs`.
fn turn(engine: &mut Engine, text: &str, calls: &[(&str, &str, &str)], outputs: &[(&str, bool)]) {
    let Step::CallModel(_) = engine.next_step() else {
        panic!("expected a model call, got {:?}", engine.state().phase);
    };
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(Part::Text { text: text.into() });
    }
    for (id, name, args) in calls {
        parts.push(Part::ToolCall(ToolCall {
            id: (*id).into(),
            name: (*name).into(),
            arguments: (*args).into(),
        }));
    }
    engine.on_model_response(agentkit_core::model::ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts,
        },
        usage: Usage::default(),
        finish_reason: FinishReason::ToolCalls,
    });
    for (i, (content, is_error)) in outputs.iter().enumerate() {
        engine.on_tool_result(
            i,
            agentkit_core::engine::ToolCallOutcome::Output {
                content: (*content).into(),
                is_error: *is_error,
            },
        );
    }
}

/// What the agent says before acting: about 300 tokens.
fn thought(step: u32) -> String {
    format!("Step {step}. ")
        + &"I read the parser to find where the last line of the input is dropped, and I check the tests. ".repeat(12)
}

#[test]
fn a_compacted_history_restates_task_plan_diff_and_failing_verification() {
    let mut engine = engine(3_000);
    let file = "fn parse(input: &str) -> Vec<String> {\n    input.lines().map(String::from).collect()\n}\n".repeat(40);
    let plan = r#"{"plan":[{"step":"Reproduce the bug","status":"completed"},{"step":"Fix parse","status":"in_progress"},{"step":"Run the tests","status":"pending"}]}"#;
    turn(
        &mut engine,
        &thought(1),
        &[("c1", "update_plan", plan)],
        &[("Plan updated.", false)],
    );
    turn(
        &mut engine,
        &thought(2),
        &[("c2", "read_file", r#"{"path":"src/parse.rs"}"#)],
        &[(&file, false)],
    );
    // The agent finishes too early; the tests fail.
    let Step::CallModel(_) = engine.next_step() else {
        panic!("expected a model call")
    };
    engine.on_model_response(agentkit_core::model::ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts: vec![Part::ToolCall(ToolCall {
                id: "c3".into(),
                name: "finish".into(),
                arguments: r#"{"summary":"fixed"}"#.into(),
            })],
        },
        usage: Usage::default(),
        finish_reason: FinishReason::ToolCalls,
    });
    engine.on_tool_result(
        0,
        agentkit_core::engine::ToolCallOutcome::Finish {
            summary: "fixed".into(),
        },
    );
    assert_eq!(engine.next_step(), Step::Verify);
    engine.on_verification(Verification::from_checks(vec![
        agentkit_core::verify::CheckResult {
            name: "tests".into(),
            command: "cargo test".into(),
            passed: false,
            status: "exit 101".into(),
            output: "test parse_keeps_the_last_line ... FAILED\nexpected 3 lines, got 2".into(),
            duration: std::time::Duration::ZERO,
        },
    ]));
    turn(
        &mut engine,
        &thought(4),
        &[("c4", "read_file", r#"{"path":"tests/parse.rs"}"#)],
        &[(&file, false)],
    );
    let Step::Compact(job) = engine.next_step() else {
        panic!("expected a compaction, got {:?}", engine.state().phase);
    };
    assert_eq!(job.plan.trigger, CompactionTrigger::Threshold);
    assert_eq!(job.diff.base.as_deref(), Some("0123456789abcdef0123"));
    // Kept: the finish that failed verification, the feedback, the last read (masked).
    assert_eq!((job.plan.mask.clone(), job.plan.split), (vec![(9, 0)], 5));
    let summarize = job.summarize.expect("older turns are summarised");
    assert_eq!(summarize.tools, vec![]);
    assert_eq!(summarize.max_output_tokens, Some(2_000));
    insta::assert_snapshot!("summariser_input", summarize.messages[0].text());
    let report = engine
        .on_compacted(CompactionInputs {
            diff: Some(Ok("`git diff --stat 0123456789ab`:\n```\n src/parse.rs | 2 +-\n```".into())),
            summary: Some(Ok("## Progress\n- Read src/parse.rs: `parse` uses `lines()`.\n\n## Plan\n- [x] Reproduce\n- [ ] Something else\n\n## Next step\nRun the tests.".into())),
            ..CompactionInputs::default()
        })
        .expect("a compaction was under way");
    assert_eq!(
        (report.masked, report.summarised, report.dropped),
        (1, 4, 0)
    );
    assert!(report.after_tokens < report.before_tokens / 2, "{report:?}");
    assert_eq!(engine.state().phase, Phase::Ready);
    common::assert_paired(&engine.state().messages);
    insta::assert_json_snapshot!("compacted_history", engine.state().messages);
    // The next step calls the model: one compaction per model call at most.
    assert!(matches!(engine.next_step(), Step::CallModel(_)));
}

#[test]
fn masking_alone_keeps_every_turn_and_notes_what_was_masked() {
    let mut engine = engine(4_000);
    let file = "x".repeat(14_000);
    turn(
        &mut engine,
        "",
        &[("c1", "read_file", r#"{"path":"a.rs"}"#)],
        &[("short", false)],
    );
    turn(
        &mut engine,
        "",
        &[("c2", "read_file", r#"{"path":"b.rs"}"#)],
        &[("short", false)],
    );
    turn(
        &mut engine,
        "",
        &[("c3", "read_file", r#"{"path":"c.rs"}"#)],
        &[(&file, false)],
    );
    let Step::Compact(job) = engine.next_step() else {
        panic!("expected a compaction");
    };
    assert_eq!((job.plan.mask.clone(), job.plan.split), (vec![(6, 0)], 1));
    assert!(job.summarize.is_none());
    engine.on_compacted(CompactionInputs {
        diff: Some(Err("git is not installed".into())),
        ..CompactionInputs::default()
    });
    let messages = &engine.state().messages;
    assert_eq!(messages.len(), 7);
    assert_eq!(
        results(messages)
            .into_iter()
            .map(|r| r.content)
            .collect::<Vec<_>>(),
        vec![
            "short".to_string(),
            "short".into(),
            "[output of read_file {\"path\":\"c.rs\"} masked: 3,500 tokens; call the tool again to see it]".into(),
        ]
    );
    assert!(messages[0].text().contains(
        "The changes could not be read (git is not installed); run `git status` and `git diff` to see them."
    ));
}

#[test]
fn a_run_stored_mid_compaction_resumes_with_the_same_job() {
    let mut engine = engine(4_000);
    let file = "x".repeat(14_000);
    turn(
        &mut engine,
        "",
        &[("c1", "read_file", r#"{"path":"a.rs"}"#)],
        &[("short", false)],
    );
    turn(
        &mut engine,
        "",
        &[("c2", "read_file", r#"{"path":"c.rs"}"#)],
        &[(&file, false)],
    );
    let Step::Compact(job) = engine.next_step() else {
        panic!("expected a compaction");
    };
    let stored = serde_json::to_string(engine.state()).unwrap();
    let state: RunState = serde_json::from_str(&stored).unwrap();
    let mut resumed = Engine::resume(engine.config().clone(), state);
    assert_eq!(resumed.next_step(), Step::Compact(job));
    let report = resumed.on_compacted(CompactionInputs::default()).unwrap();
    assert_eq!((report.masked, report.summarised), (1, 0));
    assert_eq!(resumed.state().compaction.count, 1);
    assert!(matches!(resumed.next_step(), Step::CallModel(_)));
}

/// Counts how many texts it was asked to count (one token per four bytes).
#[derive(Default)]
struct CountingTokenizer(std::sync::atomic::AtomicUsize);

impl agentkit_core::tokenizer::Tokenizer for CountingTokenizer {
    fn count(&self, text: &str) -> usize {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        text.len().div_ceil(4)
    }
}

#[test]
fn the_tokenizer_is_left_alone_while_the_conversation_bytes_fit_the_window() {
    let tokenizer = Arc::new(CountingTokenizer::default());
    let used = |t: &CountingTokenizer| t.0.load(std::sync::atomic::Ordering::Relaxed);
    // 3,000 tokens, compaction at 80%: 2,400. Short turns stay under it in bytes.
    let mut engine = engine(3_000);
    engine.set_tokenizer(tokenizer.clone());
    for step in 0..3 {
        let id = format!("c{step}");
        turn(
            &mut engine,
            "Looking.",
            &[(&id, "read_file", r#"{"path":"a.rs"}"#)],
            &[("fn a() {}", false)],
        );
    }
    let Step::CallModel(_) = engine.next_step() else {
        panic!("expected a model call, got {:?}", engine.state().phase);
    };
    assert_eq!(used(&tokenizer), 0, "a short run never needs a tokenizer");

    // 4,000 bytes of output are over 2,400 in bytes but 1,000 tokens: the
    // tokenizer is asked, and no compaction is due.
    engine.on_model_response(agentkit_core::model::ModelResponse {
        message: Message {
            role: Role::Assistant,
            parts: vec![Part::ToolCall(ToolCall {
                id: "big".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"b.rs"}"#.into(),
            })],
        },
        usage: Usage::default(),
        finish_reason: FinishReason::ToolCalls,
    });
    engine.on_tool_result(
        0,
        agentkit_core::engine::ToolCallOutcome::Output {
            content: "x".repeat(4_000),
            is_error: false,
        },
    );
    let Step::CallModel(_) = engine.next_step() else {
        panic!("expected a model call, got {:?}", engine.state().phase);
    };
    assert!(
        used(&tokenizer) > 0,
        "over the window in bytes, tokens are counted"
    );
}
