//! Server-sent events: the framing every provider streams in.
//!
//! [`SseParser`] is incremental: feed it the body's chunks as they arrive,
//! split anywhere (inside a line, inside a UTF-8 character, between `\r` and
//! `\n`), and it returns each event once its blank line has arrived. It
//! follows the WHATWG event-stream rules: lines end in `\n`, `\r\n` or `\r`;
//! lines starting with `:` are comments; `data:` lines accumulate, joined
//! with `\n`; one space after the colon is dropped; a field without a colon
//! has an empty value; unknown fields are ignored; a leading byte-order mark
//! is skipped. Invalid UTF-8 is replaced (U+FFFD) rather than failing the
//! stream.
//!
//! One leniency: at the end of the body, a last event without its closing
//! blank line is still delivered (several servers end with `data: [DONE]\n`).
//!
//! ```
//! use agentkit_llm::sse::SseParser;
//!
//! let mut parser = SseParser::new();
//! assert!(parser.push(b"event: ping\ndata: {\"a\"").is_empty());
//! let events = parser.push(b":1}\n\n");
//! assert_eq!(events[0].event, "ping");
//! assert_eq!(events[0].data, "{\"a\":1}");
//! ```

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the server sent none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, when sent.
    pub id: Option<String>,
}

/// Incremental event-stream parser.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` belongs to it.
    after_cr: bool,
    /// Whether the start of the stream (and a possible BOM) is behind us.
    started: bool,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        // An empty chunk says nothing about the byte after a `\r`: keep
        // waiting for it.
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        while let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                out.push(event);
            }
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// The body ended: delivers a last event left without its blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn process_line(&mut self, raw: &[u8]) -> Option<SseEvent> {
        let mut raw = raw;
        if !self.started {
            self.started = true;
            raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
        }
        if raw.is_empty() {
            return self.dispatch();
        }
        if raw[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| p.push(c)).collect();
        out.extend(p.finish());
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn comments_multiline_data_and_named_events() {
        let events = parse_all(&[
            b": keep-alive\n\nevent: content_block_delta\ndata: line one\ndata:line two\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(
            events,
            vec![
                ev("content_block_delta", "line one\nline two"),
                ev("message", "[DONE]")
            ]
        );
    }

    #[test]
    fn every_line_ending_works_including_a_crlf_split_across_chunks() {
        let events = parse_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\rdata: c\n\n"]);
        assert_eq!(
            events,
            vec![ev("message", "a"), ev("message", "b"), ev("message", "c")]
        );
    }

    #[test]
    fn utf8_split_inside_a_character_is_reassembled() {
        let text = "data: héllo ✓\n\n".as_bytes();
        for split in 0..text.len() {
            let events = parse_all(&[&text[..split], &text[split..]]);
            assert_eq!(events, vec![ev("message", "héllo ✓")], "split at {split}");
        }
    }

    #[test]
    fn ids_bom_fields_without_colon_and_a_last_event_without_blank_line() {
        let events = parse_all(&[b"\xEF\xBB\xBFid: 7\ndata\nretry: 10\nunknown: x\n\ndata: tail"]);
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: "message".into(),
                    data: String::new(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: "message".into(),
                    data: "tail".into(),
                    id: Some("7".into())
                }
            ]
        );
    }

    #[test]
    fn an_event_field_without_data_dispatches_nothing() {
        assert!(parse_all(&[b"event: ping\n\n"]).is_empty());
    }
}
