//! Text helpers shared by the tools: line numbering, binary detection, caps.

use agentkit_core::sandbox::SandboxError;
use agentkit_core::tool::ToolError;

/// How many leading bytes are probed for a NUL byte to call a file binary.
pub(crate) const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Whether `bytes` look binary: a NUL byte in the first 8 KiB (git's and grep's rule).
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_PROBE_BYTES)].contains(&0)
}

/// One line as `read_file` shows it: the 1-based number right-aligned, a tab, the text.
pub(crate) fn numbered(number: usize, line: &str) -> String {
    format!("{number:>6}\t{line}")
}

/// `line` cut to at most `max_chars` characters, with a marker saying how long it was.
pub(crate) fn clip_line(line: &str, max_chars: usize) -> String {
    match line.char_indices().nth(max_chars) {
        None => line.to_string(),
        Some((cut, _)) => format!(
            "{} [... line cut: {} characters in all]",
            &line[..cut],
            line.chars().count()
        ),
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
pub(crate) fn prefix_at_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `n` followed by `word`, pluralized with an `s` when `n != 1`.
pub(crate) fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Converts a sandbox error, adding `hint` to a "not found" so the model knows what to do.
pub(crate) fn with_not_found_hint(err: SandboxError, hint: &str) -> ToolError {
    match err {
        SandboxError::NotFound { .. } => ToolError::failed(format!("{err}; {hint}")),
        other => ToolError::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_means_a_nul_byte_in_the_probe() {
        assert!(looks_binary(b"abc\0def"));
        assert!(!looks_binary(b"plain text\n"));
        let mut late = vec![b'a'; BINARY_PROBE_BYTES];
        late.push(0);
        assert!(!looks_binary(&late));
    }

    #[test]
    fn clip_line_keeps_short_lines_and_marks_long_ones() {
        assert_eq!(clip_line("héllo", 5), "héllo");
        assert_eq!(
            clip_line("héllo world", 5),
            "héllo [... line cut: 11 characters in all]"
        );
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix_at_boundary("aé", 2), "a");
        assert_eq!(prefix_at_boundary("aé", 3), "aé");
    }

    #[test]
    fn line_numbers_count_newlines_before_the_offset() {
        assert_eq!(line_of_offset("a\nb\nc", 0), 1);
        assert_eq!(line_of_offset("a\nb\nc", 2), 2);
        assert_eq!(line_of_offset("a\nb\nc", 4), 3);
    }
}
