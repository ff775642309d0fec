//! The Anthropic Messages API wire format: request bodies (insta snapshots
//! and exact values), decoding of recorded-shape streams and whole bodies
//! (whole values), the round trip of thinking blocks and calls across
//! turns, and error classification.

mod support;

use std::time::Duration;

use agentkit_core::message::{Message, Part};
use agentkit_core::model::{
    Capabilities, ErrorDetail, FinishReason, ModelError, ModelErrorKind, ModelInfo, ModelRequest,
    ModelResponse, ReasoningEffort, ResponseFolder, StreamEvent, ToolChoice,
};
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_core::usage::Usage;
use agentkit_llm::Protocol;
use agentkit_llm::anthropic::{Anthropic, AnthropicConfig, REDACTED_THINKING_PREFIX};
use agentkit_llm::sse::{SseEvent, SseParser};
use serde_json::{Value, json};
use support::conversation::{assistant, call, failed, result, text, user};

// ------------------------------------------------------------------ helpers

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture's events, through the real event-stream parser.
fn sse_events(text: &str) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = parser.push(text.as_bytes());
    events.extend(parser.finish());
    events
}

/// One event as the API sends it: named after the `type` in its data.
fn event(data: &str) -> SseEvent {
    let name = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "message".into());
    SseEvent {
        event: name,
        data: data.into(),
        id: None,
    }
}

/// A model with pinned info (tests must not depend on the catalog's
/// contents): a 200k window, 64k output tokens, reasoning or not.
fn with_info(config: AnthropicConfig, reasoning: bool) -> Anthropic {
    let mut config = config;
    config.info = Some(ModelInfo {
        name: config.model.clone(),
        provider: "anthropic".into(),
        context_window: 200_000,
        max_output_tokens: 64_000,
        pricing: None,
        capabilities: Capabilities {
            reasoning,
            ..Capabilities::default()
        },
    });
    Anthropic::new(config)
}

fn config() -> AnthropicConfig {
    AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-test-secret")
}

/// Prompt caching off, so a body shows only what the test is about.
fn uncached() -> AnthropicConfig {
    AnthropicConfig {
        prompt_caching: false,
        ..config()
    }
}

/// A reasoning model with every default.
fn protocol() -> Anthropic {
    with_info(config(), true)
}

/// Every event the decoder produced, then the first error (from an event
/// or from the end of the body), the way `HttpModel` drives a decoder.
fn decode_events(events: Vec<SseEvent>) -> (Vec<StreamEvent>, Option<ModelError>) {
    let mut decoder = protocol().decoder();
    let mut out = Vec::new();
    for event in events {
        if decoder.is_done() {
            break;
        }
        match decoder.event(&event) {
            Ok(more) => out.extend(more),
            Err(error) => return (out, Some(error)),
        }
    }
    match decoder.end() {
        Ok(more) => out.extend(more),
        Err(error) => return (out, Some(error)),
    }
    (out, None)
}

fn decode(name: &str) -> (Vec<StreamEvent>, Option<ModelError>) {
    decode_events(sse_events(&fixture(name)))
}

fn decode_data(data: &[&str]) -> (Vec<StreamEvent>, Option<ModelError>) {
    decode_events(data.iter().map(|d| event(d)).collect())
}

fn fold(events: Vec<StreamEvent>) -> ModelResponse {
    let mut folder = ResponseFolder::default();
    events.into_iter().for_each(|e| folder.push(e));
    folder.finish().unwrap()
}

fn fold_fixture(name: &str) -> ModelResponse {
    let (events, error) = decode(name);
    assert_eq!(error, None, "{name} should decode without error");
    fold(events)
}

fn thinking(text: &str, signature: &str) -> Part {
    Part::Reasoning {
        text: text.into(),
        signature: Some(signature.into()),
        provider: Some("anthropic".into()),
    }
}

fn usage(input: u64, output: u64, cached: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_tokens: 0,
    }
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        system: "You are a coding agent.".into(),
        messages,
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
        max_output_tokens: None,
        temperature: None,
        reasoning_effort: None,
    }
}

/// Tools as the agent sends them: one schema as schemars writes it (with
/// `$schema`, `title`, `$defs`), one without a `type`, one with no schema.
fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "write_file".into(),
            description: "Writes a file of the workspace.".into(),
            parameters: json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "WriteFileArgs",
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative path."},
                    "content": {"type": "string"},
                    "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]}
                },
                "required": ["path", "content"],
                "additionalProperties": false,
                "$defs": {"Mode": {"type": "string", "enum": ["overwrite", "append"]}}
            }),
            annotations: ToolAnnotations::default(),
        },
        ToolSpec {
            name: "read_file".into(),
            description: "Reads a file of the workspace.".into(),
            parameters: json!({
                "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": ["integer", "null"], "minimum": 1}
                },
                "required": ["path"]
            }),
            annotations: ToolAnnotations::read_only(),
        },
        ToolSpec {
            name: "git_status".into(),
            description: String::new(),
            parameters: Value::Null,
            annotations: ToolAnnotations::read_only(),
        },
    ]
}

