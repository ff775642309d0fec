//! The quick scan of JavaScript, TypeScript and TSX: the tree walk's rules
//! over [`clike`](super::clike) tokens.
//!
//! Definitions are `function NAME` (and TypeScript's signatures), classes,
//! methods in class bodies and object literals (and TypeScript's method
//! signatures in interfaces and object types), `const`/`let NAME =` an
//! arrow function, function or class (`var` too in JavaScript), and in
//! TypeScript interfaces, `type` aliases and enums. References are calls
//! (`f(`, `x.f(`), `new F`, imported names, the class a class extends, and in
//! TypeScript every type name.
//!
//! Which braces hold what is told from what precedes them (a class or
//! interface header, an operator for an object literal, `)` or `=>` for a
//! block), and TypeScript's types run from `:` (not in an object literal nor
//! after a ternary's `?`), `as`, `satisfies`, `implements`, `type X =` and
//! generic brackets to a terminator at their depth, or a line break after a
//! complete type.

use super::super::tags::{FileTags, SymbolKind, TagsBuilder};
use super::clike::{self, Flavor, Kind, Lexed};

mod syntax;
use syntax::{is_modifier, is_type_word};

/// Tags of `source`; `typescript` for TypeScript and TSX.
pub(super) fn scan(source: &[u8], typescript: bool, jsx: bool) -> Option<FileTags> {
    clike::scan_with(source, Flavor::Js, |c, tags| {
        Js {
            c,
            tags,
            ts: typescript,
            jsx,
            stack: Vec::new(),
            types: Vec::new(),
            ternaries: Vec::new(),
            forced: Vec::new(),
            import: None,
            init: false,
            type_eq: None,
        }
        .run();
    })
}

fn is_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"break"
            | b"case"
            | b"catch"
            | b"class"
            | b"const"
            | b"continue"
            | b"debugger"
            | b"default"
            | b"delete"
            | b"do"
            | b"else"
            | b"export"
            | b"extends"
            | b"finally"
            | b"for"
            | b"function"
            | b"if"
            | b"import"
            | b"in"
            | b"instanceof"
            | b"new"
            | b"return"
            | b"super"
            | b"switch"
            | b"this"
            | b"throw"
            | b"try"
            | b"typeof"
            | b"var"
            | b"void"
            | b"while"
            | b"with"
            | b"yield"
            | b"let"
            | b"await"
            | b"null"
            | b"true"
            | b"false"
    )
}

/// What an open bracket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A class body: members.
    Class,
    /// An interface or object type: members are signatures.
    TypeBody,
    /// An object literal or destructuring pattern: `key: value`.
    Object,
    /// Generic arguments or parameters `<…>`.
    Angle,
    /// Parentheses or brackets inside a type.
    TypeParen,
    /// `import { … }` (or `export { … }` with `import` false).
    Names {
        import: bool,
    },
    Other,
}

/// A stretch of type from depth `depth`; a `header` one (after
/// `implements`, or an interface's `extends`) ends only at `{`; a `cast`
/// one (after `as`) at any operator; a `ret` one (an arrow's return type)
/// also at `=>`.
#[derive(Debug, Clone, Copy, Default)]
struct TypeSpan {
    depth: usize,
    header: bool,
    cast: bool,
    ret: bool,
}

struct Js<'a, 's> {
    c: &'a Lexed<'s>,
    tags: &'a mut TagsBuilder<'s>,
    ts: bool,
    /// Whether `<` starting a value opens a JSX element (TSX).
    jsx: bool,
    stack: Vec<Open>,
    types: Vec<TypeSpan>,
    /// Depths of pending ternary `?`s.
    ternaries: Vec<usize>,
    /// Brackets whose kind is known from their header.
    forced: Vec<(usize, Open)>,
    /// The depth of the `import`/`export` statement being read.
    import: Option<(usize, bool)>,
    /// In a class body, whether a field's initializer is being read.
    init: bool,
    /// The `=` of a `type` alias (a type follows).
    type_eq: Option<usize>,
}

impl Js<'_, '_> {
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

    fn arrow_at(&self, t: usize) -> bool {
        self.c.is_op(t, b"=>")
    }

