//! The OpenAI Chat Completions wire format, as OpenAI and the servers that
//! copy it (vLLM, llama.cpp, Ollama, OpenRouter, DeepSeek) speak it: request
//! bodies (insta snapshots) and headers, decoding of recorded-shape streams
//! and whole bodies (whole values), and error classification.
//!
//! Streams are fed through the real SSE parser and driven like
//! `HttpModel` drives them. Model info is pinned in every test, so nothing
//! depends on the catalog.
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
    Capabilities, ErrorDetail, ModelError, ModelErrorKind, ModelInfo, ReasoningEffort, ToolChoice,
};
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_llm::Protocol;
use agentkit_llm::openai::chat::{ChatQuirks, OpenAiChat, OpenAiChatConfig, SystemRole};
use serde_json::{Value, json};
use support::conversation::{assistant, call, failed, request, result, text, user};
use support::wire::{body_of, headers};

// ------------------------------------------------------------------ helpers

/// The directory of this protocol's fixtures under `tests/fixtures/`.
const FIXTURES: &str = "openai_chat";

/// Pins the model's info: tests must not depend on the catalog.
fn with_info(config: OpenAiChatConfig, reasoning: bool) -> OpenAiChat {
    let info = ModelInfo {
        name: config.model.clone(),
        provider: config.provider_label.clone(),
        context_window: 128_000,
        max_output_tokens: 32_768,
        pricing: None,
        capabilities: Capabilities {
            reasoning,
            ..Capabilities::default()
        },
    };
    OpenAiChat::new(config.with_info(info))
}

/// OpenAI's `gpt-4.1`, which does not reason.
fn protocol() -> OpenAiChat {
    with_info(OpenAiChatConfig::openai("gpt-4.1", "sk-test-secret"), false)
}

/// A local vLLM server without a key.
fn vllm() -> OpenAiChat {
    with_info(
        OpenAiChatConfig::compatible("http://localhost:8000/v1", "Qwen/Qwen3-8B", None),
        false,
    )
}

fn reasoning(text: &str) -> Part {
    Part::Reasoning {
        text: text.into(),
        signature: None,
        provider: None,
    }
}

fn tool(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
        annotations: ToolAnnotations::default(),
    }
}

/// Three tools: a full schema as schemars writes one (`$schema`, `title`,
/// `$defs`, nullable fields), a tool without parameters (`null`), and one
/// whose schema is an empty object.
fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            "edit_file",
            "Replaces exact text in a file.",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "EditFileArgs",
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative path."},
                    "edits": {"type": "array", "items": {"$ref": "#/$defs/Edit"}},
                    "dry_run": {"type": ["boolean", "null"], "default": null}
                },
                "required": ["path", "edits"],
                "additionalProperties": false,
                "$defs": {
                    "Edit": {
                        "type": "object",
                        "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                        "required": ["old", "new"]
                    }
                }
            }),
        ),
        tool("git_status", "Shows the working tree status.", Value::Null),
        tool("list_dir", "Lists the workspace root.", json!({})),
    ]
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
fn reasoning_model_request_body_uses_the_developer_role_and_sends_the_effort() {
    let protocol = with_info(OpenAiChatConfig::openai("o4-mini", "sk-test-secret"), true);
    let mut req = request(vec![Message::user("Think hard.")]);
    req.reasoning_effort = Some(ReasoningEffort::High);
    req.max_output_tokens = Some(8192);
    insta::assert_json_snapshot!("reasoning_model", body_of(&protocol, &req, true));
}

#[test]
fn compatible_server_request_body_uses_max_tokens_and_a_system_message() {
    let mut req = request(vec![Message::user("Fix the failing test.")]);
    req.max_output_tokens = Some(2048);
    req.temperature = Some(0.2);
    insta::assert_json_snapshot!("compatible_whole", body_of(&vllm(), &req, false));
}

#[test]
fn tools_and_history_request_body() {
    let config =
        OpenAiChatConfig::openai("gpt-4.1", "sk-test-secret").with_parallel_tool_calls(true);
    let mut req = request(vec![
        Message::user("Why does `cargo test` fail?"),
        // Calls without text: `content` must be "" (llama.cpp rejects null).
        // Reasoning is dropped: Chat Completions cannot take it back.
        assistant(vec![
            reasoning("Look at the status first."),
            call("call_1", "git_status", "{}"),
            call("call_2", "edit_file", r#"{"path":"src/lib.rs","edits":[]}"#),
        ]),
        // Results go first, as `tool` messages, before the user's text;
        // a failed call's result is marked as an error.
        user(vec![
            text("Also check the CI config."),
            result("call_1", "git_status", "clean"),
            failed("call_2", "edit_file", "no edits given"),
        ]),
        assistant(vec![
            text("Retrying with one edit."),
            call(
                "call_3",
                "edit_file",
                r#"{"path":"src/lib.rs","edits":[{"old":"a","new":"b"}]}"#,
            ),
        ]),
        user(vec![result("call_3", "edit_file", "edited 1 place")]),
    ]);
    req.tools = tools();
    req.max_output_tokens = Some(4096);
    req.temperature = Some(0.2);
    insta::assert_json_snapshot!(
        "tools_and_history",
        body_of(&with_info(config, false), &req, true)
    );
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
                name: "edit_file".into(),
            },
        ),
    ];
    let sent: serde_json::Map<String, Value> = choices
        .into_iter()
        .map(|(label, choice)| {
            let mut req = request(vec![Message::user("go")]);
            req.tools = tools();
            req.tool_choice = choice;
            let body = body_of(&protocol(), &req, true);
            let sent = body
                .get("tool_choice")
                .cloned()
                .unwrap_or_else(|| "<not sent>".into());
            (label.to_owned(), sent)
        })
        .collect();
    insta::assert_json_snapshot!("tool_choice_variants", sent);
}

