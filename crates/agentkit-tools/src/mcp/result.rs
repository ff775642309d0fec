//! MCP results and errors as what the model reads.
//!
//! | MCP | agent |
//! | --- | --- |
//! | text content | the text, blocks joined by blank lines |
//! | structured content (no text) | its JSON, pretty-printed |
//! | image / audio | a one-line note (`[image: image/png, 12 KB, not shown]`) |
//! | embedded resource | its text, or a note for a binary blob |
//! | resource link | `[resource: uri (name)]` |
//! | `isError: true` | `ToolError::Failed` with the same text (the model corrects itself) |
//! | JSON-RPC `invalid params` | `ToolError::InvalidArguments` with the server's message |
//! | other JSON-RPC errors | `ToolError::Failed` naming the server and the code |
//! | connection closed (server died) | `ToolError::Failed`: the tool is unavailable, go on without it |
//!
//! A dead MCP server never stops the run: it is an external helper, not the
//! sandbox. Outputs longer than [`MAX_OUTPUT_CHARS`] are cut with a note.

use agentkit_core::tool::{ToolError, ToolOutput};
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode, ResourceContents};
use rmcp::service::ServiceError;

/// Characters of an MCP result the model is shown.
pub const MAX_OUTPUT_CHARS: usize = 60_000;

/// A tool call's result as the model's output or a model-facing error.
pub fn map_call_result(result: CallToolResult) -> Result<ToolOutput, ToolError> {
    let mut blocks: Vec<String> = result.content.iter().map(render_block).collect();
    let has_text = result
        .content
        .iter()
        .any(|c| matches!(c, ContentBlock::Text(_)));
    if !has_text && let Some(structured) = &result.structured_content {
        blocks.push(serde_json::to_string_pretty(structured).unwrap_or_default());
    }
    let mut text = blocks.join("\n\n");
    if text.trim().is_empty() {
        text = "(the tool returned no content)".into();
    }
    let text = cap(text);
    if result.is_error == Some(true) {
        Err(ToolError::failed(text))
    } else {
        Ok(ToolOutput::text(text))
    }
}

/// One content block as text.
pub fn render_block(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(i) => format!(
            "[image: {}, {}, not shown]",
            i.mime_type,
            size_of_base64(&i.data)
        ),
        ContentBlock::Audio(a) => format!(
            "[audio: {}, {}, not played]",
            a.mime_type,
            size_of_base64(&a.data)
        ),
        ContentBlock::Resource(r) => render_contents(&r.resource),
        ContentBlock::ResourceLink(link) => format!("[resource: {} ({})]", link.uri, link.name),
        _ => "[content of a kind this client does not show]".to_string(),
    }
}

/// A resource's contents as text.
pub fn render_contents(contents: &ResourceContents) -> String {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        ResourceContents::BlobResourceContents {
            uri,
            mime_type,
            blob,
            ..
        } => format!(
            "[binary resource {uri}: {}, {}, not shown]",
            mime_type.as_deref().unwrap_or("unknown type"),
            size_of_base64(blob)
        ),
        _ => "[resource contents of a kind this client does not show]".to_string(),
    }
}

/// A failed request as the model's error.
pub fn map_service_error(server: &str, tool: &str, error: ServiceError) -> ToolError {
    match error {
        ServiceError::McpError(data) if data.code == ErrorCode::INVALID_PARAMS => {
            ToolError::InvalidArguments {
                message: format!("the MCP server `{server}` refused them: {}", data.message),
            }
        }
        ServiceError::McpError(data) => ToolError::Failed {
            message: format!(
                "The MCP server `{server}` refused the call to `{tool}`: {} (JSON-RPC error {}).",
                data.message, data.code.0
            ),
            operator_detail: data.data.map(|d| d.to_string()),
        },
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => ToolError::Failed {
            message: format!(
                "The MCP server `{server}` is not running any more, so `{tool}` is unavailable for the rest of this run. Go on without its tools."
            ),
            operator_detail: Some(format!("MCP server {server}: {error}")),
        },
        other => ToolError::Failed {
            message: format!("The call to `{tool}` on the MCP server `{server}` failed: {other}."),
            operator_detail: None,
        },
    }
}

fn size_of_base64(data: &str) -> String {
    let bytes = data.len() / 4 * 3;
    if bytes >= 1024 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

fn cap(text: String) -> String {
    let total = text.chars().count();
    if total <= MAX_OUTPUT_CHARS {
        return text;
    }
    let kept: String = text.chars().take(MAX_OUTPUT_CHARS).collect();
    format!(
        "{kept}\n[… output cut: {} of {total} characters shown]",
        MAX_OUTPUT_CHARS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ErrorData;

    #[test]
    fn text_images_and_errors_are_mapped_for_the_model() {
        let result = CallToolResult::success(vec![
            ContentBlock::text("line one"),
            ContentBlock::image("A".repeat(4 * 1024), "image/png"),
        ]);
        assert_eq!(
            map_call_result(result),
            Ok(ToolOutput::text(
                "line one\n\n[image: image/png, 3 KB, not shown]"
            ))
        );
        let failed = CallToolResult::error(vec![ContentBlock::text("no such file: a.txt")]);
        assert_eq!(
            map_call_result(failed),
            Err(ToolError::failed("no such file: a.txt"))
        );
        let structured = CallToolResult::structured(serde_json::json!({"n": 2}));
        assert_eq!(
            map_call_result(structured).unwrap(),
            ToolOutput::text("{\"n\":2}")
        );
    }

    #[test]
    fn protocol_errors_say_who_refused_and_a_dead_server_is_not_fatal() {
        let invalid = ServiceError::McpError(ErrorData::invalid_params("`path` is required", None));
        assert_eq!(
            map_service_error("files", "read", invalid),
            ToolError::InvalidArguments {
                message: "the MCP server `files` refused them: `path` is required".into()
            }
        );
        let dead = map_service_error("files", "read", ServiceError::TransportClosed);
        assert_eq!(
            dead.message_for_model(),
            "The MCP server `files` is not running any more, so `read` is unavailable for the rest of this run. Go on without its tools."
        );
        assert!(!matches!(dead, ToolError::Fatal { .. }));
    }
}
