//! Every backend over real HTTP against a scripted server on 127.0.0.1, and
//! the fault table: statuses and headers, streams cut at every byte,
//! malformed data, error events inside a 200 stream, slow and silent
//! servers, refused connections. Each case pins the retries (how many
//! requests the server saw) and the error kind the caller gets.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::model::{FinishReason, ModelErrorKind, StreamEvent};
use agentkit_llm::{ReqwestTransport, RetryPolicy, Transport};

use support::server::{Ending, Reply, Server};
use support::{Backend, KEY, call, fold, quick};

// ------------------------------------------------------------- happy paths

#[tokio::test]
async fn every_backend_streams_a_reply_over_http_with_its_credentials() {
    for backend in Backend::ALL {
        let server = Server::start(vec![Reply::sse(backend.stream())]).await;
        let model = backend.model(&server, quick(0));
        let (events, error) = call(&model).await;
        assert_eq!(error, None, "{backend:?}");
        let reply = fold(&events);
        assert_eq!(reply.message.text(), backend.text(), "{backend:?}");
        assert_eq!(reply.finish_reason, FinishReason::Stop, "{backend:?}");
        assert!(
            reply.usage.input_tokens > 0,
            "{backend:?}: {:?}",
            reply.usage
        );

        let received = server.received();
        assert_eq!(received.len(), 1, "{backend:?}");
        let request = &received[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", backend.path())
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        match backend {
            Backend::Anthropic => {
                assert_eq!(request.header("x-api-key"), Some(KEY));
                assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(request.header("authorization"), None);
            }
            _ => assert_eq!(
                request.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            ),
        }
        assert_eq!(request.json()["stream"], true, "{backend:?}");
    }
}

#[tokio::test]
async fn a_non_streamed_call_reads_the_whole_body() {
    let body = r#"{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4.1",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
    let server = Server::start(vec![Reply::json(503, "{}"), Reply::json(200, body)]).await;
    let model = Backend::Chat.model(&server, quick(1)).streaming(false);
    let (events, error) = call(&model).await;
    assert_eq!(error, None);
    assert_eq!(fold(&events).message.text(), "Hello there.");
    let received = server.received();
    assert_eq!(received.len(), 2, "the 503 was retried");
    assert_eq!(received[1].json().get("stream"), None);
}

#[tokio::test]
async fn a_server_that_ignores_stream_and_answers_json_is_read_whole() {
    let body = r#"{"choices":[{"message":{"content":"Hello there."},"finish_reason":"stop"}]}"#;
    let server = Server::start(vec![Reply::json(200, body)]).await;
    let (events, error) = call(&Backend::Chat.model(&server, quick(0))).await;
    assert_eq!(error, None);
    assert_eq!(fold(&events).message.text(), "Hello there.");
}

// ------------------------------------------------------ statuses, headers

#[tokio::test]
async fn retryable_statuses_are_retried_and_the_next_answer_is_used() {
    for backend in Backend::ALL {
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            let body = backend.error_body("server_error", None, "try again");
            let server = Server::start(vec![
                Reply::json(status, &body),
                Reply::sse(backend.stream()),
            ])
            .await;
            let (events, error) = call(&backend.model(&server, quick(2))).await;
            assert_eq!(error, None, "{backend:?} {status}");
            assert_eq!(fold(&events).message.text(), backend.text());
            assert_eq!(server.received().len(), 2, "{backend:?} {status}");
        }
    }
}