fn body_of(protocol: &Anthropic, request: &ModelRequest, stream: bool) -> Value {
    let http = protocol.build_request(request, stream).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

/// The JSON pointer of every value holding a `cache_control`, in key order.
fn breakpoints(body: &Value) -> Vec<String> {
    fn walk(value: &Value, path: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.contains_key("cache_control") {
                    out.push(path.clone());
                }
                for (key, value) in map {
                    walk(value, format!("{path}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    walk(value, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, String::new(), &mut out);
    out
}

/// The body without any `cache_control`.
fn without_breakpoints(mut body: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("cache_control");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut body);
    body
}

// ------------------------------------------------------------------ requests

#[test]
fn plain_request_body() {
    let body = body_of(
        &protocol(),
        &request(vec![Message::user("Fix the failing test.")]),
        true,
    );
    insta::assert_json_snapshot!("plain", body);
}

#[test]
fn request_goes_to_messages_with_the_key_version_and_joined_betas() {
    let config = AnthropicConfig {
        base_url: "https://proxy.example/anthropic/".into(),
        beta: vec![
            "interleaved-thinking-2025-05-14".into(),
            "context-1m-2025-08-07".into(),
        ],
        ..config()
    };
    let http = with_info(config, true)
        .build_request(&request(vec![Message::user("hi")]), true)
        .unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://proxy.example/anthropic/v1/messages");
    assert_eq!(
        http.headers,
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("x-api-key".into(), "sk-ant-test-secret".into()),
            ("anthropic-version".into(), "2023-06-01".into()),
            (
                "anthropic-beta".into(),
                "interleaved-thinking-2025-05-14,context-1m-2025-08-07".into()
            ),
        ]
    );
}

#[test]
fn an_empty_key_sends_no_x_api_key_and_a_whole_body_is_not_streamed() {
    let config = AnthropicConfig {
        anthropic_version: "2024-01-01".into(),
        ..AnthropicConfig::new("claude-sonnet-4-5", "")
    };
    let protocol = with_info(config, true);
    let req = request(vec![Message::user("hi")]);
    let http = protocol.build_request(&req, false).unwrap();
    assert_eq!(
        http.headers,
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("anthropic-version".into(), "2024-01-01".into()),
        ]
    );
    let body = body_of(&protocol, &req, false);
    assert_eq!(body.get("stream"), None, "`stream` defaults to false");
    assert_eq!(body_of(&protocol, &req, true)["stream"], true);
}

#[test]
fn a_blank_system_prompt_is_not_sent() {
    let mut req = request(vec![Message::user("hi")]);
    req.system = " \n ".into();
    let body = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(body.get("system"), None);
    req.system = "Be brief.".into();
    let body = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief."}])
    );
}

#[test]
fn tools_and_history_request_body() {
    let mut req = request(vec![
        Message::user("Why does `cargo test` fail?"),
        assistant(vec![
            text("Let me look at the test."),
            call("toolu_01", "read_file", r#"{"path":"tests/it.rs"}"#),
            call("toolu_02", "git_status", "{}"),
        ]),
        user(vec![
            text("Also check the CI config."),
            result("toolu_01", "read_file", "fn it() { assert!(false) }"),
            failed("toolu_02", "git_status", "fatal: not a git repository"),
        ]),
        Message::user("Operator: the CI config is in .github/workflows."),
        Message::assistant("The assertion is hard-coded to fail."),
        Message::user("Then fix it."),
    ]);
    req.tools = tools();
    req.max_output_tokens = Some(4096);
    req.temperature = Some(0.2);
    let body = body_of(&with_info(uncached(), false), &req, true);
    // The third and fourth messages are one user turn, tool results first.
    assert_eq!(
        body["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "fn it() { assert!(false) }", "is_error": false},
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": "fatal: not a git repository", "is_error": true},
            {"type": "text", "text": "Also check the CI config."},
            {"type": "text", "text": "Operator: the CI config is in .github/workflows."},
        ])
    );
    insta::assert_json_snapshot!("tools_and_history", body);
}

#[test]
fn tool_choice_variants() {
    let choices = [
        ("auto", ToolChoice::Auto),
        ("required", ToolChoice::Required),
        ("none", ToolChoice::None),
        (
            "tool",
            ToolChoice::Tool {
                name: "read_file".into(),
            },
        ),
    ];
    let sent: serde_json::Map<String, Value> = choices
        .into_iter()
        .map(|(label, choice)| {
            let mut req = request(vec![Message::user("go")]);
            req.tools = tools();
            req.tool_choice = choice;
            (
                label.to_owned(),
                body_of(&protocol(), &req, true)["tool_choice"].clone(),
            )
        })
        .collect();
    insta::assert_json_snapshot!("tool_choice_variants", sent);
}

#[test]
fn without_tools_no_tool_choice_is_sent() {
    let mut req = request(vec![Message::user("go")]);
    req.tool_choice = ToolChoice::Required;
    let body = body_of(&protocol(), &req, true);
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(body.get("tools"), None);
}

#[test]
fn max_tokens_comes_from_the_request_then_the_config_then_the_model() {
    let mut req = request(vec![Message::user("go")]);
    let from_config = with_info(
        AnthropicConfig {
            max_tokens: Some(8192),
            ..config()
        },
        false,
    );
    assert_eq!(body_of(&protocol(), &req, true)["max_tokens"], 64_000);
    assert_eq!(body_of(&from_config, &req, true)["max_tokens"], 8192);
    req.max_output_tokens = Some(1000);
    assert_eq!(body_of(&from_config, &req, true)["max_tokens"], 1000);
}

#[test]
fn configured_thinking_is_sent_and_drops_the_temperature() {
    let mut req = request(vec![Message::user("Think it through.")]);
    req.temperature = Some(0.2);
    let plain = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(plain.get("thinking"), None);
    assert_eq!(plain["temperature"], json!(0.2));

    let thinking = with_info(
        AnthropicConfig {
            thinking: Some(8192),
            ..uncached()
        },
        false,
    );
    let body = body_of(&thinking, &req, true);
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 64_000,
            "system": [{"type": "text", "text": "You are a coding agent."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Think it through."}]}],
            "thinking": {"type": "enabled", "budget_tokens": 8192},
            "stream": true
        })
    );
}

