//! The OpenAI Responses API wire format: request bodies (insta snapshots),
//! decoding of recorded-shape streams and bodies (whole values), the
//! round trip of reasoning and calls across turns, and error classification.

mod support;

use std::time::Duration;

use agentkit_core::message::{Message, Part};
use agentkit_core::model::{
    Capabilities, ErrorDetail, FinishReason, ModelError, ModelErrorKind, ModelInfo, ModelResponse,
    ReasoningEffort, StreamEvent, ToolChoice,
};
use agentkit_core::tool::{ToolAnnotations, ToolSpec};
use agentkit_core::usage::Usage;
use agentkit_llm::Protocol;
use agentkit_llm::openai::responses::{
    OpenAiResponses, OpenAiResponsesConfig, REASONING_PROVIDER, ReasoningSummary,
};
use agentkit_llm::sse::SseEvent;
use serde_json::{Value, json};
use support::conversation::{assistant, call, request, result, text, user};
use support::fold;
use support::wire::{self, body_of, fixture, fixture_events, headers};

// ------------------------------------------------------------------ helpers

/// The directory of this protocol's fixtures under `tests/fixtures/`.
const FIXTURES: &str = "openai_responses";

/// A model with pinned info (tests must not depend on the catalog's
/// contents), reasoning or not.
fn with_info(config: OpenAiResponsesConfig, reasoning: bool) -> OpenAiResponses {
    let mut config = config;
    config.info = Some(ModelInfo {
        name: config.model.clone(),
        provider: "openai".into(),
        context_window: 400_000,
        max_output_tokens: 128_000,
        pricing: None,
        capabilities: Capabilities {
            reasoning,
            ..Capabilities::default()
        },
    });
    OpenAiResponses::new(config)
}

fn reasoning_model(config: OpenAiResponsesConfig) -> OpenAiResponses {
    with_info(config, true)
}

fn plain_model(config: OpenAiResponsesConfig) -> OpenAiResponses {
    with_info(config, false)
}

/// A model that does not reason.
fn protocol() -> OpenAiResponses {
    plain_model(OpenAiResponsesConfig::new("gpt-4.1", "sk-test-secret"))
}

/// Every event the decoder produced, then the first error (from an event
/// or from the end of the body), like `HttpModel` drives it.
fn decode(name: &str) -> (Vec<StreamEvent>, Option<ModelError>) {
    wire::decode_fixture(&protocol(), FIXTURES, name)
}

fn fold_fixture(name: &str) -> ModelResponse {
    wire::fold_fixture(&protocol(), FIXTURES, name)
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "read_file".into(),
            description: "Reads a file of the workspace.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Relative path."},
                    "start_line": {"type": ["integer", "null"], "minimum": 1}
                },
                "required": ["path"]
            }),
            annotations: ToolAnnotations::read_only(),
        },
        ToolSpec {
            name: "git_status".into(),
            description: "Shows the working tree status.".into(),
            parameters: json!({"type": "object", "properties": {}}),
            annotations: ToolAnnotations::read_only(),
        },
    ]
}

/// The `item` of every `response.output_item.done` event of a fixture.
fn done_items(name: &str) -> Vec<Value> {
    fixture_events(FIXTURES, name)
        .into_iter()
        .filter(|e| e.event == "response.output_item.done")
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["item"].clone())
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
fn request_goes_to_responses_with_the_key_org_and_project_headers() {
    let mut config = OpenAiResponsesConfig::new("gpt-5", "sk-test-secret")
        .with_base_url("https://proxy.example/openai/v1/");
    config.organization = Some("org-1".into());
    config.project = Some("proj-1".into());
    let http = plain_model(config)
        .build_request(&request(vec![Message::user("hi")]), true)
        .unwrap();
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://proxy.example/openai/v1/responses");
    assert_eq!(
        http.headers,
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".into(), "Bearer sk-test-secret".into()),
            ("openai-organization".into(), "org-1".into()),
            ("openai-project".into(), "proj-1".into()),
            ("accept".into(), "text/event-stream".into()),
        ]
    );
}

