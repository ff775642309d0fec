//! MCP resources as context items.

use agentkit_core::context::{ContextError, ContextItem, ContextProvider, ContextRequest};
use async_trait::async_trait;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};

use super::client::McpServer;
use super::result::render_contents;

/// Offers a server's resources as context: each text resource the selection
/// allows becomes a [`ContextItem`] (source `mcp:<server>`, title the
/// resource's title or name and URI). Binary resources are skipped. The
/// context engine packs items by priority into its budget; this provider
/// stops reading once it has fetched about that budget.
#[derive(Debug, Clone)]
pub struct McpResources {
    server: McpServer,
    prefixes: Option<Vec<String>>,
    priority: i32,
    source: String,
}

impl McpResources {
    /// Every resource of `server`, at priority 10.
    pub fn new(server: McpServer) -> Self {
        let source = format!("mcp:{}", server.name());
        Self {
            server,
            prefixes: None,
            priority: 10,
            source,
        }
    }

    /// Only resources whose URI starts with one of `prefixes`.
    pub fn only<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.prefixes = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    /// Packs its items at `priority` (higher goes first; rule files use 100).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    fn error(&self, message: String) -> ContextError {
        ContextError {
            provider: self.source.clone(),
            message,
        }
    }
}

#[async_trait]
impl ContextProvider for McpResources {
    fn name(&self) -> &str {
        &self.source
    }

    async fn provide(
        &self,
        request: &ContextRequest<'_>,
    ) -> Result<Vec<ContextItem>, ContextError> {
        let peer = self.server.connection().peer();
        let listed = peer.list_all_resources().await.map_err(|e| {
            self.error(
                self.server
                    .request_error("list its resources", e)
                    .to_string(),
            )
        })?;
        let budget_chars = request.budget_tokens.saturating_mul(4);
        let mut fetched = 0usize;
        let mut items = Vec::new();
        for resource in listed {
            let wanted = self.prefixes.as_ref().is_none_or(|p| {
                p.iter()
                    .any(|prefix| resource.uri.starts_with(prefix.as_str()))
            });
            if !wanted || fetched >= budget_chars {
                continue;
            }
            let read = peer
                .read_resource(ReadResourceRequestParams::new(resource.uri.clone()))
                .await;
            let contents = match read {
                Ok(result) => result.contents,
                Err(err) => {
                    tracing::warn!(server = %self.server.name(), uri = %resource.uri, error = %err, "could not read an MCP resource");
                    continue;
                }
            };
            let body: Vec<String> = contents
                .iter()
                .filter(|c| matches!(c, ResourceContents::TextResourceContents { .. }))
                .map(render_contents)
                .collect();
            if body.is_empty() {
                continue;
            }
            let body = body.join("\n\n");
            fetched += body.len();
            let label = resource
                .title
                .clone()
                .unwrap_or_else(|| resource.name.clone());
            items.push(ContextItem {
                source: self.source.clone(),
                title: format!("{label} ({})", resource.uri),
                body,
                priority: self.priority,
                tokens: 0,
            });
        }
        Ok(items)
    }
}
