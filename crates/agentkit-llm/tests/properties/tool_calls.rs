//! Tool-call assembly through the real protocol decoders: generated calls
//! encoded in each provider's stream shape, cut into random chunks, come
//! out in order with exactly the original argument text.

use agentkit_core::message::ToolCall;
use agentkit_core::model::{FinishReason, ModelError, ModelResponse, StreamEvent};
use agentkit_llm::anthropic::{Anthropic, AnthropicConfig};
use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
use agentkit_llm::openai::responses::{OpenAiResponses, OpenAiResponsesConfig};
use agentkit_llm::{Protocol, StreamDecoder};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use crate::support::fold;
use crate::support::wire::{drive, parse};
use crate::{chunks, config, text};

/// Drives a decoder as `HttpModel` does (see [`drive`]) over `chunks` put
/// through the real parser: the events, or the first error.
fn decode(
    decoder: Box<dyn StreamDecoder>,
    chunks: &[&[u8]],
) -> Result<Vec<StreamEvent>, ModelError> {
    match drive(decoder, parse(chunks)) {
        (events, None) => Ok(events),
        (_, Some(error)) => Err(error),
    }
}

fn tool_calls(response: &ModelResponse) -> Vec<ToolCall> {
    response.message.tool_calls().cloned().collect()
}

fn chat_decoder() -> Box<dyn StreamDecoder> {
    OpenAiChat::new(OpenAiChatConfig::compatible(
        "http://localhost:8000/v1",
        "some-model",
        None,
    ))
    .decoder()
}

fn anthropic_decoder() -> Box<dyn StreamDecoder> {
    Anthropic::new(AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-test")).decoder()
}

fn responses_decoder() -> Box<dyn StreamDecoder> {
    OpenAiResponses::new(OpenAiResponsesConfig::new("gpt-5", "sk-test")).decoder()
}

/// `text` cut at the char boundaries `cuts` pick (empty pieces included).
fn fragments(text: &str, cuts: &[Index]) -> Vec<String> {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let mut at: Vec<usize> = cuts.iter().map(|i| bounds[i.index(bounds.len())]).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in at {
        out.push(text[start..cut].to_owned());
        start = cut;
    }
    out.push(text[start..].to_owned());
    out
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text(16).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(8), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(text(10), json_value(), 0..5).prop_map(|m| m.into_iter().collect())
}

/// Argument text as a model writes it: compact or pretty JSON.
fn argument_text() -> impl Strategy<Value = String> {
    (json_object(), any::<bool>()).prop_map(|(object, pretty)| {
        let value = Value::Object(object);
        if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            value.to_string()
        }
    })
}

fn tool_name() -> impl Strategy<Value = String> {
    "[\\p{L}_][\\p{L}\\p{N}_-]{0,24}"
}

/// A generated tool call.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    name: String,
    arguments: String,
    /// Where the argument text is cut into fragments.
    cuts: Vec<Index>,
}

fn calls(max: usize) -> impl Strategy<Value = Vec<Call>> {
    prop::collection::vec(
        (
            "[A-Za-z0-9]{4,12}",
            tool_name(),
            argument_text(),
            prop::collection::vec(any::<Index>(), 0..12),
        ),
        1..max,
    )
    .prop_map(|calls| {
        calls
            .into_iter()
            .enumerate()
            .map(|(i, (suffix, name, arguments, cuts))| Call {
                // Distinct ids, as providers give them.
                id: format!("call_{i}_{suffix}"),
                name,
                arguments,
                cuts,
            })
            .collect()
    })
}

fn expected_calls(calls: &[Call]) -> Vec<ToolCall> {
    calls
        .iter()
        .map(|c| ToolCall {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
        })
        .collect()
}

fn sse_data(json: &Value) -> String {
    format!("data: {json}\n\n")
}

fn sse_named(json: &Value) -> String {
    format!(
        "event: {}\ndata: {json}\n\n",
        json["type"].as_str().unwrap()
    )
}

fn chat_chunk(delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "some-model",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
    })
}

