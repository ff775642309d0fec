//! What the JavaScript/TypeScript scan reads ahead or behind a token: where
//! a statement ends, whether a value is a function, whether `{` opens an
//! object and `<` generic brackets, whether a name is called, declared or a
//! method's.

use super::super::clike::Kind;
use super::{Js, Open, is_keyword};

/// TypeScript's built-in type names and type operators (never references).
pub(super) fn is_type_word(word: &[u8]) -> bool {
    matches!(
        word,
        b"string"
            | b"number"
            | b"boolean"
            | b"any"
            | b"void"
            | b"unknown"
            | b"never"
            | b"object"
            | b"symbol"
            | b"undefined"
            | b"null"
            | b"this"
            | b"true"
            | b"false"
            | b"keyof"
            | b"typeof"
            | b"infer"
            | b"extends"
            | b"readonly"
            | b"is"
            | b"asserts"
            | b"unique"
            | b"in"
            | b"new"
            | b"abstract"
            | b"const"
            | b"as"
            | b"satisfies"
    )
}

/// Words that may precede a class member's name.
pub(super) fn is_modifier(word: &[u8]) -> bool {
    matches!(
        word,
        b"public"
            | b"private"
            | b"protected"
            | b"static"
            | b"readonly"
            | b"abstract"
            | b"async"
            | b"get"
            | b"set"
            | b"declare"
            | b"override"
            | b"accessor"
            | b"export"
            | b"default"
    )
}

impl Js<'_, '_> {
    /// The token ending a statement or member from `k`: its `;`, the `}`
    /// of a body it ends with, or its last token before a line break.
    pub(super) fn statement_end(&self, mut k: usize) -> usize {
        let c = self.c;
        let mut last = k;
        while c.more(k) {
            match c.toks[k].kind {
                Kind::Punct(b';') => return k,
                Kind::Punct(b')' | b']' | b'}') => return last,
                Kind::Punct(b'{')
                    if c.is_punct(k.wrapping_sub(1), b')') || self.arrow_at(k.wrapping_sub(2)) =>
                {
                    return c.pair(k);
                }
                Kind::Punct(b'(' | b'[' | b'{') => {
                    last = c.pair(k);
                    k = last + 1;
                    continue;
                }
                _ => {}
            }
            if k > last
                && c.line(k) > c.end_line(last)
                && self.ends_value(last)
                && !c.is_punct(k, b'.')
            {
                return last;
            }
            last = k;
            k += 1;
        }
        last
    }

    /// Whether the value at `k` is a function or class: `function`, `class`,
    /// `async …`, `(…) =>`, `x =>`, `<T>(…) =>`.
    pub(super) fn function_value(&self, mut k: usize) -> bool {
        let c = self.c;
        if c.is_word(k, b"async") && !c.is_punct(k + 1, b'.') {
            k += 1;
        }
        if c.is_word(k, b"function") || c.is_word(k, b"class") {
            return true;
        }
        if c.is_punct(k, b'<') {
            // Generic arrow: skip to `(`.
            while c.more(k) && !c.is_punct(k, b'(') {
                if c.is_punct(k, b';') || c.is_punct(k, b'{') {
                    return false;
                }
                k += 1;
            }
        }
        if self.is_name(k) {
            return self.arrow_at(k + 1);
        }
        if !c.is_punct(k, b'(') {
            return false;
        }
        let after = c.pair(k) + 1;
        if self.arrow_at(after) {
            return true;
        }
        if !c.is_punct(after, b':') {
            return false;
        }
        // A return type, then `=>`.
        let mut j = after + 1;
        while c.more(j) && j < after + 64 {
            match c.toks[j].kind {
                Kind::Punct(b';' | b')' | b'}') => return false,
                Kind::Punct(b'=') if self.arrow_at(j) => return true,
                Kind::Punct(b'(' | b'[' | b'{') => j = c.pair(j).max(j),
                _ => {}
            }
            j += 1;
        }
        false
    }

