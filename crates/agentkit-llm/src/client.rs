//! The default [`Transport`]: reqwest over rustls.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// Settings of a [`ReqwestTransport`].
#[derive(Debug, Clone, PartialEq)]
pub struct TransportOptions {
    /// The longest wait for a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Whether `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment apply.
    pub use_env_proxy: bool,
    /// The `user-agent` header.
    pub user_agent: String,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            use_env_proxy: true,
            user_agent: format!("agentkit/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Sends requests with a pooled [`reqwest::Client`].
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    options: TransportOptions,
}

impl ReqwestTransport {
    /// A transport with default options.
    pub fn new() -> Result<Self, TransportError> {
        Self::with_options(TransportOptions::default())
    }

    /// A transport with `options`.
    pub fn with_options(options: TransportOptions) -> Result<Self, TransportError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(60));
        if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| TransportError::Connect {
            url: String::new(),
            message: format!("could not set up the HTTP client: {e}"),
        })?;
        Ok(Self { client, options })
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = request.url.clone();
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TransportError::Connect {
                url: url.clone(),
                message: format!("`{}` is not an HTTP method", request.method),
            }
        })?;
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.body(request.body).send().await.map_err(|e| {
            if e.is_timeout() {
                TransportError::ConnectTimeout {
                    url: url.clone(),
                    after: self.options.connect_timeout,
                }
            } else if e.is_connect() || e.is_builder() || e.is_request() {
                TransportError::Connect {
                    url: url.clone(),
                    message: error_chain(&e),
                }
            } else {
                TransportError::Io {
                    message: error_chain(&e),
                }
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .bytes_stream()
            .map(|chunk| {
                chunk.map_err(|e| TransportError::Io {
                    message: error_chain(&e),
                })
            })
            .boxed();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// An error with its causes, which reqwest keeps in `source()`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