#[test]
fn a_named_tool_choice_outside_the_tools_is_an_invalid_request() {
    let mut req = request(vec![Message::user("go")]);
    req.tools = tools();
    req.tool_choice = ToolChoice::Tool {
        name: "delete_repo".into(),
    };
    assert_eq!(
        protocol().build_request(&req, true).unwrap_err(),
        ModelError::InvalidRequest {
            detail: ErrorDetail::message(
                "tool_choice names tool `delete_repo`, which is not among the request's tools \
                 (edit_file, git_status, list_dir); name one of them or add the tool"
            ),
        }
    );
}

#[test]
fn without_tools_no_tool_choice_or_parallel_flag_is_sent() {
    let config = OpenAiChatConfig::openai("gpt-4.1", "k").with_parallel_tool_calls(false);
    let mut req = request(vec![Message::user("go")]);
    req.tool_choice = ToolChoice::Required;
    let body = body_of(&with_info(config.clone(), false), &req, true);
    assert_eq!(body.get("tools"), None);
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(body.get("parallel_tool_calls"), None);

    req.tools = tools();
    let body = body_of(&with_info(config, false), &req, true);
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["tool_choice"], "required");
}

#[test]
fn request_goes_to_chat_completions_with_the_key_org_project_and_extra_headers() {
    let config = OpenAiChatConfig::openai("gpt-4.1", "sk-test-secret")
        .with_organization("org-1")
        .with_project("proj-1")
        .with_header("X-Title", "agentkit");
    let http = with_info(config, false)
        .build_request(&request(vec![Message::user("hi")]), true)
        .unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(
        http.headers,
        headers(&[
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
            ("authorization", "Bearer sk-test-secret"),
            ("openai-organization", "org-1"),
            ("openai-project", "proj-1"),
            ("x-title", "agentkit"),
        ])
    );
}

#[test]
fn no_authorization_header_without_a_key_or_with_an_empty_one() {
    let req = request(vec![Message::user("hi")]);
    let without = vllm().build_request(&req, true).unwrap();
    let empty = with_info(
        OpenAiChatConfig::compatible("http://localhost:11434/v1", "qwen3:8b", Some(String::new())),
        false,
    )
    .build_request(&req, true)
    .unwrap();
    for http in [without, empty] {
        assert_eq!(
            http.headers,
            headers(&[
                ("content-type", "application/json"),
                ("accept", "text/event-stream")
            ])
        );
    }
}

#[test]
fn the_endpoint_is_the_base_url_with_or_without_a_trailing_slash() {
    let req = request(vec![Message::user("hi")]);
    for base in ["http://localhost:8080/v1", "http://localhost:8080/v1/"] {
        let config = OpenAiChatConfig::compatible(base, "local", None);
        assert_eq!(
            with_info(config, false)
                .build_request(&req, true)
                .unwrap()
                .url,
            "http://localhost:8080/v1/chat/completions",
            "{base}"
        );
    }
}

