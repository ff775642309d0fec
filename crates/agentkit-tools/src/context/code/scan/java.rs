//! The quick scan of Java: the tree walk's rules over [`clike`](super::clike)
//! tokens.
//!
//! Definitions are `class`/`interface`/`enum`/`record`/`@interface NAME`,
//! and methods and constructors: a name before `(` directly in a class body
//! (not in a field's initializer, nor among an enum's constants). References
//! are method calls (`f(`, `x.f(`), annotations (`@A`) and type names.
//!
//! Which dotted names are types is read from what follows them, as Java's
//! grammar does: a name before another name (`Foo x`), before `<` (when it
//! starts with a capital), `[]`, `...` or `.class`, after `new`,
//! `instanceof`, `extends`/`implements`/`throws`, inside type arguments, or
//! alone in parentheses before a value (a cast). `Foo.bar()` and
//! `Foo.BAR` are expressions: only the called name is a reference.

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::clike::{self, Flavor, Kind, Lexed};

/// Tags of `source`, or `None` when it spent the look-ahead budget.
pub(super) fn scan(source: &[u8]) -> Option<FileTags> {
    clike::scan_with(source, Flavor::Java, |c, tags| Java { c, tags }.run())
}

fn is_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"abstract"
            | b"assert"
            | b"boolean"
            | b"break"
            | b"byte"
            | b"case"
            | b"catch"
            | b"char"
            | b"class"
            | b"const"
            | b"continue"
            | b"default"
            | b"do"
            | b"double"
            | b"else"
            | b"enum"
            | b"extends"
            | b"final"
            | b"finally"
            | b"float"
            | b"for"
            | b"goto"
            | b"if"
            | b"implements"
            | b"import"
            | b"instanceof"
            | b"int"
            | b"interface"
            | b"long"
            | b"native"
            | b"new"
            | b"package"
            | b"private"
            | b"protected"
            | b"public"
            | b"return"
            | b"short"
            | b"static"
            | b"strictfp"
            | b"super"
            | b"switch"
            | b"synchronized"
            | b"this"
            | b"throw"
            | b"throws"
            | b"transient"
            | b"try"
            | b"void"
            | b"volatile"
            | b"while"
            | b"true"
            | b"false"
            | b"null"
            | b"permits"
            | b"sealed"
            | b"yield"
    )
}

/// Words that may precede a member's type parameters.
fn is_modifier(word: &[u8]) -> bool {
    matches!(
        word,
        b"public"
            | b"private"
            | b"protected"
            | b"static"
            | b"final"
            | b"abstract"
            | b"synchronized"
            | b"native"
            | b"default"
            | b"strictfp"
    )
}

/// Whether a name reads as a type: a capital first, not all capitals
/// (`MAX_SIZE` is a constant) unless one letter (`T`).
fn looks_like_type(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_uppercase)
        && (word.len() == 1 || word.iter().any(u8::is_ascii_lowercase))
}

/// What an open bracket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A class body; `consts` while an enum's constants are listed,
    /// `annotation` for an `@interface`'s.
    Class {
        consts: bool,
        annotation: bool,
    },
    /// A `catch (` clause's parentheses.
    Catch,
    Other,
}

struct Java<'a, 's> {
    c: &'a Lexed<'s>,
    tags: &'a mut TagsBuilder<'s>,
}

impl Java<'_, '_> {
    fn reference(&mut self, t: usize) {
        self.c.refer(self.tags, t);
    }

    fn definition(&mut self, t: usize, kind: SymbolKind, start: usize, end_line: u32) {
        self.c.define(self.tags, t, kind, start, end_line);
    }

    fn is_name(&self, t: usize) -> bool {
        self.c.is_ident(t) && !is_keyword(self.c.text(t))
    }

    /// The first `{` or `;` from `k` on at this level.
    fn body_or_end(&self, mut k: usize) -> usize {
        let c = self.c;
        while c.more(k) {
            match c.toks[k].kind {
                Kind::Punct(b'{' | b';') => return k,
                Kind::Punct(b'(' | b'[') => k = c.pair(k) + 1,
                _ => k += 1,
            }
        }
        k
    }

