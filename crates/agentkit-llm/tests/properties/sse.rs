//! The incremental SSE parser: any chunking of a generated stream gives
//! the events of the whole body, and those are the events a reference
//! reading of the WHATWG rules expects.

use agentkit_llm::sse::{SseEvent, SseParser};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::wire::parse;
use crate::{chunks, chunks_at, config, text};

/// Like [`chunks`], with an extra empty chunk at every cut flagged `true`
/// (transports may deliver empty chunks).
fn chunks_with_empties<'a>(bytes: &'a [u8], cuts: &[(Index, bool)]) -> Vec<&'a [u8]> {
    let at: Vec<usize> = cuts
        .iter()
        .flat_map(|(i, empty)| {
            let at = i.index(bytes.len() + 1);
            std::iter::repeat_n(at, if *empty { 2 } else { 1 })
        })
        .collect();
    chunks_at(bytes, at)
}

/// Text that fits on one SSE line.
fn line_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_map(|s| s.replace(['\r', '\n'], ""))
}

/// A field's name.
#[derive(Debug, Clone)]
enum FieldName {
    Event,
    Data,
    Id,
    Retry,
    Unknown(String),
}

impl FieldName {
    fn as_str(&self) -> &str {
        match self {
            FieldName::Event => "event",
            FieldName::Data => "data",
            FieldName::Id => "id",
            FieldName::Retry => "retry",
            FieldName::Unknown(name) => name,
        }
    }
}

/// How a field's value is written after the name.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `name: value` (the one space is dropped by the parser).
    Space,
    /// `name:value` (a leading space of the value would be dropped).
    Tight,
    /// `name` alone: an empty value.
    Bare,
}

/// One line of a stream.
#[derive(Debug, Clone)]
enum Line {
    Field {
        name: FieldName,
        value: String,
        form: Form,
    },
    Comment(String),
    Blank,
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Field { name, value, form } => match form {
                Form::Space => format!("{}: {value}", name.as_str()),
                Form::Tight => format!("{}:{value}", name.as_str()),
                Form::Bare => name.as_str().to_owned(),
            },
            Line::Comment(text) => format!(":{text}"),
            Line::Blank => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    Lf,
    CrLf,
    Cr,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Lf => "\n",
            Ending::CrLf => "\r\n",
            Ending::Cr => "\r",
        }
    }
}

#[derive(Debug, Clone)]
struct Stream {
    bom: bool,
    lines: Vec<(Line, Ending)>,
    /// Whether the last line has its line ending.
    terminated: bool,
}

fn field_name() -> impl Strategy<Value = FieldName> {
    prop_oneof![
        3 => Just(FieldName::Event),
        6 => Just(FieldName::Data),
        2 => Just(FieldName::Id),
        1 => Just(FieldName::Retry),
        1 => "[a-z]{1,6}"
            .prop_filter("not a known field", |n| !matches!(n.as_str(), "event" | "data" | "id"))
            .prop_map(FieldName::Unknown),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (field_name(), line_text(24), prop_oneof![
            4 => Just(Form::Space), 2 => Just(Form::Tight), 1 => Just(Form::Bare)
        ])
            .prop_map(|(name, value, form)| {
                // A bare field has no value to write.
                let value = if matches!(form, Form::Bare) { String::new() } else { value };
                Line::Field { name, value, form }
            }),
        1 => line_text(16).prop_map(Line::Comment),
        3 => Just(Line::Blank),
    ]
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![Just(Ending::Lf), Just(Ending::CrLf), Just(Ending::Cr)]
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        any::<bool>(),
        prop::collection::vec((line(), ending()), 0..40),
        any::<bool>(),
    )
        .prop_map(|(bom, mut lines, terminated)| {
            // `\r` then a blank line ended by `\n` would read as one `\r\n`:
            // that stream cannot be written, so write the blank line with `\r`.
            for at in 1..lines.len() {
                if lines[at - 1].1 == Ending::Cr
                    && matches!(lines[at].0, Line::Blank)
                    && lines[at].1 == Ending::Lf
                {
                    lines[at].1 = Ending::Cr;
                }
            }
            Stream {
                bom,
                lines,
                terminated,
            }
        })
}

