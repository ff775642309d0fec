//! [`HttpModel`]: any [`Protocol`] made into a [`Model`] that sends over a
//! [`Transport`], retries, and times out.
//!
//! A call goes like this:
//!
//! 1. The protocol builds the HTTP request (no IO).
//! 2. The request is sent. A connection error, or a status the protocol
//!    classifies as retryable (408, 409, 429, 5xx, `x-should-retry: true`),
//!    is retried by the [`RetryPolicy`], honouring `Retry-After`.
//! 3. A 2xx body is read and decoded until the reply's first output (a
//!    [`StreamEvent`] other than a usage report). A stream that fails
//!    *before* that (cut connection, error event, idle timeout) is retried
//!    the same way; nothing has reached the caller yet.
//! 4. The stream is handed to the caller. From here on a failure is passed
//!    on as an error and never retried: a retry would repeat output the
//!    caller already has.
//!
//! A reply whose server reported no token usage gets an estimate from the
//! model's tokenizer before its `Finish` (see [`crate::estimate`]), so token
//! and cost budgets hold against servers that leave usage out.
//!
//! Timeouts: connecting is bounded by the transport; waiting for response
//! headers and every gap between body chunks is bounded by
//! [`HttpModel::idle_timeout`] (for non-streamed calls the headers may take
//! up to [`HttpModel::response_timeout`]: the provider sends nothing until the
//! whole reply is ready).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::model::{
    ErrorDetail, Model, ModelError, ModelInfo, ModelRequest, ModelStream, StreamEvent,
};
use agentkit_core::tokenizer::Tokenizer;
use async_trait::async_trait;
use bytes::BytesMut;
use futures::StreamExt;

use crate::estimate::UsageEstimate;
use crate::protocol::{Protocol, StreamDecoder};
use crate::retry::RetryPolicy;
use crate::sse::SseParser;
use crate::transport::{BodyStream, HttpRequest, Transport, TransportError};
use crate::wrap::first_output;

/// Error bodies are read up to this size; the rest is dropped.
const MAX_ERROR_BODY: usize = 1 << 20;
/// Whole (non-streamed) bodies are read up to this size.
const MAX_BODY: usize = 64 << 20;

/// A [`Protocol`] served over HTTP.
pub struct HttpModel<P> {
    protocol: Arc<P>,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    stream: bool,
    idle_timeout: Duration,
    response_timeout: Duration,
}

impl<P: Protocol> HttpModel<P> {
    /// `protocol` over `transport`, streaming, default retries, 120 s idle
    /// timeout and 600 s response timeout.
    pub fn new(protocol: P, transport: Arc<dyn Transport>) -> Self {
        Self {
            protocol: Arc::new(protocol),
            transport,
            retry: RetryPolicy::default(),
            stream: true,
            idle_timeout: Duration::from_secs(120),
            response_timeout: Duration::from_secs(600),
        }
    }

