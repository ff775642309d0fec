//! `repo_map`: the repository map, focused where the model asks.

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::context::RepoMap;

/// The largest `max_tokens` honoured.
pub const MAX_MAP_TOKENS: usize = 16_384;

/// Arguments of the `repo_map` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoMapArgs {
    /// Files (`src/auth/session.py`, or a file name) and identifiers (`SessionStore`,
    /// `parse_header`) to center the map on. Their definitions come first, then what
    /// relates to them through references. Leave out for the map of the whole repository.
    #[serde(default)]
    pub focus: Vec<String>,
    /// Token budget of the map (default 2048, at most 16384).
    #[schemars(range(min = 64))]
    pub max_tokens: Option<usize>,
}

/// Shows the repository's most relevant definitions, ranked by a reference graph.
#[derive(Debug, Clone)]
pub struct RepoMapTool {
    map: RepoMap,
}

impl RepoMapTool {
    /// Default token budget of a map the model asks for: 2,048.
    pub const DEFAULT_MAX_TOKENS: usize = 2048;

    /// The tool over `map` (share the map's index with the context provider).
    pub fn new(map: RepoMap) -> Self {
        Self { map }
    }
}

#[async_trait]
impl Tool for RepoMapTool {
    type Args = RepoMapArgs;

    fn name(&self) -> &str {
        "repo_map"
    }

    fn description(&self) -> &str {
        "Show a map of the repository: its most important definitions (functions, classes, \
         types, methods), one line each as `line│source line`, grouped by file, ranked by how \
         the code refers to them. Give `focus` (files and/or identifiers) to center the map on \
         what you are working on. Use it to find where things are before reading files."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: RepoMapArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let max_tokens = match args.max_tokens {
            Some(n) if n < 64 => {
                return Err(ToolError::InvalidArguments {
                    message: format!(
                        "at `max_tokens`: {n} is too small for a map; give at least 64"
                    ),
                });
            }
            Some(n) => n.min(MAX_MAP_TOKENS),
            None => Self::DEFAULT_MAX_TOKENS,
        };
        if let Some(i) = args.focus.iter().position(|f| f.trim().is_empty()) {
            return Err(ToolError::InvalidArguments {
                message: format!("at `focus[{i}]`: empty; give a file path or an identifier"),
            });
        }
        let map = self
            .map
            .render(
                cx.sandbox.as_ref(),
                args.focus.iter().map(String::as_str),
                max_tokens,
            )
            .await
            .map_err(|err| ToolError::Fatal {
                message: err.to_string(),
            })?;
        if map.total == 0 {
            return Ok(ToolOutput::text(
                "No definitions found: the repository has no Rust, Python, JavaScript, \
                 TypeScript, Go or Java source files the map can read.\n",
            ));
        }
        let mut text = map.text;
        let unmatched: Vec<&str> = args
            .focus
            .iter()
            .map(String::as_str)
            .filter(|f| {
                !map.focus
                    .iter()
                    .any(|named| named == f || named.ends_with(&format!("/{f}")))
            })
            .collect();
        if !unmatched.is_empty() {
            text.push_str(&format!(
                "[focus matched no indexed file or defined symbol: {}; check the spelling \
                 (identifiers are case-sensitive) or use grep]\n",
                unmatched.join(", ")
            ));
        }
        if map.shown < map.total {
            text.push_str(&format!(
                "[{} of {} definitions shown; raise max_tokens or narrow focus for others]\n",
                map.shown, map.total
            ));
        }
        Ok(ToolOutput::text(text))
    }
}
