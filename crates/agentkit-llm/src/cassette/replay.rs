//! [`Player`]: a transport that serves recorded exchanges and never connects.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use agentkit_core::redact::Redactor;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use super::{Body, Cassette, CassetteError, Exchange, url_path};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// How a [`Player`] picks the exchange that answers a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// The first unused exchange with the same method, URL path and body.
    #[default]
    Strict,
    /// The next exchange in recorded order, if its method and URL path match
    /// (bodies may differ: for runs whose tool output changes between runs).
    InOrder,
}

/// Serves a cassette's exchanges. See the [module docs](super).
pub struct Player {
    exchanges: Vec<Exchange>,
    mode: ReplayMode,
    used: Mutex<Vec<bool>>,
    redactor: Redactor,
}

impl Player {
    /// A player for `cassette`.
    pub fn new(cassette: Cassette, mode: ReplayMode) -> Self {
        let used = vec![false; cassette.exchanges.len()];
        Self {
            exchanges: cassette.exchanges,
            mode,
            used: Mutex::new(used),
            redactor: Redactor::new().with_env_secrets(),
        }
    }

    /// A player for the cassette file at `path`.
    pub fn open(path: impl AsRef<Path>, mode: ReplayMode) -> Result<Self, CassetteError> {
        Ok(Self::new(Cassette::load(path)?, mode))
    }

    /// How many exchanges have not been served yet.
    pub fn remaining(&self) -> usize {
        self.used().iter().filter(|used| !**used).count()
    }

    fn used(&self) -> MutexGuard<'_, Vec<bool>> {
        self.used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Picks the exchange for `request` and marks it used.
    fn pick(&self, request: &HttpRequest) -> Result<&Exchange, TransportError> {
        let path = url_path(&request.url);
        // Compare against the body as it would have been recorded.
        let body = Body::from_bytes(&request.body, true).redacted(&self.redactor);
        let mut used = self.used();
        let next_unused = used.iter().position(|u| !*u);
        let not_recorded = |message: String| TransportError::NotRecorded {
            method: request.method.clone(),
            url: request.url.clone(),
            message,
        };
        let Some(next) = next_unused else {
            return Err(not_recorded(format!(
                "all {} recorded exchanges have been served; re-record the cassette if the \
                 conversation grew",
                self.exchanges.len()
            )));
        };
        let same_route = |e: &Exchange| {
            e.request.method.eq_ignore_ascii_case(&request.method)
                && url_path(&e.request.url) == path
        };
        let found = match self.mode {
            ReplayMode::InOrder => same_route(&self.exchanges[next]).then_some(next),
            ReplayMode::Strict => (0..self.exchanges.len()).find(|&at| {
                !used[at]
                    && same_route(&self.exchanges[at])
                    && self.exchanges[at].request.body == body
            }),
        };
        match found {
            Some(at) => {
                used[at] = true;
                Ok(&self.exchanges[at])
            }
            None => {
                let expected = &self.exchanges[next].request;
                let why = if !same_route(&self.exchanges[next]) {
                    format!(
                        "the next recorded request is {} {}",
                        expected.method,
                        url_path(&expected.url)
                    )
                } else {
                    match first_difference(&expected.body, &body) {
                        Some(difference) => {
                            format!("the body differs from recorded exchange {next}: {difference}")
                        }
                        None => format!("it matches exchange {next}, which was already served"),
                    }
                };
                Err(not_recorded(format!(
                    "{why}; re-record the cassette, or replay with ReplayMode::InOrder if the \
                     bodies legitimately vary between runs"
                )))
            }
        }
    }
}

#[async_trait]
impl Transport for Player {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let exchange = self.pick(&request)?;
        let Some(response) = &exchange.response else {
            return Err(TransportError::Connect {
                url: request.url.clone(),
                message: format!(
                    "(recorded) {}",
                    exchange.error.as_deref().unwrap_or("no response")
                ),
            });
        };
        let mut items: Vec<Result<Bytes, TransportError>> = event_chunks(&response.body.to_bytes())
            .into_iter()
            .map(Ok)
            .collect();
        if let Some(error) = &exchange.error {
            items.push(Err(TransportError::Io {
                message: format!("(recorded) {error}"),
            }));
        }
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers.clone(),
            body: futures::stream::iter(items).boxed(),
        })
    }
}

/// Splits a body after each blank line, so a recorded event stream arrives
/// one event per chunk, as it did from the server.
fn event_chunks(body: &[u8]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at + 1 < body.len() {
        if body[at] == b'\n' && body[at + 1] == b'\n' {
            chunks.push(Bytes::copy_from_slice(&body[start..at + 2]));
            start = at + 2;
            at += 2;
        } else {
            at += 1;
        }
    }
    if start < body.len() {
        chunks.push(Bytes::copy_from_slice(&body[start..]));
    }
    chunks
}

/// Where `actual` first differs from `expected`, as a JSON path and the two
/// values; `None` when they are equal.
fn first_difference(expected: &Body, actual: &Body) -> Option<String> {
    match (expected, actual) {
        (Body::Json(a), Body::Json(b)) => json_difference(a, b, "$"),
        (a, b) if a == b => None,
        _ => Some("the bodies are not the same bytes".into()),
    }
}

fn json_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => {
                        if let Some(found) = json_difference(value, other, &here) {
                            return Some(found);
                        }
                    }
                    None => return Some(format!("{here} was recorded but is missing now")),
                }
            }
            b.keys()
                .find(|key| !a.contains_key(*key))
                .map(|key| format!("{path}.{key} is new (not in the recording)"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(found) = json_difference(x, y, &format!("{path}[{index}]")) {
                    return Some(found);
                }
            }
            (a.len() != b.len()).then(|| {
                format!(
                    "{path} had {} items when recorded and has {} now",
                    a.len(),
                    b.len()
                )
            })
        }
        (a, b) if a == b => None,
        (a, b) => Some(format!(
            "{path} was {} when recorded and is {} now",
            shorten(a),
            shorten(b)
        )),
    }
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let head: String = text.chars().take(80).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_streams_are_served_one_event_per_chunk() {
        let chunks = event_chunks(b"data: a\n\ndata: b\n\ntail");
        assert_eq!(
            chunks,
            vec![
                Bytes::from_static(b"data: a\n\n"),
                Bytes::from_static(b"data: b\n\n"),
                Bytes::from_static(b"tail")
            ]
        );
        assert!(event_chunks(b"").is_empty());
    }

    #[test]
    fn differences_name_the_json_path_and_both_values() {
        let a = json!({"model": "m", "messages": [{"content": "hi"}]});
        let b = json!({"model": "m", "messages": [{"content": "ho"}]});
        assert_eq!(
            json_difference(&a, &b, "$"),
            Some(r#"$.messages[0].content was "hi" when recorded and is "ho" now"#.into())
        );
        let c = json!({"model": "m", "messages": [{"content": "hi"}, {"content": "more"}]});
        assert_eq!(
            json_difference(&a, &c, "$"),
            Some("$.messages had 1 items when recorded and has 2 now".into())
        );
        assert_eq!(
            json_difference(&a, &json!({"model": "m"}), "$"),
            Some("$.messages was recorded but is missing now".into())
        );
        assert_eq!(json_difference(&a, &a, "$"), None);
    }
}
