//! Code-aware words: identifiers split at `_` and camelCase boundaries, for
//! BM25 and for finding what a ticket mentions.

/// Words too common in prose and code to say anything about relevance.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "for", "from", "if", "in", "is",
    "it", "its", "not", "of", "on", "or", "so", "that", "the", "then", "this", "to", "was", "we",
    "when", "with", "self", "fn", "def", "let", "mut", "pub", "return", "var", "const", "new",
    "none", "null", "true", "false", "import", "use",
];

/// Calls `emit` with every lower-cased term of `text`: each identifier-like
/// word whole, then its parts split at `_`, `-` and camelCase boundaries
/// (`parseHTTPRequest` gives `parsehttprequest`, `parse`, `http`, `request`).
/// One-letter terms, numbers and stop words are left out.
///
/// This runs over every line of every indexed file, so it allocates nothing
/// per word: ASCII (nearly all code) is scanned byte by byte, and the parts
/// and the lower-cased term go into buffers reused across words.
pub(crate) fn for_each_term(text: &str, mut emit: impl FnMut(&str)) {
    let mut lower = String::new();
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let (is_word, len) = word_char(text, at);
        if !is_word {
            at += len;
            continue;
        }
        let start = at;
        let mut ascii = true;
        while at < bytes.len() {
            let (is_word, len) = word_char(text, at);
            if !is_word {
                break;
            }
            ascii &= len == 1;
            at += len;
        }
        let word = &text[start..at];
        parts.clear();
        if ascii {
            split_ascii(word.as_bytes(), &mut parts);
        } else {
            split_chars(word, &mut parts);
        }
        if parts.len() != 1 {
            emit_lower(word, &mut lower, &mut emit);
        }
        for (from, to) in &parts {
            emit_lower(&word[*from..*to], &mut lower, &mut emit);
        }
    }
}

/// Whether the character at byte `at` of `text` belongs to a word (a letter,
/// a digit or `_`), and its length in bytes.
fn word_char(text: &str, at: usize) -> (bool, usize) {
    let byte = text.as_bytes()[at];
    if byte.is_ascii() {
        return (byte.is_ascii_alphanumeric() || byte == b'_', 1);
    }
    match text[at..].chars().next() {
        Some(c) => (c.is_alphanumeric(), c.len_utf8()),
        None => (false, 1),
    }
}

fn emit_lower(word: &str, buf: &mut String, emit: &mut impl FnMut(&str)) {
    if word.len() < 2 || word.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    buf.clear();
    if word.is_ascii() {
        buf.push_str(word);
        buf.make_ascii_lowercase();
    } else {
        buf.extend(word.chars().flat_map(char::to_lowercase));
    }
    if !STOP_WORDS.contains(&buf.as_str()) {
        emit(buf);
    }
}

/// The parts of an identifier: split at `_` and at camelCase boundaries
/// (`HTTPServer` → `HTTP`, `Server`; `snake_case` → `snake`, `case`).
#[cfg(test)]
fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    split_chars(word, &mut parts);
    parts.iter().map(|(from, to)| &word[*from..*to]).collect()
}

/// Whether a camelCase boundary falls before `c`, given the characters
/// around it.
fn boundary(prev: char, c: char, next_lower: bool) -> bool {
    (c.is_uppercase() && prev.is_lowercase())
        || (c.is_uppercase() && prev.is_uppercase() && next_lower)
        || (c.is_alphabetic() && prev.is_ascii_digit() && c.is_uppercase())
}

/// [`split_identifier`] as byte ranges, for any word.
fn split_chars(word: &str, parts: &mut Vec<(usize, usize)>) {
    let mut offset = 0;
    for piece in word.split('_') {
        let base = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
            if boundary(chars[i - 1].1, c, next_lower) {
                parts.push((base + start, base + at));
                start = at;
            }
        }
        parts.push((base + start, base + piece.len()));
    }
}

