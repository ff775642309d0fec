//! The lexer of the C-family languages (Rust, Go, Java, JavaScript and
//! TypeScript): names, one-byte punctuation, string and character literals
//! (with each language's own forms), numbers, and comments skipped, plus
//! the matching bracket of every bracket token.
//!
//! It never fails: an unterminated string or comment ends at the end of the
//! input (strings quoted with `'` or `"` outside Rust, at the end of their
//! line, as tree-sitter recovers), and bytes that are not UTF-8 are read as
//! letters.

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::{is_ident_continue, is_ident_start};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ident,
    /// One byte of punctuation.
    Punct(u8),
    /// A string, character, template or regular expression literal.
    Str,
    Number,
    /// A Rust lifetime or label (`'a`).
    Lifetime,
}

/// One token.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tok {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
    /// 1-based line of its first and of its last byte.
    pub line: u32,
    pub end_line: u32,
}

/// How deep the scans recurse (nested templates, Go's nested types) before
/// they read the rest flat: bad input must not exhaust the stack.
pub(super) const MAX_NESTING: u32 = 64;

/// The language whose literal forms are lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Rust,
    Go,
    Java,
    /// JavaScript, TypeScript and TSX.
    Js,
}

/// The tokens of `source` and, for each token, the index of its matching
/// bracket (itself when it is not a bracket or has no match).
pub(super) struct Lexed<'s> {
    pub s: &'s [u8],
    pub toks: Vec<Tok>,
    pub pair: Vec<u32>,
    /// Look-ahead steps left (see [`Lexed::more`]).
    budget: std::cell::Cell<usize>,
}

/// Look-ahead steps a file may take per token (real code takes a few),
/// beyond a fixed allowance.
const LOOKAHEAD_PER_TOKEN: usize = 16;
const LOOKAHEAD_BASE: usize = 1 << 16;

impl<'s> Lexed<'s> {
    /// Whether a look-ahead may go on to token `k`: it is a token and the
    /// file's look-ahead budget is not spent. The rules look ahead from many
    /// tokens (to a body, the end of a statement, a closing `>`); on input
    /// no compiler would take (a million `(`), that could cost quadratic
    /// time. Once the budget is spent every look-ahead stops at once and the
    /// file's tags are given up ([`Lexed::gave_up`]): tree-sitter parses it.
    pub fn more(&self, k: usize) -> bool {
        k < self.toks.len() && self.spend()
    }

    /// Spends one look-ahead step; `false` once the budget is spent.
    pub fn spend(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    /// Whether the look-ahead budget ran out (the tags are not to be trusted).
    pub fn gave_up(&self) -> bool {
        self.budget.get() == 0
    }

    /// The text of token `t` (empty past the end).
    pub fn text(&self, t: usize) -> &'s [u8] {
        self.toks
            .get(t)
            .map_or(&[], |tok| &self.s[tok.start as usize..tok.end as usize])
    }