#[test]
fn reasoning_effort_sets_the_budget_for_models_that_reason() {
    /// Whether the model reasons, the configured budget, the request's
    /// effort and `max_output_tokens`, and the `thinking` that must be sent.
    type Case = (
        bool,
        Option<u64>,
        Option<ReasoningEffort>,
        Option<u64>,
        Value,
    );
    let enabled = |budget: u64| json!({"type": "enabled", "budget_tokens": budget});
    let cases: Vec<Case> = vec![
        (true, None, None, None, Value::Null),
        (
            true,
            None,
            Some(ReasoningEffort::Minimal),
            None,
            Value::Null,
        ),
        (true, None, Some(ReasoningEffort::Low), None, enabled(2048)),
        (
            true,
            None,
            Some(ReasoningEffort::Medium),
            None,
            enabled(8192),
        ),
        (
            true,
            None,
            Some(ReasoningEffort::High),
            None,
            enabled(24_576),
        ),
        // The request's effort overrides the configured budget...
        (
            true,
            Some(4096),
            Some(ReasoningEffort::Low),
            None,
            enabled(2048),
        ),
        (
            true,
            Some(4096),
            Some(ReasoningEffort::Minimal),
            None,
            Value::Null,
        ),
        // ...but only for a model that can reason.
        (false, None, Some(ReasoningEffort::High), None, Value::Null),
        (
            false,
            Some(4096),
            Some(ReasoningEffort::High),
            None,
            enabled(4096),
        ),
        // The budget leaves room for the answer, or thinking is off.
        (
            true,
            None,
            Some(ReasoningEffort::High),
            Some(8192),
            enabled(4096),
        ),
        (
            true,
            None,
            Some(ReasoningEffort::Low),
            Some(1500),
            Value::Null,
        ),
    ];
    for (reasoning, configured, effort, max_output, expected) in cases {
        let protocol = with_info(
            AnthropicConfig {
                thinking: configured,
                ..uncached()
            },
            reasoning,
        );
        let mut req = request(vec![Message::user("go")]);
        req.reasoning_effort = effort;
        req.max_output_tokens = max_output;
        let body = body_of(&protocol, &req, true);
        assert_eq!(
            body.get("thinking").cloned().unwrap_or(Value::Null),
            expected,
            "reasoning {reasoning}, configured {configured:?}, effort {effort:?}, max {max_output:?}"
        );
    }
}

#[test]
fn forced_tool_use_turns_thinking_off_and_auto_or_none_keep_it() {
    let protocol = with_info(
        AnthropicConfig {
            thinking: Some(4096),
            ..uncached()
        },
        true,
    );
    let cases = [
        (ToolChoice::Auto, true),
        (ToolChoice::None, true),
        (ToolChoice::Required, false),
        (
            ToolChoice::Tool {
                name: "read_file".into(),
            },
            false,
        ),
    ];
    for (choice, thinks) in cases {
        let mut req = request(vec![Message::user("go")]);
        req.tools = tools();
        req.tool_choice = choice.clone();
        let body = body_of(&protocol, &req, true);
        assert_eq!(body.get("thinking").is_some(), thinks, "{choice:?}");
    }
}

/// History with every kind of reasoning part: our signed thinking, our
/// redacted thinking, another provider's reasoning (dropped), our thinking
/// without a signature (dropped). The text comes first in the parts to show
/// that thinking blocks are moved to the front.
fn history_with_thinking() -> Vec<Message> {
    vec![
        Message::user("Fix the parser."),
        assistant(vec![
            text("Reading the parser."),
            thinking(
                "The parser drops the last token.",
                "EqQBCkYIBxgCKkB-signature",
            ),
            thinking(
                "",
                &format!("{REDACTED_THINKING_PREFIX}EmwKAhgBEgy-redacted"),
            ),
            Part::Reasoning {
                text: "**Plan** read the parser".into(),
                signature: Some(r#"{"id":"rs_1","encrypted_content":"gAAA"}"#.into()),
                provider: Some("openai-responses".into()),
            },
            Part::Reasoning {
                text: "cut short before its signature".into(),
                signature: None,
                provider: Some("anthropic".into()),
            },
            call("toolu_09", "read_file", r#"{"path":"src/parser.rs"}"#),
        ]),
        user(vec![result("toolu_09", "read_file", "pub fn parse() {}")]),
    ]
}

#[test]
fn thinking_blocks_are_passed_back_request_body() {
    let protocol = with_info(
        AnthropicConfig {
            thinking: Some(4096),
            ..uncached()
        },
        true,
    );
    let mut req = request(history_with_thinking());
    req.tools = tools();
    let body = body_of(&protocol, &req, true);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "The parser drops the last token.", "signature": "EqQBCkYIBxgCKkB-signature"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy-redacted"},
            {"type": "text", "text": "Reading the parser."},
            {"type": "tool_use", "id": "toolu_09", "name": "read_file", "input": {"path": "src/parser.rs"}},
        ])
    );
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096}),
        "the tool turn in progress starts with thinking, so thinking stays on"
    );
    insta::assert_json_snapshot!("thinking_passed_back", body);
}

#[test]
fn a_tool_turn_begun_on_another_provider_turns_thinking_off() {
    let protocol = with_info(
        AnthropicConfig {
            thinking: Some(4096),
            ..uncached()
        },
        true,
    );
    let mut req = request(vec![
        Message::user("Fix the parser."),
        assistant(vec![
            Part::Reasoning {
                text: "**Plan**".into(),
                signature: Some(r#"{"id":"rs_1"}"#.into()),
                provider: Some("openai-responses".into()),
            },
            call("call_abc", "read_file", r#"{"path":"src/parser.rs"}"#),
        ]),
        user(vec![result("call_abc", "read_file", "pub fn parse() {}")]),
    ]);
    req.tools = tools();
    req.reasoning_effort = Some(ReasoningEffort::High);
    let body = body_of(&protocol, &req, true);
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "call_abc", "name": "read_file", "input": {"path": "src/parser.rs"}}])
    );
    assert_eq!(body.get("thinking"), None);
}

