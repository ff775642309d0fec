//! Decoding: recorded-shape streams through the real event-stream parser,
//! error events inside a stream, and whole (non-streamed) bodies.

use agentkit_core::message::{Message, Part};
use agentkit_core::model::{
    ErrorDetail, FinishReason, ModelError, ModelErrorKind, ModelResponse, StreamEvent,
};
use agentkit_core::usage::Usage;
use agentkit_llm::Protocol;
use agentkit_llm::anthropic::AnthropicConfig;
use agentkit_llm::sse::SseEvent;
use serde_json::{Value, json};

use crate::support::conversation::{assistant, call, request, result, text, user};
use crate::support::fold;
use crate::support::wire::{self, body_of, drive, fixture};
use crate::{FIXTURES, protocol, thinking, tools, uncached, with_info};

/// Every event the decoder produced from the fixture `name`, then the first
/// error.
fn decode(name: &str) -> (Vec<StreamEvent>, Option<ModelError>) {
    wire::decode_fixture(&protocol(), FIXTURES, name)
}

/// Every event the decoder produced from `data`, each as its own event.
fn decode_data(data: &[&str]) -> (Vec<StreamEvent>, Option<ModelError>) {
    drive(
        protocol().decoder(),
        data.iter().map(|d| event(d)).collect(),
    )
}

fn fold_fixture(name: &str) -> ModelResponse {
    wire::fold_fixture(&protocol(), FIXTURES, name)
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

fn usage(input: u64, output: u64, cached: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_tokens: 0,
    }
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
        fold(&events),
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
        fold(&events),
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
    let reply = fold(&events);
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
        fold(&events).finish_reason,
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
            .decode_body(fixture(FIXTURES, "body_text.json").as_bytes())
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
        .decode_body(fixture(FIXTURES, "body_tool_use.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(&events),
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
        .decode_body(fixture(FIXTURES, "body_thinking.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(&events),
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
    let raw = fixture(FIXTURES, "body_error.json");
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
