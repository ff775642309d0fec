//! Finding definitions and references in a parsed tree by walking it once
//! with a [`TreeCursor`] and matching node kinds by hand.
//!
//! The rules are those of the tags queries in [`lang`](super::lang) (kept
//! there as their specification; a test checks that both give the same tags
//! on every source file of this repository, and of more trees on demand): a
//! query cursor ran each file's tree against every pattern, while this walk
//! visits each node once and looks further only at identifier nodes. On
//! Django's cold index the query cursor took 20% of the CPU beside a 45%
//! parse; the walk takes 14%, nearly all of it the cursor's moves.

use std::sync::OnceLock;

use tree_sitter::{Node, TreeCursor};

use super::lang::Lang;
use super::tags::SymbolKind;

/// The node kinds that can be a definition's name or a reference.
const NAME_KINDS: [&str; 4] = [
    "identifier",
    "type_identifier",
    "field_identifier",
    "property_identifier",
];

/// What a name node is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Found<'t> {
    /// It names this definition node, of this kind.
    pub def: Option<(Node<'t>, SymbolKind)>,
    /// It refers to a definition somewhere.
    pub is_ref: bool,
}

/// An ancestor of the current node: its kind and its field in its own parent.
#[derive(Clone, Copy)]
pub(crate) struct Up<'t> {
    node: Node<'t>,
    kind: &'static str,
    field: Option<&'static str>,
}

/// The current name node and its nearest ancestors.
struct Site<'a, 't> {
    kind: &'static str,
    field: Option<&'static str>,
    /// Ancestors, the root first.
    ups: &'a [Up<'t>],
}

impl<'t> Site<'_, 't> {
    /// The `i`-th ancestor (0 is the parent).
    fn up(&self, i: usize) -> Option<Up<'t>> {
        self.ups.len().checked_sub(i + 1).map(|at| self.ups[at])
    }

    fn up_kind(&self, i: usize) -> &'static str {
        self.up(i).map_or("", |u| u.kind)
    }

    fn up_field(&self, i: usize) -> Option<&'static str> {
        self.up(i).and_then(|u| u.field)
    }

    /// The parent, when this node is its `field` and it is of `kind`.
    fn in_field(&self, field: &str, kind: &str) -> Option<Node<'t>> {
        let parent = self.up(0)?;
        (self.field == Some(field) && parent.kind == kind).then_some(parent.node)
    }

    /// The kind of the parent's child in `field`.
    fn sibling_kind(&self, field: &str) -> Option<&'static str> {
        self.up(0)?
            .node
            .child_by_field_name(field)
            .map(|n| n.kind())
    }
}

/// Calls `visit(node, found)` for every node that names a definition or
/// refers to one, in document order.
pub(crate) fn walk<'t>(
    lang: Lang,
    cursor: &mut TreeCursor<'t>,
    ups: &mut Vec<Up<'t>>,
    mut visit: impl FnMut(Node<'t>, Found<'t>),
) {
    let names = name_kinds(lang);
    ups.clear();
    loop {
        let node = cursor.node();
        if names.get(node.kind_id() as usize).copied().unwrap_or(false) {
            let site = Site {
                kind: node.kind(),
                field: cursor.field_name(),
                ups,
            };
            let found = classify(lang, &site);
            if found.def.is_some() || found.is_ref {
                visit(node, found);
            }
        }
        if node.child_count() > 0 {
            let field = cursor.field_name();
            if cursor.goto_first_child() {
                ups.push(Up {
                    node,
                    kind: node.kind(),
                    field,
                });
                continue;
            }
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            ups.pop();
        }
    }
}

/// Which node kind ids of `lang` are [`NAME_KINDS`] (named nodes only).
fn name_kinds(lang: Lang) -> &'static [bool] {
    static TABLES: OnceLock<Vec<Vec<bool>>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        Lang::ALL
            .iter()
            .map(|lang| {
                let grammar = lang.grammar();
                (0..grammar.node_kind_count() as u16)
                    .map(|id| {
                        grammar.node_kind_is_named(id)
                            && grammar
                                .node_kind_for_id(id)
                                .is_some_and(|k| NAME_KINDS.contains(&k))
                    })
                    .collect()
            })
            .collect()
    });
    &tables[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)]
}

