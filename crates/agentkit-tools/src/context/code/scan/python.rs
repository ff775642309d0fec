//! The quick scan of Python: a lexer (strings with their prefixes,
//! f-string interpolations, comments, brackets, logical lines and their
//! indentation) and the tree walk's rules applied to its tokens.

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::clike::MAX_NESTING;
use super::{is_ident_continue, is_ident_start};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    /// One byte of punctuation.
    Punct(u8),
    Str,
    Number,
    /// The end of a logical line.
    Newline,
}

/// A token, in 16 bytes (a file's tokens are held at once).
#[derive(Debug, Clone, Copy)]
struct Tok {
    start: u32,
    end: u32,
    /// 1-based line of its first byte.
    line: u32,
    kind: Kind,
    /// The indentation of its logical line when it starts one, else `NOT_FIRST`.
    first: u16,
}

const NOT_FIRST: u16 = u16::MAX;

impl Tok {
    fn first(&self) -> Option<u32> {
        (self.first != NOT_FIRST).then_some(u32::from(self.first))
    }
}

thread_local! {
    /// The token buffer, reused from file to file: allocating one per file
    /// (several times the file's size) and freeing it scatters the heap.
    static TOKENS: std::cell::RefCell<Vec<Tok>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Tags of `source` from its tokens.
pub(super) fn scan(source: &[u8]) -> FileTags {
    TOKENS.with(|buffer| {
        let mut toks = buffer.take();
        toks.clear();
        let mut lexer = Lexer {
            s: source,
            i: 0,
            line: 1,
            line_start: 0,
            toks,
            at_line_start: true,
            nesting: 0,
        };
        lexer.code(false);
        let toks = lexer.toks;
        let mut tags = TagsBuilder::new(source);
        Rules::new(source, &toks).run(&mut tags);
        buffer.replace(toks);
        tags.finish(false, true)
    })
}

struct Lexer<'s> {
    s: &'s [u8],
    i: usize,
    line: u32,
    line_start: usize,
    toks: Vec<Tok>,
    at_line_start: bool,
    /// f-string fields open around the cursor (each one a recursion).
    nesting: u32,
}

