//! The quick scan of Rust: the tree walk's rules over [`clike`](super::clike)
//! tokens.
//!
//! Definitions are `fn NAME`, `struct`/`enum`/`union`/`trait NAME`,
//! `type NAME =`, `const`/`static NAME`, `mod NAME {`, `macro_rules! NAME`,
//! and `impl … [for] TYPE` named by its type. References are every type
//! name, calls (`f(`, `x.f(`), macro invocations (`m!`), the segments of
//! paths (`a::b`), and names in `use` lists.
//!
//! The scan follows what the parser would know from the brackets around a
//! name: macro arguments and attribute arguments are token trees (no
//! references inside, as in tree-sitter's tree); types begin after `:` (not
//! in a struct literal), `->`, `as`, `impl`, `where`, `=` of a `type`, and
//! fill generic brackets `<…>` (told from a comparison by what precedes the
//! `<`); patterns (`let`, `for`, match arms) hold no calls, `Foo(x)` there
//! being a tuple-struct pattern; `Name {` is a struct literal except where a
//! block must follow (the condition of `if`/`while`/`match`/`for`).

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::clike::{self, Flavor, Kind, Lexed};

mod items;
use items::{is_primitive, looks_like_type};

/// Tags of `source`, or `None` when it spent the look-ahead budget.
pub(super) fn scan(source: &[u8]) -> Option<FileTags> {
    clike::scan_with(source, Flavor::Rust, |c, tags| {
        Rust {
            c,
            tags,
            stack: Vec::new(),
            types: Vec::new(),
            headers: Vec::new(),
            pattern: None,
            use_depth: None,
            impl_name: None,
            tuple_fields: None,
            forced: Vec::new(),
            type_eq: None,
        }
        .run();
    })
}

fn is_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"as"
            | b"async"
            | b"await"
            | b"break"
            | b"const"
            | b"continue"
            | b"crate"
            | b"dyn"
            | b"else"
            | b"enum"
            | b"extern"
            | b"false"
            | b"fn"
            | b"for"
            | b"if"
            | b"impl"
            | b"in"
            | b"let"
            | b"loop"
            | b"match"
            | b"mod"
            | b"move"
            | b"mut"
            | b"pub"
            | b"ref"
            | b"return"
            | b"self"
            | b"static"
            | b"struct"
            | b"super"
            | b"trait"
            | b"true"
            | b"type"
            | b"unsafe"
            | b"use"
            | b"where"
            | b"while"
            | b"yield"
            | b"_"
    )
}

/// What an open bracket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A macro's or an attribute's arguments: tokens, not code.
    Tree,
    /// An attribute `#[…]`: its path, then arguments.
    Attr,
    /// Generic arguments or parameters `<…>`.
    Angle,
    /// Parentheses or brackets of a type (tuple, array, fn parameters,
    /// tuple-struct fields).
    TypeParen,
    /// A struct literal or pattern `Name { … }`.
    StructLit,
    /// An enum's variants.
    Enum,
    /// A match's arms.
    Match,
    /// `use a::{…}`.
    UseList,
    Other,
}

/// A stretch of type: from its start at bracket depth `depth`, to a
/// terminator at that depth; a `where` clause ends only at `{` or `;`.
#[derive(Debug, Clone, Copy)]
struct TypeSpan {
    depth: usize,
    where_clause: bool,
    /// After `as`: ends at any operator.
    cast: bool,
}

struct Rust<'a, 's> {
    c: &'a Lexed<'s>,
    tags: &'a mut TagsBuilder<'s>,
    stack: Vec<Open>,
    types: Vec<TypeSpan>,
    /// Open conditions of `if`/`while`/`for`/`match` (their depth, and
    /// whether a match), ended by the `{` of their block.
    headers: Vec<(usize, bool)>,
    /// The depth of the pattern being read.
    pattern: Option<usize>,
    /// The depth of the `use` declaration being read.
    use_depth: Option<usize>,
    /// The name of the type of the `impl` being read.
    impl_name: Option<usize>,
    /// The `(` of a tuple struct's fields.
    tuple_fields: Option<usize>,
    /// Brackets known from their item: an enum's body, a macro's rules.
    forced: Vec<(usize, Open)>,
    /// The `=` of a `type` alias (a type follows).
    type_eq: Option<usize>,
}

impl Rust<'_, '_> {
    fn reference(&mut self, t: usize) {
        self.c.refer(self.tags, t);
    }

    /// A definition named by token `t`, from token `start` to token `end`.
    fn definition(&mut self, t: usize, kind: SymbolKind, start: usize, end: usize) {
        self.c
            .define(self.tags, t, kind, start, self.c.end_line(end));
    }

