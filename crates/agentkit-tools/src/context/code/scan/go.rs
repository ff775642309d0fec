//! The quick scan of Go: the tree walk's rules over [`clike`](super::clike)
//! tokens.
//!
//! Definitions are `func NAME`, methods `func (recv) NAME` and interface
//! methods, and `type NAME T` whose `T` is a struct, an interface or another
//! named, composite or function type. References are calls (`f(`, `x.f(`)
//! and every type name. Go's grammar says where a type stands (after a
//! parameter's name, a field's name, `var x`, `[]`, `map[`, `chan`, `*` in a
//! type, `.(`, a type switch's `case`, a composite literal's `T{`), so types
//! are read by a small recursive descent started at those places, and the
//! rest by one pass over the tokens.

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::clike::{self, Flavor, Kind, Lexed, MAX_NESTING};

/// Tags of `source`, or `None` when it spent the look-ahead budget.
pub(super) fn scan(source: &[u8]) -> Option<FileTags> {
    clike::scan_with(source, Flavor::Go, |c, tags| {
        Go {
            c,
            tags,
            header_braces: Vec::new(),
            switches: Vec::new(),
            nesting: 0,
        }
        .run(0, c.toks.len());
    })
}

fn is_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"break"
            | b"case"
            | b"chan"
            | b"const"
            | b"continue"
            | b"default"
            | b"defer"
            | b"else"
            | b"fallthrough"
            | b"for"
            | b"func"
            | b"go"
            | b"goto"
            | b"if"
            | b"import"
            | b"interface"
            | b"map"
            | b"package"
            | b"range"
            | b"return"
            | b"select"
            | b"struct"
            | b"switch"
            | b"type"
            | b"var"
    )
}

struct Go<'a, 's> {
    c: &'a Lexed<'s>,
    tags: &'a mut TagsBuilder<'s>,
    /// The `{` opening the body of an `if`/`for`/`switch`/`select` (never a
    /// composite literal's).
    header_braces: Vec<usize>,
    /// Open switch bodies: their `}` and whether they switch on a type.
    switches: Vec<(usize, bool)>,
    /// Types being read inside one another.
    nesting: u32,
}

impl Go<'_, '_> {
    fn reference(&mut self, t: usize) {
        self.c.refer(self.tags, t);
    }

    fn definition(&mut self, t: usize, kind: SymbolKind, start: usize, end_line: u32) {
        self.c.define(self.tags, t, kind, start, end_line);
    }

    /// Whether token `t` ends a value (so `[` after it indexes).
    fn ends_value(&self, t: Option<usize>) -> bool {
        let Some(t) = t else { return false };
        match self.c.toks[t].kind {
            Kind::Ident => !is_keyword(self.c.text(t)),
            Kind::Punct(b) => matches!(b, b')' | b']' | b'}'),
            Kind::Str | Kind::Number | Kind::Lifetime => true,
        }
    }

