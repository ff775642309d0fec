//! The OpenAI Chat Completions wire format, as OpenAI and the servers that
//! copy it (vLLM, llama.cpp, Ollama, OpenRouter, DeepSeek) speak it: request
//! bodies (insta snapshots) and headers, decoding of recorded-shape streams
//! and whole bodies (whole values), and error classification.
//!
//! Streams are fed through the real SSE parser and driven like
//! `HttpModel` drives them. Model info is pinned in every test, so nothing
//! depends on the catalog.

mod support;

use std::time::Duration;

use agentkit_core::message::{Message, Part, ToolCall};
use agentkit_core::model::{
    Capabilities, ErrorDetail, FinishReason, ModelError, ModelErrorKind, ModelInfo, ModelRequest,
    ModelResponse, ReasoningEffort, ResponseFolder, StreamEvent, ToolChoice,
};
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_core::usage::Usage;
use agentkit_llm::Protocol;
use agentkit_llm::openai::chat::{ChatQuirks, OpenAiChat, OpenAiChatConfig, SystemRole};
use agentkit_llm::sse::SseParser;
use serde_json::{Value, json};
use support::conversation::{assistant, call, failed, result, text, user};

// ------------------------------------------------------------------ helpers

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/openai_chat/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

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

/// Decodes a body the way `HttpModel` does: the body goes through the SSE
/// parser in pieces of `piece` bytes; each event reaches the decoder until
/// it is done; at the end of the body the parser's last event and then the
/// decoder's `end`. Returns every event, then the first error.
fn decode_in_pieces(body: &[u8], piece: usize) -> (Vec<StreamEvent>, Option<ModelError>) {
    let mut decoder = protocol().decoder();
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in body.chunks(piece) {
        for event in parser.push(chunk) {
            if decoder.is_done() {
                break;
            }
            match decoder.event(&event) {
                Ok(more) => events.extend(more),
                Err(error) => return (events, Some(error)),
            }
        }
    }
    if let Some(event) = parser.finish()
        && !decoder.is_done()
    {
        match decoder.event(&event) {
            Ok(more) => events.extend(more),
            Err(error) => return (events, Some(error)),
        }
    }
    match decoder.end() {
        Ok(more) => events.extend(more),
        Err(error) => return (events, Some(error)),
    }
    (events, None)
}

/// Decodes a fixture, delivered in one piece.
fn decode(name: &str) -> (Vec<StreamEvent>, Option<ModelError>) {
    decode_in_pieces(fixture(name).as_bytes(), usize::MAX)
}

/// Decodes `data:` payloads written inline, each as its own event.
fn decode_data(payloads: &[&str]) -> (Vec<StreamEvent>, Option<ModelError>) {
    let body: String = payloads.iter().map(|p| format!("data: {p}\n\n")).collect();
    decode_in_pieces(body.as_bytes(), usize::MAX)
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

/// The `data` of the fixture's last event (where its error is).
fn last_data(name: &str) -> String {
    let mut parser = SseParser::new();
    let mut events = parser.push(fixture(name).as_bytes());
    events.extend(parser.finish());
    events.pop().unwrap().data
}

/// A stream chunk with `delta` as its only choice's delta, no finish reason.
fn delta(delta: Value) -> String {
    json!({
        "id": "chatcmpl-inline",
        "object": "chat.completion.chunk",
        "created": 1_756_372_800,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]
    })
    .to_string()
}

/// A stream chunk that ends the reply with `reason`.
fn finish(reason: &str) -> String {
    json!({
        "id": "chatcmpl-inline",
        "object": "chat.completion.chunk",
        "created": 1_756_372_800,
        "model": "test-model",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]
    })
    .to_string()
}

fn usage(input: u64, output: u64, cached: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_tokens: reasoning,
    }
}

