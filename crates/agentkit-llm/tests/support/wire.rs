//! Shared by the wire-format tests: fixtures, the real event-stream parser,
//! a decoder driven the way `HttpModel` drives it, and request bodies.

use agentkit_core::model::{ModelError, ModelRequest, ModelResponse, StreamEvent};
use agentkit_llm::sse::{SseEvent, SseParser};
use agentkit_llm::{Protocol, StreamDecoder};
use serde_json::Value;

use super::fold;

/// The text of `tests/fixtures/<dir>/<name>`.
pub fn fixture(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds `chunks` to a fresh [`SseParser`], then ends the body.
pub fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| parser.push(c)).collect();
    events.extend(parser.finish());
    events
}

/// A fixture's events, through the real parser in one piece.
pub fn fixture_events(dir: &str, name: &str) -> Vec<SseEvent> {
    parse(&[fixture(dir, name).as_bytes()])
}

/// Drives `decoder` as `HttpModel` does: each event while the decoder is
/// not done, then `end`. Returns every event produced, then the first
/// error (from an event or from the end of the body).
pub fn drive(
    mut decoder: Box<dyn StreamDecoder>,
    events: Vec<SseEvent>,
) -> (Vec<StreamEvent>, Option<ModelError>) {
    let mut out = Vec::new();
    for event in events {
        if decoder.is_done() {
            break;
        }
        match decoder.event(&event) {
            Ok(more) => out.extend(more),
            Err(error) => return (out, Some(error)),
        }
    }
    match decoder.end() {
        Ok(more) => out.extend(more),
        Err(error) => return (out, Some(error)),
    }
    (out, None)
}

/// The fixture `tests/fixtures/<dir>/<name>` through `protocol`'s decoder.
pub fn decode_fixture(
    protocol: &impl Protocol,
    dir: &str,
    name: &str,
) -> (Vec<StreamEvent>, Option<ModelError>) {
    drive(protocol.decoder(), fixture_events(dir, name))
}

/// The reply a fixture folds to; the fixture must decode without error.
pub fn fold_fixture(protocol: &impl Protocol, dir: &str, name: &str) -> ModelResponse {
    let (events, error) = decode_fixture(protocol, dir, name);
    assert_eq!(error, None, "{name} should decode without error");
    fold(&events)
}

/// The JSON body `protocol` builds for `request`.
pub fn body_of(protocol: &impl Protocol, request: &ModelRequest, stream: bool) -> Value {
    let http = protocol.build_request(request, stream).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

/// Header pairs as a protocol takes and gives them.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