/// A conversation three tool turns deep.
fn long_history() -> Vec<Message> {
    vec![
        Message::user("Fix the failing test."),
        assistant(vec![call(
            "toolu_a",
            "read_file",
            r#"{"path":"tests/it.rs"}"#,
        )]),
        user(vec![result("toolu_a", "read_file", "fn it() {}")]),
        assistant(vec![
            text("Now the source."),
            call("toolu_b", "read_file", r#"{"path":"src/lib.rs"}"#),
        ]),
        user(vec![
            result("toolu_b", "read_file", "pub fn f() {}"),
            text("Hurry up."),
        ]),
    ]
}

#[test]
fn prompt_caching_marks_tools_system_and_the_last_two_user_turns() {
    let mut req = request(long_history());
    req.tools = tools();
    let body = body_of(&protocol(), &req, true);
    assert_eq!(
        breakpoints(&body),
        vec![
            "/messages/2/content/0",
            "/messages/4/content/1",
            "/system/0",
            "/tools/2",
        ]
    );
    insta::assert_json_snapshot!("prompt_caching", body);
}

#[test]
fn prompt_caching_off_sends_the_same_body_without_breakpoints() {
    let mut req = request(long_history());
    req.tools = tools();
    let cached = body_of(&protocol(), &req, true);
    let uncached = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(breakpoints(&uncached), Vec::<String>::new());
    assert_ne!(cached, uncached);
    assert_eq!(without_breakpoints(cached), uncached);
}

#[test]
fn without_tools_or_system_only_messages_get_breakpoints() {
    let mut req = request(vec![Message::user("hi")]);
    req.system = String::new();
    assert_eq!(
        breakpoints(&body_of(&protocol(), &req, true)),
        vec!["/messages/0/content/0"]
    );
    let mut req = request(long_history());
    req.system = String::new();
    assert_eq!(
        breakpoints(&body_of(&protocol(), &req, true)),
        vec!["/messages/2/content/0", "/messages/4/content/1"]
    );
}

#[test]
fn tool_call_arguments_that_are_not_an_object_are_replayed_wrapped_verbatim() {
    let truncated = r#"{"path": "src/lib.rs", "content": "fn ma"#;
    let req = request(vec![
        Message::user("go"),
        assistant(vec![
            call("toolu_1", "write_file", truncated),
            call("toolu_2", "grep", "[1, 2]"),
            call("toolu_3", "git_status", ""),
            call("toolu_4", "read_file", r#"{"path": "a.rs"} trailing"#),
        ]),
        user(vec![
            failed("toolu_1", "write_file", "the arguments are not valid JSON"),
            failed("toolu_2", "grep", "send one JSON object"),
            result("toolu_3", "git_status", "clean"),
            failed("toolu_4", "read_file", "trailing characters"),
        ]),
    ]);
    let body = body_of(&with_info(uncached(), true), &req, true);
    let inputs: Vec<&Value> = body["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|block| &block["input"])
        .collect();
    assert_eq!(
        inputs,
        vec![
            &json!({"_invalid_arguments": truncated}),
            &json!({"_invalid_arguments": "[1, 2]"}),
            &json!({}),
            &json!({"_invalid_arguments": r#"{"path": "a.rs"} trailing"#}),
        ]
    );
}

#[test]
fn a_failed_tool_result_without_content_is_sent_with_words() {
    let req = request(vec![
        Message::user("go"),
        assistant(vec![
            call("toolu_1", "run", "{}"),
            call("toolu_2", "run", "{}"),
        ]),
        user(vec![
            failed("toolu_1", "run", " \n"),
            result("toolu_2", "run", ""),
        ]),
    ]);
    let body = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(
        body["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "(the tool failed without any output)", "is_error": true},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "", "is_error": false},
        ])
    );
}

#[test]
fn blank_text_is_not_sent_and_a_message_left_empty_is_skipped() {
    let req = request(vec![
        user(vec![text("Fix it."), text("  ")]),
        assistant(vec![text(""), text("\n")]),
        user(vec![text("Please.")]),
    ]);
    let body = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "Fix it."},
            {"type": "text", "text": "Please."}
        ]}])
    );
}

#[test]
fn misplaced_parts_and_non_object_schemas_are_refused_with_an_explanation() {
    let bad = request(vec![
        Message::user("go"),
        assistant(vec![result("toolu_1", "grep", "x")]),
    ]);
    assert_eq!(
        protocol().build_request(&bad, true).unwrap_err(),
        ModelError::InvalidRequest {
            detail: ErrorDetail::message(
                "message 1 is an assistant message holding a tool result (for call `toolu_1`); \
                 tool results belong in user messages. The conversation cannot be sent to \
                 Anthropic; fix the code that built it."
            ),
        }
    );
    let mut req = request(vec![Message::user("go")]);
    req.tools = vec![ToolSpec {
        name: "echo".into(),
        description: String::new(),
        parameters: json!(["not", "a", "schema"]),
        annotations: ToolAnnotations::default(),
    }];
    assert_eq!(
        protocol().build_request(&req, true).unwrap_err(),
        ModelError::InvalidRequest {
            detail: ErrorDetail::message(
                "the parameter schema of tool `echo` is not a JSON schema object \
                 ([\"not\",\"a\",\"schema\"]); give it an object schema"
            ),
        }
    );
}

#[test]
fn debug_never_prints_the_key() {
    let protocol = protocol();
    let printed = format!("{protocol:?} {:?}", protocol.config());
    assert!(!printed.contains("sk-ant-test-secret"), "{printed}");
    assert!(printed.contains("api_key: \"<redacted>\""), "{printed}");
}

#[test]
fn info_comes_from_the_catalog_unless_overridden() {
    let from_catalog = Anthropic::new(config());
    assert_eq!(
        from_catalog.info(),
        &agentkit_llm::catalog::lookup("anthropic", "claude-sonnet-4-5")
    );
    let overridden = with_info(AnthropicConfig::new("my-proxy-model", "k"), false);
    assert_eq!(overridden.info().name, "my-proxy-model");
    assert_eq!(overridden.info().max_output_tokens, 64_000);
    assert!(!overridden.info().capabilities.reasoning);
}