    /// Whether the parentheses at `open` are a named function's parameters
    /// (`function f(`, a method `m(`), not an arrow's.
    pub(super) fn function_params(&self, open: usize) -> bool {
        let c = self.c;
        let mut p = open.wrapping_sub(1);
        if c.is_punct(p, b'>') {
            // Type parameters: back to `<`.
            while p > 0 && !c.is_punct(p, b'<') {
                p -= 1;
            }
            p = p.wrapping_sub(1);
        }
        c.is_ident(p) && !matches!(c.text(p), b"async" | b"return" | b"await" | b"yield")
    }

    /// Whether `{` at `t` opens an object literal (a value is expected).
    pub(super) fn object_here(&self, t: usize) -> bool {
        let c = self.c;
        let Some(p) = t.checked_sub(1) else {
            return false;
        };
        match c.toks[p].kind {
            // `=> {` is a body, `>{` a JSX expression.
            Kind::Punct(b'>') => false,
            Kind::Punct(b')' | b']' | b'}' | b';') => false,
            // `name={…}` is a JSX attribute's expression.
            Kind::Punct(b'=') if self.jsx && c.touching(p) && c.touching(p - 1) => false,
            Kind::Punct(b':') => {
                self.stack.last() == Some(&Open::Object) || self.ternaries.last().is_some()
            }
            Kind::Punct(_) => true,
            Kind::Ident => matches!(
                c.text(p),
                b"const"
                    | b"let"
                    | b"var"
                    | b"return"
                    | b"yield"
                    | b"await"
                    | b"typeof"
                    | b"in"
                    | b"of"
                    | b"case"
                    | b"throw"
                    | b"void"
            ),
            _ => false,
        }
    }

    /// Whether `<` at `t` opens generic brackets (TypeScript): in a type,
    /// after a declared name, or `f<T>(` / `new C<T>(` when its `>` comes
    /// soon and is followed by `(`.
    pub(super) fn generic_here(&self, t: usize) -> bool {
        let c = self.c;
        if self.in_type() {
            return true;
        }
        let Some(p) = t.checked_sub(1) else {
            return true;
        };
        // After a declared name, or the class a class extends.
        let declared = matches!(
            c.text(p.wrapping_sub(1)),
            b"type" | b"interface" | b"class" | b"function" | b"extends"
        );
        if declared && c.is_ident(p) {
            return true;
        }
        if !self.ends_value(p) || c.is_word(p, b"this") {
            // A generic arrow `<T>(x: T) =>`, or a type assertion `<T>x`.
            return !self.jsx;
        }
        if !c.is_ident(p) {
            return false;
        }
        let mut depth = 0;
        let mut k = t;
        let end = (t + 256).min(c.toks.len());
        while k < end {
            match c.toks[k].kind {
                Kind::Punct(b'<') => depth += 1,
                Kind::Punct(b'>') if !self.arrow_at(k.wrapping_sub(1)) => {
                    depth -= 1;
                    if depth == 0 {
                        return matches!(
                            c.toks.get(k + 1).map(|t| t.kind),
                            Some(Kind::Punct(b'(') | Kind::Str)
                        );
                    }
                }
                Kind::Punct(b'(' | b'[' | b'{') if c.pair(k) > k => k = c.pair(k),
                Kind::Punct(b')' | b']' | b'}' | b';' | b'!' | b'+' | b'-' | b'*' | b'/') => {
                    return false;
                }
                Kind::Punct(b'=') if !self.arrow_at(k) => return false,
                Kind::Punct(b'&') if c.is_punct(k + 1, b'&') => return false,
                Kind::Punct(b'|') if c.is_punct(k + 1, b'|') => return false,
                Kind::Number => return false,
                _ => {}
            }
            k += 1;
        }
        false
    }

    /// Whether name `t` follows `typeof` (possibly through dots).
    pub(super) fn typeof_chain(&self, t: usize) -> bool {
        self.chain_after(t, b"typeof")
    }

