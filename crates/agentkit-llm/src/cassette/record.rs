//! [`Recorder`]: a transport that writes every exchange to a cassette.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use agentkit_core::redact::Redactor;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::{Body, Cassette, CassetteError, Exchange, RecordedRequest, RecordedResponse};
use crate::transport::{BodyStream, HttpRequest, HttpResponse, Transport, TransportError};

/// Passes requests on to a real transport and records each exchange.
///
/// An exchange is written when its body has been read to the end, has
/// broken off, or has been dropped (a body the reader stopped reading is
/// recorded as far as it was read); the file is rewritten atomically
/// each time, so it is complete after every exchange, even if the process
/// dies later. Exchanges are stored in the order their requests were sent.
///
/// ```no_run
/// use std::sync::Arc;
/// use agentkit_llm::{HttpModel, ReqwestTransport};
/// use agentkit_llm::cassette::Recorder;
/// use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
///
/// let real = Arc::new(ReqwestTransport::new()?);
/// let recorder = Recorder::create(real, "plain.json", Some("openai-compatible:http://127.0.0.1:8080/v1#smollm2".into()))?;
/// let protocol = OpenAiChat::new(OpenAiChatConfig::compatible("http://127.0.0.1:8080/v1", "smollm2", None));
/// let model = HttpModel::new(protocol, Arc::new(recorder));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Recorder {
    inner: Arc<dyn Transport>,
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    redactor: Redactor,
    cassette: Mutex<Cassette>,
}

impl Shared {
    fn cassette(&self) -> MutexGuard<'_, Cassette> {
        // The cassette is plain data, valid even if a holder panicked.
        self.cassette
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `exchange` in slot `at` and writes the file.
    fn finish(&self, at: usize, exchange: Exchange) {
        let mut cassette = self.cassette();
        if let Some(slot) = cassette.exchanges.get_mut(at) {
            *slot = exchange;
        }
        if let Err(error) = cassette.save(&self.path) {
            tracing::error!(%error, "could not write the cassette; this exchange is not recorded");
        }
    }
}

impl Recorder {
    /// Records into `path` (created or truncated now, so a path that cannot
    /// be written fails here and not after the first call), noting `spec`
    /// as the model spec the exchanges belong to.
    pub fn create(
        inner: Arc<dyn Transport>,
        path: impl AsRef<Path>,
        spec: Option<String>,
    ) -> Result<Self, CassetteError> {
        let path = path.as_ref().to_path_buf();
        let cassette = Cassette::new(spec);
        cassette.save(&path)?;
        Ok(Self {
            inner,
            shared: Arc::new(Shared {
                path,
                redactor: Redactor::new().with_env_secrets(),
                cassette: Mutex::new(cassette),
            }),
        })
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The exchanges recorded so far.
    pub fn cassette(&self) -> Cassette {
        self.shared.cassette().clone()
    }
}

#[async_trait]
impl Transport for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let recorded = RecordedRequest {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: super::redact_headers(&request.headers),
            body: Body::from_bytes(&request.body, true).redacted(&self.shared.redactor),
        };
        // Reserve the slot now: exchanges are kept in the order they were sent.
        let at = {
            let mut cassette = self.shared.cassette();
            cassette.exchanges.push(Exchange {
                request: recorded.clone(),
                response: None,
                error: Some("the exchange had not finished when the cassette was written".into()),
            });
            cassette.exchanges.len() - 1
        };
        let response = match self.inner.send(request).await {
            Ok(response) => response,
            Err(error) => {
                self.shared.finish(
                    at,
                    Exchange {
                        request: recorded,
                        response: None,
                        error: Some(error.to_string()),
                    },
                );
                return Err(error);
            }
        };
        let tap = Tap {
            shared: Arc::clone(&self.shared),
            at,
            request: Some(recorded),
            status: response.status,
            headers: super::redact_headers(&response.headers),
            body: BytesMut::new(),
            ended: false,
            error: None,
        };
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers,
            body: TappedBody {
                inner: response.body,
                tap,
            }
            .boxed(),
        })
    }
}

/// A body stream that shows every chunk to its [`Tap`].
struct TappedBody {
    inner: BodyStream,
    tap: Tap,
}

impl Stream for TappedBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.inner.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(bytes))) => this.tap.body.extend_from_slice(bytes),
            Poll::Ready(Some(Err(error))) => this.tap.error = Some(error.to_string()),
            Poll::Ready(None) => this.tap.ended = true,
            Poll::Pending => {}
        }
        next
    }
}

/// Collects a response body as it passes; writes the exchange when dropped
/// (the body ended, broke off, or was abandoned).
struct Tap {
    shared: Arc<Shared>,
    at: usize,
    request: Option<RecordedRequest>,
    status: u16,
    headers: Vec<(String, String)>,
    body: BytesMut,
    /// The body was read to its end.
    ended: bool,
    error: Option<String>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        let Some(request) = self.request.take() else {
            return;
        };
        let body = std::mem::take(&mut self.body).freeze();
        let error = self.error.take();
        self.shared.finish(
            self.at,
            Exchange {
                request,
                response: Some(RecordedResponse {
                    status: self.status,
                    headers: std::mem::take(&mut self.headers),
                    body: Body::from_bytes(&body, false).redacted(&self.shared.redactor),
                    read_to_end: self.ended,
                }),
                error,
            },
        );
    }
}