#[tokio::test]
async fn other_failures_are_not_retried_and_keep_their_kind_status_and_body() {
    let chat = |kind: &str, code: Option<&str>, message: &str| {
        Backend::Chat.error_body(kind, code, message)
    };
    let anthropic = |kind: &str, message: &str| Backend::Anthropic.error_body(kind, None, message);
    let cases = [
        (
            Backend::Chat,
            400,
            chat("invalid_request_error", None, "bad"),
            ModelErrorKind::InvalidRequest,
        ),
        (
            Backend::Chat,
            401,
            chat(
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided",
            ),
            ModelErrorKind::Auth,
        ),
        (
            Backend::Chat,
            403,
            chat("permission_error", None, "no"),
            ModelErrorKind::Auth,
        ),
        (
            Backend::Chat,
            404,
            chat(
                "invalid_request_error",
                Some("model_not_found"),
                "The model does not exist",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            Backend::Chat,
            422,
            chat("invalid_request_error", None, "unprocessable"),
            ModelErrorKind::InvalidRequest,
        ),
        (
            Backend::Chat,
            429,
            chat(
                "insufficient_quota",
                Some("insufficient_quota"),
                "You exceeded your current quota",
            ),
            ModelErrorKind::Quota,
        ),
        (
            Backend::Chat,
            400,
            chat(
                "invalid_request_error",
                Some("context_length_exceeded"),
                "This model's maximum context length is 128000 tokens",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            Backend::Responses,
            429,
            Backend::Responses.error_body(
                "insufficient_quota",
                Some("insufficient_quota"),
                "quota",
            ),
            ModelErrorKind::Quota,
        ),
        (
            Backend::Responses,
            401,
            Backend::Responses.error_body(
                "invalid_request_error",
                Some("invalid_api_key"),
                "bad key",
            ),
            ModelErrorKind::Auth,
        ),
        (
            Backend::Anthropic,
            401,
            anthropic("authentication_error", "invalid x-api-key"),
            ModelErrorKind::Auth,
        ),
        (
            Backend::Anthropic,
            400,
            anthropic(
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            Backend::Anthropic,
            400,
            anthropic(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            Backend::Anthropic,
            404,
            anthropic("not_found_error", "model: claude-nope"),
            ModelErrorKind::InvalidRequest,
        ),
    ];
    for (backend, status, body, kind) in cases {
        let server = Server::start(vec![
            Reply::json(status, &body),
            Reply::sse(backend.stream()),
        ])
        .await;
        let (events, error) = call(&backend.model(&server, quick(2))).await;
        let error = error.unwrap_or_else(|| panic!("{backend:?} {status} {body} succeeded"));
        assert_eq!(error.kind(), kind, "{backend:?} {status} {body}");
        assert_eq!(error.detail().status, Some(status));
        assert_eq!(error.detail().body, body);
        assert!(events.is_empty());
        assert_eq!(
            server.received().len(),
            1,
            "{backend:?} {status}: not retried"
        );
        assert_eq!(server.unused(), 1);
    }
}

#[tokio::test]
async fn x_should_retry_overrides_the_status_either_way() {
    let body = Backend::Chat.error_body("invalid_request_error", None, "hm");
    let server = Server::start(vec![
        Reply::json(400, &body).header("x-should-retry", "true"),
        Reply::sse(Backend::Chat.stream()),
    ])
    .await;
    let (_, error) = call(&Backend::Chat.model(&server, quick(2))).await;
    assert_eq!(error, None);
    assert_eq!(server.received().len(), 2);

    let server = Server::start(vec![
        Reply::json(503, &body).header("x-should-retry", "false"),
        Reply::sse(Backend::Chat.stream()),
    ])
    .await;
    let (_, error) = call(&Backend::Chat.model(&server, quick(2))).await;
    assert!(!error.unwrap().is_retryable());
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_policy_and_report_the_last_error() {
    let server = Server::start(vec![
        Reply::json(502, "<html>bad gateway</html>"),
        Reply::json(503, "{}"),
        Reply::json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
        Reply::sse(Backend::Chat.stream()),
    ])
    .await;
    let (_, error) = call(&Backend::Chat.model(&server, quick(2))).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert_eq!(error.detail().status, Some(500));
    assert!(error.detail().message.contains("boom"), "{error}");
    assert_eq!(server.received().len(), 3, "one call and two retries");
}

#[tokio::test]
async fn retry_after_is_waited_for() {
    let body = Backend::Chat.error_body("tokens", Some("rate_limit_exceeded"), "slow down");
    let server = Server::start(vec![
        Reply::json(429, &body).header("retry-after-ms", "400"),
        Reply::sse(Backend::Chat.stream()),
    ])
    .await;
    let started = Instant::now();
    let (_, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error, None);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the 400 ms the server asked for were not waited: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_falls_back_to_the_backoff() {
    let body = Backend::Chat.error_body("tokens", Some("rate_limit_exceeded"), "slow down");
    let server = Server::start(vec![
        Reply::json(429, &body).header("retry-after", "3600"),
        Reply::sse(Backend::Chat.stream()),
    ])
    .await;
    let started = Instant::now();
    let (_, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error, None);
    // Not an hour: the 60 s cap sends it back to the 1 ms backoff.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(server.received().len(), 2);
}

// ---------------------------------------------------------- broken streams

/// Where the first event that produces output ends: a cut before it leaves
/// the caller with nothing, so the call may be repeated.
fn end_of_first_output_event(backend: Backend) -> usize {
    let body = backend.stream();
    let marker = match backend {
        Backend::Chat => "\"content\":\"Hello\"",
        Backend::Responses => "\"delta\":\"The\"",
        Backend::Anthropic => "\"text\":\"Hello\"",
    };
    let at = body.find(marker).expect("marker in stream");
    at + body[at..].find("\n\n").expect("event end") + 2
}

/// For every byte position: the connection is cut there, then the server
/// would answer properly. A cut before the first output event is retried
/// and the caller gets the whole reply once; a cut after it is an error
/// after exactly the events that arrived, never a retry (that would repeat
/// output the caller already has).
#[tokio::test]
async fn a_stream_cut_at_any_byte_is_retried_before_the_first_event_and_never_after() {
    let transport: Arc<dyn Transport> = Arc::new(ReqwestTransport::new().unwrap());
    for backend in Backend::ALL {
        let body = backend.stream();
        let (expected, _) = {
            let server = Server::start(vec![Reply::sse(body)]).await;
            call(&backend.model(&server, quick(0))).await
        };
        let first = end_of_first_output_event(backend);
        for cut in 0..=body.len() {
            let server = Server::start(vec![
                Reply::sse(body).ending(Ending::CutAfter(cut)),
                Reply::sse(body),
            ])
            .await;
            let model = backend.model_over(&server, transport.clone(), quick(1));
            let (events, error) = call(&model).await;
            let requests = server.received().len();
            if cut < first {
                assert_eq!(error, None, "{backend:?} cut at {cut}");
                assert_eq!(events, expected, "{backend:?} cut at {cut}");
                assert_eq!(requests, 2, "{backend:?} cut at {cut}");
            } else if let Some(error) = error {
                assert_eq!(error.kind(), ModelErrorKind::Transient, "{backend:?} {cut}");
                assert_eq!(
                    requests, 1,
                    "{backend:?} cut at {cut}: retried after output"
                );
                assert!(!events.is_empty(), "{backend:?} cut at {cut}");
                assert_eq!(
                    events[..],
                    expected[..events.len()],
                    "{backend:?} cut at {cut}: not a prefix"
                );
            } else {
                // Only possible once the provider's end marker has arrived.
                assert_eq!(events, expected, "{backend:?} cut at {cut}");
                assert_eq!(requests, 1, "{backend:?} cut at {cut}");
                assert!(
                    cut >= body.len() - 30,
                    "{backend:?} cut at {cut} read as complete"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_body_that_ends_cleanly_before_the_reply_is_over_is_an_error_not_a_short_reply() {
    for backend in Backend::ALL {
        let body = backend.stream();
        let first = end_of_first_output_event(backend);
        let server = Server::start(vec![
            Reply::sse(body).ending(Ending::EndAfter(first)),
            Reply::sse(body),
        ])
        .await;
        let (events, error) = call(&backend.model(&server, quick(2))).await;
        let error = error.unwrap_or_else(|| panic!("{backend:?}: a truncated reply passed"));
        assert_eq!(error.kind(), ModelErrorKind::Transient, "{backend:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Finish { .. })),
            "{backend:?}: {events:?}"
        );
        assert_eq!(server.received().len(), 1, "{backend:?}");
    }
}

#[tokio::test]
async fn malformed_json_before_any_output_is_retried_and_after_it_is_an_error() {
    let bad = "data: {\"choices\": [{\"delta\": {\"content\": \"Hel\n\n";
    let server = Server::start(vec![Reply::sse(bad), Reply::sse(CHAT)]).await;
    let (events, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error, None);
    assert_eq!(fold(&events).message.text(), "Hello there.");
    assert_eq!(server.received().len(), 2);

    let first = end_of_first_output_event(Backend::Chat);
    let broken = format!("{}{bad}", &CHAT[..first]);
    let server = Server::start(vec![Reply::sse(&broken), Reply::sse(CHAT)]).await;
    let (events, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert!(
        error.detail().message.contains("could not parse"),
        "{error}"
    );
    assert_eq!(
        events,
        vec![StreamEvent::TextDelta {
            text: "Hello".into()
        }]
    );
    assert_eq!(server.received().len(), 1);
}

const CHAT: &str = support::CHAT_STREAM;

#[tokio::test]
async fn an_error_inside_a_200_stream_is_classified_and_retried_only_when_nothing_was_said() {
    // Overloaded before any output: retried.
    let overloaded = "data: {\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server_error\"}}\n\n";
    let server = Server::start(vec![Reply::sse(overloaded), Reply::sse(CHAT)]).await;
    let (_, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error, None);
    assert_eq!(server.received().len(), 2);

    // Quota before any output: never retried.
    let quota = "data: {\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}\n\n";
    let server = Server::start(vec![Reply::sse(quota), Reply::sse(CHAT)]).await;
    let (_, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error.unwrap().kind(), ModelErrorKind::Quota);
    assert_eq!(server.received().len(), 1);

    // Anthropic's mid-stream `error` event after output: passed on, not retried.
    let first = end_of_first_output_event(Backend::Anthropic);
    let stream = format!(
        "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n",
        &support::ANTHROPIC_STREAM[..first]
    );
    let server = Server::start(vec![
        Reply::sse(&stream),
        Reply::sse(support::ANTHROPIC_STREAM),
    ])
    .await;
    let (events, error) = call(&Backend::Anthropic.model(&server, quick(1))).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient, "{error}");
    assert!(error.detail().message.contains("Overloaded"), "{error}");
    assert_eq!(
        events.last(),
        Some(&StreamEvent::TextDelta {
            text: "Hello".into()
        })
    );
    assert_eq!(server.received().len(), 1);
}

// ------------------------------------------------ slow and silent servers

#[tokio::test]
async fn slow_headers_hit_the_idle_timeout_and_are_retried() {
    let server = Server::start(vec![
        Reply::sse(CHAT).delayed(Duration::from_secs(5)),
        Reply::sse(CHAT),
    ])
    .await;
    let model = Backend::Chat
        .model(&server, quick(1))
        .with_idle_timeout(Duration::from_millis(200));
    let (events, error) = call(&model).await;
    assert_eq!(error, None);
    assert_eq!(fold(&events).message.text(), "Hello there.");
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_stream_that_stalls_after_output_fails_without_a_retry() {
    let first = end_of_first_output_event(Backend::Chat);
    let server = Server::start(vec![
        Reply::sse(CHAT).stall_after(first, Duration::from_secs(5)),
        Reply::sse(CHAT),
    ])
    .await;
    let model = Backend::Chat
        .model(&server, quick(1))
        .with_idle_timeout(Duration::from_millis(200));
    let (events, error) = call(&model).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert!(error.detail().message.contains("idle"), "{error}");
    assert_eq!(
        events,
        vec![StreamEvent::TextDelta {
            text: "Hello".into()
        }]
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_stall_before_any_output_is_retried() {
    let server = Server::start(vec![
        Reply::sse(CHAT).stall_after(0, Duration::from_secs(5)),
        Reply::sse(CHAT),
    ])
    .await;
    let model = Backend::Chat
        .model(&server, quick(1))
        .with_idle_timeout(Duration::from_millis(200));
    let (_, error) = call(&model).await;
    assert_eq!(error, None);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_server_that_hangs_up_without_answering_is_retried() {
    let server = Server::start(vec![Reply::hang_up(), Reply::sse(CHAT)]).await;
    let (events, error) = call(&Backend::Chat.model(&server, quick(1))).await;
    assert_eq!(error, None);
    assert_eq!(fold(&events).message.text(), "Hello there.");
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_says_where_it_tried() {
    // A port this test bound and released: nothing listens there now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = Server::start(vec![]).await;
    let mut config = agentkit_llm::openai::chat::OpenAiChatConfig::compatible(
        format!("http://127.0.0.1:{port}/v1"),
        "m",
        None,
    );
    config.info = Some(support::info("m"));
    drop(server);
    let model = agentkit_llm::HttpModel::new(
        agentkit_llm::openai::chat::OpenAiChat::new(config),
        std::sync::Arc::new(agentkit_llm::ReqwestTransport::new().unwrap()),
    )
    .with_retry(quick(1));
    let (_, error) = call(&model).await;
    let error = error.unwrap();
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert!(
        error.detail().message.contains(&format!(
            "could not connect to http://127.0.0.1:{port}/v1/chat/completions"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn the_default_policy_matches_the_official_sdks() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.max_retries, 2);
    assert_eq!(policy.initial_backoff, Duration::from_millis(500));
    assert_eq!(policy.max_backoff, Duration::from_secs(8));
    assert_eq!(policy.max_retry_after, Duration::from_secs(60));
    assert!(policy.jitter);
}