    /// Retries with `policy`.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Streams replies (`true`, the default) or asks for whole ones.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Bounds the wait for response headers and between body chunks.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Bounds the wait for the headers of a non-streamed reply.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The response timeout for non-streamed calls.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The wire format.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// One attempt: send, check the status, and read up to the first output.
    async fn attempt(
        &self,
        request: HttpRequest,
        prompt: &Arc<ModelRequest>,
    ) -> Result<ModelStream, ModelError> {
        let header_wait = if self.stream {
            self.idle_timeout
        } else {
            self.response_timeout
        };
        let response = match tokio::time::timeout(header_wait, self.transport.send(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(transport_error(e)),
            Err(_) => {
                return Err(ModelError::Transient {
                    detail: ErrorDetail::message(format!(
                        "the provider sent no response headers within {header_wait:?}"
                    )),
                });
            }
        };
        if !(200..300).contains(&response.status) {
            let body = read_body(response.body, self.idle_timeout, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            return Err(self
                .protocol
                .classify_error(response.status, &response.headers, &body));
        }
        let is_sse = response
            .header("content-type")
            .is_none_or(|ct| ct.contains("text/event-stream"));
        let estimate = self
            .protocol
            .tokenizer()
            .map(|tokenizer| UsageEstimate::new(tokenizer, Arc::clone(prompt)));
        let stream = if self.stream && is_sse {
            EventReader::new(
                response.body,
                self.protocol.decoder(),
                self.idle_timeout,
                estimate,
            )
            .into_stream()
        } else {
            let body = read_body(response.body, self.idle_timeout, MAX_BODY)
                .await
                .map_err(transport_error)?;
            let mut estimate = estimate;
            let mut items = VecDeque::new();
            match self.protocol.decode_body(&body) {
                Ok(events) => accept(&mut items, estimate.as_mut(), events),
                Err(e) => items.push_back(Err(e)),
            }
            futures::stream::iter(items).boxed()
        };
        first_output(stream, &self.protocol.info().name).await
    }
}

#[async_trait]
impl<P: Protocol> Model for HttpModel<P> {
    fn info(&self) -> &ModelInfo {
        self.protocol.info()
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        self.protocol.tokenizer()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let http = self.protocol.build_request(&request, self.stream)?;
        let request = Arc::new(request);
        self.retry
            .run(&self.protocol.info().name, || {
                self.attempt(http.clone(), &request)
            })
            .await
    }
}

/// What a transport failure means to the caller: all of them may pass,
/// except a replay miss, which is a test set-up problem.
fn transport_error(error: TransportError) -> ModelError {
    let detail = ErrorDetail::message(error.to_string());
    match error {
        TransportError::NotRecorded { .. } => ModelError::Permanent { detail },
        _ => ModelError::Transient { detail },
    }
}

async fn read_body(
    mut body: BodyStream,
    idle: Duration,
    limit: usize,
) -> Result<BytesMut, TransportError> {
    let mut out = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => {
                let room = limit.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Ok(out),
            Err(_) => return Err(TransportError::Idle { after: idle }),
        }
    }
}

/// Queues decoded events, with an estimated usage before a `Finish` when
/// the server reported none (see [`crate::estimate`]).
fn accept(
    pending: &mut VecDeque<Result<StreamEvent, ModelError>>,
    mut estimate: Option<&mut UsageEstimate>,
    events: Vec<StreamEvent>,
) {
    for event in events {
        if let Some(usage) = estimate.as_mut().and_then(|e| e.observe(&event)) {
            pending.push_back(Ok(StreamEvent::Usage(usage)));
        }
        pending.push_back(Ok(event));
    }
}

/// Reads a streamed response body into decoded events, one chunk at a time.
struct EventReader {
    /// `None` once the body is finished (ended, broke off, or the provider
    /// signalled the end of the reply).
    body: Option<BodyStream>,
    parser: SseParser,
    decoder: Box<dyn StreamDecoder>,
    idle: Duration,
    pending: VecDeque<Result<StreamEvent, ModelError>>,
    estimate: Option<UsageEstimate>,
}

impl EventReader {
    fn new(
        body: BodyStream,
        decoder: Box<dyn StreamDecoder>,
        idle: Duration,
        estimate: Option<UsageEstimate>,
    ) -> Self {
        Self {
            body: Some(body),
            parser: SseParser::new(),
            decoder,
            idle,
            pending: VecDeque::new(),
            estimate,
        }
    }

    /// Reads and decodes one more chunk; `false` once the body is finished.
    async fn read_more(&mut self) -> bool {
        let Some(body) = self.body.as_mut() else {
            return false;
        };
        let chunk = match tokio::time::timeout(self.idle, body.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(e))) => {
                let error = ModelError::Transient {
                    detail: ErrorDetail::message(format!("the response stream broke off: {e}")),
                };
                self.finish(Vec::new(), Err(error));
                return false;
            }
            Err(_) => {
                let idle = self.idle;
                let error = ModelError::Transient {
                    detail: ErrorDetail::message(format!(
                        "the response stream was idle for {idle:?}; giving up on it"
                    )),
                };
                self.finish(Vec::new(), Err(error));
                return false;
            }
            Ok(None) => {
                // The body ended: a last event without its blank line, then
                // the decoder's verdict on the end.
                let mut decoded = Vec::new();
                let mut result = Ok(());
                if let Some(event) = self.parser.finish()
                    && !self.decoder.is_done()
                {
                    match self.decoder.event(&event) {
                        Ok(more) => decoded.extend(more),
                        Err(e) => result = Err(e),
                    }
                }
                if result.is_ok() {
                    result = self.decoder.end().map(|more| decoded.extend(more));
                }
                self.finish(decoded, result);
                return false;
            }
        };
        let mut decoded = Vec::new();
        for event in self.parser.push(&chunk) {
            if self.decoder.is_done() {
                break;
            }
            match self.decoder.event(&event) {
                Ok(events) => decoded.extend(events),
                Err(e) => {
                    self.finish(decoded, Err(e));
                    return false;
                }
            }
        }
        if self.decoder.is_done() {
            let result = self.decoder.end().map(|more| decoded.extend(more));
            self.finish(decoded, result);
            return false;
        }
        accept(&mut self.pending, self.estimate.as_mut(), decoded);
        true
    }

    /// The body is over: queue its last events, then the error that ended
    /// it, if one did.
    fn finish(&mut self, decoded: Vec<StreamEvent>, result: Result<(), ModelError>) {
        accept(&mut self.pending, self.estimate.as_mut(), decoded);
        if let Err(error) = result {
            self.pending.push_back(Err(error));
        }
        self.body = None;
    }

    fn into_stream(self) -> ModelStream {
        futures::stream::unfold(self, |mut reader| async move {
            loop {
                if let Some(next) = reader.pending.pop_front() {
                    if next.is_err() {
                        reader.pending.clear();
                        reader.body = None;
                    }
                    return Some((next, reader));
                }
                if !reader.read_more().await && reader.pending.is_empty() {
                    return None;
                }
            }
        })
        .boxed()
    }
}