#[test]
fn temperature_is_sent_as_the_decimal_written() {
    let mut req = request(vec![Message::user("hi")]);
    req.temperature = Some(0.2);
    let http = protocol().build_request(&req, true).unwrap();
    let raw = std::str::from_utf8(&http.body).unwrap();
    let (_, after) = raw.split_once(r#""temperature":"#).unwrap();
    let number: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert_eq!(number, "0.2", "{raw}");

    req.temperature = Some(f32::NAN);
    assert_eq!(
        protocol().build_request(&req, true).unwrap_err().kind(),
        ModelErrorKind::InvalidRequest
    );
}

#[test]
fn the_output_cap_goes_in_the_field_the_server_knows() {
    let mut req = request(vec![Message::user("hi")]);
    req.max_output_tokens = Some(1000);
    let openai = body_of(&protocol(), &req, true);
    assert_eq!(openai["max_completion_tokens"], 1000);
    assert_eq!(openai.get("max_tokens"), None);
    let compatible = body_of(&vllm(), &req, true);
    assert_eq!(compatible["max_tokens"], 1000);
    assert_eq!(compatible.get("max_completion_tokens"), None);

    req.max_output_tokens = None;
    let body = body_of(&protocol(), &req, true);
    assert_eq!(
        (body.get("max_tokens"), body.get("max_completion_tokens")),
        (None, None)
    );
}

#[test]
fn stream_options_are_sent_only_when_streaming_and_enabled() {
    let req = request(vec![Message::user("hi")]);
    let streamed = body_of(&protocol(), &req, true);
    assert_eq!(streamed["stream"], true);
    assert_eq!(streamed["stream_options"], json!({"include_usage": true}));

    let whole = body_of(&protocol(), &req, false);
    assert_eq!(
        (whole.get("stream"), whole.get("stream_options")),
        (None, None)
    );

    let config = OpenAiChatConfig::compatible("http://localhost:8080/v1", "m", None)
        .with_usage_in_stream(false);
    let body = body_of(&with_info(config, false), &req, true);
    assert_eq!(body["stream"], true);
    assert_eq!(body.get("stream_options"), None);
}

#[test]
fn reasoning_effort_is_sent_only_to_reasoning_models_or_when_configured() {
    let mut req = request(vec![Message::user("hi")]);
    req.reasoning_effort = Some(ReasoningEffort::High);
    assert_eq!(
        body_of(&protocol(), &req, true).get("reasoning_effort"),
        None,
        "OpenAI rejects reasoning_effort for a model that does not reason"
    );
    let reasoner = with_info(OpenAiChatConfig::openai("gpt-5", "k"), true);
    assert_eq!(body_of(&reasoner, &req, true)["reasoning_effort"], "high");

    let configured = with_info(
        OpenAiChatConfig::compatible("http://localhost:8000/v1", "openai/gpt-oss-20b", None)
            .with_reasoning_effort(ReasoningEffort::Low),
        false,
    );
    assert_eq!(
        body_of(&configured, &req, true)["reasoning_effort"],
        "high",
        "the request's effort wins over the configured default"
    );
    req.reasoning_effort = None;
    assert_eq!(body_of(&configured, &req, true)["reasoning_effort"], "low");
    assert_eq!(body_of(&reasoner, &req, true).get("reasoning_effort"), None);
}

#[test]
fn the_system_prompt_role_follows_the_quirks_and_an_empty_prompt_is_left_out() {
    let role_for = |config: OpenAiChatConfig| {
        body_of(
            &with_info(config, false),
            &request(vec![Message::user("hi")]),
            true,
        )["messages"][0]["role"]
            .clone()
    };
    assert_eq!(role_for(OpenAiChatConfig::openai("gpt-4.1", "k")), "system");
    assert_eq!(
        role_for(OpenAiChatConfig::openai("gpt-5-mini", "k")),
        "developer"
    );
    assert_eq!(role_for(OpenAiChatConfig::openai("o3", "k")), "developer");
    assert_eq!(
        role_for(OpenAiChatConfig::compatible(
            "http://h/v1",
            "o3-local",
            None
        )),
        "system",
        "compatible servers always get `system`"
    );
    let mut developer = ChatQuirks::compatible();
    developer.system_role = SystemRole::Developer;
    assert_eq!(
        role_for(OpenAiChatConfig::compatible("http://h/v1", "m", None).with_quirks(developer)),
        "developer"
    );

    let mut req = request(vec![Message::user("hi")]);
    req.system = String::new();
    assert_eq!(
        body_of(&protocol(), &req, true)["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
}

#[test]
fn schemas_that_are_not_objects_are_invalid_requests() {
    let mut req = request(vec![Message::user("go")]);
    req.tools = vec![tool("count", "Counts.", json!({"type": "integer"}))];
    assert_eq!(
        protocol().build_request(&req, true).unwrap_err(),
        ModelError::InvalidRequest {
            detail: ErrorDetail::message(
                "tool `count` takes arguments of type \"integer\", but OpenAI requires an \
                 object; wrap the arguments in a struct"
            ),
        }
    );
    req.tools = vec![tool("count", "Counts.", json!(["not", "a", "schema"]))];
    assert_eq!(
        protocol().build_request(&req, true).unwrap_err().kind(),
        ModelErrorKind::InvalidRequest
    );
}

#[test]
fn parts_in_the_wrong_role_are_invalid_requests() {
    let misplaced_call = request(vec![user(vec![call("call_1", "git_status", "{}")])]);
    assert_eq!(
        protocol()
            .build_request(&misplaced_call, true)
            .unwrap_err()
            .detail()
            .message,
        "message 0 is a user message holding tool call `call_1`; tool calls belong in \
         assistant messages"
    );
    let misplaced_result = request(vec![
        Message::user("go"),
        assistant(vec![result("call_1", "git_status", "clean")]),
    ]);
    assert_eq!(
        protocol()
            .build_request(&misplaced_result, true)
            .unwrap_err()
            .detail()
            .message,
        "message 1 is an assistant message holding the result of call `call_1`; tool \
         results belong in user messages"
    );
}

#[test]
fn with_info_overrides_the_catalog() {
    let protocol = with_info(
        OpenAiChatConfig::compatible("http://localhost:8000/v1", "my-finetune", None),
        true,
    );
    assert_eq!(protocol.info().name, "my-finetune");
    assert_eq!(protocol.info().provider, "openai-compatible");
    assert_eq!(protocol.info().context_window, 128_000);
    assert!(protocol.info().capabilities.reasoning);
}