// ------------------------------------------------------------------ decoding

#[test]
fn decodes_a_text_reply_and_ignores_pings() {
    let (events, error) = decode("text.sse");
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::Usage(usage(1873, 2, 0)),
            StreamEvent::TextDelta {
                text: "The tests".into()
            },
            StreamEvent::TextDelta {
                text: " pass now.".into()
            },
            StreamEvent::Usage(usage(1873, 9, 0)),
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn decodes_a_tool_use_streamed_in_input_json_deltas() {
    let (events, error) = decode("tool_use.sse");
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::Usage(usage(2210, 1, 0)),
            StreamEvent::TextDelta {
                text: "Let me read".into()
            },
            StreamEvent::TextDelta {
                text: " the file.".into()
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01Hq8WcV3nRt5Yp2Kx7Lm9Za".into(),
                name: "read_file".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"path": "sr"#.into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"c/lib.rs", "start"#.into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"_line": 10}"#.into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::Usage(usage(2210, 57, 0)),
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls
            },
        ]
    );
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                text("Let me read the file."),
                call(
                    "toolu_01Hq8WcV3nRt5Yp2Kx7Lm9Za",
                    "read_file",
                    r#"{"path": "src/lib.rs", "start_line": 10}"#
                ),
            ]),
            usage: usage(2210, 57, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_parallel_tool_uses_including_one_with_empty_input() {
    let (events, error) = decode("parallel_tool_use.sse");
    assert_eq!(error, None);
    let starts_and_ends: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallEnd { .. }
            )
        })
        .collect();
    assert_eq!(
        starts_and_ends,
        vec![
            &StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01AAAA1111aaaa1111AAAA11".into(),
                name: "grep".into()
            },
            &StreamEvent::ToolCallEnd { index: 0 },
            &StreamEvent::ToolCallStart {
                index: 1,
                id: "toolu_01BBBB2222bbbb2222BBBB22".into(),
                name: "git_status".into()
            },
            &StreamEvent::ToolCallEnd { index: 1 },
            &StreamEvent::ToolCallStart {
                index: 2,
                id: "toolu_01CCCC3333cccc3333CCCC33".into(),
                name: "list_dir".into()
            },
            &StreamEvent::ToolCallEnd { index: 2 },
        ]
    );
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                call(
                    "toolu_01AAAA1111aaaa1111AAAA11",
                    "grep",
                    r#"{"pattern": "fn main", "path": "src"}"#
                ),
                call("toolu_01BBBB2222bbbb2222BBBB22", "git_status", "{}"),
                call(
                    "toolu_01CCCC3333cccc3333CCCC33",
                    "list_dir",
                    r#"{"path": "tests"}"#
                ),
            ]),
            usage: usage(964 + 2048, 131, 2048),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

const SIGNATURE: &str = "EqQBCkgIBxABGAIqQKk3Yx2s8fakeSignatureForTestsOnlyZm9vYmFyYmF6cXV4EgxGQUtFX1NJR19JRBoMZmFrZSB0aGlua2luZyI=";

#[test]
fn decodes_signed_thinking_then_a_tool_call_with_cache_usage() {
    assert_eq!(
        fold_fixture("thinking_tool_use.sse"),
        ModelResponse {
            message: assistant(vec![
                thinking(
                    "The failing test points at the parser.\n\nI should read src/parser.rs first.",
                    SIGNATURE
                ),
                call(
                    "toolu_01Zr8Kp2Lm4Nq6Tx9Wb3Vc5D",
                    "read_file",
                    r#"{"path": "src/parser.rs"}"#
                ),
            ]),
            // Input counts fresh, cache-written and cache-read tokens.
            usage: usage(12 + 512 + 4096, 187, 4096),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_redacted_thinking_and_a_signature_sent_in_two_deltas() {
    assert_eq!(
        fold_fixture("redacted_thinking.sse"),
        ModelResponse {
            message: assistant(vec![
                thinking(
                    "",
                    "redacted_thinking:EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPfakeRedactedDataForTests=="
                ),
                thinking(
                    "Nothing else to change.",
                    "ErUBCkYIBxgCIkBfakeSecondSignaturePartTwo=="
                ),
                text("Done."),
            ]),
            usage: usage(640, 48, 0),
            finish_reason: FinishReason::Stop,
        }
    );
}

#[test]
fn a_folded_reply_put_back_into_history_sends_the_blocks_it_came_from() {
    let protocol = with_info(
        AnthropicConfig {
            thinking: Some(4096),
            ..uncached()
        },
        true,
    );
    let reply = fold_fixture("thinking_tool_use.sse");
    let mut req = request(vec![
        Message::user("Fix the parser."),
        reply.message,
        user(vec![result(
            "toolu_01Zr8Kp2Lm4Nq6Tx9Wb3Vc5D",
            "read_file",
            "pub fn parse() {}",
        )]),
    ]);
    req.tools = tools();
    let body = body_of(&protocol, &req, true);
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": [
            {
                "type": "thinking",
                "thinking": "The failing test points at the parser.\n\nI should read src/parser.rs first.",
                "signature": SIGNATURE
            },
            {"type": "tool_use", "id": "toolu_01Zr8Kp2Lm4Nq6Tx9Wb3Vc5D", "name": "read_file", "input": {"path": "src/parser.rs"}},
        ]})
    );
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );

    let reply = fold_fixture("redacted_thinking.sse");
    let req = request(vec![
        Message::user("Anything else?"),
        reply.message,
        Message::user("Thanks."),
    ]);
    let body = body_of(&protocol, &req, true);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPfakeRedactedDataForTests=="},
            {"type": "thinking", "thinking": "Nothing else to change.", "signature": "ErUBCkYIBxgCIkBfakeSecondSignaturePartTwo=="},
            {"type": "text", "text": "Done."},
        ])
    );
}

