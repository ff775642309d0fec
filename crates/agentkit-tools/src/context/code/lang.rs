//! The languages the code index understands, and the tree-sitter queries
//! that find their definitions and references.
//!
//! Each language has one query. A pattern captured `@def.<kind>` marks a
//! definition's whole node (its line range becomes a retrieval chunk) with its
//! `@name`; a pattern captured `@ref` marks an identifier that refers to a
//! definition somewhere (a call, a type use, an import, a base class). The
//! queries are written for this index: they keep what links files together
//! and leave out locals, parameters and fields, which only add noise to the
//! reference graph.
//!
//! The queries are the specification; the index runs the same rules as a
//! hand-written tree walk ([`walk`](super::walk)), cheaper than a query
//! cursor, and a test checks that both agree on every source file of this
//! repository.

#[cfg(test)]
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tree_sitter::Language;
#[cfg(test)]
use tree_sitter::Query;

/// A language with a compiled-in grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Rust (`.rs`).
    Rust,
    /// Python (`.py`, `.pyi`).
    Python,
    /// JavaScript (`.js`, `.jsx`, `.mjs`, `.cjs`).
    JavaScript,
    /// TypeScript (`.ts`, `.mts`, `.cts`).
    TypeScript,
    /// TypeScript with JSX (`.tsx`).
    Tsx,
    /// Go (`.go`).
    Go,
    /// Java (`.java`).
    Java,
}

impl Lang {
    /// Every language, in a fixed order.
    pub const ALL: [Lang; 7] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
        Lang::Java,
    ];

    /// The language of a file, by its extension.
    pub fn of_path(path: &str) -> Option<Lang> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, ext) = name.rsplit_once('.')?;
        Some(match ext {
            "rs" => Lang::Rust,
            "py" | "pyi" => Lang::Python,
            "js" | "jsx" | "mjs" | "cjs" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "go" => Lang::Go,
            "java" => Lang::Java,
            _ => return None,
        })
    }

    /// The language's name (`rust`, `python`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::Go => "go",
            Lang::Java => "java",
        }
    }

    /// The tree-sitter grammar.
    pub(crate) fn grammar(self) -> Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }

    #[cfg(test)]
    fn query_source(self) -> &'static str {
        match self {
            Lang::Rust => RUST,
            Lang::Python => PYTHON,
            Lang::JavaScript => JAVASCRIPT,
            Lang::TypeScript | Lang::Tsx => TYPESCRIPT,
            Lang::Go => GO,
            Lang::Java => JAVA,
        }
    }

    #[cfg(test)]
    /// The compiled tags query, built once per process.
    pub(crate) fn query(self) -> &'static TagQuery {
        static QUERIES: OnceLock<Vec<TagQuery>> = OnceLock::new();
        let all = QUERIES.get_or_init(|| Lang::ALL.iter().map(|l| TagQuery::new(*l)).collect());
        &all[Lang::ALL.iter().position(|l| *l == self).unwrap_or(0)]
    }
}

#[cfg(test)]
/// What a capture of a tags query means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The whole node of a definition of this kind.
    Def(&'static str),
    /// The name of the definition in the same match.
    Name,
    /// An identifier referring to a definition.
    Ref,
    /// A capture the index does not use.
    Other,
}

#[cfg(test)]
/// A compiled query with the meaning of each capture index.
pub(crate) struct TagQuery {
    /// The query (`None` when it failed to compile, which a test rules out).
    pub query: Option<Query>,
    /// The role of each capture, by capture index.
    pub roles: Vec<Role>,
}

#[cfg(test)]
const KINDS: &[&str] = &[
    "function",
    "method",
    "class",
    "struct",
    "enum",
    "union",
    "trait",
    "interface",
    "impl",
    "type",
    "const",
    "module",
    "macro",
];

#[cfg(test)]
impl TagQuery {
    fn new(lang: Lang) -> Self {
        match Query::new(&lang.grammar(), lang.query_source()) {
            Ok(query) => {
                let roles = query
                    .capture_names()
                    .iter()
                    .map(|name| match *name {
                        "name" => Role::Name,
                        "ref" => Role::Ref,
                        other => other
                            .strip_prefix("def.")
                            .and_then(|kind| KINDS.iter().find(|k| **k == kind))
                            .map_or(Role::Other, |kind| Role::Def(kind)),
                    })
                    .collect();
                Self {
                    query: Some(query),
                    roles,
                }
            }
            Err(err) => {
                tracing::error!(language = lang.name(), error = %err, "tags query does not compile");
                Self {
                    query: None,
                    roles: Vec::new(),
                }
            }
        }
    }

