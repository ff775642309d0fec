//! The Anthropic Messages API wire format: request bodies (insta snapshots
//! and exact values), decoding of recorded-shape streams and whole bodies
//! (whole values), the round trip of thinking blocks and calls across
//! turns, and error classification.
//!
//! This file holds the request tests (their snapshots live in
//! `snapshots/` next to it) and the helpers the modules share; [`decode`]
//! holds streams and whole bodies, [`classify`] error classification.

#[path = "../support/mod.rs"]
mod support;

mod classify;
mod decode;

use agentkit_core::message::{Message, Part};
use agentkit_core::model::{
    Capabilities, ErrorDetail, ModelError, ModelInfo, ReasoningEffort, ToolChoice,
};
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_llm::Protocol;
use agentkit_llm::anthropic::{Anthropic, AnthropicConfig, REDACTED_THINKING_PREFIX};
use serde_json::{Value, json};
use support::conversation::{assistant, call, failed, request, result, text, user};
use support::wire::body_of;

// ------------------------------------------------------------------ helpers

/// The directory of this protocol's fixtures under `tests/fixtures/`.
const FIXTURES: &str = "anthropic";

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

fn thinking(text: &str, signature: &str) -> Part {
    Part::Reasoning {
        text: text.into(),
        signature: Some(signature.into()),
        provider: Some("anthropic".into()),
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

fn protocol_default() -> Anthropic {
    with_info(
        AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-test"),
        false,
    )
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