fn reasoning(text: &str) -> Part {
    Part::Reasoning {
        text: text.into(),
        signature: None,
        provider: None,
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

fn body_of(protocol: &OpenAiChat, request: &ModelRequest, stream: bool) -> Value {
    let http = protocol.build_request(request, stream).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
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

// ------------------------------------------------------------------ streams

#[test]
fn decodes_a_text_reply_with_the_usage_chunk_before_finish() {
    let (events, error) = decode("text.sse");
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "The".into() },
            StreamEvent::TextDelta {
                text: " tests".into()
            },
            StreamEvent::TextDelta {
                text: " pass".into()
            },
            StreamEvent::TextDelta {
                text: " now.".into()
            },
            StreamEvent::Usage(usage(1234, 9, 1024, 0)),
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn a_stream_split_into_any_pieces_decodes_the_same() {
    let body = fixture("tool_call.sse");
    let (whole, error) = decode_in_pieces(body.as_bytes(), usize::MAX);
    assert_eq!(error, None);
    for piece in [1, 2, 7, 64] {
        assert_eq!(
            decode_in_pieces(body.as_bytes(), piece),
            (whole.clone(), None),
            "pieces of {piece} bytes"
        );
    }
}

#[test]
fn decodes_one_tool_call_streamed_in_argument_deltas() {
    let (events, error) = decode("tool_call.sse");
    assert_eq!(error, None);
    let fragments = [
        "{\"", "path", "\":\"", "src", "/lib", ".rs", "\",\"", "start", "_line", "\":", "10", "}",
    ];
    let mut expected = vec![
        StreamEvent::TextDelta {
            text: "Let me read".into(),
        },
        StreamEvent::TextDelta {
            text: " the file.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_Qm3FdtW5yN0v8bXk1L2p".into(),
            name: "read_file".into(),
        },
    ];
    expected.extend(fragments.iter().map(|f| StreamEvent::ToolCallDelta {
        index: 0,
        arguments: (*f).into(),
    }));
    expected.extend([
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::Usage(usage(2048, 41, 0, 0)),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
    ]);
    assert_eq!(events, expected);
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                text("Let me read the file."),
                call(
                    "call_Qm3FdtW5yN0v8bXk1L2p",
                    "read_file",
                    r#"{"path":"src/lib.rs","start_line":10}"#
                ),
            ]),
            usage: usage(2048, 41, 0, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_parallel_calls_and_ends_them_all_at_the_finish_reason() {
    let (events, error) = decode("parallel_calls.sse");
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
                id: "call_AAAA1111grep".into(),
                name: "grep".into()
            },
            &StreamEvent::ToolCallStart {
                index: 1,
                id: "call_BBBB2222list".into(),
                name: "list_dir".into()
            },
            &StreamEvent::ToolCallStart {
                index: 2,
                id: "call_CCCC3333stat".into(),
                name: "git_status".into()
            },
            &StreamEvent::ToolCallEnd { index: 0 },
            &StreamEvent::ToolCallEnd { index: 1 },
            &StreamEvent::ToolCallEnd { index: 2 },
        ]
    );
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                call(
                    "call_AAAA1111grep",
                    "grep",
                    r#"{"pattern":"fn main","path":"src"}"#
                ),
                call("call_BBBB2222list", "list_dir", r#"{"path":"tests"}"#),
                call("call_CCCC3333stat", "git_status", "{}"),
            ]),
            usage: usage(3000, 60, 2048, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn interleaved_argument_fragments_stay_with_their_call() {
    assert_eq!(
        fold_fixture("interleaved_calls.sse"),
        ModelResponse {
            message: assistant(vec![
                call("call_Inter0000read", "read_file", r#"{"path":"a.rs"}"#),
                call("call_Inter1111grep", "grep", r#"{"pattern":"todo!"}"#),
            ]),
            usage: Usage::default(),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn llama_cpp_repeating_id_and_name_on_every_chunk_gives_one_call_each() {
    let (events, error) = decode("llamacpp_tool_calls.sse");
    assert_eq!(error, None);
    let starts = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCallStart { .. }))
        .count();
    assert_eq!(starts, 2);
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                call(
                    "Fz3Jq8WmYc0RtL5pNvXb2KdHs7AeGu1o",
                    "read_file",
                    r#"{"path": "Cargo.toml"}"#
                ),
                call(
                    "Tn6Vb1XqZs9PwK3mLc8RjYd0Hf4EaGu2",
                    "grep",
                    r#"{"pattern": "edition"}"#
                ),
            ]),
            usage: usage(412, 38, 0, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn calls_without_index_are_matched_by_id_then_by_the_last_call() {
    // Gemini's and older Ollama's shape; Gemini also finishes calls with `stop`.
    assert_eq!(
        fold_fixture("no_index_calls.sse"),
        ModelResponse {
            message: assistant(vec![
                call("function-call-1", "read_file", r#"{"path":"a.rs"}"#),
                call("function-call-2", "grep", r#"{"pattern":"unwrap"}"#),
            ]),
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
        }
    );
}

#[test]
fn calls_all_at_index_zero_are_told_apart_by_id() {
    assert_eq!(
        fold_fixture("index_zero_calls.sse"),
        ModelResponse {
            message: assistant(vec![
                call("Xk3Pq9Lm2", "read_file", r#"{"path": "a.rs"}"#),
                call("Rt7Vb1Nc4", "read_file", r#"{"path": "b.rs"}"#),
            ]),
            usage: Usage::default(),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn whole_arguments_in_one_chunk_after_reasoning_ollama() {
    let (events, error) = decode("ollama_whole_arguments.sse");
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::ReasoningDelta {
                text: "I need the manifest.".into(),
                signature: None
            },
            StreamEvent::ReasoningEnd {
                signature: None,
                provider: None
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_k3d9x2qa".into(),
                name: "read_file".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"path":"Cargo.toml"}"#.into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::Usage(usage(333, 27, 0, 0)),
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls
            },
        ]
    );
}

#[test]
fn arguments_sent_as_a_json_object_are_passed_on_as_json_text() {
    let (events, error) = decode_data(&[
        &delta(json!({"tool_calls": [{
            "index": 0, "id": "call_obj", "type": "function",
            "function": {"name": "read_file", "arguments": {"path": "a.rs", "line": 3}}
        }]})),
        &finish("tool_calls"),
        "[DONE]",
    ]);
    assert_eq!(error, None);
    let response = fold(events);
    let calls: Vec<&ToolCall> = response.message.tool_calls().collect();
    let [call] = calls.as_slice() else {
        panic!("one call expected: {response:?}");
    };
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("call_obj", "read_file")
    );
    // Compared as JSON: the key order of the re-serialised object is serde_json's.
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"path": "a.rs", "line": 3})
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
}

#[test]
fn a_call_without_arguments_gets_an_empty_object() {
    let (events, error) = decode_data(&[
        &delta(json!({"tool_calls": [{
            "index": 0, "id": "call_status", "type": "function",
            "function": {"name": "git_status", "arguments": ""}
        }]})),
        &finish("tool_calls"),
        "[DONE]",
    ]);
    assert_eq!(error, None);
    assert_eq!(
        fold(events).message,
        assistant(vec![call("call_status", "git_status", "{}")])
    );
}

#[test]
fn vllm_reasoning_content_then_a_call() {
    // Qwen3 writes "\n\n" after its thinking; it is text like any other.
    assert_eq!(
        fold_fixture("vllm_reasoning_tool_call.sse"),
        ModelResponse {
            message: assistant(vec![
                reasoning("The user wants the failing test. I should run it."),
                text("\n\n"),
                call(
                    "chatcmpl-tool-6e1bf1a4c3a24b61a7e4c5d8",
                    "run_command",
                    r#"{"command": "cargo test"}"#
                ),
            ]),
            usage: usage(812, 59, 0, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn deepseek_reasoning_content_with_cached_and_reasoning_tokens() {
    assert_eq!(
        fold_fixture("deepseek_reasoning.sse"),
        ModelResponse {
            message: assistant(vec![
                reasoning("Check the parser first."),
                text("The bug is in `parse`."),
            ]),
            usage: usage(640, 120, 512, 96),
            finish_reason: FinishReason::Stop,
        }
    );
}

#[test]
fn openrouter_reasoning_field_and_processing_comments() {
    assert_eq!(
        fold_fixture("openrouter_reasoning.sse"),
        ModelResponse {
            message: assistant(vec![
                reasoning("**Planning the fix**\n\nRead the test first."),
                text("Reading the test."),
            ]),
            usage: usage(1500, 300, 1024, 256),
            finish_reason: FinishReason::Stop,
        }
    );
}

#[test]
fn deepseek_cache_hit_tokens_count_as_cached_without_prompt_details() {
    let (events, error) = decode_data(&[
        &delta(json!({"content": "ok"})),
        &finish("stop"),
        r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":2,"total_tokens":102,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#,
        "[DONE]",
    ]);
    assert_eq!(error, None);
    assert_eq!(fold(events).usage, usage(100, 2, 64, 0));
}

#[test]
fn missing_usage_leaves_zero_and_an_empty_usage_object_overwrites_nothing() {
    let (events, error) =
        decode_data(&[&delta(json!({"content": "ok"})), &finish("stop"), "[DONE]"]);
    assert_eq!(error, None);
    assert_eq!(fold(events).usage, Usage::default());

    let (events, error) = decode_data(&[
        &delta(json!({"content": "ok"})),
        &finish("stop"),
        r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}"#,
        r#"{"choices":[],"usage":{}}"#,
        "[DONE]",
    ]);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "ok".into() },
            StreamEvent::Usage(usage(10, 2, 0, 0)),
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn a_reply_cut_by_length_keeps_truncated_arguments_as_written() {
    assert_eq!(
        fold_fixture("length.sse"),
        ModelResponse {
            message: assistant(vec![call(
                "call_Len0write",
                "write_file",
                r#"{"path": "src/main.rs", "content": "fn ma"#
            )]),
            usage: usage(900, 16, 0, 0),
            finish_reason: FinishReason::Length,
        }
    );
}

#[test]
fn a_content_filter_finish_is_reported() {
    assert_eq!(
        fold_fixture("content_filter.sse"),
        ModelResponse {
            message: Message::assistant("I can"),
            usage: usage(50, 2, 0, 0),
            finish_reason: FinishReason::ContentFilter,
        }
    );
}

#[test]
fn finish_reasons_map_and_unknown_ones_are_kept_as_other() {
    let reason = |r: &str| {
        let (events, error) = decode_data(&[&delta(json!({"content": "x"})), &finish(r), "[DONE]"]);
        assert_eq!(error, None, "{r}");
        fold(events).finish_reason
    };
    assert_eq!(reason("stop"), FinishReason::Stop);
    assert_eq!(reason("length"), FinishReason::Length);
    assert_eq!(reason("content_filter"), FinishReason::ContentFilter);
    assert_eq!(reason("tool_calls"), FinishReason::ToolCalls);
    assert_eq!(reason("function_call"), FinishReason::ToolCalls);
    // Text Generation Inference's name for a natural stop.
    assert_eq!(reason("eos_token"), FinishReason::Other("eos_token".into()));
}

#[test]
fn a_finish_reason_without_done_is_a_complete_reply() {
    let (events, error) = decode("no_done.sse");
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta {
                text: "Done.".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn a_stream_cut_before_the_finish_reason_is_transient_after_what_arrived() {
    let (events, error) = decode("cut.sse");
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta {
                text: "Partial".into()
            },
            StreamEvent::TextDelta {
                text: " answer".into()
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_Cut0read".into(),
                name: "read_file".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"path":"sr"#.into()
            },
        ]
    );
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail::message(
                "the stream ended early: the connection closed before the model finished \
                 (no finish_reason and no [DONE]); the reply is truncated, retry the call"
            ),
        })
    );
    assert_eq!(
        decode_data(&[]).1.map(|e| e.kind()),
        Some(ModelErrorKind::Transient),
        "an empty 200 body is cut short too"
    );
}

#[test]
fn events_after_done_are_ignored() {
    let mut decoder = protocol().decoder();
    let event = |data: &str| agentkit_llm::sse::SseEvent {
        event: "message".into(),
        data: data.into(),
        id: None,
    };
    assert_eq!(
        decoder.event(&event("[DONE]")).unwrap(),
        vec![StreamEvent::Finish {
            reason: FinishReason::Stop
        }]
    );
    assert!(decoder.is_done());
    assert_eq!(
        decoder
            .event(&event(&delta(json!({"content": "late"}))))
            .unwrap(),
        vec![]
    );
    assert_eq!(decoder.end().unwrap(), vec![]);
}

#[test]
fn unknown_fields_null_content_and_content_parts_are_tolerated() {
    let (events, error) = decode_data(&[
        &delta(json!({"role": "assistant", "content": null, "refusal": null, "audio": null})),
        r#"{"id":"x","choices":[{"index":0,"delta":{"content":"a","brand_new":{"x":[1]}},"finish_reason":null,"logprobs":{"content":[]}}],"usage":null,"brand_new_top":true}"#,
        &delta(
            json!({"content": [{"type": "text", "text": "b"}, {"type": "image_url", "image_url": {"url": "x"}}]}),
        ),
        &delta(json!({"reasoning_content": null, "reasoning": null, "tool_calls": null})),
        r#"{"choices":null,"usage":null}"#,
        &finish("stop"),
        "[DONE]",
    ]);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "a".into() },
            StreamEvent::TextDelta { text: "b".into() },
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn a_malformed_chunk_is_transient_and_quotes_the_chunk() {
    let (events, error) = decode_data(&[
        &delta(json!({"content": "ok"})),
        r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"unterminated"#,
    ]);
    assert_eq!(events, vec![StreamEvent::TextDelta { text: "ok".into() }]);
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    let message = &error.detail().message;
    assert!(
        message.starts_with("could not parse a stream chunk as Chat Completions JSON ("),
        "{message}"
    );
    assert!(
        message.ends_with(
            r#"it began: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"unterminated"#
        ),
        "{message}"
    );
}

// ------------------------------------------------------ errors inside a 200

#[test]
fn a_vllm_error_chunk_after_text_is_a_classified_error() {
    let (events, error) = decode("vllm_error.sse");
    assert_eq!(
        events,
        vec![StreamEvent::TextDelta {
            text: "Looking".into()
        }]
    );
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail {
                status: Some(200),
                body: last_data("vllm_error.sse"),
                message: "the provider reported an error inside its reply: The engine failed \
                          while generating: CUDA error: an illegal memory access was \
                          encountered (type `InternalServerError`, code `500`)"
                    .into(),
            },
        })
    );
}

#[test]
fn an_openrouter_error_with_finish_reason_error_is_transient() {
    let (events, error) = decode("openrouter_error.sse");
    assert_eq!(
        events,
        vec![StreamEvent::TextDelta {
            text: "I will".into()
        }]
    );
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail {
                status: Some(200),
                body: last_data("openrouter_error.sse"),
                message: "the provider reported an error inside its reply: Provider \
                          disconnected unexpectedly (code `server_error`)"
                    .into(),
            },
        })
    );
}