impl Stream {
    fn bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        if self.bom {
            out.push('\u{feff}');
        }
        for (at, (line, ending)) in self.lines.iter().enumerate() {
            out.push_str(&line.text());
            if self.terminated || at + 1 < self.lines.len() {
                out.push_str(ending.as_str());
            }
        }
        out.into_bytes()
    }

    /// The events the WHATWG rules give for these lines (plus the parser's
    /// one leniency: pending data is delivered when the body ends).
    fn expected(&self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut event: Option<String> = None;
        let mut data: Option<String> = None;
        let mut id: Option<String> = None;
        let mut dispatch =
            |event: &mut Option<String>, data: &mut Option<String>, id: &Option<String>| {
                let name = event.take();
                if let Some(data) = data.take() {
                    out.push(SseEvent {
                        event: name
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| "message".into()),
                        data,
                        id: id.clone(),
                    });
                }
            };
        for (line, _) in &self.lines {
            match line {
                Line::Blank => dispatch(&mut event, &mut data, &id),
                Line::Comment(_) => {}
                Line::Field { name, value, form } => {
                    let value = match form {
                        Form::Space | Form::Bare => value.as_str(),
                        Form::Tight => value.strip_prefix(' ').unwrap_or(value),
                    };
                    match name {
                        FieldName::Event => event = Some(value.to_owned()),
                        FieldName::Data => match &mut data {
                            Some(data) => {
                                data.push('\n');
                                data.push_str(value);
                            }
                            None => data = Some(value.to_owned()),
                        },
                        FieldName::Id if !value.contains('\0') => id = Some(value.to_owned()),
                        _ => {}
                    }
                }
            }
        }
        dispatch(&mut event, &mut data, &id);
        out
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any chunking of a generated stream gives the events of the whole
    /// body, and those are the events the stream describes.
    #[test]
    fn sse_events_survive_any_chunking(
        stream in stream(),
        cuts in prop::collection::vec((any::<Index>(), any::<bool>()), 0..24),
    ) {
        let bytes = stream.bytes();
        let whole = parse(&[&bytes]);
        prop_assert_eq!(&whole, &stream.expected());
        let pieces = chunks_with_empties(&bytes, &cuts);
        prop_assert_eq!(parse(&pieces), whole);
    }

    /// Byte by byte is the finest chunking of all.
    #[test]
    fn sse_events_survive_byte_at_a_time(stream in stream()) {
        let bytes = stream.bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(parse(&pieces), stream.expected());
    }

    /// Arbitrary bytes (invalid UTF-8, stray `\r`, NULs) never panic, and
    /// chunking never changes what they parse to.
    #[test]
    fn sse_arbitrary_bytes_never_panic_and_ignore_chunking(
        bytes in prop::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                2 => prop::sample::select(b"\r\n:data event id \xEF\xBB\xBF".to_vec()),
            ],
            0..512,
        ),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let whole = parse(&[&bytes]);
        prop_assert_eq!(parse(&chunks(&bytes, &cuts)), whole);
    }

    /// A body without line endings is one unfinished line: it yields
    /// nothing until the end, at most one event then, and leaves nothing
    /// behind (the next event parses cleanly).
    #[test]
    fn sse_a_body_without_newlines_is_held_as_one_line(
        value in line_text(64),
        repeat in 1usize..64,
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let body = format!("data: {}", value.repeat(repeat));
        let mut parser = SseParser::new();
        for chunk in chunks(body.as_bytes(), &cuts) {
            prop_assert!(parser.push(chunk).is_empty());
        }
        let last = parser.finish();
        prop_assert_eq!(last.map(|e| e.data), Some(value.repeat(repeat)));
        prop_assert_eq!(parser.finish(), None);
        let next = parser.push(b"data: next\n\n");
        prop_assert_eq!(next.len(), 1);
        prop_assert_eq!(next[0].data.as_str(), "next");
    }
}

/// The regression the chunking property found: an empty chunk between a
/// `\r` and its `\n` must not turn the `\n` into a second line ending.
#[test]
fn sse_an_empty_chunk_between_cr_and_lf_keeps_them_one_line_ending() {
    let body: &[u8] = b"data: a\r\ndata: b\r\n\r\n";
    let whole = parse(&[body]);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].data, "a\nb");
    assert_eq!(parse(&[&body[..8], b"", &body[8..]]), whole);
    assert_eq!(parse(&[&body[..8], b"", b"", &body[8..]]), whole);
}

/// An unbounded line is held whole: the parser does not cap it (the caller
/// must). Pushing many chunks without a newline stays linear and yields
/// nothing until the end.
#[test]
fn sse_a_long_line_without_newline_is_delivered_at_the_end() {
    let mut parser = SseParser::new();
    assert!(parser.push(b"data: ").is_empty());
    let piece = [b'x'; 4096];
    for _ in 0..1024 {
        assert!(parser.push(&piece).is_empty());
    }
    let last = parser.finish().expect("the pending line is delivered");
    assert_eq!(last.data.len(), 4096 * 1024);
}