    /// Whether the dotted name ending at `t` follows keyword `word`.
    pub(super) fn chain_after(&self, mut t: usize, word: &[u8]) -> bool {
        let c = self.c;
        while t >= 2 && c.is_punct(t - 1, b'.') {
            t -= 2;
        }
        t >= 1 && c.is_word(t - 1, word)
    }

    /// Whether the token at `k` (after a name) calls it: `(`, `?.(`, a
    /// template, or TypeScript type arguments then `(`.
    pub(super) fn called(&self, k: usize) -> bool {
        let c = self.c;
        match c.toks.get(k).map(|t| t.kind) {
            Some(Kind::Punct(b'(')) => !self.arrow_at(c.pair(k) + 1),
            Some(Kind::Str) => c.text(k).first() == Some(&b'`') && c.touching(k - 1),
            Some(Kind::Punct(b'?')) => c.is_punct(k + 1, b'.') && c.is_punct(k + 2, b'('),
            Some(Kind::Punct(b'<')) if self.ts => {
                self.generic_here(k)
                    && c.angle_close(k, b";")
                        .is_some_and(|close| c.is_punct(close + 1, b'('))
            }
            _ => false,
        }
    }

    /// Whether name `t` in a member position names a method: `m(`, `m<T>(`,
    /// `m?(`.
    pub(super) fn method_name(&self, t: usize) -> bool {
        let c = self.c;
        let mut k = t + 1;
        if c.is_punct(k, b'?') || c.is_punct(k, b'!') {
            k += 1;
        }
        if c.is_punct(k, b'<') && self.ts {
            let Some(close) = c.angle_close(k, b";{}") else {
                return false;
            };
            k = close + 1;
        }
        c.is_punct(k, b'(')
    }

    /// Whether keyword `t` starts a declaration (not an expression): at a
    /// statement's start, or after `export`/`default`/`declare`/`async`.
    pub(super) fn declares(&self, mut t: usize) -> bool {
        let c = self.c;
        while t > 0 && c.is_word(t - 1, b"async") {
            t -= 1;
        }
        let Some(p) = t.checked_sub(1) else {
            return true;
        };
        match c.toks[p].kind {
            Kind::Punct(b';' | b'{' | b'}') => true,
            Kind::Punct(b')') => c.line(t) > c.end_line(p),
            Kind::Ident => match c.text(p) {
                b"export" | b"default" | b"declare" | b"abstract" | b"const" => true,
                _ => c.line(t) > c.end_line(p) && !is_keyword(c.text(p)),
            },
            Kind::Str | Kind::Number => c.line(t) > c.end_line(p),
            _ => false,
        }
    }

    /// The first token of the declaration whose keyword is at `t` (before
    /// `export`, `declare`, `async`, ...), as tree-sitter's node starts.
    pub(super) fn decl_start(&self, t: usize) -> usize {
        let c = self.c;
        let mut k = t;
        while k > 0
            && c.is_ident(k - 1)
            && matches!(
                c.text(k - 1),
                b"async" | b"declare" | b"abstract" | b"const" | b"default"
            )
        {
            k -= 1;
        }
        k
    }

    /// The first token of the class member whose name is at `t`.
    pub(super) fn member_start(&self, t: usize) -> usize {
        let c = self.c;
        let mut k = t;
        while k > 0
            && (c.is_punct(k - 1, b'*') || (c.is_ident(k - 1) && is_modifier(c.text(k - 1))))
        {
            k -= 1;
        }
        k
    }

    /// The `{` ending a class or interface header from `k`.
    pub(super) fn header_end(&self, mut k: usize) -> usize {
        let c = self.c;
        while c.more(k) {
            match c.toks[k].kind {
                Kind::Punct(b'{') => return k,
                Kind::Punct(b';') => return k,
                Kind::Punct(b'(' | b'[') => k = c.pair(k) + 1,
                _ => k += 1,
            }
        }
        k
    }
}
