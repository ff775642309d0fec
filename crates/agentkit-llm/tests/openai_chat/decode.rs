//! Decoding: recorded-shape streams through the real SSE parser, errors
//! inside a 200 stream, and whole (non-streamed) bodies.

use agentkit_core::message::{Message, ToolCall};
use agentkit_core::model::{
    ErrorDetail, FinishReason, ModelError, ModelErrorKind, ModelResponse, StreamEvent,
};
use agentkit_core::usage::Usage;
use agentkit_llm::Protocol;
use serde_json::{Value, json};

use crate::support::conversation::{assistant, call, text};
use crate::support::fold;
use crate::support::wire::{self, drive, fixture, fixture_events, parse};
use crate::{FIXTURES, protocol, reasoning};

/// Decodes a body the way `HttpModel` does: the body goes through the SSE
/// parser in pieces of `piece` bytes, and its events through the decoder
/// (see [`drive`]). Returns every event, then the first error.
fn decode_in_pieces(body: &[u8], piece: usize) -> (Vec<StreamEvent>, Option<ModelError>) {
    let chunks: Vec<&[u8]> = body.chunks(piece).collect();
    drive(protocol().decoder(), parse(&chunks))
}

/// Decodes a fixture, delivered in one piece.
fn decode(name: &str) -> (Vec<StreamEvent>, Option<ModelError>) {
    wire::decode_fixture(&protocol(), FIXTURES, name)
}

/// Decodes `data:` payloads written inline, each as its own event.
fn decode_data(payloads: &[&str]) -> (Vec<StreamEvent>, Option<ModelError>) {
    let body: String = payloads.iter().map(|p| format!("data: {p}\n\n")).collect();
    decode_in_pieces(body.as_bytes(), usize::MAX)
}

fn fold_fixture(name: &str) -> ModelResponse {
    wire::fold_fixture(&protocol(), FIXTURES, name)
}

/// The `data` of the fixture's last event (where its error is).
fn last_data(name: &str) -> String {
    fixture_events(FIXTURES, name).pop().unwrap().data
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
    let body = fixture(FIXTURES, "tool_call.sse");
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
        fold(&events),
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
        fold(&events),
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
        fold(&events),
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
    let response = fold(&events);
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
        fold(&events).message,
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
    assert_eq!(fold(&events).usage, usage(100, 2, 64, 0));
}

#[test]
fn missing_usage_leaves_zero_and_an_empty_usage_object_overwrites_nothing() {
    let (events, error) =
        decode_data(&[&delta(json!({"content": "ok"})), &finish("stop"), "[DONE]"]);
    assert_eq!(error, None);
    assert_eq!(fold(&events).usage, Usage::default());

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
        fold(&events).finish_reason
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

#[test]
fn a_call_cut_off_before_any_argument_text_reads_as_incomplete_not_as_empty_object() {
    let start = delta(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
        "function": {"name": "write_file", "arguments": ""}}]}),
    );
    let (events, error) = decode_data(&[&start, &finish("length"), "[DONE]"]);
    assert_eq!(error, None);
    let reply = fold(&events);
    assert_eq!(reply.finish_reason, FinishReason::Length);
    let calls: Vec<_> = reply.message.tool_calls().cloned().collect();
    assert_eq!(calls[0].arguments, "");
    // The same call in a reply that ended normally: a tool without parameters.
    let (events, _) = decode_data(&[&start, &finish("tool_calls"), "[DONE]"]);
    assert_eq!(
        fold(&events).message.tool_calls().next().unwrap().arguments,
        "{}"
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
        .decode_body(fixture(FIXTURES, "body_text.json").as_bytes())
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
        .decode_body(fixture(FIXTURES, "body_tool_calls.json").as_bytes())
        .unwrap();
    assert_eq!(
        fold(&events),
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
    let raw = fixture(FIXTURES, "body_error.json");
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