#[test]
fn an_error_event_is_a_classified_error() {
    let (events, error) = decode("error_event.sse");
    assert_eq!(events, vec![]);
    assert_eq!(
        error,
        Some(ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail {
                status: Some(200),
                body: last_data("error_event.sse"),
                message: "the provider reported an error inside its reply: Rate limit reached \
                          for gpt-4.1-mini in organization org-abc on tokens per min (TPM): \
                          Limit 200000, Used 199000, Requested 2400. Please try again in \
                          420ms. (type `tokens`, code `rate_limit_exceeded`)"
                    .into(),
            },
        })
    );
}

#[test]
fn errors_inside_a_stream_are_classified_by_code_and_wording() {
    let cases = [
        (
            r#"{"error":{"message":"Rate limit exceeded: free-models-per-min","code":429}}"#,
            ModelErrorKind::RateLimited,
        ),
        (
            r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}"#,
            ModelErrorKind::Quota,
        ),
        (
            r#"{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","code":402}}"#,
            ModelErrorKind::Quota,
        ),
        (
            r#"{"error":{"message":"Too long.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            ModelErrorKind::ContextLength,
        ),
        (
            r#"{"error":{"message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}}"#,
            ModelErrorKind::ContextLength,
        ),
        (
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            ModelErrorKind::Auth,
        ),
        (
            r#"{"error":{"message":"Invalid value for 'top_p'.","type":"invalid_request_error","code":null}}"#,
            ModelErrorKind::InvalidRequest,
        ),
        (
            r#"{"error":{"message":"Something odd happened."}}"#,
            ModelErrorKind::Transient,
        ),
        (r#"{"error":"upstream reset"}"#, ModelErrorKind::Transient),
    ];
    for (data, kind) in cases {
        let (events, error) = decode_data(&[&delta(json!({"content": "x"})), data]);
        assert_eq!(events.len(), 1, "{data}");
        let error = error.unwrap_or_else(|| panic!("{data} should fail"));
        assert_eq!(error.kind(), kind, "{data}: {error}");
        assert_eq!(error.detail().status, Some(200), "{data}");
        assert_eq!(error.detail().body, data);
    }
}