#[test]
fn an_empty_key_sends_no_authorization_and_a_whole_body_is_not_streamed() {
    let config =
        OpenAiResponsesConfig::new("local-model", "").with_base_url("http://127.0.0.1:8000/v1");
    let protocol = plain_model(config);
    let http = protocol
        .build_request(&request(vec![Message::user("hi")]), false)
        .unwrap();
    assert_eq!(
        http.headers,
        vec![("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(
        body_of(&protocol, &request(vec![Message::user("hi")]), false)["stream"],
        false
    );
}

#[test]
fn tools_and_history_request_body() {
    let mut config = OpenAiResponsesConfig::new("gpt-4.1", "sk-test-secret");
    config.parallel_tool_calls = Some(true);
    let mut req = request(vec![
        Message::user("Why does `cargo test` fail?"),
        assistant(vec![
            text("Let me look at the test."),
            call("call_1", "read_file", r#"{"path":"tests/it.rs"}"#),
            call("call_2", "git_status", "{}"),
        ]),
        user(vec![
            result("call_1", "read_file", "fn it() { assert!(false) }"),
            result("call_2", "git_status", "clean"),
            text("Also check the CI config."),
        ]),
        Message::assistant("The assertion is hard-coded to fail."),
    ]);
    req.tools = tools();
    req.max_output_tokens = Some(4096);
    req.temperature = Some(0.2);
    insta::assert_json_snapshot!(
        "tools_and_history",
        body_of(&plain_model(config), &req, true)
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
fn without_tools_no_tool_choice_or_parallel_flag_is_sent() {
    let mut config = OpenAiResponsesConfig::new("gpt-5", "k");
    config.parallel_tool_calls = Some(false);
    let mut req = request(vec![Message::user("go")]);
    req.tool_choice = ToolChoice::Required;
    let body = body_of(&plain_model(config), &req, true);
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(body.get("parallel_tool_calls"), None);
    assert_eq!(body.get("tools"), None);
}

/// History with reasoning of three kinds: ours with encrypted content (sent
/// back), ours without it (dropped: nothing is stored), another provider's
/// (dropped).
fn history_with_reasoning() -> Vec<Message> {
    let ours = json!({
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "**Plan**\n\nRead the parser."}],
        "encrypted_content": "gAAAAAB-opaque"
    });
    vec![
        Message::user("Fix the parser."),
        assistant(vec![
            Part::Reasoning {
                text: "**Plan**\n\nRead the parser.".into(),
                signature: Some(ours.to_string()),
                provider: Some(REASONING_PROVIDER.into()),
            },
            Part::Reasoning {
                text: "stored elsewhere".into(),
                signature: Some(json!({"id": "rs_0", "summary": []}).to_string()),
                provider: Some(REASONING_PROVIDER.into()),
            },
            Part::Reasoning {
                text: "Claude's thought".into(),
                signature: Some("EqQBCkYIBxgCKkB-anthropic-signature".into()),
                provider: Some("anthropic".into()),
            },
            call("call_9", "read_file", r#"{"path":"src/parser.rs"}"#),
        ]),
        user(vec![result("call_9", "read_file", "pub fn parse() {}")]),
    ]
}

#[test]
fn reasoning_items_are_passed_back_request_body() {
    let mut config = OpenAiResponsesConfig::new("gpt-5", "sk-test-secret");
    config.reasoning_effort = Some(ReasoningEffort::Medium);
    let mut req = request(history_with_reasoning());
    req.tools = tools();
    insta::assert_json_snapshot!(
        "reasoning_passed_back",
        body_of(&reasoning_model(config), &req, true)
    );
}

#[test]
fn store_false_includes_encrypted_reasoning_for_a_reasoning_model() {
    let protocol = reasoning_model(OpenAiResponsesConfig::new("o4-mini", "k"));
    let mut req = request(vec![Message::user("Think hard.")]);
    req.reasoning_effort = Some(ReasoningEffort::High);
    insta::assert_json_snapshot!("store_false_include", body_of(&protocol, &req, true));
}

#[test]
fn store_true_sends_no_include_and_keeps_reasoning_without_encrypted_content() {
    let mut config = OpenAiResponsesConfig::new("gpt-5", "k");
    config.store = true;
    config.reasoning_effort = Some(ReasoningEffort::Medium);
    config.reasoning_summary = ReasoningSummary::Off;
    let protocol = reasoning_model(config);
    let body = body_of(&protocol, &request(history_with_reasoning()), true);
    assert_eq!(body["store"], true);
    assert_eq!(body.get("include"), None);
    assert_eq!(body["reasoning"], json!({"effort": "medium"}));
    let reasoning_ids: Vec<&Value> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "reasoning")
        .map(|item| &item["id"])
        .collect();
    assert_eq!(reasoning_ids, vec!["rs_1", "rs_0"]);
}

#[test]
fn a_requested_effort_is_ignored_by_a_model_not_known_to_reason() {
    let mut req = request(vec![Message::user("hi")]);
    req.reasoning_effort = Some(ReasoningEffort::High);
    let body = body_of(&protocol(), &req, true);
    assert_eq!(body.get("reasoning"), None);
    assert_eq!(body.get("include"), None);

    let mut config = OpenAiResponsesConfig::new("gpt-4.1", "k");
    config.reasoning_effort = Some(ReasoningEffort::Low);
    config.reasoning_summary = ReasoningSummary::Concise;
    let body = body_of(&plain_model(config), &req, true);
    assert_eq!(
        body["reasoning"],
        json!({"effort": "high", "summary": "concise"}),
        "a configured default declares the model reasoning; the request's effort wins"
    );
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
}

#[test]
fn debug_never_prints_the_key() {
    let protocol = protocol();
    let printed = format!("{protocol:?} {:?}", protocol.config());
    assert!(!printed.contains("sk-test-secret"), "{printed}");
    assert!(printed.contains("api_key: \"<redacted>\""), "{printed}");
}

#[test]
fn info_comes_from_the_catalog_unless_overridden() {
    let from_catalog = OpenAiResponses::new(OpenAiResponsesConfig::new("gpt-5", "k"));
    assert_eq!(
        from_catalog.info(),
        &agentkit_llm::catalog::lookup("openai", "gpt-5")
    );
    let overridden = reasoning_model(OpenAiResponsesConfig::new("my-deployment", "k"));
    assert_eq!(overridden.info().context_window, 400_000);
    assert!(overridden.info().capabilities.reasoning);
}

// ------------------------------------------------------------------ decoding

#[test]
fn decodes_a_text_reply() {
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
            StreamEvent::Usage(Usage {
                input_tokens: 1234,
                output_tokens: 9,
                cached_input_tokens: 0,
                reasoning_tokens: 0,
            }),
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
        ]
    );
}

#[test]
fn decodes_a_function_call_streamed_in_argument_deltas() {
    assert_eq!(
        fold_fixture("function_call.sse"),
        ModelResponse {
            message: assistant(vec![
                text("Let me read the file."),
                call(
                    "call_Qm3FdtW5yN0v8bXk1L2p",
                    "read_file",
                    r#"{"path":"src/lib.rs","start_line":10}"#
                ),
            ]),
            usage: Usage {
                input_tokens: 2048,
                output_tokens: 41,
                cached_input_tokens: 0,
                reasoning_tokens: 0,
            },
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_parallel_calls_including_one_whose_arguments_come_only_at_done() {
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
                id: "call_AAAA1111".into(),
                name: "grep".into()
            },
            &StreamEvent::ToolCallEnd { index: 0 },
            &StreamEvent::ToolCallStart {
                index: 1,
                id: "call_BBBB2222".into(),
                name: "list_dir".into()
            },
            &StreamEvent::ToolCallEnd { index: 1 },
            &StreamEvent::ToolCallStart {
                index: 2,
                id: "call_CCCC3333".into(),
                name: "git_status".into()
            },
            &StreamEvent::ToolCallEnd { index: 2 },
        ]
    );
    assert_eq!(
        fold(&events),
        ModelResponse {
            message: assistant(vec![
                call(
                    "call_AAAA1111",
                    "grep",
                    r#"{"pattern":"fn main","path":"src"}"#
                ),
                call("call_BBBB2222", "list_dir", r#"{"path":"tests"}"#),
                call("call_CCCC3333", "git_status", "{}"),
            ]),
            usage: Usage {
                input_tokens: 3000,
                output_tokens: 60,
                cached_input_tokens: 2048,
                reasoning_tokens: 0,
            },
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn decodes_a_reasoning_item_with_summary_parts_and_encrypted_content() {
    let items = done_items("reasoning.sse");
    let reasoning_item = &items[0];
    let response = fold_fixture("reasoning.sse");
    let Part::Reasoning {
        signature: Some(signature),
        ..
    } = &response.message.parts[0]
    else {
        panic!("first part should be signed reasoning: {response:?}");
    };
    let mut expected_signature = reasoning_item.clone();
    expected_signature.as_object_mut().unwrap().remove("type");
    assert_eq!(
        serde_json::from_str::<Value>(signature).unwrap(),
        expected_signature,
        "the signature keeps the item: id, summary, encrypted content"
    );
    assert_eq!(
        response,
        ModelResponse {
            message: assistant(vec![
                Part::Reasoning {
                    text: "**Locating the bug**\n\nThe failing test points at the parser.\n\n\
                           **Reading the code**\n\nI should open src/parser.rs first."
                        .into(),
                    signature: Some(signature.clone()),
                    provider: Some(REASONING_PROVIDER.into()),
                },
                call(
                    "call_Zr8Kp2Lm4Nq6",
                    "read_file",
                    r#"{"path":"src/parser.rs"}"#
                ),
            ]),
            usage: Usage {
                input_tokens: 5120,
                output_tokens: 312,
                cached_input_tokens: 4096,
                reasoning_tokens: 256,
            },
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn a_folded_reply_put_back_into_history_sends_the_items_it_came_from() {
    let reply = fold_fixture("reasoning.sse");
    let call_id = reply.message.tool_calls().next().unwrap().id.clone();
    let req = request(vec![
        Message::user("Fix the parser."),
        reply.message,
        user(vec![result(&call_id, "read_file", "pub fn parse() {}")]),
    ]);
    let input = body_of(&protocol(), &req, true)["input"].clone();

    let items = done_items("reasoning.sse");
    let reasoning_item = items[0].clone();
    // A function_call goes back without the output item's own id and status
    // (stateless requests do not refer to stored items); the rest is as received.
    let mut function_call = items[1].clone();
    let fields = function_call.as_object_mut().unwrap();
    fields.remove("id");
    fields.remove("status");
    assert_eq!(
        input,
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the parser."}]},
            reasoning_item,
            function_call,
            {"type": "function_call_output", "call_id": "call_Zr8Kp2Lm4Nq6", "output": "pub fn parse() {}"},
        ])
    );
}

#[test]
fn decodes_an_incomplete_reply_as_cut_by_length() {
    assert_eq!(
        fold_fixture("incomplete.sse"),
        ModelResponse {
            message: Message::assistant("Here is the long explanation you asked for: first"),
            usage: Usage {
                input_tokens: 800,
                output_tokens: 16,
                cached_input_tokens: 0,
                reasoning_tokens: 0,
            },
            finish_reason: FinishReason::Length,
        }
    );
}

#[test]
fn a_failed_response_is_a_classified_error_with_the_suggested_wait() {
    let (events, error) = decode("failed.sse");
    assert_eq!(events, vec![]);
    let error = error.unwrap();
    let raw = fixture_events(FIXTURES, "failed.sse").pop().unwrap().data;
    assert_eq!(
        error,
        ModelError::RateLimited {
            retry_after: Some(Duration::from_millis(1400)),
            detail: ErrorDetail {
                status: None,
                body: raw,
                message: "Rate limit reached for gpt-5 in organization org-abc on tokens per min \
                          (TPM): Limit 30000, Used 29500, Requested 1200. Please try again in \
                          1.4s. Visit https://platform.openai.com/account/rate-limits to learn \
                          more. (code `rate_limit_exceeded`)"
                    .into(),
            },
        }
    );
}

#[test]
fn an_error_event_is_a_classified_error() {
    let (events, error) = decode("error.sse");
    assert_eq!(events, vec![]);
    let raw = fixture_events(FIXTURES, "error.sse").pop().unwrap().data;
    assert_eq!(
        error,
        Some(ModelError::ContextLength {
            detail: ErrorDetail {
                status: None,
                body: raw,
                message: "Your input exceeds the context window of this model. Please adjust \
                          your input and try again. (code `context_length_exceeded`)"
                    .into(),
            },
        })
    );
}

#[test]
fn a_stream_cut_before_a_terminal_event_is_transient() {
    let (events, error) = decode("truncated.sse");
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta {
                text: "Partial".into()
            },
            StreamEvent::TextDelta {
                text: " answer".into()
            },
        ]
    );
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert!(
        error.detail().message.contains("stream ended early"),
        "{error}"
    );
}

#[test]
fn events_after_completion_are_ignored_and_end_is_clean() {
    let mut decoder = protocol().decoder();
    let completed = SseEvent {
        event: "response.completed".into(),
        data: r#"{"type":"response.completed","response":{"status":"completed","usage":null}}"#
            .into(),
        id: None,
    };
    assert_eq!(
        decoder.event(&completed).unwrap(),
        vec![StreamEvent::Finish {
            reason: FinishReason::Stop
        }]
    );
    assert!(decoder.is_done());
    let late = SseEvent {
        event: "response.output_text.delta".into(),
        data: r#"{"type":"response.output_text.delta","output_index":0,"delta":"late"}"#.into(),
        id: None,
    };
    assert_eq!(decoder.event(&late).unwrap(), vec![]);
    assert_eq!(decoder.end().unwrap(), vec![]);
}

#[test]
fn unknown_events_and_fields_are_ignored_but_broken_known_events_fail() {
    let mut decoder = protocol().decoder();
    let ignored = [
        (
            "response.web_search_call.searching",
            r#"{"type":"response.web_search_call.searching","output_index":0}"#,
        ),
        (
            "response.output_text.annotation.added",
            r#"{"type":"response.output_text.annotation.added","annotation":{"type":"url_citation"}}"#,
        ),
        (
            "response.something_new",
            r#"{"type":"response.something_new","delta":{"not":"a string"}}"#,
        ),
        ("keepalive", "not json"),
        ("message", "[DONE]"),
    ];
    for (name, data) in ignored {
        let event = SseEvent {
            event: name.into(),
            data: data.into(),
            id: None,
        };
        assert_eq!(decoder.event(&event).unwrap(), vec![], "{name}");
    }
    let delta = SseEvent {
        event: "response.output_text.delta".into(),
        data: r#"{"type":"response.output_text.delta","output_index":0,"delta":"hi","brand_new_field":[1,2]}"#
            .into(),
        id: None,
    };
    assert_eq!(
        decoder.event(&delta).unwrap(),
        vec![StreamEvent::TextDelta { text: "hi".into() }]
    );
    let broken = SseEvent {
        event: "response.output_text.delta".into(),
        data: r#"{"type":"response.output_text.delta","delta":"#.into(),
        id: None,
    };
    assert_eq!(
        decoder.event(&broken).unwrap_err().kind(),
        ModelErrorKind::Transient
    );
}

#[test]
fn a_reasoning_item_that_never_completes_is_kept_as_text_only() {
    let mut decoder = protocol().decoder();
    let events: Vec<StreamEvent> = [
        r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"rs_x","type":"reasoning","summary":[]}}"#,
        r#"{"type":"response.reasoning_text.delta","output_index":0,"content_index":0,"delta":"thinking"}"#,
        r#"{"type":"response.completed","response":{"status":"completed"}}"#,
    ]
    .into_iter()
    .flat_map(|data| {
        let event = SseEvent {
            event: "message".into(),
            data: data.into(),
            id: None,
        };
        decoder.event(&event).unwrap()
    })
    .collect();
    assert_eq!(
        fold(&events).message,
        assistant(vec![Part::Reasoning {
            text: "thinking".into(),
            signature: None,
            provider: None,
        }])
    );
}

#[test]
fn decodes_a_whole_body_like_a_stream() {
    let events = protocol()
        .decode_body(fixture(FIXTURES, "body.json").as_bytes())
        .unwrap();
    let signature = json!({
        "id": "rs_68b0a250",
        "summary": [
            {"type": "summary_text", "text": "**Checking the tests**"},
            {"type": "summary_text", "text": "They need a fixture."}
        ],
        "encrypted_content": "gAAAAABosKJQ-whole-body-encrypted=="
    });
    let response = fold(&events);
    let Part::Reasoning {
        signature: Some(got),
        ..
    } = &response.message.parts[0]
    else {
        panic!("{response:?}");
    };
    assert_eq!(serde_json::from_str::<Value>(got).unwrap(), signature);
    assert_eq!(
        response,
        ModelResponse {
            message: assistant(vec![
                Part::Reasoning {
                    text: "**Checking the tests**\n\nThey need a fixture.".into(),
                    signature: Some(got.clone()),
                    provider: Some(REASONING_PROVIDER.into()),
                },
                text("I will add the fixture."),
                call(
                    "call_Body0001",
                    "write_file",
                    r#"{"path":"tests/fixture.txt","content":"ok"}"#
                ),
            ]),
            usage: Usage {
                input_tokens: 900,
                output_tokens: 120,
                cached_input_tokens: 0,
                reasoning_tokens: 64,
            },
            finish_reason: FinishReason::ToolCalls,
        }
    );
}

#[test]
fn whole_bodies_that_failed_or_were_cut_short() {
    let failed = json!({
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": "The server had an error."}
    });
    assert_eq!(
        protocol()
            .decode_body(failed.to_string().as_bytes())
            .unwrap_err()
            .kind(),
        ModelErrorKind::Transient
    );
    let incomplete = json!({
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "output": null,
        "usage": null
    });
    assert_eq!(
        protocol()
            .decode_body(incomplete.to_string().as_bytes())
            .unwrap(),
        vec![StreamEvent::Finish {
            reason: FinishReason::ContentFilter
        }]
    );
    assert_eq!(
        protocol()
            .decode_body(b"<html>502</html>")
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
fn http_errors_are_classified_by_code_then_status() {
    /// Status, headers, body, and the kind the error must be classified as.
    type Case = (u16, Vec<(String, String)>, String, ModelErrorKind);
    let none = headers(&[]);
    let cases: Vec<Case> = vec![
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
            error_body(
                "insufficient_quota",
                Some("insufficient_quota"),
                "no credit",
            ),
            ModelErrorKind::Quota,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("context_length_exceeded"),
                "Your input exceeds the context window of this model.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                None,
                "This model's maximum context length is 8192 tokens.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            429,
            none.clone(),
            error_body("tokens", Some("rate_limit_exceeded"), "Rate limit reached."),
            ModelErrorKind::RateLimited,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("unknown_parameter"),
                "Unknown parameter: 'foo'.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            401,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
            ModelErrorKind::Auth,
        ),
        (
            404,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("model_not_found"),
                "The model `gpt-9` does not exist.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            500,
            none.clone(),
            "<html>Internal Server Error</html>".into(),
            ModelErrorKind::Transient,
        ),
        (
            502,
            none.clone(),
            r#"{"error":"upstream connect error"}"#.into(),
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
        (
            413,
            none.clone(),
            "request too large".into(),
            ModelErrorKind::ContextLength,
        ),
    ];
    for (status, headers, body, kind) in cases {
        let error = protocol().classify_error(status, &headers, &body);
        assert_eq!(error.kind(), kind, "{status} {body}: {error}");
        assert_eq!(error.detail().status, Some(status));
        assert_eq!(error.detail().body, body);
    }
}

#[test]
fn http_error_details_keep_the_providers_message_and_retry_after() {
    let body = error_body(
        "tokens",
        Some("rate_limit_exceeded"),
        "Rate limit reached for gpt-5.",
    );
    assert_eq!(
        protocol().classify_error(429, &headers(&[("retry-after", "2")]), &body),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            detail: ErrorDetail::http(429, body.clone(), "Rate limit reached for gpt-5."),
        }
    );
    let quota = error_body(
        "insufficient_quota",
        Some("insufficient_quota"),
        "You exceeded your current quota.",
    );
    assert_eq!(
        protocol().classify_error(429, &[], &quota),
        ModelError::Quota {
            detail: ErrorDetail::http(429, quota.clone(), "You exceeded your current quota."),
        }
    );
    assert_eq!(
        protocol()
            .classify_error(502, &[], r#"{"error":"upstream connect error"}"#)
            .detail()
            .message,
        "upstream connect error"
    );
}

#[test]
fn failures_inside_a_stream_are_classified_by_code() {
    let cases = [
        (
            r#"{"type":"error","code":"rate_limit_exceeded","message":"Please try again in 20ms.","param":null}"#,
            ModelErrorKind::RateLimited,
        ),
        (
            r#"{"type":"error","code":"server_error","message":"The server had an error.","param":null}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"error","code":"context_length_exceeded","message":"Too long.","param":null}"#,
            ModelErrorKind::ContextLength,
        ),
        (
            r#"{"type":"error","code":"insufficient_quota","message":"No credit.","param":null}"#,
            ModelErrorKind::Quota,
        ),
        (
            r#"{"type":"error","code":"invalid_prompt","message":"Flagged.","param":null}"#,
            ModelErrorKind::InvalidRequest,
        ),
        (
            r#"{"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"error","code":null,"message":"","param":null}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","code":"invalid_value","message":"Bad input."}}"#,
            ModelErrorKind::InvalidRequest,
        ),
        (
            r#"{"type":"error","error":{"type":"server_error","code":500,"message":"Oops."}}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The server had an error."}}}"#,
            ModelErrorKind::Transient,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"image_too_large","message":"Too big."}}}"#,
            ModelErrorKind::InvalidRequest,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"insufficient_quota","message":"No credit."}}}"#,
            ModelErrorKind::Quota,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":null}}"#,
            ModelErrorKind::Transient,
        ),
    ];
    for (data, kind) in cases {
        let mut decoder = protocol().decoder();
        let event = SseEvent {
            event: "message".into(),
            data: data.into(),
            id: None,
        };
        let error = decoder.event(&event).unwrap_err();
        assert_eq!(error.kind(), kind, "{data}: {error}");
        assert!(decoder.is_done(), "a failure ends the stream");
    }
}