    /// Whether the `{` at `k` opens an anonymous class: `new T(...) {`.
    fn anonymous_body(&self, k: usize) -> bool {
        let c = self.c;
        if !c.is_punct(k.wrapping_sub(1), b')') {
            return false;
        }
        let mut j = c.pair(k - 1);
        if j + 1 == k {
            return false;
        }
        j = j.wrapping_sub(1);
        if c.is_punct(j, b'>') {
            let mut depth = 0;
            while j > 0 && c.spend() {
                match c.toks[j].kind {
                    Kind::Punct(b'>') => depth += 1,
                    Kind::Punct(b'<') => depth -= 1,
                    _ => {}
                }
                j -= 1;
                if depth == 0 {
                    break;
                }
            }
        }
        while c.is_ident(j) && j > 0 && c.spend() {
            if c.text(j) == b"new" {
                return true;
            }
            j -= 1;
            if c.is_punct(j, b'.') && j > 0 {
                j -= 1;
            }
        }
        false
    }

    fn run(&mut self) {
        let c = self.c;
        let n = c.toks.len();
        let mut stack: Vec<Open> = Vec::new();
        // Braces that open a class body (found at the class's header).
        let mut class_braces: Vec<(usize, bool, bool)> = Vec::new();
        let mut member_start = 0usize;
        let mut initializer = false;
        let mut angle = 0u32;
        let mut type_list = false;
        let mut import = false;
        let mut i = 0;
        while i < n {
            let tok = c.toks[i];
            let prev = i.checked_sub(1);
            let at_class = matches!(stack.last(), Some(Open::Class { consts: false, .. }) | None);
            match tok.kind {
                Kind::Punct(b) => {
                    match b {
                        b'{' => {
                            type_list = false;
                            class_braces.retain(|(k, ..)| *k >= i);
                            let class = class_braces.iter().position(|(k, ..)| *k == i);
                            let open = if let Some(at) = class {
                                let (_, consts, annotation) = class_braces.remove(at);
                                Open::Class { consts, annotation }
                            } else if self.anonymous_body(i)
                                || (matches!(stack.last(), Some(Open::Class { consts: true, .. }))
                                    && prev.is_some_and(|p| c.is_punct(p, b')') || self.is_name(p)))
                            {
                                Open::Class {
                                    consts: false,
                                    annotation: false,
                                }
                            } else {
                                Open::Other
                            };
                            stack.push(open);
                            angle = 0;
                        }
                        b'(' => stack.push(if prev.is_some_and(|p| c.is_word(p, b"catch")) {
                            Open::Catch
                        } else {
                            Open::Other
                        }),
                        b'[' => stack.push(Open::Other),
                        b')' | b']' | b'}' => {
                            stack.pop();
                            if b == b'}' && matches!(stack.last(), Some(Open::Class { .. }) | None)
                            {
                                member_start = i + 1;
                                initializer = false;
                            }
                        }
                        b';' => {
                            if let Some(Open::Class { consts, .. }) = stack.last_mut() {
                                *consts = false;
                            }
                            if at_class || matches!(stack.last(), Some(Open::Class { .. })) {
                                member_start = i + 1;
                                initializer = false;
                            }
                            import = false;
                            type_list = false;
                            angle = 0;
                        }
                        b'=' if at_class => initializer = true,
                        // A generic method's type parameters.
                        b'<' if at_class
                            && (i == member_start
                                || prev.is_some_and(|p| {
                                    is_modifier(c.text(p)) || c.is_punct(p.wrapping_sub(1), b'@')
                                })) =>
                        {
                            angle += 1
                        }
                        b'<' if c.is_punct(i.wrapping_sub(1), b'.') => angle += 1,
                        b'>' if angle > 0 => angle -= 1,
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                Kind::Ident => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            let word = c.text(i);
            if c.is_punct(i.wrapping_sub(1), b'@') {
                // An annotation; `@interface` declares one.
                if word == b"interface" {
                    if let Some(name) = Some(i + 1).filter(|k| self.is_name(*k)) {
                        let body = self.body_or_end(name + 1);
                        self.definition(
                            name,
                            SymbolKind::Interface,
                            member_start,
                            c.end_line(c.pair(body)),
                        );
                        class_braces.push((body, false, true));
                    }
                    i += 2;
                    continue;
                }
                if !c.is_punct(i + 1, b'.') {
                    self.reference(i);
                }
                i += 1;
                while c.is_punct(i, b'.') && c.is_ident(i + 1) {
                    i += 2;
                }
                continue;
            }
            let declares = match word {
                b"class" | b"interface" | b"enum" if !c.is_punct(i.wrapping_sub(1), b'.') => {
                    Some(match word {
                        b"class" => SymbolKind::Class,
                        b"interface" => SymbolKind::Interface,
                        _ => SymbolKind::Enum,
                    })
                }
                b"record"
                    if self.is_name(i + 1)
                        && (c.is_punct(i + 2, b'(') || c.is_punct(i + 2, b'<')) =>
                {
                    Some(SymbolKind::Class)
                }
                _ => None,
            };
            if let Some(kind) = declares {
                if self.is_name(i + 1) {
                    let body = self.body_or_end(i + 2);
                    let end = c.end_line(c.pair(body));
                    self.definition(i + 1, kind, member_start.min(i), end);
                    class_braces.push((body, word == b"enum", false));
                    if c.is_punct(i + 2, b'<') {
                        angle += 1;
                        i += 3;
                        continue;
                    }
                }
                i += 2;
                continue;
            }
            match word {
                b"import" | b"package" => import = true,
                b"extends" | b"implements" | b"throws" | b"permits" if angle == 0 => {
                    type_list = true;
                }
                _ => {}
            }
            if is_keyword(word) || import || (word == b"record" && self.is_name(i + 1)) {
                i += 1;
                continue;
            }
            // A dotted name: decide from its neighbours.
            let mut end = i;
            while c.is_punct(end + 1, b'.') && self.is_name(end + 2) {
                end += 2;
            }
            let next = end + 1;
            let after_new = prev.is_some_and(|p| c.is_word(p, b"new"));
            if c.is_punct(next, b'(') {
                let annotation_member = matches!(
                    stack.last(),
                    Some(Open::Class {
                        annotation: true,
                        ..
                    })
                );
                if after_new {
                    self.references(i, end);
                } else if at_class && !initializer && end == i && angle == 0 {
                    if !annotation_member {
                        let body = self.body_or_end(c.pair(next) + 1);
                        let end_line = c.end_line(if c.is_punct(body, b'{') {
                            c.pair(body)
                        } else {
                            body
                        });
                        self.definition(i, SymbolKind::Method, member_start.min(i), end_line);
                    }
                } else if !matches!(stack.last(), Some(Open::Class { consts: true, .. })) {
                    // (An enum constant's arguments are no call.)
                    self.reference(end);
                }
                i = next;
                continue;
            }
            let last = c.text(end);
            let in_parens = prev.is_some_and(|p| c.is_punct(p, b'('));
            let cast = in_parens
                && c.is_punct(next, b')')
                && looks_like_type(last)
                && !prev.is_some_and(|p| {
                    // `f(X)` and `if (x)` are no casts; `return (X) y` is.
                    let before = p.wrapping_sub(1);
                    self.is_name(before)
                        || matches!(
                            c.text(before),
                            b"if" | b"while" | b"for" | b"switch" | b"synchronized" | b"catch"
                        )
                })
                && matches!(
                    c.toks.get(next + 1).map(|t| t.kind),
                    Some(Kind::Ident | Kind::Str | Kind::Number | Kind::Punct(b'(' | b'!' | b'~'))
                );
            let generic = c.is_punct(next, b'<') && looks_like_type(last);
            let is_type = angle > 0
                || type_list
                || after_new
                || cast
                || generic
                || (matches!(stack.last(), Some(Open::Catch)) && c.is_punct(next, b'|'))
                || prev.is_some_and(|p| c.is_word(p, b"instanceof"))
                || (self.is_name(next) && !c.is_word(next, b"record"))
                // `T[] x` (not `int x[]`, a declarator).
                || (c.is_punct(next, b'[')
                    && c.is_punct(next + 1, b']')
                    && !prev.is_some_and(|p| {
                        self.is_name(p)
                            || c.is_punct(p, b'>')
                            || matches!(
                                c.text(p),
                                b"boolean"
                                    | b"byte"
                                    | b"char"
                                    | b"short"
                                    | b"int"
                                    | b"long"
                                    | b"float"
                                    | b"double"
                            )
                    }))
                || (c.is_punct(next, b'.') && c.is_punct(next + 1, b'.'))
                || (c.is_punct(next, b'.') && c.is_word(next + 1, b"class"));
            if is_type {
                self.references(i, end);
            }
            if generic {
                angle += 1;
                i = next + 1;
            } else {
                i = next;
            }
        }
    }

    /// Every name of the dotted name from `from` to `to`.
    fn references(&mut self, from: usize, to: usize) {
        for k in (from..=to).step_by(2) {
            self.reference(k);
        }
    }
}
