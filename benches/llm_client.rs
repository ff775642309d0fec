//! Per-request overhead of the model client: what one `Model::complete`
//! costs besides the provider's own time.
//!
//! - `in_memory`: `HttpModel` over a transport that answers at once with a
//!   canned stream: request building, JSON encoding, SSE parsing, decoding,
//!   folding — the client's own work, no sockets.
//! - `loopback_http`: the same over reqwest to a keep-alive HTTP/1.1 server
//!   on 127.0.0.1 that answers every request with the canned stream: adds
//!   the HTTP stack and the loopback round trip.
//!
//! The reply is a short text (the first step of a typical agent turn); the
//! request carries a system prompt, 20 messages and 9 tool schemas.

use std::sync::Arc;

use agentkit::core::message::Message;
use agentkit::core::model::{Model, ModelRequest, ToolChoice};
use agentkit::llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
use agentkit::llm::transport::{HttpRequest, HttpResponse, Transport, TransportError};
use agentkit::llm::{HttpModel, ReqwestTransport, RetryPolicy};
use agentkit::tools::tools::standard_tools;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"I will read\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the failing test first.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":9}}\n\n",
    "data: [DONE]\n\n",
);

fn request() -> ModelRequest {
    let mut messages = Vec::new();
    for n in 0..10 {
        messages.push(Message::user(format!(
            "Tool output number {n}: {}",
            "line of output\n".repeat(20)
        )));
        messages.push(Message::assistant(format!(
            "Step {n}: reading the next file."
        )));
    }
    ModelRequest {
        system: "You are an autonomous coding agent.".repeat(20),
        messages,
        tools: standard_tools().specs(),
        tool_choice: ToolChoice::Auto,
        max_output_tokens: Some(4096),
        temperature: None,
        reasoning_effort: None,
    }
}

fn protocol(base_url: &str) -> OpenAiChat {
    OpenAiChat::new(OpenAiChatConfig::compatible(base_url, "bench-model", None))
}

/// Answers every request at once with [`STREAM`].
struct Canned;

#[async_trait::async_trait]
impl Transport for Canned {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = futures::stream::iter([Ok(bytes::Bytes::from_static(STREAM.as_bytes()))]);
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: futures::StreamExt::boxed(body),
        })
    }
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with
/// [`STREAM`]; returns its base URL.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut scratch = [0u8; 16 * 1024];
                loop {
                    // One request: headers, then content-length bytes.
                    let (head, length) = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                        match socket.read(&mut scratch).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&scratch[..n]),
                        }
                    };
                    while buf.len() < head + length {
                        match socket.read(&mut scratch).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&scratch[..n]),
                        }
                    }
                    buf.drain(..head + length);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{STREAM}",
                        STREAM.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = request();
    let mut group = c.benchmark_group("llm_client");

    let in_memory = HttpModel::new(protocol("http://unused/v1"), Arc::new(Canned))
        .with_retry(RetryPolicy::none());
    group.bench_function("in_memory", |b| {
        b.to_async(&runtime).iter(|| async {
            let reply = in_memory.complete(request.clone()).await.unwrap();
            assert_eq!(reply.usage.input_tokens, 1200);
        })
    });

    let base = runtime.block_on(serve());
    let loopback = HttpModel::new(protocol(&base), Arc::new(ReqwestTransport::new().unwrap()))
        .with_retry(RetryPolicy::none());
    group.bench_function("loopback_http", |b| {
        b.to_async(&runtime).iter(|| async {
            let reply = loopback.complete(request.clone()).await.unwrap();
            assert_eq!(reply.usage.input_tokens, 1200);
        })
    });
    group.finish();
}

criterion_group!(benches, client);
criterion_main!(benches);