    /// The name token `t` is, if it is one and valid UTF-8.
    pub fn name(&self, t: usize) -> Option<&'s str> {
        let tok = self.toks.get(t)?;
        (tok.kind == Kind::Ident)
            .then(|| std::str::from_utf8(self.text(t)).ok())
            .flatten()
    }

    /// Whether token `t` is a name.
    pub fn is_ident(&self, t: usize) -> bool {
        self.toks.get(t).is_some_and(|tok| tok.kind == Kind::Ident)
    }

    /// Whether token `t` is the word `word`.
    pub fn is_word(&self, t: usize, word: &[u8]) -> bool {
        self.is_ident(t) && self.text(t) == word
    }

    /// Whether token `t` is the punctuation `b`.
    pub fn is_punct(&self, t: usize, b: u8) -> bool {
        self.toks
            .get(t)
            .is_some_and(|tok| tok.kind == Kind::Punct(b))
    }

    /// Whether tokens `t` and `t + 1` touch (`::`, `->`, `=>`).
    pub fn touching(&self, t: usize) -> bool {
        match (self.toks.get(t), self.toks.get(t + 1)) {
            (Some(a), Some(b)) => a.end == b.start,
            _ => false,
        }
    }

    /// Whether tokens `t` and `t + 1` are the two bytes of operator `op`
    /// (`::`, `->`, `=>`, `<<`), written together.
    pub fn is_op(&self, t: usize, op: &[u8; 2]) -> bool {
        self.is_punct(t, op[0]) && self.is_punct(t + 1, op[1]) && self.touching(t)
    }

    /// The index of the token matching bracket `t` (`t` itself when none).
    pub fn pair(&self, t: usize) -> usize {
        self.pair.get(t).map_or(t, |p| *p as usize)
    }

    /// The line of token `t` (the last line past the end).
    pub fn line(&self, t: usize) -> u32 {
        self.toks
            .get(t)
            .or(self.toks.last())
            .map_or(1, |tok| tok.line)
    }

    /// The last line of token `t` (the last line past the end).
    pub fn end_line(&self, t: usize) -> u32 {
        self.toks
            .get(t)
            .or(self.toks.last())
            .map_or(1, |tok| tok.end_line)
    }

    /// A reference to name token `t`, if it is one.
    pub fn refer(&self, tags: &mut TagsBuilder<'s>, t: usize) {
        if let Some(name) = self.name(t) {
            tags.reference_at(name, self.line(t));
        }
    }

    /// A definition named by token `t`, spanning from the line of token
    /// `start` to `end_line` (and at least its name's line).
    pub fn define(
        &self,
        tags: &mut TagsBuilder<'s>,
        t: usize,
        kind: SymbolKind,
        start: usize,
        end_line: u32,
    ) {
        if let Some(name) = self.name(t) {
            let tok = self.toks[t];
            let span = self.line(start).min(tok.line)..=end_line.max(tok.line);
            tags.definition_at(name, tok.start as usize, kind, tok.line, span);
        }
    }

    /// The `>` closing the `<` at `open` (nested ones counted, bracket
    /// pairs skipped, `->` and `=>` not closers), or `None` at one of
    /// `stops` or the end.
    pub fn angle_close(&self, open: usize, stops: &[u8]) -> Option<usize> {
        let mut depth = 0u32;
        let mut k = open;
        while self.more(k) {
            match self.toks[k].kind {
                Kind::Punct(b'(' | b'[' | b'{') if self.pair(k) > k => k = self.pair(k),
                Kind::Punct(b'<') => depth += 1,
                Kind::Punct(b'>')
                    if !(k > 0 && (self.is_op(k - 1, b"->") || self.is_op(k - 1, b"=>"))) =>
                {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(k);
                    }
                }
                Kind::Punct(b) if stops.contains(&b) => return None,
                _ => {}
            }
            k += 1;
        }
        None
    }
}

/// Lexes `source` and lets `rules` find its tags; `None` when the rules
/// spent the look-ahead budget (see [`Lexed::more`]): tree-sitter parses it.
pub(super) fn scan_with<'s>(
    source: &'s [u8],
    flavor: Flavor,
    rules: impl FnOnce(&Lexed<'s>, &mut TagsBuilder<'s>),
) -> Option<FileTags> {
    let code = lex(source, flavor);
    let mut tags = TagsBuilder::new(source);
    rules(&code, &mut tags);
    (!code.gave_up()).then(|| tags.finish(false, true))
}

/// Lexes `source` as `flavor`.
pub(super) fn lex(source: &[u8], flavor: Flavor) -> Lexed<'_> {
    let mut lexer = Lexer {
        s: source,
        i: 0,
        line: 1,
        flavor,
        toks: Vec::with_capacity(source.len() / 4),
        nesting: 0,
    };
    lexer.code(false);
    let toks = lexer.toks;
    let pair = pairs(&toks);
    Lexed {
        budget: std::cell::Cell::new(
            LOOKAHEAD_BASE.saturating_add(toks.len().saturating_mul(LOOKAHEAD_PER_TOKEN)),
        ),
        s: source,
        toks,
        pair,
    }
}

/// The matching bracket of every bracket token (unmatched ones point to themselves).
fn pairs(toks: &[Tok]) -> Vec<u32> {
    let mut pair: Vec<u32> = (0..toks.len() as u32).collect();
    let mut open: Vec<(u8, u32)> = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        let Kind::Punct(b) = tok.kind else { continue };
        let opener = match b {
            b'(' | b'[' | b'{' => {
                open.push((b, i as u32));
                continue;
            }
            b')' => b'(',
            b']' => b'[',
            b'}' => b'{',
            _ => continue,
        };
        // A stray closer matches the nearest opener of its kind, if any.
        if let Some(at) = open.iter().rposition(|(o, _)| *o == opener) {
            let (_, o) = open[at];
            open.truncate(at);
            pair[o as usize] = i as u32;
            pair[i] = o;
        }
    }
    pair
}

struct Lexer<'s> {
    s: &'s [u8],
    i: usize,
    line: u32,
    flavor: Flavor,
    toks: Vec<Tok>,
    /// Template expressions open around the cursor.
    nesting: u32,
}