#[test]
fn an_error_event_without_json_keeps_its_text() {
    let body = "event: error\ndata: upstream connect error or disconnect/reset before headers\n\n";
    let (events, error) = decode_in_pieces(body.as_bytes(), usize::MAX);
    assert_eq!(events, vec![]);
    assert_eq!(
        error,
        Some(ModelError::Transient {
            detail: ErrorDetail {
                status: Some(200),
                body: "upstream connect error or disconnect/reset before headers".into(),
                message: "the provider reported an error inside its reply: upstream connect \
                          error or disconnect/reset before headers"
                    .into(),
            },
        })
    );
}

// ------------------------------------------------------------ whole bodies

#[test]
fn decodes_a_whole_text_body() {
    let events = protocol()
        .decode_body(fixture("body_text.json").as_bytes())
        .unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta {
                text: "All 42 tests pass.".into()
            },
            StreamEvent::Usage(usage(1200, 7, 1152, 0)),
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn decodes_whole_body_tool_calls_by_position_when_they_have_no_index() {
    let events = protocol()
        .decode_body(fixture("body_tool_calls.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(events),
        ModelResponse {
            message: assistant(vec![
                reasoning("Two files to read."),
                call("chatcmpl-tool-aaa111", "read_file", r#"{"path": "a.rs"}"#),
                call("chatcmpl-tool-bbb222", "read_file", r#"{"path": "b.rs"}"#),
            ]),
            usage: usage(700, 60, 0, 0),
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn a_whole_body_without_choices_is_transient() {
    let body = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[],"usage":null}"#;
    assert_eq!(
        protocol().decode_body(body.as_bytes()).unwrap_err(),
        ModelError::Transient {
            detail: ErrorDetail::message(format!(
                "the response holds no choice, so there is no reply to read; retry the call. \
                 It began: {body}"
            )),
        }
    );
}

#[test]
fn a_whole_error_body_with_status_200_is_classified() {
    let raw = fixture("body_error.json");
    assert_eq!(
        protocol().decode_body(raw.as_bytes()).unwrap_err(),
        ModelError::Transient {
            detail: ErrorDetail {
                status: Some(200),
                body: raw.clone(),
                message: "the provider reported an error inside its reply: Provider returned \
                          error (code `502`)"
                    .into(),
            },
        }
    );
    assert_eq!(
        protocol()
            .decode_body(b"<html>upstream error</html>")
            .unwrap_err()
            .kind(),
        ModelErrorKind::Transient
    );
}

// ------------------------------------------------------------ classification

fn error_body(kind: &str, code: Option<&str>, message: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

#[test]
fn http_errors_are_classified_by_code_wording_then_status() {
    /// Status, headers, body, and the kind the error must be classified as.
    type Case = (u16, Vec<(String, String)>, String, ModelErrorKind);
    let none = headers(&[]);
    let cases: Vec<Case> = vec![
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                None,
                "Invalid type for 'messages[2].content'.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            401,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided: sk-abc***.",
            ),
            ModelErrorKind::Auth,
        ),
        (
            403,
            none.clone(),
            error_body(
                "request_forbidden",
                Some("unsupported_country_region_territory"),
                "Country, region, or territory not supported",
            ),
            ModelErrorKind::Auth,
        ),
        (
            404,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("model_not_found"),
                "The model `gpt-9` does not exist or you do not have access to it.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            404,
            none.clone(),
            r#"{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}"#.into(),
            ModelErrorKind::InvalidRequest,
        ),
        (408, none.clone(), String::new(), ModelErrorKind::Transient),
        (
            409,
            none.clone(),
            error_body("conflict", None, "Conflict."),
            ModelErrorKind::Transient,
        ),
        (
            500,
            none.clone(),
            error_body("server_error", None, "The server had an error."),
            ModelErrorKind::Transient,
        ),
        (
            503,
            none.clone(),
            error_body(
                "service_unavailable",
                None,
                "The engine is currently overloaded.",
            ),
            ModelErrorKind::Transient,
        ),
        (
            429,
            none.clone(),
            error_body(
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            429,
            none.clone(),
            error_body(
                "tokens",
                Some("rate_limit_exceeded"),
                "Request too large for gpt-4.1 on tokens per min (TPM): Limit 30000, \
                 Requested 45000. The input or output tokens must be reduced.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            429,
            none.clone(),
            error_body(
                "insufficient_quota",
                Some("insufficient_quota"),
                "You exceeded your current quota, please check your plan and billing details.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            429,
            headers(&[("x-should-retry", "true")]),
            error_body("insufficient_quota", Some("insufficient_quota"), "no credit"),
            ModelErrorKind::Quota,
        ),
        (
            402,
            none.clone(),
            r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits"}}"#.into(),
            ModelErrorKind::Quota,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("context_length_exceeded"),
                "This model's maximum context length is 128000 tokens. However, your \
                 messages resulted in 130000 tokens.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            // vLLM before 0.10: the error object at the top level.
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"message":"The decoder prompt (length 5000) is longer than the maximum model length of 4096. Make sure that `max_model_len` is no smaller than the number of text tokens.","type":"BadRequestError","param":null,"code":400}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            // llama.cpp before `exceed_context_size_error` existed.
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing the context size or enable context shift","type":"invalid_request_error"}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"message":"This endpoint's maximum context length is 131072 tokens. However, you requested about 200000 tokens. Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.","code":400,"metadata":{"provider_name":null}}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            413,
            none.clone(),
            "request entity too large".into(),
            ModelErrorKind::ContextLength,
        ),
        (
            502,
            none.clone(),
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".into(),
            ModelErrorKind::Transient,
        ),
        (
            503,
            headers(&[("x-should-retry", "false")]),
            String::new(),
            ModelErrorKind::Permanent,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            "{}".into(),
            ModelErrorKind::Transient,
        ),
    ];
    for (status, headers, body, kind) in cases {
        let error = vllm().classify_error(status, &headers, &body);
        assert_eq!(error.kind(), kind, "{status} {body}: {error}");
        assert_eq!(error.detail().status, Some(status), "{body}");
        assert_eq!(error.detail().body, body);
    }
}

#[test]
fn a_rate_limit_keeps_the_message_and_the_wait_from_either_header() {
    let body = error_body(
        "requests",
        Some("rate_limit_exceeded"),
        "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500.",
    );
    let message = "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500. \
                   (type `requests`, code `rate_limit_exceeded`)";
    assert_eq!(
        protocol().classify_error(429, &headers(&[("retry-after", "2")]), &body),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
    assert_eq!(
        protocol().classify_error(
            429,
            &headers(&[("retry-after-ms", "1500"), ("retry-after", "2")]),
            &body
        ),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
    assert_eq!(
        protocol().classify_error(429, &[], &body),
        ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
}

#[test]
fn an_exhausted_quota_is_never_retried_even_when_the_server_says_so() {
    let body = error_body(
        "insufficient_quota",
        Some("insufficient_quota"),
        "You exceeded your current quota.",
    );
    let error = protocol().classify_error(
        429,
        &headers(&[("x-should-retry", "true"), ("retry-after", "1")]),
        &body,
    );
    assert_eq!(
        error,
        ModelError::Quota {
            detail: ErrorDetail::http(
                429,
                body.clone(),
                "You exceeded your current quota. (type `insufficient_quota`, code \
                 `insufficient_quota`)"
            ),
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn x_should_retry_false_makes_a_server_error_final() {
    let error = protocol().classify_error(503, &headers(&[("x-should-retry", "false")]), "");
    assert_eq!(
        error,
        ModelError::Permanent {
            detail: ErrorDetail::http(
                503,
                "",
                "the provider answered HTTP 503 with no explanation"
            ),
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn a_proxy_html_page_is_transient_with_a_bounded_message_and_body() {
    let nginx = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                 <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
    assert_eq!(
        protocol().classify_error(502, &[], nginx),
        ModelError::Transient {
            detail: ErrorDetail::http(
                502,
                nginx,
                "the provider answered with a body that is not JSON: <html> <head><title>502 \
                 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> \
                 </body> </html>"
            ),
        }
    );

    let page = format!(
        "<!DOCTYPE html><html><head><title>Cloudflare</title></head><body>{}</body></html>",
        "<p>Error 524: a timeout occurred</p>".repeat(400)
    );
    let error = protocol().classify_error(524, &[], &page);
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    let prefix = "the provider answered with a body that is not JSON: ";
    let message = &error.detail().message;
    assert!(message.starts_with(prefix), "{message}");
    assert_eq!(
        message[prefix.len()..].chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    assert!(message.ends_with('…'));
    let body = &error.detail().body;
    assert_eq!(
        body.strip_suffix(&format!("… ({} bytes in all)", page.len())),
        Some(&page[..4096])
    );
}

#[test]
fn json_without_an_error_object_is_described_as_such() {
    // vLLM (FastAPI) answering a wrong path, e.g. a base URL without `/v1`.
    let not_found = r#"{"detail":"Not Found"}"#;
    assert_eq!(
        vllm().classify_error(404, &[], not_found),
        ModelError::InvalidRequest {
            detail: ErrorDetail::http(404, not_found, "Not Found"),
        }
    );
    let odd = r#"{"status":"error","reason":42}"#;
    assert_eq!(
        vllm().classify_error(500, &[], odd),
        ModelError::Transient {
            detail: ErrorDetail::http(
                500,
                odd,
                r#"the provider answered with JSON that holds no error message: {"status":"error","reason":42}"#
            ),
        }
    );
}

#[test]
fn a_call_cut_off_before_any_argument_text_reads_as_incomplete_not_as_empty_object() {
    let start = delta(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
        "function": {"name": "write_file", "arguments": ""}}]}),
    );
    let (events, error) = decode_data(&[&start, &finish("length"), "[DONE]"]);
    assert_eq!(error, None);
    let reply = fold(events);
    assert_eq!(reply.finish_reason, FinishReason::Length);
    let calls: Vec<_> = reply.message.tool_calls().cloned().collect();
    assert_eq!(calls[0].arguments, "");
    // The same call in a reply that ended normally: a tool without parameters.
    let (events, _) = decode_data(&[&start, &finish("tool_calls"), "[DONE]"]);
    assert_eq!(
        fold(events).message.tool_calls().next().unwrap().arguments,
        "{}"
    );
}