#[test]
fn a_thinking_block_that_never_got_its_signature_is_unsigned_and_not_sent_back() {
    let (events, error) = decode_data(&[
        r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi."}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    assert_eq!(error, None);
    let reply = fold(events);
    assert_eq!(
        reply.message,
        assistant(vec![
            Part::Reasoning {
                text: "hmm".into(),
                signature: None,
                provider: Some("anthropic".into()),
            },
            text("Hi."),
        ])
    );
    let req = request(vec![
        Message::user("hi"),
        reply.message,
        Message::user("and?"),
    ]);
    let body = body_of(&with_info(uncached(), true), &req, true);
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"type": "text", "text": "Hi."}])
    );
    // A whole body with an empty signature (a compatible server's) likewise.
    let whole = json!({
        "type": "message",
        "content": [{"type": "thinking", "thinking": "hmm", "signature": ""}],
        "stop_reason": "end_turn"
    });
    assert_eq!(
        protocol()
            .decode_body(whole.to_string().as_bytes())
            .unwrap(),
        vec![
            StreamEvent::ReasoningDelta {
                text: "hmm".into(),
                signature: None
            },
            StreamEvent::ReasoningEnd {
                signature: None,
                provider: Some("anthropic".into())
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn truncated_tool_json_is_passed_on_as_written_never_as_an_empty_object() {
    assert_eq!(
        fold_fixture("max_tokens.sse"),
        ModelResponse {
            message: assistant(vec![call(
                "toolu_01Wf6Ja3Ne8Rv2Lk5Qm9Xt4P",
                "write_file",
                r#"{"path": "src/lib.rs", "content": "fn ma"#
            )]),
            usage: usage(3100, 64, 0),
            finish_reason: FinishReason::Length,
        }
    );
}

#[test]
fn unknown_events_blocks_and_deltas_are_ignored() {
    assert_eq!(
        fold_fixture("unknown_blocks.sse"),
        ModelResponse {
            message: Message::assistant("The 2024 edition is stable."),
            usage: usage(820, 35, 0),
            finish_reason: FinishReason::Stop,
        }
    );
    // A delta or stop for a block that never started is dropped, and an
    // empty data line is skipped.
    let mut decoder = protocol().decoder();
    for data in [
        r#"{"type":"content_block_delta","index":7,"delta":{"type":"text_delta","text":"stray"}}"#,
        r#"{"type":"content_block_stop","index":7}"#,
        "",
    ] {
        assert_eq!(decoder.event(&event(data)).unwrap(), vec![], "{data}");
    }
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    let cases = [
        (json!("end_turn"), FinishReason::Stop),
        (json!("stop_sequence"), FinishReason::Stop),
        (json!("tool_use"), FinishReason::ToolCalls),
        (json!("max_tokens"), FinishReason::Length),
        (json!("model_context_window_exceeded"), FinishReason::Length),
        (json!("refusal"), FinishReason::ContentFilter),
        (
            json!("pause_turn"),
            FinishReason::Other("pause_turn".into()),
        ),
        (
            json!("brand_new_reason"),
            FinishReason::Other("brand_new_reason".into()),
        ),
        (Value::Null, FinishReason::Stop),
    ];
    for (stop_reason, expected) in cases {
        let delta =
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason}}).to_string();
        let (events, error) = decode_data(&[
            r#"{"type":"message_start","message":{}}"#,
            &delta,
            r#"{"type":"message_stop"}"#,
        ]);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![StreamEvent::Finish {
                reason: expected.clone()
            }],
            "{stop_reason}"
        );
    }
    // Without a stop reason, a reply that called tools finished for them.
    let (events, error) = decode_data(&[
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"git_status","input":{}}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    assert_eq!(error, None);
    assert_eq!(
        fold(events).finish_reason,
        FinishReason::ToolCalls,
        "no stop reason, but a call"
    );
}

#[test]
fn message_stop_closes_blocks_left_open() {
    let (events, error) = decode_data(&[
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"x","signature":"sig"}}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"grep","input":{}}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"pattern\":"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::ReasoningDelta {
                text: "x".into(),
                signature: None
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "grep".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"pattern\":".into()
            },
            StreamEvent::ReasoningEnd {
                signature: Some("sig".into()),
                provider: Some("anthropic".into())
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls
            },
        ]
    );
}

#[test]
fn an_overloaded_error_event_mid_stream_is_transient_after_the_events_so_far() {
    let (events, error) = decode("overloaded.sse");
    assert_eq!(
        events,
        vec![
            StreamEvent::Usage(usage(500, 1, 0)),
            StreamEvent::TextDelta {
                text: "Let me".into()
            },
        ]
    );
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail {
                status: None,
                body: r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#
                    .into(),
                message: "the provider reported an error inside its reply (`overloaded_error`): Overloaded".into(),
            },
        })
    );
}

#[test]
fn error_events_are_classified_by_type_and_message_and_end_the_stream() {
    let cases = [
        (
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
            ModelErrorKind::RateLimited,
        ),
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
            ModelErrorKind::ContextLength,
        ),
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#,
            ModelErrorKind::Quota,
        ),
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages.1: bad block"}}"#,
            ModelErrorKind::InvalidRequest,
        ),
        (
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            ModelErrorKind::Auth,
        ),
        (
            r#"{"type":"error","error":{"type":"brand_new_error","message":"Something new"}}"#,
            ModelErrorKind::Transient,
        ),
        (r#"{"type":"error"}"#, ModelErrorKind::Transient),
    ];
    for (data, kind) in cases {
        let mut decoder = protocol().decoder();
        let error = decoder.event(&event(data)).unwrap_err();
        assert_eq!(error.kind(), kind, "{data}: {error}");
        assert_eq!(error.detail().status, None);
        assert_eq!(error.detail().body, data);
        assert!(decoder.is_done(), "a failure ends the stream: {data}");
        assert_eq!(decoder.end().unwrap(), vec![], "{data}");
    }
    let mut decoder = protocol().decoder();
    assert_eq!(
        decoder.event(&event(r#"{"type":"error"}"#)).unwrap_err(),
        ModelError::Transient {
            detail: ErrorDetail {
                status: None,
                body: r#"{"type":"error"}"#.into(),
                message:
                    "the provider reported an error inside its reply (unnamed): no explanation"
                        .into(),
            },
        }
    );
    let mut decoder = protocol().decoder();
    let limited = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Slow down."}}"#;
    assert_eq!(
        decoder.event(&event(limited)).unwrap_err(),
        ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail {
                status: None,
                body: limited.into(),
                message: "the provider reported an error inside its reply (`rate_limit_error`): Slow down.".into(),
            },
        }
    );
}

