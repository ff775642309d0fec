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
pub(crate) fn for_each_term(text: &str, mut emit: impl FnMut(&str)) {
    let mut lower = String::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if word.is_empty() {
            continue;
        }
        let parts = split_identifier(word);
        let whole_is_part = parts.len() == 1;
        if !whole_is_part {
            emit_lower(word, &mut lower, &mut emit);
        }
        for part in parts {
            emit_lower(part, &mut lower, &mut emit);
        }
    }
}

fn emit_lower(word: &str, buf: &mut String, emit: &mut impl FnMut(&str)) {
    if word.len() < 2 || word.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    buf.clear();
    buf.extend(word.chars().flat_map(char::to_lowercase));
    if !STOP_WORDS.contains(&buf.as_str()) {
        emit(buf);
    }
}

/// The parts of an identifier: split at `_` and at camelCase boundaries
/// (`HTTPServer` → `HTTP`, `Server`; `snake_case` → `snake`, `case`).
pub(crate) fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in word.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let prev = chars[i - 1].1;
            let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
            let boundary = (c.is_uppercase() && prev.is_lowercase())
                || (c.is_uppercase() && prev.is_uppercase() && next_lower)
                || (c.is_alphabetic() && prev.is_ascii_digit() && c.is_uppercase());
            if boundary {
                parts.push(&piece[start..at]);
                start = at;
            }
        }
        parts.push(&piece[start..]);
    }
    parts
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

    #[test]
    fn path_words_are_found_in_prose() {
        let found: Vec<_> = path_words("See `src/lib.rs:12` and views.py, not this.").collect();
        assert_eq!(found, vec!["src/lib.rs", "views.py"]);
    }
}