/// One entry of a chunk's `tool_calls`: the call's first (with id and
/// name, and no argument text, as OpenAI sends it) or a fragment (llama.cpp
/// repeats id and name; vLLM may send the first fragment with the name).
fn chat_tool_entry(index: usize, call: &Call, fragment: Option<&str>, repeat: bool) -> Value {
    match fragment {
        None => json!({
            "index": index, "id": call.id, "type": "function",
            "function": { "name": call.name, "arguments": "" },
        }),
        Some(fragment) if repeat => json!({
            "index": index, "id": call.id, "type": "function",
            "function": { "name": call.name, "arguments": fragment },
        }),
        Some(fragment) => json!({ "index": index, "function": { "arguments": fragment } }),
    }
}

/// How the calls' pieces are laid out on the wire.
#[derive(Debug, Clone)]
struct Schedule {
    /// Which open call the next piece comes from (modulo the choices).
    picks: Vec<Index>,
    /// How many pieces each chunk carries (1 to 3, cycled).
    per_chunk: Vec<u8>,
    /// Whether every fragment repeats the id and name.
    repeat: bool,
    /// Whether a call's first fragment comes with its id and name.
    merge_start: bool,
    /// Whether a text delta comes first.
    preamble: bool,
    /// Whether a usage chunk follows the finish.
    usage: bool,
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        prop::collection::vec(any::<Index>(), 64),
        prop::collection::vec(1u8..=3, 1..8),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(picks, per_chunk, repeat, merge_start, preamble, usage)| Schedule {
                picks,
                per_chunk,
                repeat,
                merge_start,
                preamble,
                usage,
            },
        )
}

/// A Chat Completions stream for `calls`, with `fragments[i]` as call `i`'s
/// argument text, interleaved by `schedule`. Calls start in index order (as
/// every server does); their fragments interleave freely.
fn chat_stream(
    calls: &[Call],
    fragments: &[Vec<String>],
    schedule: &Schedule,
    finish_reason: &str,
    done: bool,
) -> String {
    let mut body = sse_data(&chat_chunk(
        json!({ "role": "assistant", "content": null }),
        None,
    ));
    if schedule.preamble {
        body += &sse_data(&chat_chunk(json!({ "content": "Let me look ✓ " }), None));
    }
    // Pieces: for call i, the start then each fragment.
    let mut next = vec![0usize; calls.len()];
    let mut started = 0;
    let mut entries = Vec::new();
    let mut picks = schedule.picks.iter().cycle();
    loop {
        let open: Vec<usize> = (0..calls.len())
            .filter(|&i| i < started && next[i] <= fragments[i].len())
            .chain((started < calls.len()).then_some(started))
            .collect();
        if open.is_empty() {
            break;
        }
        let i = open[picks.next().unwrap().index(open.len())];
        if i == started {
            started += 1;
        }
        let fragment = next[i].checked_sub(1).map(|f| fragments[i][f].as_str());
        if fragment.is_none() && schedule.merge_start && !fragments[i].is_empty() {
            entries.push(chat_tool_entry(i, &calls[i], Some(&fragments[i][0]), true));
            next[i] += 2;
            continue;
        }
        entries.push(chat_tool_entry(i, &calls[i], fragment, schedule.repeat));
        next[i] += 1;
    }
    let mut sizes = schedule.per_chunk.iter().cycle();
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let n = *sizes.next().unwrap() as usize;
        let group: Vec<Value> = entries.by_ref().take(n).collect();
        body += &sse_data(&chat_chunk(json!({ "tool_calls": group }), None));
    }
    body += &sse_data(&chat_chunk(json!({}), Some(finish_reason)));
    if schedule.usage {
        body += &sse_data(&json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
            "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 },
        }));
    }
    if done {
        body += "data: [DONE]\n\n";
    }
    body
}

