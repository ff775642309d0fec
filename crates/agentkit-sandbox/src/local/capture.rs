//! Head-and-tail capture of one output stream.
//!
//! A command may print gigabytes; the model needs the start (what ran) and
//! the end (how it failed). [`HeadTail`] keeps at most `limit` bytes: the
//! first half as the head, the last half as the tail, and counts everything
//! in between without storing it. The reader keeps draining the pipe, so a
//! flood of output never blocks the child.

use std::collections::VecDeque;
use std::fmt::Write as _;

use agentkit_core::sandbox::{CapturedOutput, OutputStream, OutputTap};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Size of one read from the pipe.
const CHUNK: usize = 16 * 1024;

/// Bounded capture of a byte stream: head, tail and a byte count.
#[derive(Debug)]
pub(crate) struct HeadTail {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: u64,
    /// Sees every chunk as it is recorded.
    tap: Option<(OutputTap, OutputStream)>,
}

impl HeadTail {
    /// A capture keeping at most `limit` bytes (half head, half tail).
    pub(crate) fn new(limit: usize) -> Self {
        let head_cap = limit.div_ceil(2);
        let tail_cap = limit - head_cap;
        Self {
            head: Vec::with_capacity(head_cap.min(CHUNK)),
            head_cap,
            tail: VecDeque::with_capacity(tail_cap.min(CHUNK)),
            tail_cap,
            total: 0,
            tap: None,
        }
    }

    /// Also hands every chunk of `stream` to `tap` (the request's), as it
    /// is recorded.
    pub(crate) fn tapped(mut self, tap: Option<&OutputTap>, stream: OutputStream) -> Self {
        self.tap = tap.map(|t| (t.clone(), stream));
        self
    }

    /// Records `bytes`, dropping what falls between head and tail.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        if let Some((tap, stream)) = &self.tap {
            tap.send(*stream, bytes);
        }
        self.total += bytes.len() as u64;
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let take = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if self.tail_cap == 0 || bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Reads `reader` to its end, recording everything.
    pub(crate) async fn pump<R: AsyncRead + Unpin>(&mut self, mut reader: R) {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => self.push(&buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    tracing::debug!(error = %err, "reading command output failed; keeping what was read");
                    return;
                }
            }
        }
    }

    /// The captured text: everything when it fit, otherwise head, a marker
    /// line saying how many bytes were left out, and tail.
    pub(crate) fn finish(self) -> CapturedOutput {
        let kept = self.head.len() + self.tail.len();
        let truncated = self.total > kept as u64;
        let mut head = self.head;
        let mut tail: Vec<u8> = self.tail.into();
        if !truncated {
            head.extend_from_slice(&tail);
            return CapturedOutput {
                text: String::from_utf8_lossy(&head).into_owned(),
                truncated: false,
                total_bytes: self.total,
            };
        }
        // Do not show half a character on either side of the cut.
        head.truncate(complete_prefix_len(&head));
        let skip = tail
            .iter()
            .take(3)
            .take_while(|b| is_continuation(**b))
            .count();
        tail.drain(..skip);
        let omitted = self.total - (head.len() + tail.len()) as u64;
        let mut text = String::from_utf8_lossy(&head).into_owned();
        let _ = write!(text, "\n[... {omitted} bytes omitted ...]\n");
        text.push_str(&String::from_utf8_lossy(&tail));
        CapturedOutput {
            text,
            truncated: true,
            total_bytes: self.total,
        }
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

/// Length of `bytes` without a trailing, incomplete UTF-8 sequence.
fn complete_prefix_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // Find the start of the last character (at most 3 continuation bytes back).
    let Some(start) = (len.saturating_sub(4)..len)
        .rev()
        .find(|&i| !is_continuation(bytes[i]))
    else {
        return len;
    };
    let lead = bytes[start];
    let width = match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    if len - start < width { start } else { len }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(limit: usize, chunks: &[&[u8]]) -> CapturedOutput {
        let mut cap = HeadTail::new(limit);
        for chunk in chunks {
            cap.push(chunk);
        }
        cap.finish()
    }

    #[test]
    fn output_within_the_limit_is_kept_whole() {
        assert_eq!(
            capture(10, &[b"hello", b" you"]),
            CapturedOutput {
                text: "hello you".into(),
                truncated: false,
                total_bytes: 9,
            }
        );
    }

    #[test]
    fn output_exactly_at_the_limit_is_not_truncated() {
        assert_eq!(
            capture(4, &[b"ab", b"cd"]),
            CapturedOutput {
                text: "abcd".into(),
                truncated: false,
                total_bytes: 4,
            }
        );
    }

    #[test]
    fn long_output_keeps_head_and_tail_across_chunks() {
        let chunks: Vec<&[u8]> = vec![b"0123", b"4567", b"89ab", b"cdef"];
        assert_eq!(
            capture(6, &chunks),
            CapturedOutput {
                text: "012\n[... 10 bytes omitted ...]\ndef".into(),
                truncated: true,
                total_bytes: 16,
            }
        );
    }

    #[test]
    fn one_big_chunk_is_split_into_head_and_tail() {
        let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let out = capture(100, &[&data]);
        let expected = format!(
            "{}\n[... 900 bytes omitted ...]\n{}",
            String::from_utf8_lossy(&data[..50]),
            String::from_utf8_lossy(&data[950..])
        );
        assert_eq!(
            out,
            CapturedOutput {
                text: expected,
                truncated: true,
                total_bytes: 1000,
            }
        );
    }

    #[test]
    fn zero_limit_keeps_only_the_marker() {
        assert_eq!(
            capture(0, &[b"abc"]),
            CapturedOutput {
                text: "\n[... 3 bytes omitted ...]\n".into(),
                truncated: true,
                total_bytes: 3,
            }
        );
    }

    #[test]
    fn cuts_do_not_split_characters() {
        // "é" is two bytes; the head (3 bytes) would end inside the second one
        // and the tail (3 bytes) would start inside the fourth.
        let out = capture(6, &["ééééé".as_bytes()]);
        assert_eq!(
            out,
            CapturedOutput {
                text: "é\n[... 6 bytes omitted ...]\né".into(),
                truncated: true,
                total_bytes: 10,
            }
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        assert_eq!(
            capture(100, &[b"a\xffb"]),
            CapturedOutput {
                text: "a\u{fffd}b".into(),
                truncated: false,
                total_bytes: 3,
            }
        );
    }
}