impl Lexer<'_> {
    fn push(&mut self, kind: Kind, start: usize, line: u32) {
        let first = if self.at_line_start && kind != Kind::Newline {
            self.at_line_start = false;
            (start - self.line_start.min(start)).min(NOT_FIRST as usize - 1) as u16
        } else {
            NOT_FIRST
        };
        self.toks.push(Tok {
            kind,
            start: start as u32,
            end: self.i as u32,
            line,
            first,
        });
    }

    fn newline(&mut self) {
        self.line += 1;
        self.i += 1;
        self.line_start = self.i;
    }

    /// Lexes code until the end, or with `interpolation` until the `}` that
    /// closes an f-string's replacement field (consumed).
    fn code(&mut self, interpolation: bool) {
        let mut depth = 0u32;
        while self.i < self.s.len() {
            let b = self.s[self.i];
            let start = self.i;
            let line = self.line;
            match b {
                b'\n' => {
                    self.newline();
                    if depth == 0 && !interpolation && !self.at_line_start {
                        self.push(Kind::Newline, start, line);
                        self.at_line_start = true;
                    }
                }
                b' ' | b'\t' | b'\r' | 0x0c => self.i += 1,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'\\' => {
                    self.i += 1;
                    if self.s.get(self.i) == Some(&b'\r') {
                        self.i += 1;
                    }
                    if self.s.get(self.i) == Some(&b'\n') {
                        self.newline();
                    }
                }
                b'"' | b'\'' => self.string(0),
                b'0'..=b'9' => self.number(line),
                b'.' if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) => self.number(line),
                _ if is_ident_start(b) => {
                    while self.i < self.s.len() && is_ident_continue(self.s[self.i]) {
                        self.i += 1;
                    }
                    let word = &self.s[start..self.i];
                    match self.s.get(self.i) {
                        Some(b'"' | b'\'') if is_string_prefix(word) => self.string(start),
                        _ => self.push(Kind::Ident, start, line),
                    }
                }
                _ => {
                    self.i += 1;
                    match b {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' => depth = depth.saturating_sub(1),
                        b'}' => {
                            if depth == 0 && interpolation {
                                return;
                            }
                            depth = depth.saturating_sub(1);
                        }
                        b':' if interpolation
                            && depth == 0
                            && self.s.get(self.i) != Some(&b'=') =>
                        {
                            self.format_spec();
                            return;
                        }
                        _ => {}
                    }
                    self.push(Kind::Punct(b), start, line);
                }
            }
        }
    }

    fn number(&mut self, line: u32) {
        let start = self.i;
        while self.i < self.s.len() && (is_ident_continue(self.s[self.i]) || self.s[self.i] == b'.')
        {
            // `1.e5`, `0x_ff`, `1j`; a `.` followed by a name is an attribute of the number.
            if self.s[self.i] == b'.'
                && self
                    .s
                    .get(self.i + 1)
                    .is_some_and(|c| is_ident_start(*c) && !matches!(c, b'e' | b'E' | b'j' | b'J'))
            {
                break;
            }
            self.i += 1;
        }
        self.push(Kind::Number, start, line);
    }

    /// A string whose prefix starts at `prefix_start` (or 0 when it has none:
    /// then the quote is at the cursor).
    fn string(&mut self, prefix_start: usize) {
        let start = if prefix_start == 0 {
            self.i
        } else {
            prefix_start
        };
        let prefix = &self.s[start..self.i];
        let f = prefix
            .iter()
            .any(|c| matches!(c, b'f' | b'F' | b't' | b'T'));
        let line = self.line;
        let quote = self.s[self.i];
        let triple =
            self.s.get(self.i + 1) == Some(&quote) && self.s.get(self.i + 2) == Some(&quote);
        self.i += if triple { 3 } else { 1 };
        while self.i < self.s.len() {
            let b = self.s[self.i];
            if b == b'\\' {
                self.i += 1;
                match self.s.get(self.i) {
                    Some(b'\n') => self.newline(),
                    Some(_) => self.i += 1,
                    None => {}
                }
            } else if b == quote {
                if !triple {
                    self.i += 1;
                    break;
                }
                if self.s.get(self.i + 1) == Some(&quote) && self.s.get(self.i + 2) == Some(&quote)
                {
                    self.i += 3;
                    break;
                }
                self.i += 1;
            } else if b == b'\n' {
                if !triple {
                    // Unterminated: tree-sitter recovers at the line end too.
                    break;
                }
                self.newline();
            } else if f && b == b'{' {
                if self.s.get(self.i + 1) == Some(&b'{') {
                    self.i += 2;
                } else if self.nesting >= MAX_NESTING {
                    // Fields nested this deep are read as text, not recursed into.
                    self.i += 1;
                } else {
                    self.i += 1;
                    // The field's tokens come before the string's own token.
                    let at_line_start = std::mem::replace(&mut self.at_line_start, false);
                    self.nesting += 1;
                    self.code(true);
                    self.nesting -= 1;
                    self.at_line_start = at_line_start;
                }
            } else {
                self.i += 1;
            }
        }
        self.push(Kind::Str, start, line);
    }

    /// The format spec of a replacement field (after its `:`), through the
    /// field's closing `}`; nested fields are code.
    fn format_spec(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'{' if self.nesting < MAX_NESTING => {
                    self.i += 1;
                    self.nesting += 1;
                    self.code(true);
                    self.nesting -= 1;
                }
                b'}' => {
                    self.i += 1;
                    return;
                }
                b'\n' => self.newline(),
                _ => self.i += 1,
            }
        }
    }
}

fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 2
        && word
            .iter()
            .all(|c| matches!(c.to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f' | b't'))
}

fn is_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"False"
            | b"None"
            | b"True"
            | b"and"
            | b"as"
            | b"assert"
            | b"async"
            | b"await"
            | b"break"
            | b"class"
            | b"continue"
            | b"def"
            | b"del"
            | b"elif"
            | b"else"
            | b"except"
            | b"finally"
            | b"for"
            | b"from"
            | b"global"
            | b"if"
            | b"import"
            | b"in"
            | b"is"
            | b"lambda"
            | b"nonlocal"
            | b"not"
            | b"or"
            | b"pass"
            | b"raise"
            | b"return"
            | b"try"
            | b"while"
            | b"with"
            | b"yield"
    )
}

/// What an open bracket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A call's (or a class's bases') argument list.
    Args,
    /// A `def`'s parameters.
    Params,
    /// `[` after a name in an annotation (a generic's parameters).
    TypeArgs,
    Other,
}

/// Where annotations are: an annotation ends at this depth on one of these bytes.
#[derive(Debug, Clone, Copy)]
struct TypeSpan {
    depth: usize,
    ends: &'static [u8],
}

