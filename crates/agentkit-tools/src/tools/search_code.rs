//! `search_code`: the code chunks most relevant to a description (BM25 over symbols).

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::context::CodeSearch;

/// Chunks shown when `max_results` is not given.
pub const DEFAULT_SEARCH_RESULTS: usize = 5;
/// The largest `max_results` honoured.
pub const MAX_SEARCH_RESULTS: usize = 20;

/// Arguments of the `search_code` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchCodeArgs {
    /// What you are looking for, in words and identifiers: `session cookie expiry`,
    /// `retry backoff HttpClient`. Identifiers match their parts (`parseHeader` matches `parse`).
    pub query: String,
    /// How many code chunks to show (default 5, at most 20).
    #[schemars(range(min = 1))]
    pub max_results: Option<usize>,
}

/// Ranked search over the code's definitions.
#[derive(Debug, Clone)]
pub struct SearchCode {
    search: CodeSearch,
}

impl SearchCode {
    /// The tool over `search` (share its index with the repo map).
    pub fn new(search: CodeSearch) -> Self {
        Self { search }
    }
}

#[async_trait]
impl Tool for SearchCode {
    type Args = SearchCodeArgs;

    fn name(&self) -> &str {
        "search_code"
    }

    fn description(&self) -> &str {
        "Search the code by meaning of its words: returns the functions, methods and classes \
         (whole bodies, long ones in parts) that best match the query, best first, each as \
         `path:start-end (symbol)` and its lines. Ranked by BM25 over identifiers split into \
         words. Use it when you know what the code does but not its names; use grep for exact text."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: SearchCodeArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        if args.query.trim().is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `query`: empty; describe what you are looking for".into(),
            });
        }
        let k = match args.max_results {
            Some(0) => {
                return Err(ToolError::InvalidArguments {
                    message: "at `max_results`: must be at least 1".into(),
                });
            }
            Some(n) => n.min(MAX_SEARCH_RESULTS),
            None => DEFAULT_SEARCH_RESULTS,
        };
        let hits = self
            .search
            .search(cx.sandbox.as_ref(), &args.query, k)
            .await
            .map_err(|err| ToolError::Fatal {
                message: err.to_string(),
            })?;
        if hits.is_empty() {
            return Ok(ToolOutput::text(format!(
                "No code matches `{}`. Try other words, or grep for exact text.\n",
                args.query
            )));
        }
        let mut out = String::new();
        for hit in hits {
            out.push_str(&format!("{}\n", hit.title()));
            for (i, line) in hit.text.lines().enumerate() {
                out.push_str(&format!("{:>6}│{line}\n", hit.start_line as usize + i));
            }
            out.push('\n');
        }
        Ok(ToolOutput::text(out))
    }
}
