//! Streaming throughput: the SSE parser alone, and the parser plus a
//! protocol decoder, in MB/s of response body.
//!
//! Two bodies, each fed in network-sized chunks (1 KiB and 16 KiB):
//!
//! - `openai_chat_text`: a Chat Completions stream of many small text
//!   deltas (a few characters each, inside OpenAI's full chunk envelope),
//!   the common shape of a model writing prose or code;
//! - `anthropic_tool_json`: an Anthropic stream of one `write_file` call
//!   whose arguments (a large source file, so full of escaped quotes and
//!   newlines) arrive as large `input_json_delta` fragments.
//!
//! `parse` runs `SseParser` only; `decode` also runs the protocol's
//! `StreamDecoder` on every event, as `HttpModel` does.

use std::hint::black_box;

use agentkit_llm::anthropic::{Anthropic, AnthropicConfig};
use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
use agentkit_llm::sse::SseParser;
use agentkit_llm::{Protocol, StreamDecoder};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const CHUNK_SIZES: [usize; 2] = [1024, 16 * 1024];

/// Deterministic word-ish tokens, as a tokenizer streams them.
const TOKENS: &[&str] = &[
    "The",
    " function",
    " returns",
    " an",
    " error",
    " when",
    " the",
    " file",
    " is",
    " missing",
    ".",
    "\n\n",
    "```",
    "rust",
    "\n",
    "fn",
    " main",
    "()",
    " {",
    "\n   ",
    " let",
    " x",
    " =",
    " \"",
    "héllo",
    "\"",
    ";",
    " }",
    " ✓",
    " 😀",
];

/// A Chat Completions stream of `deltas` small text deltas, then the finish,
/// usage and `[DONE]`.
fn openai_chat_text(deltas: usize) -> Vec<u8> {
    let mut body = String::new();
    let envelope = |delta: serde_json::Value, finish: Option<&str>| {
        json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion.chunk",
            "created": 1741569952,
            "model": "gpt-4.1-2025-04-14",
            "service_tier": "default",
            "system_fingerprint": "fp_c7ca0ebaca",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    };
    let mut push = |value: serde_json::Value| body.push_str(&format!("data: {value}\n\n"));
    push(envelope(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        None,
    ));
    for i in 0..deltas {
        push(envelope(
            json!({ "content": TOKENS[(i * 7 + i / 3) % TOKENS.len()] }),
            None,
        ));
    }
    push(envelope(json!({}), Some("stop")));
    push(json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": { "prompt_tokens": 1200, "completion_tokens": deltas, "total_tokens": 1200 + deltas },
    }));
    body.push_str("data: [DONE]\n\n");
    body.into_bytes()
}

/// An Anthropic stream with one `write_file` call whose arguments (about
/// `bytes` of JSON text) arrive as `fragment`-byte `input_json_delta`s.
fn anthropic_tool_json(bytes: usize, fragment: usize) -> Vec<u8> {
    let mut source = String::new();
    let mut i = 0;
    while source.len() < bytes {
        source.push_str(&format!(
            "    let value_{i} = parse(\"line {i}: héllo ✓\", &mut buffer)?; // \"quoted\"\n"
        ));
        i += 1;
    }
    let arguments = json!({ "path": "src/generated.rs", "content": source }).to_string();
    let mut body = String::new();
    let mut push = |value: serde_json::Value| {
        let kind = value["type"].as_str().unwrap().to_owned();
        body.push_str(&format!("event: {kind}\ndata: {value}\n\n"));
    };
    push(json!({
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5", "stop_reason": null,
            "stop_sequence": null, "usage": { "input_tokens": 2500, "output_tokens": 1 },
        },
    }));
    push(json!({
        "type": "content_block_start", "index": 0,
        "content_block": { "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                           "name": "write_file", "input": {} },
    }));
    let mut rest = arguments.as_str();
    while !rest.is_empty() {
        let mut cut = fragment.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        push(json!({
            "type": "content_block_delta", "index": 0,
            "delta": { "type": "input_json_delta", "partial_json": piece },
        }));
        rest = tail;
    }
    push(json!({ "type": "content_block_stop", "index": 0 }));
    push(json!({
        "type": "message_delta",
        "delta": { "stop_reason": "tool_use", "stop_sequence": null },
        "usage": { "output_tokens": 9000 },
    }));
    push(json!({ "type": "message_stop" }));
    body.into_bytes()
}

fn parse_only(chunks: &[&[u8]]) -> usize {
    let mut parser = SseParser::new();
    let mut events = 0;
    for chunk in chunks {
        for event in parser.push(chunk) {
            events += black_box(&event).data.len();
        }
    }
    events + parser.finish().map_or(0, |e| e.data.len())
}

fn parse_and_decode(chunks: &[&[u8]], mut decoder: Box<dyn StreamDecoder>) -> usize {
    let mut parser = SseParser::new();
    let mut out = 0;
    for chunk in chunks {
        for event in parser.push(chunk) {
            out += black_box(decoder.event(&event).unwrap()).len();
        }
    }
    if let Some(event) = parser.finish() {
        out += decoder.event(&event).unwrap().len();
    }
    out + decoder.end().unwrap().len()
}

fn sse(c: &mut Criterion) {
    let chat = OpenAiChat::new(OpenAiChatConfig::openai("gpt-4.1", "sk-bench"));
    let anthropic = Anthropic::new(AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-bench"));
    let bodies: [(&str, Vec<u8>, &dyn Protocol); 2] = [
        ("openai_chat_text", openai_chat_text(4_000), &chat),
        (
            "anthropic_tool_json",
            anthropic_tool_json(1 << 20, 4096),
            &anthropic,
        ),
    ];
    for (name, body, protocol) in &bodies {
        let mut group = c.benchmark_group(format!("sse/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        for size in CHUNK_SIZES {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            group.bench_with_input(BenchmarkId::new("parse", size), &chunks, |b, chunks| {
                b.iter(|| parse_only(chunks))
            });
            group.bench_with_input(BenchmarkId::new("decode", size), &chunks, |b, chunks| {
                b.iter(|| parse_and_decode(chunks, protocol.decoder()))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, sse);
criterion_main!(benches);
