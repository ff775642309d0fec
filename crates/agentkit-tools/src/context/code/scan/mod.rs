//! The quick scan: ranking-grade tags from one lexical pass, for the first
//! map of a large workspace the index has never seen.
//!
//! Tree-sitter parses at about 4–5 MB/s per core, so a cold index of a large
//! repository (Django: 19 MB of source) takes seconds before its first map.
//! The scan reads the same files with a hand-written lexer per language
//! family (strings, comments, brackets, indentation) and applies the rules of
//! the tree walk ([`walk`](super::walk)) to tokens instead of nodes: a name
//! after `def`/`fn`/`class`/... is a definition, a name before `(` a call, a
//! name after `.` an attribute or method, and so on. It runs at tens of MB/s.
//!
//! Python has its own lexer ([`python`]); Rust, Go, Java, JavaScript,
//! TypeScript and TSX share one C-family lexer ([`clike`]) and each has a
//! rules file ([`rust`], [`go`], [`java`], [`js`]) reading what a parser
//! would know from the brackets and keywords around a name (type positions,
//! patterns, class bodies, macro token trees).
//!
//! Its tags are *provisional* ([`FileTags::provisional`]): the definitions
//! and references that rank files (names, lines, signatures), no retrieval
//! chunks, and line ranges found from indentation or braces. The index uses
//! them only for a large cold batch and parses the same files with
//! tree-sitter right after, in the background; the next refresh swaps the
//! exact tags in. How closely each language's scan agrees with tree-sitter is
//! measured by a test over this repository (and any tree given in
//! `AGENTKIT_TAGS_TREES`).

mod clike;
mod go;
mod java;
mod js;
mod python;
mod rust;

#[cfg(test)]
mod agreement;
#[cfg(test)]
mod clike_tests;

use super::lang::Lang;
use super::tags::FileTags;

/// Whether `b` can start a name (non-ASCII bytes are taken as letters).
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Whether `b` can continue a name.
fn is_ident_continue(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// The provisional tags of `source`, or `None` when the scan gives it up
/// (input so unlike code that its look-ahead would cost quadratic time):
/// then the file is parsed with tree-sitter right away.
pub(crate) fn scan(lang: Lang, source: &[u8]) -> Option<FileTags> {
    match lang {
        Lang::Python => Some(python::scan(source)),
        Lang::Go => go::scan(source),
        Lang::Java => java::scan(source),
        Lang::Rust => rust::scan(source),
        Lang::JavaScript => js::scan(source, false, true),
        Lang::TypeScript => js::scan(source, true, false),
        Lang::Tsx => js::scan(source, true, true),
    }
}