/// An Anthropic Messages stream: an optional text block, then one
/// `tool_use` block per call with its `input_json_delta` fragments (and
/// pings between them). `stop_blocks` sends each block's
/// `content_block_stop`; without it `message_stop` closes them.
fn anthropic_stream(
    calls: &[Call],
    fragments: &[Vec<String>],
    preamble: bool,
    pings: &[bool],
    stop_reason: &str,
    stop_blocks: bool,
) -> String {
    let mut pings = pings.iter().cycle();
    let mut ping = |body: &mut String| {
        if *pings.next().unwrap_or(&false) {
            *body += &sse_named(&json!({ "type": "ping" }));
        }
    };
    let mut body = sse_named(&json!({
        "type": "message_start",
        "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 100, "output_tokens": 1 },
        },
    }));
    let mut index = 0;
    if preamble {
        body += &sse_named(&json!({
            "type": "content_block_start", "index": 0,
            "content_block": { "type": "text", "text": "" },
        }));
        body += &sse_named(&json!({
            "type": "content_block_delta", "index": 0,
            "delta": { "type": "text_delta", "text": "Let me look ✓" },
        }));
        body += &sse_named(&json!({ "type": "content_block_stop", "index": 0 }));
        index = 1;
    }
    for (call, fragments) in calls.iter().zip(fragments) {
        body += &sse_named(&json!({
            "type": "content_block_start", "index": index,
            "content_block": { "type": "tool_use", "id": call.id, "name": call.name, "input": {} },
        }));
        for fragment in fragments {
            ping(&mut body);
            body += &sse_named(&json!({
                "type": "content_block_delta", "index": index,
                "delta": { "type": "input_json_delta", "partial_json": fragment },
            }));
        }
        if stop_blocks {
            body += &sse_named(&json!({ "type": "content_block_stop", "index": index }));
        }
        index += 1;
    }
    body += &sse_named(&json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason, "stop_sequence": null },
        "usage": { "output_tokens": 20 },
    }));
    body += &sse_named(&json!({ "type": "message_stop" }));
    body
}

/// How a Responses API call ends.
#[derive(Debug, Clone, Copy)]
enum ResponsesEnd {
    /// `function_call_arguments.done` and `output_item.done` with the
    /// whole text, then `response.completed`.
    Completed,
    /// Only `output_item.done` repeats the text (no `arguments.done`).
    ItemDoneOnly,
    /// No done events: `response.incomplete` (the output cap) ends it.
    Incomplete,
}

/// A Responses API stream: each call's `output_item.added`, its
/// `function_call_arguments.delta`s interleaved with the other calls' by
/// `schedule`, then the done events (`ends`).
fn responses_stream(
    calls: &[Call],
    fragments: &[Vec<String>],
    schedule: &Schedule,
    end: ResponsesEnd,
) -> String {
    let mut sequence = 0;
    let mut body = String::new();
    let mut push = |mut value: Value| {
        value["sequence_number"] = json!(sequence);
        sequence += 1;
        body.push_str(&sse_named(&value));
    };
    let response = |status: &str| {
        json!({
            "id": "resp_1", "object": "response", "created_at": 1, "status": status,
            "error": null, "model": "gpt-5", "output": [],
            "incomplete_details": if status == "incomplete" {
                json!({ "reason": "max_output_tokens" })
            } else {
                Value::Null
            },
            "usage": {
                "input_tokens": 100, "input_tokens_details": { "cached_tokens": 0 },
                "output_tokens": 20, "output_tokens_details": { "reasoning_tokens": 0 },
                "total_tokens": 120,
            },
        })
    };
    push(json!({ "type": "response.created", "response": response("in_progress") }));
    let item = |i: usize, call: &Call, arguments: &str, status: &str| {
        json!({
            "id": format!("fc_{i}"), "type": "function_call", "status": status,
            "arguments": arguments, "call_id": call.id, "name": call.name,
        })
    };
    // Pieces: for call i, `output_item.added` then each fragment.
    let mut next = vec![0usize; calls.len()];
    let mut started = 0;
    let mut picks = schedule.picks.iter().cycle();
    loop {
        let open: Vec<usize> = (0..calls.len())
            .filter(|&i| i < started && next[i] <= fragments[i].len())
            .chain((started < calls.len()).then_some(started))
            .collect();
        if open.is_empty() {
            break;
        }
        let i = open[picks.next().unwrap().index(open.len())];
        if i == started {
            started += 1;
        }
        match next[i].checked_sub(1) {
            None => push(json!({
                "type": "response.output_item.added", "output_index": i,
                "item": item(i, &calls[i], "", "in_progress"),
            })),
            Some(f) => push(json!({
                "type": "response.function_call_arguments.delta", "output_index": i,
                "item_id": format!("fc_{i}"), "delta": fragments[i][f], "obfuscation": "x",
            })),
        }
        next[i] += 1;
    }
    if matches!(end, ResponsesEnd::Incomplete) {
        push(json!({ "type": "response.incomplete", "response": response("incomplete") }));
        return body;
    }
    for (i, call) in calls.iter().enumerate() {
        if matches!(end, ResponsesEnd::Completed) {
            push(json!({
                "type": "response.function_call_arguments.done", "output_index": i,
                "item_id": format!("fc_{i}"), "arguments": call.arguments,
            }));
        }
        push(json!({
            "type": "response.output_item.done", "output_index": i,
            "item": item(i, call, &call.arguments, "completed"),
        }));
    }
    push(json!({ "type": "response.completed", "response": response("completed") }));
    body
}

