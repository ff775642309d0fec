//! What the Rust scan reads of items: where one starts and ends, the type an
//! `impl` names, and the definition a keyword's name makes.

use super::super::super::tags::SymbolKind;
use super::super::clike::Kind;
use super::Rust;

pub(super) fn is_primitive(word: &[u8]) -> bool {
    matches!(
        word,
        b"bool"
            | b"char"
            | b"str"
            | b"u8"
            | b"u16"
            | b"u32"
            | b"u64"
            | b"u128"
            | b"usize"
            | b"i8"
            | b"i16"
            | b"i32"
            | b"i64"
            | b"i128"
            | b"isize"
            | b"f32"
            | b"f64"
    )
}

/// Whether a name reads as a type or variant (`Foo`, `Self`), not a
/// constant (`MAX`).
pub(super) fn looks_like_type(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_uppercase)
        && (word.len() == 1 || word.iter().any(u8::is_ascii_lowercase))
}

impl Rust<'_, '_> {
    /// Where an item starting at `k` (a keyword) begins: before `pub`,
    /// `async`, `unsafe`, `const`, `extern "C"`, `default`.
    pub(super) fn item_start(&self, mut k: usize) -> usize {
        let c = self.c;
        while k > 0 {
            let p = k - 1;
            let modifier = match c.toks[p].kind {
                Kind::Ident => matches!(
                    c.text(p),
                    b"pub" | b"async" | b"unsafe" | b"const" | b"extern" | b"default"
                ),
                Kind::Str => c.is_word(p.wrapping_sub(1), b"extern"),
                Kind::Punct(b')') => c.is_word(c.pair(p).wrapping_sub(1), b"pub"),
                _ => false,
            };
            if !modifier {
                break;
            }
            k = if c.is_punct(p, b')') {
                c.pair(p).saturating_sub(1)
            } else {
                p
            };
        }
        k
    }

    /// The token that ends an item whose header starts at `k`: the `}` of
    /// its body or its `;` (with `braces`, blocks in a value are skipped).
    pub(super) fn item_end(&self, mut k: usize, braces: bool) -> usize {
        let c = self.c;
        while c.more(k) {
            match c.toks[k].kind {
                Kind::Punct(b';') => return k,
                Kind::Punct(b'{') if !braces => return c.pair(k),
                Kind::Punct(b'(' | b'[' | b'{') => k = c.pair(k).max(k) + 1,
                _ => k += 1,
            }
        }
        c.toks.len().saturating_sub(1)
    }

    /// The type named by the `impl` at `k`, when a plain (generic) name.
    pub(super) fn impl_type(&self, k: usize) -> Option<usize> {
        let c = self.c;
        let mut j = k + 1;
        let mut angle = 0u32;
        let mut start = j;
        if c.is_punct(j, b'<') {
            // Skip the impl's own parameters.
            while c.more(j) {
                match c.toks[j].kind {
                    Kind::Punct(b'<') => angle += 1,
                    Kind::Punct(b'>') if !c.is_punct(j - 1, b'-') => {
                        angle -= 1;
                        if angle == 0 {
                            break;
                        }
                    }
                    Kind::Punct(b'{' | b';') => return None,
                    _ => {}
                }
                j += 1;
            }
            j += 1;
            start = j;
        }
        while c.more(j) {
            match c.toks[j].kind {
                Kind::Punct(b'<') => angle += 1,
                Kind::Punct(b'>') if !c.is_punct(j - 1, b'-') => angle = angle.saturating_sub(1),
                Kind::Punct(b'{' | b';') => break,
                Kind::Punct(b'(' | b'[') => j = c.pair(j),
                Kind::Ident if angle == 0 && matches!(c.text(j), b"for" | b"where") => {
                    if c.text(j) == b"where" {
                        break;
                    }
                    start = j + 1;
                }
                _ => {}
            }
            j += 1;
        }
        let named = self.is_name(start)
            && !self.colons(start + 1)
            && (c.is_punct(start + 1, b'<') || start + 1 == j || c.is_word(start + 1, b"where"));
        named.then_some(start)
    }

    /// A definition named by token `t` after keyword `p`.
    pub(super) fn define(&mut self, t: usize, p: usize, kind: SymbolKind) {
        let c = self.c;
        let start = self.item_start(p);
        match kind {
            SymbolKind::Module => {
                if c.is_punct(t + 1, b'{') {
                    self.definition(t, kind, start, c.pair(t + 1));
                }
            }
            SymbolKind::Const => {
                let end = self.item_end(t, true);
                self.definition(t, kind, start, end);
            }
            SymbolKind::Type => {
                let end = self.item_end(t, true);
                let eq = (t + 1..end).find(|k| c.is_punct(*k, b'=') && !c.is_punct(k + 1, b'>'));
                if eq.is_some() {
                    self.type_eq = eq;
                    self.definition(t, kind, start, end);
                } else {
                    self.reference(t);
                }
            }
            SymbolKind::Struct | SymbolKind::Union => {
                let end = self.item_end(t, false);
                self.definition(t, kind, start, end);
                let mut k = t + 1;
                if c.is_punct(k, b'<') {
                    let mut angle = 0;
                    while k < end {
                        match c.toks[k].kind {
                            Kind::Punct(b'<') => angle += 1,
                            Kind::Punct(b'>') => angle -= 1,
                            _ => {}
                        }
                        k += 1;
                        if angle == 0 {
                            break;
                        }
                    }
                }
                if c.is_punct(k, b'(') {
                    self.tuple_fields = Some(k);
                }
            }
            _ => {
                let end = self.item_end(t, false);
                self.definition(t, kind, start, end);
            }
        }
    }
}