struct Rules<'s, 't> {
    s: &'s [u8],
    toks: &'t [Tok],
}

impl<'s, 't> Rules<'s, 't> {
    fn new(s: &'s [u8], toks: &'t [Tok]) -> Self {
        Self { s, toks }
    }

    fn text(&self, t: usize) -> &'s [u8] {
        let tok = &self.toks[t];
        &self.s[tok.start as usize..tok.end as usize]
    }

    fn kind(&self, t: Option<usize>) -> Option<Kind> {
        t.and_then(|t| self.toks.get(t)).map(|t| t.kind)
    }

    fn is_word(&self, t: Option<usize>, word: &[u8]) -> bool {
        t.is_some_and(|t| self.toks[t].kind == Kind::Ident && self.text(t) == word)
    }

    fn is_punct(&self, t: Option<usize>, b: u8) -> bool {
        self.kind(t) == Some(Kind::Punct(b))
    }

    /// The 1-based line of the last byte of token `t` (strings span lines).
    fn end_line(&self, t: usize) -> u32 {
        let tok = &self.toks[t];
        match tok.kind {
            Kind::Str => {
                tok.line
                    + self.s[tok.start as usize..tok.end as usize]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count() as u32
            }
            _ => tok.line,
        }
    }

    /// Whether tokens `a` and `a + 1` touch (`==`, `->`, `:=`).
    fn touching(&self, a: usize) -> bool {
        self.toks
            .get(a + 1)
            .is_some_and(|next| next.start == self.toks[a].end)
    }

    fn run(&self, tags: &mut TagsBuilder<'s>) {
        let toks = self.toks;
        // Definitions whose block is open: (indentation, index in `defs`).
        let mut blocks: Vec<(u32, usize)> = Vec::new();
        let mut defs: Vec<(usize, SymbolKind, u32, u32)> = Vec::new();
        let mut ends: Vec<u32> = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut types: Vec<TypeSpan> = Vec::new();
        // The logical line: its first token, whether it is a `from` import and where `import` is.
        let mut line_first = 0usize;
        let mut import_from = false;
        let mut after_import = false;
        // The `:` of an annotated assignment (`NAME: T = ...`, `a.b: T`).
        let mut annotation = None;
        let mut last_end_line = 0u32;
        for t in 0..toks.len() {
            let tok = toks[t];
            if let Some(indent) = tok.first() {
                while let Some((open, def)) = blocks.last().copied() {
                    if indent > open {
                        break;
                    }
                    ends[def] = last_end_line;
                    blocks.pop();
                }
                line_first = t;
                // `from __future__ import x` is not an import of `x`.
                import_from =
                    self.is_word(Some(t), b"from") && !self.is_word(Some(t + 1), b"__future__");
                after_import = false;
                stack.clear();
                types.clear();
                annotation = None;
                if tok.kind == Kind::Ident && !is_keyword(self.text(t)) {
                    let mut k = t + 1;
                    while self.is_punct(Some(k), b'.')
                        && self.kind(Some(k + 1)) == Some(Kind::Ident)
                    {
                        k += 2;
                    }
                    if self.is_punct(Some(k), b':') && !self.touching(k) {
                        annotation = Some(k);
                    }
                }
            }
            if tok.kind != Kind::Newline {
                last_end_line = self.end_line(t);
            }
            let prev = t.checked_sub(1);
            let next = Some(t + 1);
            match tok.kind {
                Kind::Punct(b) => {
                    if let Some(span) = types.last()
                        && stack.len() == span.depth
                        && span.ends.contains(&b)
                    {
                        types.pop();
                    }
                    match b {
                        b'(' => {
                            let open = match self.kind(prev) {
                                Some(Kind::Ident) => {
                                    let p = prev.unwrap_or(0);
                                    if self.is_word(p.checked_sub(1), b"def") {
                                        Open::Params
                                    } else if !is_keyword(self.text(p))
                                        || self.is_word(p.checked_sub(1), b"class")
                                    {
                                        Open::Args
                                    } else {
                                        Open::Other
                                    }
                                }
                                Some(Kind::Punct(b')' | b']')) | Some(Kind::Str) => Open::Args,
                                _ => Open::Other,
                            };
                            stack.push(open);
                        }
                        b'[' => {
                            let generic = self.kind(prev) == Some(Kind::Ident)
                                && types.last().is_some_and(|s| stack.len() >= s.depth);
                            stack.push(if generic { Open::TypeArgs } else { Open::Other });
                        }
                        b'{' => stack.push(Open::Other),
                        b')' | b']' | b'}' => {
                            stack.pop();
                            while types.last().is_some_and(|s| s.depth > stack.len()) {
                                types.pop();
                            }
                        }
                        b':' if annotation == Some(t) => types.push(TypeSpan {
                            depth: 0,
                            ends: b"=",
                        }),
                        b':' if stack.last() == Some(&Open::Params) && !self.touching(t) => {
                            types.push(TypeSpan {
                                depth: stack.len(),
                                ends: b",=",
                            });
                        }
                        b'>' if self.is_punct(prev, b'-') && self.touching(t - 1) => {
                            types.push(TypeSpan {
                                depth: stack.len(),
                                ends: b":",
                            });
                        }
                        _ => {}
                    }
                }
                Kind::Newline => {
                    stack.clear();
                    types.clear();
                }
                Kind::Ident => {
                    let word = self.text(t);
                    if word == b"import" && import_from {
                        after_import = true;
                    }
                    if is_keyword(word) {
                        continue;
                    }
                    let Ok(name) = std::str::from_utf8(word) else {
                        continue;
                    };
                    let first = &toks[line_first];
                    // Definitions.
                    let def_kind = if self.is_word(prev, b"def") {
                        Some(SymbolKind::Function)
                    } else if self.is_word(prev, b"class") {
                        Some(SymbolKind::Class)
                    } else {
                        None
                    };
                    if let Some(kind) = def_kind {
                        let indent = first.first().unwrap_or(0);
                        defs.push((t, kind, first.line, indent));
                        ends.push(tok.line);
                        blocks.push((indent, defs.len() - 1));
                        continue;
                    }
                    if t == line_first
                        && first.first() == Some(0)
                        && ((self.is_punct(next, b'=') && !self.is_punct(Some(t + 2), b'='))
                            || (self.is_punct(next, b':') && !self.touching(t + 1)))
                    {
                        // A constant spans its statement (found at the end).
                        defs.push((t, SymbolKind::Const, tok.line, u32::MAX));
                        ends.push(0);
                    }
                    // References.
                    if import_from {
                        if after_import && !self.is_word(prev, b"as") {
                            tags.reference_at(name, tok.line);
                        }
                        continue;
                    }
                    if self.is_word(Some(line_first), b"import") {
                        continue;
                    }
                    let next_kind = self.kind(next);
                    let after_dot = self.is_punct(prev, b'.');
                    let is_ref = after_dot
                        || next_kind == Some(Kind::Punct(b'('))
                        || (stack.last() == Some(&Open::Args)
                            && matches!(self.kind(prev), Some(Kind::Punct(b'(' | b',')))
                            && matches!(next_kind, Some(Kind::Punct(b',' | b')'))))
                        || (self.is_punct(prev, b'@')
                            && prev == Some(line_first)
                            && matches!(next_kind, Some(Kind::Newline) | None))
                        || (types
                            .last()
                            .is_some_and(|s| stack.len() == s.depth || stack.last() == Some(&Open::TypeArgs))
                            // `A | B` is an operation on the names, not a type of each.
                            && !matches!(next_kind, Some(Kind::Punct(b'[' | b'.' | b'|')))
                            && !self.is_punct(prev, b'|'));
                    if is_ref {
                        tags.reference_at(name, tok.line);
                    }
                }
                Kind::Str | Kind::Number => {}
            }
        }
        for (_, def) in blocks.drain(..) {
            ends[def] = last_end_line;
        }
        for ((t, kind, start, indent), end) in defs.into_iter().zip(ends) {
            let tok = &toks[t];
            let Ok(name) = std::str::from_utf8(self.text(t)) else {
                continue;
            };
            // A constant spans its statement only; a block, its indented body.
            let end = if indent == u32::MAX {
                self.statement_end(t)
            } else {
                end.max(tok.line)
            };
            tags.definition_at(name, tok.start as usize, kind, tok.line, start..=end);
        }
    }

    /// The last line of the logical line holding token `t`.
    fn statement_end(&self, t: usize) -> u32 {
        let mut end = self.toks[t].line;
        for (k, tok) in self.toks.iter().enumerate().skip(t) {
            if tok.kind == Kind::Newline {
                break;
            }
            end = self.end_line(k);
        }
        end
    }
}

#[cfg(test)]
#[path = "python_tests.rs"]
mod tests;