#[test]
fn a_stream_cut_before_message_stop_is_transient_after_the_events_so_far() {
    let (events, error) = decode("cut.sse");
    assert_eq!(
        events,
        vec![
            StreamEvent::Usage(usage(700, 1, 0)),
            StreamEvent::TextDelta {
                text: "Partial".into()
            },
            StreamEvent::TextDelta {
                text: " answer".into()
            },
        ]
    );
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail::message(
                "the Anthropic stream ended early, before `message_stop`: the reply is \
                 incomplete; retry the call"
            ),
        })
    );
}

#[test]
fn malformed_or_incomplete_event_data_is_transient_and_keeps_the_data() {
    let cases = [
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"no index"}}"#,
        ),
        ("message", "<html>502 Bad Gateway</html>"),
    ];
    for (name, data) in cases {
        let mut decoder = protocol().decoder();
        let sse = SseEvent {
            event: name.into(),
            data: data.into(),
            id: None,
        };
        let error = decoder.event(&sse).unwrap_err();
        assert_eq!(error.kind(), ModelErrorKind::Transient, "{data}");
        assert_eq!(error.detail().body, data);
        let message = &error.detail().message;
        assert!(
            message.starts_with(&format!(
                "could not decode the Anthropic stream event `{name}` ("
            )),
            "{message}"
        );
        assert!(
            message.ends_with("); the stream is corrupt or cut, retry the call"),
            "{message}"
        );
    }
}

