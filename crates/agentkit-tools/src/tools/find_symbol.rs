//! `find_symbol`: where a symbol is defined and where it is used, from the code index.

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::context::CodeIndex;

/// The most definitions and referring files listed when `max_results` is not given.
pub const DEFAULT_SYMBOL_RESULTS: usize = 50;
/// Similar names suggested when nothing matches.
const SUGGESTIONS: usize = 10;

/// Arguments of the `find_symbol` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSymbolArgs {
    /// The exact name of a function, method, class, struct, trait, interface, type or
    /// constant (case-sensitive), e.g. `parse_header` or `SessionStore`.
    pub name: String,
    /// `definitions`, `references` or `all` (default).
    #[serde(default)]
    pub show: SymbolShow,
    /// Only files whose path starts with this (e.g. `src/auth/`).
    pub path_prefix: Option<String>,
    /// The most definitions, and the most referring files, to list (default 50).
    #[schemars(range(min = 1))]
    pub max_results: Option<usize>,
}

/// What `find_symbol` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SymbolShow {
    /// Definitions only.
    Definitions,
    /// References only.
    References,
    /// Both.
    #[default]
    All,
}

/// Looks a symbol up in the code index.
#[derive(Debug, Clone)]
pub struct FindSymbol {
    index: CodeIndex,
}

impl FindSymbol {
    /// The tool over `index` (share it with the repo map).
    pub fn new(index: CodeIndex) -> Self {
        Self { index }
    }
}

#[async_trait]
impl Tool for FindSymbol {
    type Args = FindSymbolArgs;

    fn name(&self) -> &str {
        "find_symbol"
    }

    fn description(&self) -> &str {
        "Find where a symbol (function, method, class, type, constant) is defined — \
         `path:line: kind  source line` — and which files refer to it, with line numbers. \
         Parsed from the code (Rust, Python, JavaScript, TypeScript, Go, Java), so it finds \
         definitions, not mere mentions in comments. The name is exact and case-sensitive; \
         similar names are suggested when nothing matches."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: FindSymbolArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let name = args.name.trim();
        if name.is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `name`: empty; give a symbol name such as `parse_header`".into(),
            });
        }
        let max = match args.max_results {
            Some(0) => {
                return Err(ToolError::InvalidArguments {
                    message: "at `max_results`: must be at least 1".into(),
                });
            }
            Some(n) => n,
            None => DEFAULT_SYMBOL_RESULTS,
        };
        let snapshot = self
            .index
            .refresh(cx.sandbox.as_ref())
            .await
            .map_err(|err| ToolError::Fatal {
                message: err.to_string(),
            })?
            .snapshot;
        let prefix = args.path_prefix.as_deref().unwrap_or("");
        let in_scope = |path: &str| path.starts_with(prefix.trim_start_matches("./"));
        let defs: Vec<_> = snapshot
            .definitions(name)
            .into_iter()
            .filter(|(f, _)| in_scope(&f.path))
            .collect();
        let refs: Vec<_> = snapshot
            .references(name)
            .into_iter()
            .filter(|(f, _)| in_scope(&f.path))
            .collect();
        let mut out = String::new();
        if matches!(args.show, SymbolShow::Definitions | SymbolShow::All) {
            out.push_str(&format!("Definitions of `{name}` ({}):\n", defs.len()));
            for (file, def) in defs.iter().take(max) {
                out.push_str(&format!(
                    "{}:{}: {}  {}\n",
                    file.path,
                    def.line,
                    def.kind.name(),
                    def.signature.trim()
                ));
            }
            if defs.len() > max {
                out.push_str(&format!("[{} more not shown]\n", defs.len() - max));
            }
        }
        if matches!(args.show, SymbolShow::References | SymbolShow::All) {
            let uses: usize = refs.iter().map(|(_, r)| r.lines.len()).sum();
            out.push_str(&format!(
                "References to `{name}` ({uses} lines in {} files):\n",
                refs.len()
            ));
            for (file, reference) in refs.iter().take(max) {
                let lines: Vec<String> = reference.lines.iter().map(u32::to_string).collect();
                out.push_str(&format!("{}:{}\n", file.path, lines.join(",")));
            }
            if refs.len() > max {
                out.push_str(&format!("[{} more files not shown]\n", refs.len() - max));
            }
        }
        if defs.is_empty() && refs.is_empty() {
            let lower = name.to_lowercase();
            let mut similar: Vec<&str> = snapshot
                .files()
                .iter()
                .flat_map(|f| f.tags.defs.iter().map(|d| d.name.as_str()))
                .filter(|n| {
                    n.to_lowercase().contains(&lower)
                        || lower.contains(&n.to_lowercase()) && n.len() >= 4
                })
                .collect();
            similar.sort_unstable();
            similar.dedup();
            similar.truncate(SUGGESTIONS);
            out = format!("No symbol named `{name}` is defined or referred to");
            if !prefix.is_empty() {
                out.push_str(&format!(" under `{prefix}`"));
            }
            out.push('.');
            if similar.is_empty() {
                out.push_str(" Try grep for text that is not a symbol.\n");
            } else {
                out.push_str(&format!(" Similar names: {}.\n", similar.join(", ")));
            }
        }
        Ok(ToolOutput::text(out))
    }
}