/// [`split_chars`] for an ASCII word, without decoding characters.
fn split_ascii(word: &[u8], parts: &mut Vec<(usize, usize)>) {
    let mut offset = 0;
    for piece in word.split(|b| *b == b'_') {
        let base = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let mut start = 0;
        for i in 1..piece.len() {
            let next_lower = piece.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if boundary(char::from(piece[i - 1]), char::from(piece[i]), next_lower) {
                parts.push((base + start, base + i));
                start = i;
            }
        }
        parts.push((base + start, base + piece.len()));
    }
}

/// A stable 32-bit hash of a term (FNV-1a), so chunks store numbers, not strings.
pub(crate) fn term_hash(term: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in term.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Identifier-like words of `text` as written (for matching symbol names
/// exactly): runs of letters, digits and `_` that start with a letter or `_`.
pub(crate) fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
}

/// Path-like words of `text` (`src/lib.rs`, `views.py:12`, `"a/b.go"`):
/// runs without spaces, quotes or brackets that contain a `.` or a `/`,
/// with a trailing `:line`, `,` or `.` removed.
pub(crate) fn path_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '`' | '"' | '\'' | '(' | ')' | '[' | ']' | '<' | '>' | ',' | '{' | '}'
            )
    })
    .map(|w| {
        let w = w.split(':').next().unwrap_or(w);
        w.trim_end_matches(['.', ';', '!', '?'])
            .trim_start_matches("./")
    })
    .filter(|w| w.len() > 2 && (w.contains('/') || w.contains('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_term(text, |t| out.push(t.to_string()));
        out
    }

    #[test]
    fn identifiers_split_at_case_and_underscores() {
        assert_eq!(
            terms("parseHTTPRequest load_user_config x 42 the"),
            vec![
                "parsehttprequest",
                "parse",
                "http",
                "request",
                "load_user_config",
                "load",
                "user",
                "config"
            ]
        );
        assert_eq!(
            split_identifier("HTTPServer2Go"),
            vec!["HTTP", "Server2", "Go"]
        );
        assert_eq!(split_identifier("__init__"), vec!["init"]);
    }

    /// The straightforward version [`for_each_term`] must agree with: split at
    /// non-word characters, decode every identifier into characters.
    fn reference_terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if word.is_empty() {
                continue;
            }
            let mut parts = Vec::new();
            for piece in word.split('_').filter(|p| !p.is_empty()) {
                let chars: Vec<(usize, char)> = piece.char_indices().collect();
                let mut start = 0;
                for i in 1..chars.len() {
                    let (at, c) = chars[i];
                    let prev = chars[i - 1].1;
                    let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
                    if (c.is_uppercase() && prev.is_lowercase())
                        || (c.is_uppercase() && prev.is_uppercase() && next_lower)
                        || (c.is_alphabetic() && prev.is_ascii_digit() && c.is_uppercase())
                    {
                        parts.push(&piece[start..at]);
                        start = at;
                    }
                }
                parts.push(&piece[start..]);
            }
            let whole = (parts.len() != 1).then_some(word);
            for term in whole.into_iter().chain(parts) {
                let lower: String = term.chars().flat_map(char::to_lowercase).collect();
                if term.len() >= 2
                    && !term.bytes().all(|b| b.is_ascii_digit())
                    && !STOP_WORDS.contains(&lower.as_str())
                {
                    out.push(lower);
                }
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn the_fast_scan_finds_the_same_terms(
            text in "[a-zA-Z0-9_ .:(){}\\-éÉßΣσ中\u{0130}\t\n]{0,80}"
        ) {
            proptest::prop_assert_eq!(terms(&text), reference_terms(&text));
        }
    }

    #[test]
    fn path_words_are_found_in_prose() {
        let found: Vec<_> = path_words("See `src/lib.rs:12` and views.py, not this.").collect();
        assert_eq!(found, vec!["src/lib.rs", "views.py"]);
    }
}