fn classify<'t>(lang: Lang, site: &Site<'_, 't>) -> Found<'t> {
    match lang {
        Lang::Rust => rust(site),
        Lang::Python => python(site),
        Lang::JavaScript => javascript(site, false),
        Lang::TypeScript | Lang::Tsx => javascript(site, true),
        Lang::Go => go(site),
        Lang::Java => java(site),
    }
}

fn def<'t>(node: Option<Node<'t>>, kind: SymbolKind) -> Option<(Node<'t>, SymbolKind)> {
    node.map(|n| (n, kind))
}

/// The definition the name node names when it is the `name` of a parent of
/// one of these kinds, with the kind of definition each makes.
fn name_of<'t>(s: &Site<'_, 't>, parents: &[(&str, SymbolKind)]) -> Option<(Node<'t>, SymbolKind)> {
    parents
        .iter()
        .find_map(|(parent, kind)| def(s.in_field("name", parent), *kind))
}

fn rust<'t>(s: &Site<'_, 't>) -> Found<'t> {
    use SymbolKind as K;
    let def = match s.kind {
        "identifier" => name_of(
            s,
            &[
                ("function_item", K::Function),
                ("function_signature_item", K::Function),
                ("const_item", K::Const),
                ("static_item", K::Const),
                ("macro_definition", K::Macro),
            ],
        )
        .or_else(|| {
            def(
                s.in_field("name", "mod_item")
                    .filter(|_| s.sibling_kind("body").is_some()),
                K::Module,
            )
        }),
        "type_identifier" => name_of(
            s,
            &[
                ("struct_item", K::Struct),
                ("enum_item", K::Enum),
                ("union_item", K::Union),
                ("trait_item", K::Trait),
                ("type_item", K::Type),
            ],
        )
        .or_else(|| def(s.in_field("type", "impl_item"), K::Impl))
        .or_else(|| {
            s.in_field("type", "generic_type")?;
            let item = s.up(1).filter(|u| u.kind == "impl_item")?;
            (s.up_field(0) == Some("type")).then_some((item.node, K::Impl))
        }),
        _ => None,
    };
    let is_ref = match s.kind {
        "type_identifier" => true,
        "identifier" => {
            s.in_field("function", "call_expression").is_some()
                || s.in_field("macro", "macro_invocation").is_some()
                || s.in_field("name", "scoped_identifier").is_some()
                || s.in_field("path", "scoped_identifier").is_some()
                || s.in_field("path", "use_as_clause").is_some()
                || s.up_kind(0) == "use_list"
        }
        "field_identifier" => {
            s.in_field("field", "field_expression").is_some()
                && s.up_field(0) == Some("function")
                && s.up_kind(1) == "call_expression"
        }
        _ => false,
    };
    Found { def, is_ref }
}

fn python<'t>(s: &Site<'_, 't>) -> Found<'t> {
    if s.kind != "identifier" {
        return Found::default();
    }
    let def = def(
        s.in_field("name", "function_definition"),
        SymbolKind::Function,
    )
    .or_else(|| def(s.in_field("name", "class_definition"), SymbolKind::Class))
    .or_else(|| {
        s.in_field("left", "assignment")?;
        (s.up_kind(1) == "expression_statement" && s.up_kind(2) == "module")
            .then(|| s.up(1).map(|u| (u.node, SymbolKind::Const)))
            .flatten()
    });
    let parent = s.up_kind(0);
    let is_ref = s.in_field("function", "call").is_some()
        || s.in_field("attribute", "attribute").is_some()
        || matches!(parent, "argument_list" | "decorator" | "type")
        || (parent == "dotted_name"
            && s.up_field(0) == Some("name")
            && s.up_kind(1) == "import_from_statement")
        || (parent == "dotted_name"
            && s.up_field(0) == Some("name")
            && s.up_kind(1) == "aliased_import"
            && s.up_field(1) == Some("name")
            && s.up_kind(2) == "import_from_statement");
    Found { def, is_ref }
}

