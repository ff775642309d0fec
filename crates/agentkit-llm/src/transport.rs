//! The HTTP seam every network backend sends through.
//!
//! Backends build an [`HttpRequest`] and read an [`HttpResponse`] whose body
//! arrives as a stream of byte chunks. The default [`Transport`] is
//! [`ReqwestTransport`](crate::ReqwestTransport); recording and replaying cassettes wrap or replace it,
//! so the same backend code runs against a provider, a local server or a file.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// One HTTP request, fully built.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Bytes,
}

impl HttpRequest {
    /// A `POST` of `body` as JSON to `url`.
    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }
}

/// The body of a response, chunk by chunk as it arrives.
pub type BodyStream = BoxStream<'static, Result<Bytes, TransportError>>;

/// A response whose headers have arrived; the body is still streaming.
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: BodyStream,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The first value of header `name` in `headers` (case-insensitive).
pub fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A request that got no (complete) response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (refused, DNS, TLS). Retrying may work.
    #[error("could not connect to {url}: {message}")]
    Connect {
        /// Where we tried to connect.
        url: String,
        /// What failed.
        message: String,
    },
    /// No connection within the connect timeout.
    #[error("connecting to {url} timed out after {after:?}")]
    ConnectTimeout {
        /// Where we tried to connect.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The response body went quiet for longer than the idle timeout.
    #[error("the response stream was idle for {after:?}")]
    Idle {
        /// The timeout.
        after: Duration,
    },
    /// The connection failed after the request was sent (reset, truncated body).
    #[error("the connection failed mid-response: {message}")]
    Io {
        /// What failed.
        message: String,
    },
    /// A replayed cassette has no exchange for this request.
    #[error("no recorded exchange matches {method} {url}: {message}")]
    NotRecorded {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// Why nothing matched and what to do.
        message: String,
    },
}

/// Sends HTTP requests.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends `request` and returns once the response headers have arrived.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}