#[test]
fn events_after_message_stop_are_ignored_and_the_end_is_clean() {
    let mut decoder = protocol().decoder();
    assert_eq!(
        decoder.event(&event(r#"{"type":"message_stop"}"#)).unwrap(),
        vec![StreamEvent::Finish {
            reason: FinishReason::Stop
        }]
    );
    assert!(decoder.is_done());
    let late = event(
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}"#,
    );
    assert_eq!(decoder.event(&late).unwrap(), vec![]);
    assert_eq!(decoder.end().unwrap(), vec![]);
}

// ------------------------------------------------------------ whole bodies

#[test]
fn decodes_a_whole_text_body() {
    assert_eq!(
        protocol()
            .decode_body(fixture("body_text.json").as_bytes())
            .unwrap(),
        vec![
            StreamEvent::Usage(usage(1873 + 1024, 9, 1024)),
            StreamEvent::TextDelta {
                text: "The tests pass now.".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn decodes_a_whole_tool_use_body() {
    let events = protocol()
        .decode_body(fixture("body_tool_use.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                text("Let me look at both."),
                call(
                    "toolu_01Bd4Wn8Kq2Rx6Lv3Tm9Pc5H",
                    "read_file",
                    r#"{"path":"src/lib.rs","start_line":10}"#
                ),
                call("toolu_01Be5Xp9Lr3Sy7Mw4Un2Qd6J", "git_status", "{}"),
            ]),
            usage: usage(2210 + 300, 88, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_a_whole_thinking_body() {
    let events = protocol()
        .decode_body(fixture("body_thinking.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                thinking(
                    "The test needs a fixture file.",
                    "EqQBCkgIBxABGAIqQWholeBodySignatureForTests=="
                ),
                thinking("", "redacted_thinking:EmwKAhgBEgyWholeBodyRedactedData=="),
                text("I will add the fixture."),
                call(
                    "toolu_01Bf6Yq2Ms4Tz8Nx5Vo3Re7K",
                    "write_file",
                    r#"{"content":"ok","path":"tests/fixture.txt"}"#
                ),
            ]),
            usage: usage(900, 120, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn a_whole_error_body_is_classified() {
    let raw = fixture("body_error.json");
    assert_eq!(
        protocol().decode_body(raw.as_bytes()).unwrap_err(),
        ModelError::Transient {
            detail: ErrorDetail {
                status: None,
                body: raw.clone(),
                message: "the provider reported an error inside its reply (`overloaded_error`): Overloaded".into(),
            },
        }
    );
}

#[test]
fn a_whole_body_that_is_not_a_message_is_permanent_and_bounded() {
    let page = format!("<html>{}</html>", "x".repeat(10_000));
    let error = protocol().decode_body(page.as_bytes()).unwrap_err();
    assert_eq!(error.kind(), ModelErrorKind::Permanent);
    assert_eq!(error.detail().body, page[..4096]);
    assert!(
        error
            .detail()
            .message
            .ends_with("check that base_url points at the Messages API"),
        "{error}"
    );
}

// ------------------------------------------------------------ classification

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn error_body(kind: &str, message: &str) -> String {
    json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"
    })
    .to_string()
}

#[test]
fn http_errors_are_classified_by_type_and_message_then_status() {
    /// Status, headers, body, and the kind the error must be classified as.
    type Case = (u16, Vec<(String, String)>, String, ModelErrorKind);
    let none = headers(&[]);
    let cases: Vec<Case> = vec![
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "messages.1.content.0: unexpected `tool_use_id` found in `tool_result` blocks",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 197626 + 21333 > 200000, \
                 decrease input length or `max_tokens` and try again",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to \
                 Plans & Billing to upgrade or purchase credits.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "You have reached your specified API usage limits. You will regain access on \
                 2025-11-01 at 00:00 UTC.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            401,
            none.clone(),
            error_body("authentication_error", "invalid x-api-key"),
            ModelErrorKind::Auth,
        ),
        (
            402,
            none.clone(),
            error_body("billing_error", "Payment required."),
            ModelErrorKind::Quota,
        ),
        (
            403,
            none.clone(),
            error_body(
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            ModelErrorKind::Auth,
        ),
        (
            404,
            none.clone(),
            error_body("not_found_error", "model: claude-sonnet-9"),
            ModelErrorKind::InvalidRequest,
        ),
        (
            413,
            none.clone(),
            error_body(
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            413,
            none.clone(),
            "<html><head><title>413 Request Entity Too Large</title></head></html>".into(),
            ModelErrorKind::ContextLength,
        ),
        (
            429,
            none.clone(),
            error_body(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests \
                 per minute.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            // The monthly spend cap of a usage tier: told apart by its code.
            429,
            none.clone(),
            json!({
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "Your organization has paused API access until next month.",
                    "details": {"error_code": "enforced_spend_limit_reached"}
                }
            })
            .to_string(),
            ModelErrorKind::Quota,
        ),
        (
            429,
            headers(&[("x-should-retry", "true")]),
            error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            500,
            none.clone(),
            error_body("api_error", "Internal server error"),
            ModelErrorKind::Transient,
        ),
        (
            504,
            none.clone(),
            error_body("timeout_error", "Request timed out"),
            ModelErrorKind::Transient,
        ),
        (
            529,
            none.clone(),
            error_body("overloaded_error", "Overloaded"),
            ModelErrorKind::Transient,
        ),
        (
            529,
            headers(&[("x-should-retry", "false")]),
            error_body("overloaded_error", "Overloaded"),
            ModelErrorKind::Permanent,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            error_body("invalid_request_error", "Try again."),
            ModelErrorKind::Transient,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            error_body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            502,
            none.clone(),
            "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            ModelErrorKind::Transient,
        ),
        (
            502,
            none.clone(),
            r#"{"error":"upstream connect error"}"#.into(),
            ModelErrorKind::Transient,
        ),
        (503, none.clone(), String::new(), ModelErrorKind::Transient),
    ];
    for (status, headers, body, kind) in cases {
        let error = protocol().classify_error(status, &headers, &body);
        assert_eq!(error.kind(), kind, "{status} {body}: {error}");
        assert_eq!(error.detail().status, Some(status));
        assert_eq!(error.detail().body, body);
    }
}

#[test]
fn http_error_details_keep_the_message_and_the_wait() {
    let body = error_body("rate_limit_error", "Slow down.");
    assert_eq!(
        protocol().classify_error(429, &headers(&[("retry-after", "17")]), &body),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(17)),
            detail: ErrorDetail::http(429, body.clone(), "Slow down."),
        }
    );
    assert_eq!(
        protocol().classify_error(429, &[], &body),
        ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail::http(429, body.clone(), "Slow down."),
        }
    );
    let overloaded = error_body("overloaded_error", "Overloaded");
    assert_eq!(
        protocol().classify_error(529, &headers(&[("retry-after", "5")]), &overloaded),
        ModelError::Transient {
            detail: ErrorDetail::http(529, overloaded.clone(), "Overloaded"),
        }
    );
    let credit = error_body(
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & \
         Billing to upgrade or purchase credits.",
    );
    assert_eq!(
        protocol().classify_error(400, &[], &credit),
        ModelError::Quota {
            detail: ErrorDetail::http(
                400,
                credit.clone(),
                "Your credit balance is too low to access the Anthropic API. Please go to \
                 Plans & Billing to upgrade or purchase credits."
            ),
        }
    );
    let too_long = error_body(
        "invalid_request_error",
        "prompt is too long: 208310 tokens > 200000 maximum",
    );
    assert_eq!(
        protocol().classify_error(400, &[], &too_long),
        ModelError::ContextLength {
            detail: ErrorDetail::http(
                400,
                too_long.clone(),
                "prompt is too long: 208310 tokens > 200000 maximum"
            ),
        }
    );
}

#[test]
fn a_non_json_error_page_is_transient_with_a_bounded_body() {
    let page = format!(
        "<html><body><h1>502 Bad Gateway</h1>{}</body></html>",
        "<p>upstream</p>".repeat(500)
    );
    let error = protocol().classify_error(502, &[], &page);
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert_eq!(error.detail().status, Some(502));
    assert_eq!(
        error.detail().message,
        "the provider answered HTTP 502 with no explanation"
    );
    assert_eq!(
        error.detail().body,
        format!("{}… ({} bytes in all)", &page[..4096], page.len())
    );
}

#[test]
fn one_call_per_reply_is_asked_with_disable_parallel_tool_use_except_with_none() {
    let config = AnthropicConfig {
        parallel_tool_calls: Some(false),
        ..AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-test")
    };
    let protocol = with_info(config, false);
    let mut req = request(vec![Message::user("Fix it.")]);
    req.tools = tools();
    let choice = |choice: ToolChoice| {
        let mut req = req.clone();
        req.tool_choice = choice;
        body_of(&protocol, &req, true)["tool_choice"].clone()
    };
    assert_eq!(
        choice(ToolChoice::Auto),
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        choice(ToolChoice::Tool {
            name: "read_file".into()
        }),
        json!({"type": "tool", "name": "read_file", "disable_parallel_tool_use": true})
    );
    assert_eq!(choice(ToolChoice::None), json!({"type": "none"}));
    // By default the API's own default (parallel calls) is left alone.
    assert_eq!(
        body_of(&protocol_default(), &req, true)["tool_choice"],
        json!({"type": "auto"})
    );
}

fn protocol_default() -> Anthropic {
    with_info(
        AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-test"),
        false,
    )
}