impl Lexer<'_> {
    fn push(&mut self, kind: Kind, start: usize, line: u32) {
        self.toks.push(Tok {
            kind,
            start: start as u32,
            end: self.i as u32,
            line,
            end_line: self.line,
        });
    }

    fn at(&self, k: usize) -> u8 {
        self.s.get(self.i + k).copied().unwrap_or(0)
    }

    /// Lexes code until the end or, with `template`, until the `}` closing
    /// a JavaScript template's `${` (consumed).
    fn code(&mut self, template: bool) {
        let mut depth = 0u32;
        while self.i < self.s.len() {
            let b = self.s[self.i];
            let start = self.i;
            let line = self.line;
            match b {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0c => self.i += 1,
                b'/' if self.at(1) == b'/' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'/' if self.at(1) == b'*' => self.block_comment(),
                b'/' if self.flavor == Flavor::Js && self.regex_here() => self.regex(),
                b'"' if self.flavor == Flavor::Java && self.at(1) == b'"' && self.at(2) == b'"' => {
                    self.i += 3;
                    self.quoted(b'"', true, true);
                    self.push(Kind::Str, start, line);
                }
                b'"' => {
                    self.i += 1;
                    let multiline = self.flavor == Flavor::Rust;
                    self.quoted(b'"', multiline, false);
                    self.push(Kind::Str, start, line);
                }
                b'\'' => self.single_quote(),
                b'`' if self.flavor == Flavor::Go => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i] != b'`' {
                        self.step();
                    }
                    self.i = (self.i + 1).min(self.s.len());
                    self.push(Kind::Str, start, line);
                }
                b'`' if self.flavor == Flavor::Js => self.template(),
                b'0'..=b'9' => self.number(),
                b'.' if self.at(1).is_ascii_digit() && self.flavor != Flavor::Rust => self.number(),
                _ if is_ident_start(b) || (b == b'$' && self.flavor != Flavor::Rust) => {
                    self.ident(start, line)
                }
                _ => {
                    self.i += 1;
                    if template {
                        match b {
                            b'{' => depth += 1,
                            b'}' if depth == 0 => return,
                            b'}' => depth -= 1,
                            _ => {}
                        }
                    }
                    self.push(Kind::Punct(b), start, line);
                }
            }
        }
    }

    /// Advances one byte, counting lines.
    fn step(&mut self) {
        if self.s[self.i] == b'\n' {
            self.line += 1;
        }
        self.i += 1;
    }

    /// A backslash and the byte it escapes.
    fn escape(&mut self) {
        self.i += 1;
        if self.i < self.s.len() {
            self.step();
        }
    }

    /// A `/* */` comment (nested in Rust).
    fn block_comment(&mut self) {
        self.i += 2;
        let mut depth = 1u32;
        while self.i < self.s.len() {
            if self.s[self.i] == b'*' && self.at(1) == b'/' {
                self.i += 2;
                depth -= 1;
                if depth == 0 {
                    return;
                }
            } else if self.flavor == Flavor::Rust && self.s[self.i] == b'/' && self.at(1) == b'*' {
                self.i += 2;
                depth += 1;
            } else {
                self.step();
            }
        }
    }

    /// The body of a string after its opening quote(s), through its closing
    /// quote; `multiline` strings run over lines, `triple` ones end at `"""`.
    fn quoted(&mut self, quote: u8, multiline: bool, triple: bool) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.escape(),
                b'\n' if !multiline => return,
                b if b == quote => {
                    if !triple {
                        self.i += 1;
                        return;
                    }
                    if self.at(1) == quote && self.at(2) == quote {
                        self.i += 3;
                        return;
                    }
                    self.i += 1;
                }
                _ => self.step(),
            }
        }
    }

    /// `'`: a Rust lifetime or character, a Go rune, a Java character or a
    /// JavaScript string.
    fn single_quote(&mut self) {
        let start = self.i;
        let line = self.line;
        self.i += 1;
        if self.flavor == Flavor::Rust && is_ident_start(self.at(0)) {
            let mut k = self.i;
            while k < self.s.len() && is_ident_continue(self.s[k]) {
                k += 1;
            }
            if self.s.get(k) != Some(&b'\'') {
                self.i = k;
                self.push(Kind::Lifetime, start, line);
                return;
            }
        }
        self.quoted(b'\'', false, false);
        self.push(Kind::Str, start, line);
    }

    /// A JavaScript template literal; the code in its `${ }` is lexed (its
    /// tokens come before the template's own token).
    fn template(&mut self) {
        let start = self.i;
        let line = self.line;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.escape(),
                b'`' => {
                    self.i += 1;
                    break;
                }
                // Templates nested past `MAX_NESTING` are read as text.
                b'$' if self.at(1) == b'{' && self.nesting < MAX_NESTING => {
                    self.i += 2;
                    self.nesting += 1;
                    self.code(true);
                    self.nesting -= 1;
                }
                _ => self.step(),
            }
        }
        self.push(Kind::Str, start, line);
    }

    /// Whether a `/` here starts a regular expression: after an operator,
    /// an opening bracket or a keyword, not after a value (`a / b`), and
    /// never as `</` or `/>` (JSX tags).
    fn regex_here(&self) -> bool {
        if self.at(1) == b'>' {
            return false;
        }
        let Some(prev) = self.toks.last() else {
            return true;
        };
        match prev.kind {
            Kind::Number | Kind::Str | Kind::Lifetime => false,
            Kind::Punct(b')' | b']' | b'}') => false,
            Kind::Punct(b'<') => prev.end as usize != self.i,
            Kind::Punct(_) => true,
            Kind::Ident => matches!(
                &self.s[prev.start as usize..prev.end as usize],
                b"return"
                    | b"typeof"
                    | b"instanceof"
                    | b"in"
                    | b"of"
                    | b"new"
                    | b"delete"
                    | b"void"
                    | b"throw"
                    | b"case"
                    | b"do"
                    | b"else"
                    | b"yield"
                    | b"await"
            ),
        }
    }

    /// A regular expression literal and its flags; it ends at its line's end
    /// when unterminated.
    fn regex(&mut self) {
        let start = self.i;
        let line = self.line;
        self.i += 1;
        let mut class = false;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'\n' => break,
                b'[' => {
                    class = true;
                    self.i += 1;
                }
                b']' => {
                    class = false;
                    self.i += 1;
                }
                b'/' if !class => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                        self.i += 1;
                    }
                    break;
                }
                _ => self.i += 1,
            }
        }
        self.i = self.i.min(self.s.len());
        self.push(Kind::Str, start, line);
    }

    fn number(&mut self) {
        let start = self.i;
        let line = self.line;
        let mut prev = 0u8;
        while self.i < self.s.len() {
            let b = self.s[self.i];
            let exponent_sign = matches!(b, b'+' | b'-')
                && matches!(prev, b'e' | b'E')
                && !self.s[start..self.i].starts_with(b"0x");
            // `1..n` is a range in Rust, `1.max(2)` a method call.
            let fraction = b == b'.' && self.at(1).is_ascii_digit();
            if !(is_ident_continue(b) || exponent_sign || fraction) {
                break;
            }
            prev = b;
            self.i += 1;
        }
        self.push(Kind::Number, start, line);
    }

    fn ident(&mut self, start: usize, line: u32) {
        while self.i < self.s.len()
            && (is_ident_continue(self.s[self.i])
                || (self.s[self.i] == b'$' && self.flavor != Flavor::Rust))
        {
            self.i += 1;
        }
        if self.flavor == Flavor::Rust {
            let word = &self.s[start..self.i];
            let next = self.at(0);
            match word {
                b"r" | b"br" | b"cr" if (next == b'#' || next == b'"') && self.raw_string() => {
                    self.push(Kind::Str, start, line);
                    return;
                }
                b"b" | b"c" if next == b'"' => {
                    self.i += 1;
                    self.quoted(b'"', true, false);
                    self.push(Kind::Str, start, line);
                    return;
                }
                b"b" if next == b'\'' => {
                    self.i += 1;
                    self.quoted(b'\'', false, false);
                    self.push(Kind::Str, start, line);
                    return;
                }
                _ => {}
            }
        }
        self.push(Kind::Ident, start, line);
    }

    /// A Rust raw string `r#"…"#` at the cursor (after its `r`); false
    /// (cursor unmoved) when the hashes are not followed by a quote (`r#ident`).
    fn raw_string(&mut self) -> bool {
        let mut hashes = 0;
        while self.at(hashes) == b'#' {
            hashes += 1;
        }
        if self.at(hashes) != b'"' {
            return false;
        }
        self.i += hashes + 1;
        while self.i < self.s.len() {
            if self.s[self.i] == b'"' && (1..=hashes).all(|k| self.at(k) == b'#') {
                self.i += hashes + 1;
                return true;
            }
            self.step();
        }
        true
    }
}