    /// Code between tokens `from` and `to`.
    fn run(&mut self, from: usize, to: usize) {
        let c = self.c;
        let mut i = from;
        let mut last = None;
        while i < to {
            // Every step moves on, whatever a broken file holds.
            if last.is_some_and(|l| i <= l) {
                i = last.unwrap_or(i) + 1;
                continue;
            }
            last = Some(i);
            let tok = c.toks[i];
            let prev = i.checked_sub(1);
            match tok.kind {
                Kind::Ident => {
                    let word = c.text(i);
                    i = match word {
                        b"func" => self.func(i),
                        b"type" => self.type_decl(i),
                        b"var" | b"const" => self.var_decl(i),
                        b"struct" | b"interface" | b"map" | b"chan" => self.ty(i),
                        b"package" => i + 2,
                        b"import" if c.is_punct(i + 1, b'(') => c.pair(i + 1) + 1,
                        b"import" => i + 2,
                        b"if" | b"for" | b"switch" | b"select" => {
                            self.header(i, to);
                            i + 1
                        }
                        b"case" if self.switches.last().is_some_and(|s| s.1) => {
                            self.type_list(i + 1, b':')
                        }
                        _ if is_keyword(word) => i + 1,
                        b"new" | b"make" if c.is_punct(i + 1, b'(') => {
                            self.reference(i);
                            self.ty(i + 2)
                        }
                        _ => {
                            let call = c.is_punct(i + 1, b'(');
                            let literal =
                                c.is_punct(i + 1, b'{') && !self.header_braces.contains(&(i + 1));
                            if call || literal {
                                self.reference(i);
                            }
                            i + 1
                        }
                    };
                }
                Kind::Punct(b'[') if !self.ends_value(prev) => i = self.ty(i),
                Kind::Punct(b'.') if c.is_punct(i + 1, b'(') => {
                    i = if c.is_word(i + 2, b"type") {
                        i + 3
                    } else {
                        self.ty(i + 2)
                    };
                }
                Kind::Punct(b'}') => {
                    while self.switches.last().is_some_and(|s| s.0 <= i) {
                        self.switches.pop();
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
    }

    /// The header of `if`/`for`/`switch`/`select` at `i`: notes its body's
    /// `{`, and a switch's body.
    fn header(&mut self, i: usize, to: usize) {
        let c = self.c;
        let mut k = i + 1;
        let mut on_type = false;
        while k < to && c.spend() {
            match c.toks[k].kind {
                Kind::Punct(b'(' | b'[') => {
                    on_type |= c.is_word(k + 1, b"type") && c.is_punct(k - 1, b'.');
                    k = c.pair(k) + 1;
                }
                Kind::Punct(b'{') => break,
                Kind::Ident if c.text(k) == b"func" => return,
                _ => k += 1,
            }
        }
        if k >= to {
            return;
        }
        self.header_braces.retain(|b| *b > i);
        self.header_braces.push(k);
        if c.is_word(i, b"switch") || c.is_word(i, b"select") {
            self.switches.push((c.pair(k), on_type));
        }
    }

    /// `func` at `i`: a declaration, a method or a literal; returns where
    /// the code goes on (the body is ordinary code).
    fn func(&mut self, i: usize) -> usize {
        let c = self.c;
        let mut k = i + 1;
        let mut kind = SymbolKind::Function;
        if c.is_punct(k, b'(') {
            let close = c.pair(k);
            if !(c.is_ident(close + 1)
                && (c.is_punct(close + 2, b'(') || c.is_punct(close + 2, b'[')))
            {
                // A function literal or type.
                return self.signature(k);
            }
            self.params(k);
            k = close + 1;
            kind = SymbolKind::Method;
        }
        if !c.is_ident(k) {
            return k;
        }
        let name = k;
        k += 1;
        if c.is_punct(k, b'[') {
            self.params(k);
            k = c.pair(k) + 1;
        }
        let after = self.signature(k);
        let end = if c.is_punct(after, b'{') {
            c.end_line(c.pair(after))
        } else {
            c.end_line(after.saturating_sub(1))
        };
        self.definition(name, kind, i, end);
        after
    }

    /// Parameters at `open` and results; returns the index after them.
    fn signature(&mut self, open: usize) -> usize {
        let c = self.c;
        if !c.is_punct(open, b'(') {
            return open;
        }
        self.params(open);
        let close = c.pair(open);
        let k = close + 1;
        if c.line(k) != c.end_line(close) {
            return k;
        }
        if c.is_punct(k, b'(') {
            self.params(k);
            return c.pair(k) + 1;
        }
        if self.starts_type(k) { self.ty(k) } else { k }
    }

    fn starts_type(&self, k: usize) -> bool {
        let c = self.c;
        match c.toks.get(k).map(|t| t.kind) {
            Some(Kind::Ident) => {
                let w = c.text(k);
                !is_keyword(w) || matches!(w, b"map" | b"chan" | b"func" | b"struct" | b"interface")
            }
            Some(Kind::Punct(b'*' | b'[')) => true,
            Some(Kind::Punct(b'<')) => c.is_word(k + 2, b"chan"),
            _ => false,
        }
    }

    /// The entries of the bracket at `open`, split at its top-level commas:
    /// `(start, end)` token ranges.
    fn entries(&self, open: usize) -> Vec<(usize, usize)> {
        let c = self.c;
        let close = c.pair(open);
        let mut out = Vec::new();
        let mut start = open + 1;
        let mut k = open + 1;
        while k < close {
            if c.is_punct(k, b',') {
                out.push((start, k));
                start = k + 1;
            }
            k = if matches!(c.toks[k].kind, Kind::Punct(b'(' | b'[' | b'{')) {
                c.pair(k).max(k) + 1
            } else {
                k + 1
            };
        }
        if start < close {
            out.push((start, close));
        }
        out
    }

    /// A parameter (or type parameter) list at `open`: `a, b T` or `T, U`.
    fn params(&mut self, open: usize) {
        let c = self.c;
        let entries = self.entries(open);
        let named = entries.iter().any(|(s, e)| {
            // `pkg.T` is a type; `name ...T` a variadic parameter.
            e - s >= 2
                && c.is_ident(*s)
                && !is_keyword(c.text(*s))
                && (!c.is_punct(s + 1, b'.') || c.is_punct(s + 2, b'.'))
        });
        for (s, e) in entries {
            if named {
                if e - s >= 2 {
                    self.ty(s + 1);
                }
            } else {
                self.ty(s);
            }
        }
    }

    /// Types separated by commas from `k` up to `end` (a type switch's
    /// `case`); returns the index after `end`.
    fn type_list(&mut self, mut k: usize, end: u8) -> usize {
        let c = self.c;
        while c.more(k) {
            let after = self.ty(k);
            k = after.max(k + 1);
            if c.is_punct(after, end) {
                return after + 1;
            }
            if !c.is_punct(after, b',') {
                return k;
            }
        }
        k
    }

    /// The type at `i` (its names are references); returns the index after it.
    fn ty(&mut self, i: usize) -> usize {
        if self.nesting >= MAX_NESTING {
            return i;
        }
        self.nesting += 1;
        let after = self.ty_at(i);
        self.nesting -= 1;
        after
    }

    fn ty_at(&mut self, i: usize) -> usize {
        let c = self.c;
        let Some(tok) = c.toks.get(i) else { return i };
        match tok.kind {
            Kind::Punct(b'*' | b'~') => self.ty(i + 1),
            Kind::Punct(b'[') => {
                let close = c.pair(i);
                if close == i {
                    return i + 1;
                }
                self.ty(close + 1)
            }
            Kind::Punct(b'(') => {
                self.ty(i + 1);
                c.pair(i) + 1
            }
            Kind::Punct(b'<') if c.is_punct(i + 1, b'-') => self.ty(i + 2),
            Kind::Punct(b'.') if c.is_punct(i + 1, b'.') && c.is_punct(i + 2, b'.') => {
                self.ty(i + 3)
            }
            Kind::Ident => match c.text(i) {
                b"map" if c.is_punct(i + 1, b'[') => {
                    let key_end = self.ty(i + 2);
                    let close = c.pair(i + 1);
                    if close == i + 1 {
                        // Unclosed: the key is all there is.
                        return key_end;
                    }
                    self.ty(close + 1)
                }
                b"chan" => {
                    let k = if c.is_punct(i + 1, b'<') {
                        i + 3
                    } else {
                        i + 1
                    };
                    self.ty(k)
                }
                b"func" => self.signature(i + 1),
                b"struct" if c.is_punct(i + 1, b'{') => {
                    self.fields(i + 1, false);
                    c.pair(i + 1) + 1
                }
                b"interface" if c.is_punct(i + 1, b'{') => {
                    self.fields(i + 1, true);
                    c.pair(i + 1) + 1
                }
                w if is_keyword(w) => i,
                _ => {
                    let (name, k) = if c.is_punct(i + 1, b'.') && c.is_ident(i + 2) {
                        (i + 2, i + 3)
                    } else {
                        (i, i + 1)
                    };
                    self.reference(name);
                    if c.is_punct(k, b'[') && c.pair(k) != k {
                        self.type_list(k + 1, b']');
                        return c.pair(k) + 1;
                    }
                    k
                }
            },
            _ => i,
        }
    }

    /// The fields of a struct, or the elements of an interface, in the
    /// braces at `open`.
    fn fields(&mut self, open: usize, interface: bool) {
        let c = self.c;
        let close = c.pair(open);
        let mut k = open + 1;
        while k < close {
            let start = k;
            if c.is_punct(k, b';') {
                k += 1;
                continue;
            }
            let after = if interface && c.is_ident(k) && c.is_punct(k + 1, b'(') {
                let after = self.signature(k + 1);
                self.definition(k, SymbolKind::Method, k, c.end_line(after - 1));
                after
            } else if interface {
                let mut after = self.ty(k);
                while c.is_punct(after, b'|') {
                    after = self.ty(after + 1);
                }
                after
            } else if c.is_ident(k) && c.is_punct(k + 1, b',') {
                let mut n = k;
                while c.is_ident(n) && c.is_punct(n + 1, b',') {
                    n += 2;
                }
                self.ty(n + 1)
            } else if c.is_ident(k)
                && c.line(k + 1) == c.line(k)
                && !c.is_punct(k + 1, b'.')
                && self.starts_type(k + 1)
            {
                self.ty(k + 1)
            } else {
                self.ty(k)
            };
            // Skip the rest of the line (a tag).
            k = after.max(start + 1);
            while k < close && c.line(k) == c.end_line(k - 1) && !c.is_punct(k, b';') {
                k = c.pair(k).max(k) + 1;
            }
        }
    }

    /// `type` at `i`: one spec or a parenthesized group.
    fn type_decl(&mut self, i: usize) -> usize {
        let c = self.c;
        if !c.is_punct(i + 1, b'(') {
            return self.type_spec(i + 1);
        }
        let close = c.pair(i + 1);
        let mut k = i + 2;
        while k < close {
            if c.is_ident(k) {
                k = self.type_spec(k).max(k + 1);
            } else {
                k += 1;
            }
        }
        close + 1
    }

    /// `NAME [params] T` or `NAME = T` at `k`.
    fn type_spec(&mut self, name: usize) -> usize {
        let c = self.c;
        if !c.is_ident(name) {
            return name;
        }
        let mut k = name + 1;
        // `[T any]` is a type parameter list, `[4]T` an array type.
        if c.is_punct(k, b'[') && c.is_ident(k + 1) && !c.is_punct(k + 2, b']') {
            self.params(k);
            k = c.pair(k) + 1;
        }
        if c.is_punct(k, b'=') {
            self.reference(name);
            return self.ty(k + 1);
        }
        let kind = match c.toks.get(k).map(|t| t.kind) {
            Some(Kind::Ident) => match c.text(k) {
                b"struct" => Some(SymbolKind::Struct),
                b"interface" => Some(SymbolKind::Interface),
                b"map" | b"chan" | b"func" => Some(SymbolKind::Type),
                w if is_keyword(w) => None,
                _ => Some(SymbolKind::Type),
            },
            Some(Kind::Punct(b'*' | b'[')) => Some(SymbolKind::Type),
            Some(Kind::Punct(b'<')) => Some(SymbolKind::Type),
            _ => None,
        };
        let after = self.ty(k);
        match kind {
            Some(kind) => self.definition(name, kind, name, c.end_line(after.max(k + 1) - 1)),
            None => self.reference(name),
        }
        after
    }

    /// `var`/`const` at `i`: names, an optional type, and values (code).
    fn var_decl(&mut self, i: usize) -> usize {
        let c = self.c;
        if !c.is_punct(i + 1, b'(') {
            return self.var_spec(i + 1);
        }
        let close = c.pair(i + 1);
        let mut k = i + 2;
        while k < close {
            let start = k;
            let after = self.var_spec(k).max(k + 1);
            // The values run to the end of the spec's last line.
            let mut end = after;
            while end < close && c.line(end) == c.end_line(end - 1) && !c.is_punct(end, b';') {
                end = c.pair(end).max(end) + 1;
            }
            self.run(after.min(end), end.min(close));
            k = end.max(start + 1);
        }
        close + 1
    }

    /// `a, b T` at `k`; returns the index after the type.
    fn var_spec(&mut self, mut k: usize) -> usize {
        let c = self.c;
        while c.is_ident(k) && c.is_punct(k + 1, b',') {
            k += 2;
        }
        if !c.is_ident(k) {
            return k;
        }
        let line = c.line(k);
        k += 1;
        if c.line(k) == line && self.starts_type(k) {
            self.ty(k)
        } else {
            k
        }
    }
}