fn all_fragments(calls: &[Call]) -> Vec<Vec<String>> {
    calls
        .iter()
        .map(|c| fragments(&c.arguments, &c.cuts))
        .collect()
}

/// A single call whose argument text is cut after `keep` characters (at
/// least one, fewer than all).
fn truncated_call() -> impl Strategy<Value = (Call, String)> {
    calls(2)
        .prop_flat_map(|calls| {
            let call = calls.into_iter().next().unwrap();
            let chars = call.arguments.chars().count();
            (Just(call), 1..chars)
        })
        .prop_map(|(mut call, keep)| {
            let truncated: String = call.arguments.chars().take(keep).collect();
            call.arguments = truncated.clone();
            (call, truncated)
        })
}

proptest! {
    #![proptest_config(config())]

    /// Chat Completions: interleaved fragments, any byte chunking, the
    /// exact argument text in order.
    #[test]
    fn chat_tool_calls_keep_their_exact_arguments_in_order(
        calls in calls(5),
        schedule in schedule(),
        cuts in prop::collection::vec(any::<Index>(), 0..32),
        done in any::<bool>(),
    ) {
        let fragments = all_fragments(&calls);
        let body = chat_stream(&calls, &fragments, &schedule, "tool_calls", done);
        let events = decode(chat_decoder(), &chunks(body.as_bytes(), &cuts))
            .expect("a complete stream decodes");
        let response = fold(&events);
        prop_assert_eq!(tool_calls(&response), expected_calls(&calls));
        prop_assert_eq!(response.finish_reason, FinishReason::ToolCalls);
        let text = if schedule.preamble { "Let me look ✓ " } else { "" };
        prop_assert_eq!(response.message.text(), text);
    }

    /// Anthropic: `input_json_delta` fragments (empty ones included), pings
    /// between them, any byte chunking, the exact argument text in order.
    #[test]
    fn anthropic_tool_calls_keep_their_exact_arguments_in_order(
        calls in calls(5),
        preamble in any::<bool>(),
        pings in prop::collection::vec(any::<bool>(), 1..8),
        stop_blocks in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..32),
    ) {
        let fragments = all_fragments(&calls);
        let body = anthropic_stream(&calls, &fragments, preamble, &pings, "tool_use", stop_blocks);
        let events = decode(anthropic_decoder(), &chunks(body.as_bytes(), &cuts))
            .expect("a complete stream decodes");
        let response = fold(&events);
        prop_assert_eq!(tool_calls(&response), expected_calls(&calls));
        prop_assert_eq!(response.finish_reason, FinishReason::ToolCalls);
        prop_assert_eq!(response.message.text(), if preamble { "Let me look ✓" } else { "" });
    }

    /// Responses API: deltas interleaved by `output_index` (or none at all,
    /// the text only in the done events), any byte chunking, the exact
    /// argument text in order, never doubled by the done events.
    #[test]
    fn responses_tool_calls_keep_their_exact_arguments_in_order(
        calls in calls(5),
        schedule in schedule(),
        streamed in any::<bool>(),
        arguments_done in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..32),
    ) {
        // Without streamed deltas, each call's text arrives only whole.
        let fragments: Vec<Vec<String>> = if streamed {
            all_fragments(&calls)
        } else {
            vec![Vec::new(); calls.len()]
        };
        let end = if arguments_done { ResponsesEnd::Completed } else { ResponsesEnd::ItemDoneOnly };
        let body = responses_stream(&calls, &fragments, &schedule, end);
        let events = decode(responses_decoder(), &chunks(body.as_bytes(), &cuts))
            .expect("a complete stream decodes");
        let response = fold(&events);
        prop_assert_eq!(tool_calls(&response), expected_calls(&calls));
        prop_assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    }

    /// A call cut short by the output cap keeps exactly the text it got:
    /// it is never repaired and never replaced with `{}`.
    #[test]
    fn a_truncated_call_keeps_exactly_the_truncated_text(
        (call, truncated) in truncated_call(),
        schedule in schedule(),
        cuts in prop::collection::vec(any::<Index>(), 0..32),
        done in any::<bool>(),
        stop_blocks in any::<bool>(),
    ) {
        let calls = vec![call];
        let fragments = all_fragments(&calls);

        let body = chat_stream(&calls, &fragments, &schedule, "length", done);
        let response = fold(
            &decode(chat_decoder(), &chunks(body.as_bytes(), &cuts))
                .expect("a finished stream decodes"),
        );
        let got = tool_calls(&response);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].arguments.as_str(), truncated.as_str());
        prop_assert_ne!(got[0].arguments.as_str(), "{}");
        prop_assert_eq!(response.finish_reason, FinishReason::Length);

        let body = anthropic_stream(&calls, &fragments, false, &[false], "max_tokens", stop_blocks);
        let response = fold(
            &decode(anthropic_decoder(), &chunks(body.as_bytes(), &cuts))
                .expect("a finished stream decodes"),
        );
        let got = tool_calls(&response);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].arguments.as_str(), truncated.as_str());
        prop_assert_ne!(got[0].arguments.as_str(), "{}");
        prop_assert_eq!(response.finish_reason, FinishReason::Length);

        let body = responses_stream(&calls, &fragments, &schedule, ResponsesEnd::Incomplete);
        let response = fold(
            &decode(responses_decoder(), &chunks(body.as_bytes(), &cuts))
                .expect("a finished stream decodes"),
        );
        let got = tool_calls(&response);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].arguments.as_str(), truncated.as_str());
        prop_assert_ne!(got[0].arguments.as_str(), "{}");
        prop_assert_eq!(response.finish_reason, FinishReason::Length);
    }

    /// A body cut before the reply finished (before the end of the chunk
    /// carrying `finish_reason`, or of `message_stop`) is an error, never a
    /// reply with silently shortened calls.
    #[test]
    fn a_body_cut_before_the_finish_is_an_error(
        calls in calls(4),
        schedule in schedule(),
        cut in any::<Index>(),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let fragments = all_fragments(&calls);

        let body = chat_stream(&calls, &fragments, &schedule, "tool_calls", true);
        let finish = body.find("\"finish_reason\":\"tool_calls\"").expect("a finish chunk");
        let finish_end = finish + body[finish..].find("\n\n").unwrap();
        let short = &body.as_bytes()[..cut.index(finish_end - 1)];
        prop_assert!(decode(chat_decoder(), &chunks(short, &cuts)).is_err());

        let body = anthropic_stream(&calls, &fragments, false, &[false], "tool_use", true);
        let stop = body.find("{\"type\":\"message_stop\"}").expect("a message_stop");
        let stop_end = stop + "{\"type\":\"message_stop\"}".len();
        let short = &body.as_bytes()[..cut.index(stop_end - 1)];
        prop_assert!(decode(anthropic_decoder(), &chunks(short, &cuts)).is_err());
    }
}