/// JavaScript, and with `typescript` TypeScript and TSX.
fn javascript<'t>(s: &Site<'_, 't>, typescript: bool) -> Found<'t> {
    use SymbolKind as K;
    let def = match s.kind {
        "identifier" => {
            let parents: &[(&str, K)] = if typescript {
                &[
                    ("function_declaration", K::Function),
                    ("generator_function_declaration", K::Function),
                    ("function_signature", K::Function),
                    ("enum_declaration", K::Enum),
                ]
            } else {
                &[
                    ("function_declaration", K::Function),
                    ("generator_function_declaration", K::Function),
                    ("class_declaration", K::Class),
                ]
            };
            name_of(s, parents).or_else(|| {
                s.in_field("name", "variable_declarator")?;
                let declaration = s.up(1)?;
                let declares = declaration.kind == "lexical_declaration"
                    || (!typescript && declaration.kind == "variable_declaration");
                let function = matches!(
                    s.sibling_kind("value"),
                    Some("arrow_function" | "function_expression" | "class")
                );
                (declares && function).then_some((declaration.node, K::Function))
            })
        }
        "type_identifier" if typescript => name_of(
            s,
            &[
                ("class_declaration", K::Class),
                ("abstract_class_declaration", K::Class),
                ("interface_declaration", K::Interface),
                ("type_alias_declaration", K::Type),
            ],
        ),
        "property_identifier" => {
            let parents: &[&str] = if typescript {
                &[
                    "method_definition",
                    "method_signature",
                    "abstract_method_signature",
                ]
            } else {
                &["method_definition"]
            };
            parents
                .iter()
                .find_map(|parent| def(s.in_field("name", parent), K::Method))
        }
        _ => None,
    };
    let is_ref = match s.kind {
        "identifier" => {
            s.in_field("function", "call_expression").is_some()
                || s.in_field("constructor", "new_expression").is_some()
                || s.in_field("name", "import_specifier").is_some()
                || if typescript {
                    s.in_field("value", "extends_clause").is_some()
                } else {
                    s.up_kind(0) == "class_heritage"
                }
        }
        "property_identifier" => {
            s.in_field("property", "member_expression").is_some()
                && s.up_field(0) == Some("function")
                && s.up_kind(1) == "call_expression"
        }
        "type_identifier" => typescript,
        _ => false,
    };
    Found { def, is_ref }
}

fn go<'t>(s: &Site<'_, 't>) -> Found<'t> {
    use SymbolKind as K;
    let def = match s.kind {
        "identifier" => def(s.in_field("name", "function_declaration"), K::Function),
        "field_identifier" => def(s.in_field("name", "method_declaration"), K::Method)
            .or_else(|| def(s.in_field("name", "method_elem"), K::Method)),
        "type_identifier" => s.in_field("name", "type_spec").and_then(|spec| {
            let kind = match s.sibling_kind("type")? {
                "struct_type" => K::Struct,
                "interface_type" => K::Interface,
                "type_identifier" | "qualified_type" | "function_type" | "map_type"
                | "slice_type" | "pointer_type" | "generic_type" | "array_type"
                | "channel_type" => K::Type,
                _ => return None,
            };
            Some((spec, kind))
        }),
        _ => None,
    };
    let is_ref = match s.kind {
        "type_identifier" => true,
        "identifier" => s.in_field("function", "call_expression").is_some(),
        "field_identifier" => {
            s.in_field("field", "selector_expression").is_some()
                && s.up_field(0) == Some("function")
                && s.up_kind(1) == "call_expression"
        }
        _ => false,
    };
    Found { def, is_ref }
}

fn java<'t>(s: &Site<'_, 't>) -> Found<'t> {
    use SymbolKind as K;
    let def = match s.kind {
        "identifier" => name_of(
            s,
            &[
                ("class_declaration", K::Class),
                ("interface_declaration", K::Interface),
                ("enum_declaration", K::Enum),
                ("record_declaration", K::Class),
                ("annotation_type_declaration", K::Interface),
                ("method_declaration", K::Method),
                ("constructor_declaration", K::Method),
            ],
        ),
        _ => None,
    };
    let is_ref = match s.kind {
        "type_identifier" => true,
        "identifier" => {
            s.in_field("name", "method_invocation").is_some()
                || s.in_field("name", "marker_annotation").is_some()
                || s.in_field("name", "annotation").is_some()
        }
        _ => false,
    };
    Found { def, is_ref }
}