    /// The compile error of `lang`'s query, if any (for tests).
    #[cfg(test)]
    pub(crate) fn compile_error(lang: Lang) -> Option<String> {
        Query::new(&lang.grammar(), lang.query_source())
            .err()
            .map(|err| err.to_string())
    }
}

#[cfg(test)]
const RUST: &str = r#"
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.union
(trait_item name: (type_identifier) @name) @def.trait
(type_item name: (type_identifier) @name) @def.type
(const_item name: (identifier) @name) @def.const
(static_item name: (identifier) @name) @def.const
(mod_item name: (identifier) @name body: (_)) @def.module
(macro_definition name: (identifier) @name) @def.macro
(impl_item type: [(type_identifier) @name (generic_type type: (type_identifier) @name)]) @def.impl

(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(call_expression function: (scoped_identifier name: (identifier) @ref))
(macro_invocation macro: (identifier) @ref)
(scoped_identifier name: (identifier) @ref)
(scoped_identifier path: (identifier) @ref)
(use_as_clause path: (identifier) @ref)
(use_list (identifier) @ref)
(type_identifier) @ref
"#;

#[cfg(test)]
const PYTHON: &str = r#"
(function_definition name: (identifier) @name) @def.function
(class_definition name: (identifier) @name) @def.class
(module (expression_statement (assignment left: (identifier) @name)) @def.const)

(call function: (identifier) @ref)
(attribute attribute: (identifier) @ref)
(argument_list (identifier) @ref)
(decorator (identifier) @ref)
(type (identifier) @ref)
(import_from_statement name: (dotted_name (identifier) @ref))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @ref)))
"#;

#[cfg(test)]
const JAVASCRIPT: &str = r#"
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(class_declaration name: (identifier) @name) @def.class
(method_definition name: (property_identifier) @name) @def.method
(lexical_declaration
  (variable_declarator name: (identifier) @name
    value: [(arrow_function) (function_expression) (class)])) @def.function
(variable_declaration
  (variable_declarator name: (identifier) @name
    value: [(arrow_function) (function_expression) (class)])) @def.function

(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(class_heritage (identifier) @ref)
(import_specifier name: (identifier) @ref)
"#;

#[cfg(test)]
const TYPESCRIPT: &str = r#"
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(function_signature name: (identifier) @name) @def.function
(class_declaration name: (type_identifier) @name) @def.class
(abstract_class_declaration name: (type_identifier) @name) @def.class
(interface_declaration name: (type_identifier) @name) @def.interface
(type_alias_declaration name: (type_identifier) @name) @def.type
(enum_declaration name: (identifier) @name) @def.enum
(method_definition name: (property_identifier) @name) @def.method
(method_signature name: (property_identifier) @name) @def.method
(abstract_method_signature name: (property_identifier) @name) @def.method
(lexical_declaration
  (variable_declarator name: (identifier) @name
    value: [(arrow_function) (function_expression) (class)])) @def.function

(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(extends_clause value: (identifier) @ref)
(import_specifier name: (identifier) @ref)
(type_identifier) @ref
"#;

#[cfg(test)]
const GO: &str = r#"
(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec name: (type_identifier) @name type: [(type_identifier) (qualified_type) (function_type) (map_type) (slice_type) (pointer_type) (generic_type) (array_type) (channel_type)]) @def.type
(method_elem name: (field_identifier) @name) @def.method

(call_expression function: (identifier) @ref)
(call_expression function: (selector_expression field: (field_identifier) @ref))
(type_identifier) @ref
"#;

#[cfg(test)]
const JAVA: &str = r#"
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.class
(annotation_type_declaration name: (identifier) @name) @def.interface
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method

(method_invocation name: (identifier) @ref)
(type_identifier) @ref
(marker_annotation name: (identifier) @ref)
(annotation name: (identifier) @ref)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_compiles() {
        for lang in Lang::ALL {
            assert_eq!(TagQuery::compile_error(lang), None, "{}", lang.name());
        }
    }

    #[test]
    fn languages_come_from_extensions() {
        let found: Vec<_> = [
            "a/b.rs", "x.py", "x.pyi", "x.mjs", "x.ts", "x.tsx", "x.go", "X.java", "Makefile",
            "x.c",
        ]
        .iter()
        .map(|p| Lang::of_path(p))
        .collect();
        assert_eq!(
            found,
            vec![
                Some(Lang::Rust),
                Some(Lang::Python),
                Some(Lang::Python),
                Some(Lang::JavaScript),
                Some(Lang::TypeScript),
                Some(Lang::Tsx),
                Some(Lang::Go),
                Some(Lang::Java),
                None,
                None
            ]
        );
    }
}
