//! Shared fixtures for the engine tests: small tools and invariant checks.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentkit_core::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// `finish {summary}`.
pub struct Finish;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    /// What was done.
    pub summary: String,
}

#[async_trait::async_trait]
impl Tool for Finish {
    type Args = FinishArgs;
    fn name(&self) -> &str {
        "finish"
    }
    fn description(&self) -> &str {
        "Ends the task."
    }
    async fn call(&self, args: FinishArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::Finish {
            summary: args.summary,
        })
    }
}

/// `echo {text, times?}`: read-only, returns the text.
pub struct Echo;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoArgs {
    /// Text to echo.
    pub text: String,
    /// How many times.
    #[serde(default)]
    pub times: Option<u32>,
}

#[async_trait::async_trait]
impl Tool for Echo {
    type Args = EchoArgs;
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Echoes text."
    }
    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }
    async fn call(&self, args: EchoArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text(
            args.text.repeat(args.times.unwrap_or(1) as usize),
        ))
    }
}

/// `fail {}`: always fails with a model-facing message and an operator detail.
pub struct Fail;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[async_trait::async_trait]
impl Tool for Fail {
    type Args = NoArgs;
    fn name(&self) -> &str {
        "fail"
    }
    fn description(&self) -> &str {
        "Always fails."
    }
    async fn call(&self, _args: NoArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Err(ToolError::Failed {
            message: "it broke; try echo instead".into(),
            operator_detail: Some("stack trace for the operator".into()),
        })
    }
}

/// `broken {}`: the environment dies.
pub struct Broken;

#[async_trait::async_trait]
impl Tool for Broken {
    type Args = NoArgs;
    fn name(&self) -> &str {
        "broken"
    }
    fn description(&self) -> &str {
        "The sandbox dies."
    }
    async fn call(&self, _args: NoArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        Err(SandboxError::Gone {
            reason: "container exited".into(),
        }
        .into())
    }
}

/// A tool that sleeps and records how many instances run at once.
pub struct Sleepy {
    pub name: &'static str,
    pub read_only: bool,
    pub delay: Duration,
    pub running: Arc<AtomicUsize>,
    pub max_running: Arc<AtomicUsize>,
}

impl Sleepy {
    pub fn new(name: &'static str, read_only: bool, delay: Duration, gauge: &Gauge) -> Self {
        Self {
            name,
            read_only,
            delay,
            running: gauge.running.clone(),
            max_running: gauge.max.clone(),
        }
    }
}

/// Concurrency gauge shared by `Sleepy` tools.
#[derive(Default, Clone)]
pub struct Gauge {
    pub running: Arc<AtomicUsize>,
    pub max: Arc<AtomicUsize>,
}

impl Gauge {
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Tool for Sleepy {
    type Args = NoArgs;
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Sleeps."
    }
    fn annotations(&self) -> ToolAnnotations {
        if self.read_only {
            ToolAnnotations::read_only()
        } else {
            ToolAnnotations::mutating()
        }
    }
    async fn call(&self, _args: NoArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(ToolOutput::text("slept"))
    }
}

/// A scripted model from JSON.
pub fn script(json: &str) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_json(json, "test").expect("valid script"))
}

pub fn task() -> Task {
    Task::new("T-1", "Fix it", "Something is broken.", RepoRef::new("."))
}

/// Asserts the pairing invariant: each assistant message's tool calls are
/// answered, in order and exactly once, by the next message's tool results.
pub fn assert_paired(messages: &[Message]) {
    for (i, m) in messages.iter().enumerate() {
        let calls: Vec<&str> = m.tool_calls().map(|c| c.id.as_str()).collect();
        let answered_here: Vec<&str> = m.tool_results().map(|r| r.call_id.as_str()).collect();
        if !answered_here.is_empty() {
            let prev: Vec<&str> = messages[i - 1]
                .tool_calls()
                .map(|c| c.id.as_str())
                .collect();
            assert_eq!(
                answered_here, prev,
                "results of message {i} do not answer the calls before them"
            );
        }
        if calls.is_empty() {
            continue;
        }
        let next = messages
            .get(i + 1)
            .unwrap_or_else(|| panic!("message {i} has tool calls and no answer"));
        let results: Vec<&str> = next.tool_results().map(|r| r.call_id.as_str()).collect();
        assert_eq!(
            results, calls,
            "calls of message {i} are not answered exactly once, in order"
        );
    }
}

/// The tool results in a conversation, by call id.
pub fn results(messages: &[Message]) -> Vec<ToolResult> {
    messages
        .iter()
        .flat_map(|m| m.tool_results().cloned())
        .collect()
}

/// An agent with `finish`, `echo`, `fail` and `broken` over `model`.
pub fn agent(model: Arc<ScriptedModel>) -> AgentBuilder {
    Agent::builder(model)
        .tool(Finish)
        .tool(Echo)
        .tool(Fail)
        .tool(Broken)
}

/// A model turn calling `echo`.
pub const ECHO_FOREVER: &str = r#"{"tool_calls":[{"name":"echo","arguments":{"text":"hi"}}]}"#;

/// A script of `turn` `n` times.
pub fn repeat(turn: &str, n: usize) -> String {
    format!("[{}]", vec![turn; n].join(","))
}

/// Runs `agent` on the test task, in an empty in-memory sandbox, to its end.
pub async fn run_once(agent: Agent) -> Outcome {
    agent
        .run(
            task(),
            Arc::new(agentkit_core::testing::MemorySandbox::new()),
            CancellationToken::new(),
        )
        .await
}