    fn in_type(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Angle | Open::TypeParen))
            || self.types.iter().any(|s| s.depth <= self.stack.len())
    }

    /// Whether token `t` ends a value or a type (so a line break after it
    /// ends a statement, and `/`, `<` after it are operators).
    fn ends_value(&self, t: usize) -> bool {
        match self.c.toks.get(t).map(|t| t.kind) {
            Some(Kind::Ident) => !is_keyword(self.c.text(t)) || self.c.is_word(t, b"this"),
            Some(Kind::Punct(b)) => matches!(b, b')' | b']' | b'}' | b'>'),
            Some(_) => true,
            None => false,
        }
    }

    /// Whether token `t` can end a type (a value, or `void`, `null`, ...).
    fn ends_type(&self, t: usize) -> bool {
        self.ends_value(t) || matches!(self.c.text(t), b"void" | b"null" | b"true" | b"false")
    }

    fn run(&mut self) {
        let c = self.c;
        for t in 0..c.toks.len() {
            let tok = c.toks[t];
            // A line break after a complete type or field ends it.
            if t > 0 && tok.line > c.end_line(t - 1) && self.ends_type(t - 1) {
                let continues = matches!(
                    tok.kind,
                    Kind::Punct(
                        b'|' | b'&' | b'.' | b'?' | b':' | b'=' | b'[' | b'<' | b'>' | b','
                    )
                ) || c.is_word(t, b"extends");
                if !continues {
                    let depth = self.stack.len();
                    while self
                        .types
                        .last()
                        .is_some_and(|s| s.depth == depth && !s.header)
                    {
                        self.types.pop();
                    }
                    if self.stack.last() == Some(&Open::Class) {
                        self.init = false;
                    }
                }
            }
            match tok.kind {
                Kind::Punct(b) => self.punct(t, b),
                Kind::Ident => self.ident(t),
                _ => {}
            }
        }
    }

    fn punct(&mut self, t: usize, b: u8) {
        let c = self.c;
        let depth = self.stack.len();
        let prev = t.checked_sub(1);
        let arrow = b == b'=' && self.arrow_at(t);
        let double = |x: u8| c.is_punct(t + 1, x) && c.touching(t);
        let after_op = prev.is_some_and(|p| {
            c.touching(p)
                && (c.is_punct(p, b'=')
                    || c.is_punct(p, b'!')
                    || c.is_punct(p, b'<')
                    || c.is_punct(p, b'>'))
        });
        let mut type_ended = false;
        while let Some(span) = self.types.last().copied() {
            let at = span.depth == depth;
            let ends = span.depth > depth
                || (at
                    && if span.header {
                        b == b'{'
                    } else if span.cast {
                        !matches!(b, b'<' | b'>' | b'.' | b'[' | b']')
                    } else {
                        matches!(b, b',' | b';' | b')' | b']' | b'}')
                            || (b == b'=' && !arrow && !double(b'=') && !after_op)
                            || (arrow && span.ret)
                            || (b == b'{'
                                && self.ends_type(t - 1)
                                && !self.arrow_at(t.wrapping_sub(2)))
                    });
            if !ends {
                break;
            }
            type_ended |= at;
            self.types.pop();
        }
        let top = self.stack.last().copied();
        match b {
            b'(' | b'[' | b'{' => {
                let forced = self.forced.iter().position(|(k, _)| *k == t);
                let open = if let Some(at) = forced {
                    self.forced.swap_remove(at).1
                } else if let Some((_, import)) = self.import.filter(|(d, _)| {
                    *d == depth
                        && b == b'{'
                        && prev.is_some_and(|p| {
                            matches!(c.text(p), b"import" | b"export" | b"type" | b",")
                        })
                }) {
                    Open::Names { import }
                } else if self.in_type() && !type_ended {
                    if b == b'{' {
                        Open::TypeBody
                    } else {
                        Open::TypeParen
                    }
                } else if b == b'{' && !type_ended && self.object_here(t) {
                    Open::Object
                } else {
                    Open::Other
                };
                self.stack.push(open);
            }
            b')' | b']' | b'}' => {
                while self.stack.last() == Some(&Open::Angle) {
                    self.stack.pop();
                }
                self.stack.pop();
                let depth = self.stack.len();
                self.ternaries.retain(|d| *d <= depth);
                if self.import.is_some_and(|(d, _)| d > depth) {
                    self.import = None;
                }
                if b == b'}' && self.stack.last() == Some(&Open::Class) {
                    self.init = false;
                }
            }
            b'<' if self.ts && !double(b'=') && !double(b'<') && self.generic_here(t) => {
                self.stack.push(Open::Angle);
            }
            b'>' if !(t > 0 && c.is_op(t - 1, b"=>")) && top == Some(Open::Angle) => {
                self.stack.pop();
            }
            b'?' if !double(b'.')
                && !double(b'?')
                && !double(b':')
                && !c.is_punct(t.wrapping_sub(1), b'?') =>
            {
                self.ternaries.push(depth);
            }
            b':' => {
                if self.ternaries.last() == Some(&depth) {
                    self.ternaries.pop();
                } else if self.ts && !matches!(top, Some(Open::Object | Open::Names { .. })) {
                    self.types.push(TypeSpan {
                        depth,
                        ret: c.is_punct(t.wrapping_sub(1), b')')
                            && !self.function_params(c.pair(t - 1)),
                        ..TypeSpan::default()
                    });
                }
            }
            b'=' if self.type_eq == Some(t) => self.types.push(TypeSpan {
                depth,
                ..TypeSpan::default()
            }),
            b'=' if top == Some(Open::Class) && !arrow && !double(b'=') && !after_op => {
                self.init = true
            }
            b';' => {
                if self.import.is_some_and(|(d, _)| d == depth) {
                    self.import = None;
                }
                if top == Some(Open::Class) {
                    self.init = false;
                }
            }
            _ => {}
        }
    }

    fn ident(&mut self, t: usize) {
        let c = self.c;
        let word = c.text(t);
        let depth = self.stack.len();
        let top = self.stack.last().copied();
        let prev = t.checked_sub(1);
        // After `.`, not after a spread `...`.
        let after_dot =
            prev.is_some_and(|p| c.is_punct(p, b'.') && !c.is_punct(p.wrapping_sub(1), b'.'));
        let private = prev.is_some_and(|p| c.is_punct(p, b'#') && c.touching(p));
        if after_dot || private {
            // A method call, or in a type the name after a namespace.
            let in_type = self.in_type();
            // `new a.B(…)` constructs; it calls nothing.
            let call = !private && !in_type && self.called(t + 1) && !self.chain_after(t, b"new");
            let qualified_type =
                after_dot && in_type && !c.is_punct(t + 1, b'.') && !self.typeof_chain(t);
            if call || qualified_type {
                self.reference(t);
            }
            return;
        }
        // A function expression's own name.
        let function_name = prev.is_some_and(|p| {
            c.is_word(p, b"function")
                || (c.is_punct(p, b'*') && c.is_word(p.wrapping_sub(1), b"function"))
        });
        if function_name {
            return;
        }
        // Import and export lists.
        if let Some(Open::Names { import }) = top {
            if import
                && !prev.is_some_and(|p| c.is_word(p, b"as"))
                && word != b"type"
                && word != b"as"
            {
                self.reference(t);
            }
            return;
        }
        match word {
            b"import" if !c.is_punct(t + 1, b'(') && !c.is_punct(t + 1, b'.') => {
                self.import = Some((depth, true));
                return;
            }
            b"export" => {
                if c.is_punct(t + 1, b'{') || c.is_punct(t + 1, b'*') || c.is_word(t + 1, b"type") {
                    self.import = Some((depth, false));
                }
                return;
            }
            b"function" => {
                let mut k = t + 1;
                if c.is_punct(k, b'*') {
                    k += 1;
                }
                if self.is_name(k) && self.declares(t) {
                    let end = self.statement_end(k);
                    let start = self.decl_start(t);
                    self.definition(k, SymbolKind::Function, start, end);
                }
                return;
            }
            b"class" => {
                self.class(t);
                return;
            }
            b"const" | b"let" | b"var" if self.is_name(t + 1) && (!self.ts || word != b"var") => {
                self.variables(t);
                return;
            }
            b"new" => {
                if self.is_name(t + 1) && !c.is_punct(t + 2, b'.') {
                    self.reference(t + 1);
                }
                return;
            }
            _ => {}
        }
        let declaration = matches!(word, b"interface" | b"type" | b"enum" | b"abstract");
        if self.ts && declaration && !self.in_type() && self.declares(t) {
            match word {
                b"interface" if self.is_name(t + 1) => {
                    let body = self.header_end(t + 2);
                    self.definition(
                        t + 1,
                        SymbolKind::Interface,
                        self.decl_start(t),
                        c.pair(body),
                    );
                    self.forced.push((body, Open::TypeBody));
                    self.types.push(TypeSpan {
                        depth,
                        header: true,
                        ..TypeSpan::default()
                    });
                    return;
                }
                b"type" if self.is_name(t + 1) => {
                    let end = self.statement_end(t + 1);
                    self.definition(t + 1, SymbolKind::Type, self.decl_start(t), end);
                    // The `=` after the name and its parameters (not a default's).
                    let mut eq = t + 2;
                    if c.is_punct(eq, b'<') {
                        eq = c.angle_close(eq, b";").map_or(eq, |close| close + 1);
                    }
                    self.type_eq = c.is_punct(eq, b'=').then_some(eq);
                    return;
                }
                b"enum" if self.is_name(t + 1) => {
                    let body = self.header_end(t + 2);
                    self.definition(t + 1, SymbolKind::Enum, self.decl_start(t), c.pair(body));
                    self.forced.push((body, Open::Object));
                    return;
                }
                b"abstract" if c.is_word(t + 1, b"class") => return,
                _ => {}
            }
        }
        if self.ts
            && matches!(word, b"as" | b"satisfies")
            && !self.in_type()
            && self.import.is_none()
        {
            self.types.push(TypeSpan {
                depth,
                cast: true,
                ..TypeSpan::default()
            });
            return;
        }
        if self.ts && word == b"implements" {
            self.types.push(TypeSpan {
                depth,
                header: true,
                ..TypeSpan::default()
            });
            return;
        }
        if word == b"case" || (word == b"default" && c.is_punct(t + 1, b':')) {
            self.ternaries.push(depth);
        }
        // Members of classes, object literals and object types (a method
        // may be named by a keyword: `catch(`, `delete(`).
        let member = match top {
            Some(Open::Class) => !self.init,
            Some(Open::Object) => prev.is_none_or(|p| {
                c.is_punct(p, b'{')
                    || c.is_punct(p, b',')
                    || c.is_punct(p, b'*')
                    || is_modifier(c.text(p))
            }),
            Some(Open::TypeBody) => self.ts,
            _ => false,
        };
        if member
            && self.method_name(t)
            && (top != Some(Open::TypeBody) || prev.is_none_or(|p| !c.is_punct(p, b':')))
        {
            let end = self.statement_end(t);
            self.definition(t, SymbolKind::Method, self.member_start(t), end);
            return;
        }
        if is_keyword(word) {
            return;
        }
        if self.in_type() {
            self.type_name(t);
            return;
        }
        if self.called(t + 1) {
            self.reference(t);
        }
    }

    /// A name inside a type.
    fn type_name(&mut self, t: usize) {
        let c = self.c;
        let word = c.text(t);
        let next_colon =
            c.is_punct(t + 1, b':') || (c.is_punct(t + 1, b'?') && c.is_punct(t + 2, b':'));
        let top = self.stack.last().copied();
        // A property or parameter name, a module before `.`, a type query.
        let label = next_colon && matches!(top, Some(Open::TypeBody | Open::TypeParen));
        let predicate = c.is_word(t + 1, b"is");
        if label
            || predicate
            || is_type_word(word)
            || c.is_punct(t + 1, b'.')
            || self.typeof_chain(t)
        {
            return;
        }
        self.reference(t);
    }

    /// `class` at `t`: a declaration or expression, its heritage, its body.
    fn class(&mut self, t: usize) {
        let c = self.c;
        let body = self.header_end(t + 1);
        self.forced.push((body, Open::Class));
        if self.is_name(t + 1) && !c.is_word(t + 1, b"extends") && !c.is_word(t + 1, b"implements")
        {
            let declared = self.declares(if c.is_word(t.wrapping_sub(1), b"abstract") {
                t - 1
            } else {
                t
            });
            if declared && (!self.ts || self.is_name(t + 1)) {
                self.definition(t + 1, SymbolKind::Class, self.decl_start(t), c.pair(body));
            }
        }
        // `extends X` (a plain name) refers to X.
        let mut k = t + 1;
        while k < body {
            if c.is_word(k, b"extends") && self.is_name(k + 1) {
                let next = k + 2;
                if !c.is_punct(next, b'.') && !c.is_punct(next, b'(') {
                    self.reference(k + 1);
                }
                break;
            }
            k += 1;
        }
    }

    /// `const`/`let`/`var` at `t`: names bound to functions or classes.
    fn variables(&mut self, t: usize) {
        let c = self.c;
        let mut name = t + 1;
        while self.is_name(name) {
            // Past an annotation, to `=`, `,` or the end of the declaration.
            let mut k = name + 1;
            while c.more(k) && !c.is_punct(k, b',') && (!c.is_punct(k, b'=') || self.arrow_at(k)) {
                match c.toks[k].kind {
                    Kind::Punct(b';' | b')' | b']' | b'}') => return,
                    Kind::Punct(b'(' | b'[' | b'{') => k = c.pair(k).max(k),
                    _ => {}
                }
                k += 1;
            }
            if c.is_punct(k, b'=') && self.function_value(k + 1) {
                let end = self.statement_end(k + 1);
                self.definition(name, SymbolKind::Function, t, end);
            }
            // The next declarator, after a `,` at this depth.
            while c.more(k) && !(c.is_punct(k, b',') && k > name + 1) {
                let new_statement =
                    c.is_ident(k) && c.line(k) > c.end_line(k - 1) && self.ends_value(k - 1);
                match c.toks[k].kind {
                    Kind::Punct(b';' | b')' | b']' | b'}') => return,
                    Kind::Punct(b'(' | b'[' | b'{') => k = c.pair(k).max(k),
                    _ if new_statement => return,
                    _ => {}
                }
                k += 1;
            }
            name = k + 1;
        }
    }
}