    fn is_name(&self, t: usize) -> bool {
        self.c.is_ident(t) && !is_keyword(self.c.text(t))
    }

    /// Whether tokens `t` and `t + 1` are `::`.
    fn colons(&self, t: usize) -> bool {
        self.c.is_op(t, b"::")
    }

    fn in_type(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Angle | Open::TypeParen))
            || self.types.iter().any(|s| s.depth <= self.stack.len())
    }

    fn run(&mut self) {
        let c = self.c;
        let n = c.toks.len();
        for t in 0..n {
            let tok = c.toks[t];
            match tok.kind {
                Kind::Punct(b) => self.punct(t, b),
                Kind::Ident if !matches!(self.stack.last(), Some(Open::Tree)) => {
                    self.ident(t);
                }
                _ => {}
            }
        }
    }

    fn punct(&mut self, t: usize, b: u8) {
        let c = self.c;
        let depth = self.stack.len();
        let top = self.stack.last().copied();
        if top == Some(Open::Tree) {
            match b {
                b'(' | b'[' | b'{' => self.stack.push(Open::Tree),
                b')' | b']' | b'}' => {
                    self.stack.pop();
                }
                _ => {}
            }
            return;
        }
        let prev = t.checked_sub(1);
        let arrow = prev.is_some_and(|p| c.is_op(p, b"->"));
        let fat_arrow = prev.is_some_and(|p| c.is_op(p, b"=>"));
        let double = |x: u8| c.is_punct(t + 1, x) && c.touching(t);
        // Types end at a terminator of their depth.
        let mut type_ended = false;
        while let Some(span) = self.types.last().copied() {
            let at = span.depth == depth;
            let ends = span.depth > depth
                || (at
                    && if span.where_clause {
                        matches!(b, b'{' | b';')
                    } else if span.cast {
                        // A cast's type goes on through `<`, `>`, `::`, `&` and `as *`.
                        let continues = matches!(b, b'<' | b'>' | b':' | b'&')
                            || (b == b'*' && prev.is_some_and(|p| c.is_word(p, b"as")));
                        !continues
                    } else {
                        matches!(b, b',' | b';' | b'{' | b')' | b']' | b'}' | b'|')
                            || (b == b'=' && !double(b'>') && !fat_arrow && !arrow)
                    });
            if !ends {
                break;
            }
            type_ended |= at;
            self.types.pop();
        }
        match b {
            b'(' | b'[' | b'{' => {
                let p = prev.unwrap_or(usize::MAX);
                let forced = self.forced.iter().position(|(k, _)| *k == t);
                let open = if let Some(at) = forced {
                    self.forced.swap_remove(at).1
                } else if b == b'[' && c.is_punct(p, b'#')
                    || (c.is_punct(p, b'!') && c.is_punct(p.wrapping_sub(1), b'#'))
                {
                    Open::Attr
                } else if top == Some(Open::Attr)
                    || (c.is_punct(p, b'!') && self.is_name(p.wrapping_sub(1)))
                {
                    Open::Tree
                } else if b == b'{' && self.headers.last().is_some_and(|h| h.0 == depth) {
                    let (_, is_match) = self.headers.pop().unwrap_or_default();
                    if is_match {
                        self.pattern = Some(depth + 1);
                        Open::Match
                    } else {
                        Open::Other
                    }
                } else if b == b'{' && self.use_depth.is_some() {
                    Open::UseList
                } else if (b != b'{' && (self.in_type() || self.tuple_fields == Some(t)))
                    || (b == b'(' && top == Some(Open::Enum) && self.is_name(p))
                {
                    Open::TypeParen
                } else if b == b'{' && !type_ended && self.struct_literal(p) {
                    Open::StructLit
                } else {
                    Open::Other
                };
                if self.tuple_fields == Some(t) {
                    self.tuple_fields = None;
                }
                self.stack.push(open);
            }
            b')' | b']' | b'}' => {
                // Close up to the matching opener (an unclosed `<` is a comparison).
                while self.stack.last() == Some(&Open::Angle) {
                    self.stack.pop();
                }
                self.stack.pop();
                let depth = self.stack.len();
                if self.pattern.is_some_and(|p| p > depth) {
                    self.pattern = None;
                }
                if b == b'}' && self.stack.last() == Some(&Open::Match) {
                    self.pattern = Some(depth);
                }
                self.headers.retain(|h| h.0 <= depth);
                if self.use_depth.is_some_and(|d| d > depth) {
                    self.use_depth = None;
                }
            }
            b'<' => {
                let generic = self.in_type()
                    || prev.is_some_and(|p| {
                        self.colons(p.wrapping_sub(1))
                            || matches!(c.text(p), b"impl" | b"for" | b"fn")
                            || self.def_keyword(p.wrapping_sub(1))
                            || match c.toks[p].kind {
                                Kind::Ident => is_keyword(c.text(p)) && c.text(p) != b"self",
                                Kind::Punct(x) => !matches!(x, b')' | b']' | b'?' | b'}'),
                                _ => false,
                            }
                    });
                // (`<<` and `<=` are operators.)
                let shift = prev.is_some_and(|p| c.is_op(p, b"<<"));
                if generic && !double(b'=') && !double(b'<') && !shift {
                    self.stack.push(Open::Angle);
                }
            }
            b'>' if !arrow && !fat_arrow && self.stack.last() == Some(&Open::Angle) => {
                self.stack.pop();
            }
            b'>' if arrow => self.types.push(TypeSpan {
                depth,
                where_clause: false,
                cast: false,
            }),
            b'>' if fat_arrow && top == Some(Open::Match) && self.pattern == Some(depth) => {
                self.pattern = None;
            }
            b':' => {
                let path = double(b':') || prev.is_some_and(|p| self.colons(p));
                let label = prev.is_some_and(|p| c.toks[p].kind == Kind::Lifetime);
                if self.pattern == Some(depth) && top != Some(Open::Match) && !path {
                    self.pattern = None;
                }
                if !path && !label && top != Some(Open::StructLit) {
                    self.types.push(TypeSpan {
                        depth,
                        where_clause: false,
                        cast: false,
                    });
                }
            }
            b'=' if self.type_eq == Some(t) => self.types.push(TypeSpan {
                depth,
                where_clause: false,
                cast: false,
            }),
            b'=' if !double(b'=')
                && !double(b'>')
                && self.pattern == Some(depth)
                && top != Some(Open::Match) =>
            {
                self.pattern = None;
            }
            b',' if top == Some(Open::Match) => self.pattern = Some(depth),
            b';' => {
                if self.use_depth == Some(depth) {
                    self.use_depth = None;
                }
                if self.pattern == Some(depth) {
                    self.pattern = None;
                }
                self.headers.retain(|h| h.0 < depth);
            }
            _ => {}
        }
    }

    /// Whether `{` after token `p` opens a struct literal or pattern.
    fn struct_literal(&self, p: usize) -> bool {
        let c = self.c;
        if self.in_type() || self.headers.last().is_some_and(|h| h.0 == self.stack.len()) {
            return false;
        }
        if matches!(self.stack.last(), Some(Open::Enum)) {
            return false;
        }
        let name = if c.is_punct(p, b'>') {
            return false;
        } else {
            p
        };
        self.is_name(name)
            && looks_like_type(c.text(name))
            && !self.def_keyword(name.wrapping_sub(1))
            || c.is_word(name, b"Self")
    }

    /// Whether token `k` is a keyword whose next name is defined.
    fn def_keyword(&self, k: usize) -> bool {
        let c = self.c;
        matches!(
            c.text(k),
            b"fn"
                | b"struct"
                | b"enum"
                | b"trait"
                | b"type"
                | b"mod"
                | b"union"
                | b"const"
                | b"static"
        ) && c.is_ident(k)
    }

    fn ident(&mut self, t: usize) {
        let c = self.c;
        let word = c.text(t);
        let prev = t.checked_sub(1);
        let depth = self.stack.len();
        let top = self.stack.last().copied();
        if top == Some(Open::Attr) {
            if self.colons(t + 1) || prev.is_some_and(|p| self.colons(p.wrapping_sub(1))) {
                self.reference(t);
            }
            return;
        }
        match word {
            b"use" => {
                self.use_depth = Some(depth);
                return;
            }
            b"let" => {
                self.pattern = Some(depth);
                return;
            }
            b"for" if !self.in_type() && !c.is_punct(t + 1, b'<') => {
                self.pattern = Some(depth);
                self.headers.push((depth, false));
                return;
            }
            b"in" if self.pattern == Some(depth) => {
                self.pattern = None;
                return;
            }
            b"if" if self.pattern == Some(depth) && top == Some(Open::Match) => {
                self.pattern = None;
                return;
            }
            b"if" | b"while" | b"match" if !c.is_punct(t + 1, b'!') => {
                self.headers.push((depth, word == b"match"));
                return;
            }
            b"impl" => {
                let item = prev.is_none_or(|p| {
                    matches!(c.toks[p].kind, Kind::Punct(b'}' | b';' | b'{' | b']'))
                        || matches!(c.text(p), b"unsafe" | b"default")
                });
                if item {
                    self.impl_name = self.impl_type(t);
                    if let Some(name) = self.impl_name {
                        let start = self.item_start(t);
                        let end = self.item_end(t, false);
                        self.definition(name, SymbolKind::Impl, start, end);
                    }
                }
                self.types.push(TypeSpan {
                    depth,
                    where_clause: false,
                    cast: false,
                });
                return;
            }
            b"where" => {
                self.types.push(TypeSpan {
                    depth,
                    where_clause: true,
                    cast: false,
                });
                return;
            }
            b"as" if self.use_depth.is_none() => {
                self.types.push(TypeSpan {
                    depth,
                    where_clause: false,
                    cast: true,
                });
                return;
            }
            b"enum" if self.is_name(t + 1) => {
                let end = self.item_end(t, false);
                self.definition(t + 1, SymbolKind::Enum, self.item_start(t), end);
                if c.is_punct(end, b'}') {
                    self.forced.push((c.pair(end), Open::Enum));
                }
                return;
            }
            _ => {}
        }
        if is_keyword(word) && !(word == b"_" && self.in_type()) {
            return;
        }
        // Definitions.
        if let Some(p) = prev.filter(|p| c.is_ident(*p)) {
            let kind = match c.text(p) {
                b"fn" => Some(SymbolKind::Function),
                b"struct" => Some(SymbolKind::Struct),
                b"union" if c.is_punct(t + 1, b'{') || c.is_punct(t + 1, b'<') => {
                    Some(SymbolKind::Union)
                }
                b"trait" => Some(SymbolKind::Trait),
                b"type" => Some(SymbolKind::Type),
                b"const" | b"static" if !c.is_punct(p.wrapping_sub(1), b'*') => {
                    Some(SymbolKind::Const)
                }
                b"mut" if c.is_word(p.wrapping_sub(1), b"static") => Some(SymbolKind::Const),
                b"mod" => Some(SymbolKind::Module),
                b"enum" => return,
                _ => None,
            };
            if let Some(kind) = kind {
                self.define(t, p, kind);
                return;
            }
        }
        if word == b"macro_rules" && c.is_punct(t + 1, b'!') {
            if self.is_name(t + 2) {
                let end = self.item_end(t, false);
                self.definition(t + 2, SymbolKind::Macro, t, end);
                self.forced.push((t + 3, Open::Tree));
            }
            return;
        }
        if self.impl_name == Some(t) {
            return;
        }
        let after_colons = prev.is_some_and(|p| self.colons(p.wrapping_sub(1)));
        let before_colons = self.colons(t + 1);
        let after_dot = prev.is_some_and(|p| c.is_punct(p, b'.'));
        // `use` declarations.
        if self.use_depth.is_some() {
            let is_ref = if prev.is_some_and(|p| c.is_word(p, b"as")) {
                false
            } else if before_colons && !after_colons {
                !(c.is_punct(t + 3, b'{') || c.is_punct(t + 3, b'*'))
            } else {
                before_colons
                    || after_colons
                    || top == Some(Open::UseList)
                    || c.is_word(t + 1, b"as")
            };
            if is_ref {
                self.reference(t);
            }
            return;
        }
        if after_dot {
            if c.is_punct(t + 1, b'(') {
                self.reference(t);
            }
            return;
        }
        if c.is_punct(t + 1, b'!') && !c.is_punct(t + 2, b'=') {
            self.reference(t);
            return;
        }
        let in_type = self.in_type();
        if before_colons {
            // In a type, `io::Result` is a type named in module `io`; in
            // code, `io::stdin` is a path of two references.
            let short_type_path = !after_colons
                && self.is_name(t + 3)
                && !self.colons(t + 4)
                && (in_type || (c.is_punct(t + 4, b'{') && self.struct_literal(t + 3)));
            // `f::<T>(…)` calls a generic function: no path, no reference.
            let generic_call = !after_colons
                && c.is_punct(t + 3, b'<')
                && c.angle_close(t + 3, b";{")
                    .is_some_and(|close| c.is_punct(close + 1, b'('));
            if !short_type_path && !generic_call {
                self.reference(t);
            }
            return;
        }
        if after_colons {
            self.reference(t);
            return;
        }
        if in_type {
            let const_param = prev.is_some_and(|p| c.is_word(p, b"const"));
            if !is_primitive(word) && !const_param || word == b"_" {
                self.reference(t);
            }
            return;
        }
        if top == Some(Open::Enum) {
            return;
        }
        let pattern = self.pattern.is_some_and(|p| p <= depth);
        if c.is_punct(t + 1, b'(') {
            if !pattern {
                self.reference(t);
            }
            return;
        }
        if c.is_punct(t + 1, b'{') && self.struct_literal(t) {
            self.reference(t);
        }
    }
}
