//! An MCP server's tool as an agent tool.

use std::sync::Arc;

use agentkit_core::tool::{DynTool, ToolAnnotations, ToolContext, ToolError, ToolOutput, ToolSpec};
use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, JsonObject, Tool};
use serde_json::Value;

use super::client::Connection;
use super::result::{map_call_result, map_service_error};

/// Longest tool name providers accept.
const MAX_NAME: usize = 64;

/// One MCP tool, called `server__tool` by the model.
pub struct McpTool {
    connection: Arc<Connection>,
    spec: ToolSpec,
    /// The tool's name on its server.
    remote: String,
}

impl McpTool {
    /// `None` when the tool's input schema is not an object schema.
    pub(super) fn new(connection: Arc<Connection>, name: String, tool: Tool) -> Option<Self> {
        let trust = connection.config.trust_annotations;
        let description = tool
            .description
            .as_deref()
            .map(str::to_string)
            .or_else(|| tool.title.clone())
            .unwrap_or_default();
        let spec = ToolSpec {
            name,
            description: format!(
                "{} (MCP tool `{}` of server `{}`.)",
                description.trim(),
                tool.name,
                connection.config.name
            )
            .trim_start()
            .to_string(),
            parameters: normalize_schema(&tool.input_schema)?,
            annotations: if trust {
                annotations(tool.annotations.as_ref())
            } else {
                ToolAnnotations {
                    open_world: true,
                    destructive: true,
                    ..ToolAnnotations::mutating()
                }
            },
        };
        Some(Self {
            connection,
            spec,
            remote: tool.name.to_string(),
        })
    }
}

#[async_trait]
impl DynTool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call_raw(&self, arguments: &str, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments = parse_object(arguments)?;
        let server = &self.connection.config.name;
        let request = CallToolRequestParams::new(self.remote.clone()).with_arguments(arguments);
        let timeout = self.connection.config.call_timeout;
        let call = self.connection.peer().call_tool(request);
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, call) => r,
            _ = cx.cancel.cancelled() => {
                return Err(ToolError::failed(format!("The call to `{}` was cancelled.", self.spec.name)));
            }
        };
        match result {
            Ok(Ok(result)) => map_call_result(result),
            Ok(Err(err)) => Err(map_service_error(server, &self.remote, err)),
            Err(_) => Err(ToolError::Failed {
                message: format!(
                    "The MCP server `{server}` did not answer the call to `{}` within {} s. Try simpler arguments, or go on without this tool.",
                    self.remote,
                    timeout.as_secs()
                ),
                operator_detail: Some(format!("MCP call {server}/{} timed out", self.remote)),
            }),
        }
    }
}

/// The agent-side name of `tool` on `server`: `server__tool`, with any
/// character providers refuse replaced by `_`, cut to 64 characters.
pub fn tool_name(server: &str, tool: &str) -> String {
    let name: String = format!("{server}__{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(MAX_NAME).collect()
}

/// MCP's hints as agentkit's annotations. Absent hints take MCP's defaults:
/// not read-only, destructive, not idempotent, open-world.
pub fn annotations(hints: Option<&rmcp::model::ToolAnnotations>) -> ToolAnnotations {
    let read_only = hints.and_then(|h| h.read_only_hint).unwrap_or(false);
    ToolAnnotations {
        read_only,
        destructive: !read_only && hints.and_then(|h| h.destructive_hint).unwrap_or(true),
        idempotent: read_only || hints.and_then(|h| h.idempotent_hint).unwrap_or(false),
        open_world: hints.and_then(|h| h.open_world_hint).unwrap_or(true),
    }
}

/// The provider-neutral part of schema normalisation: an object schema
/// without `$schema`, with `properties`. Each `agentkit-llm` wire format then
/// applies its own rules when it builds a request, exactly as for built-in
/// tools. `None` for a schema that is not an object schema (MCP requires
/// one; such a tool is left out).
pub fn normalize_schema(schema: &JsonObject) -> Option<Value> {
    let mut schema = schema.clone();
    schema.remove("$schema");
    match schema.get("type") {
        None => {
            schema.insert("type".into(), Value::String("object".into()));
        }
        Some(Value::String(t)) if t == "object" => {}
        Some(_) => return None,
    }
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    Some(Value::Object(schema))
}

/// The model's argument text as a JSON object; empty text is `{}`.
fn parse_object(raw: &str) -> Result<JsonObject, ToolError> {
    if raw.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ToolError::InvalidArguments {
            message: format!(
                "the arguments must be one JSON object, not {}; send e.g. {{\"name\": \"value\"}}",
                kind(&other)
            ),
        }),
        Err(err) => Err(ToolError::InvalidArguments {
            message: format!(
                "the arguments are not valid JSON ({err}); send one JSON object, e.g. {{\"name\": \"value\"}}"
            ),
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_namespaced_and_sanitised() {
        assert_eq!(
            tool_name("files", "read_text_file"),
            "files__read_text_file"
        );
        assert_eq!(tool_name("gh", "issues.get/v2"), "gh__issues_get_v2");
        assert_eq!(tool_name("s", &"x".repeat(100)).len(), 64);
    }

    #[test]
    fn hints_map_to_annotations_with_mcp_defaults() {
        assert_eq!(
            annotations(None),
            ToolAnnotations {
                read_only: false,
                destructive: true,
                idempotent: false,
                open_world: true
            }
        );
        let mut hints = rmcp::model::ToolAnnotations::new();
        hints.read_only_hint = Some(true);
        hints.open_world_hint = Some(false);
        assert_eq!(annotations(Some(&hints)), ToolAnnotations::read_only());
    }

    #[test]
    fn schemas_become_object_schemas() {
        let schema = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            normalize_schema(&schema(
                serde_json::json!({"$schema": "x", "type": "object"})
            )),
            Some(serde_json::json!({"type": "object", "properties": {}}))
        );
        assert_eq!(
            normalize_schema(&schema(serde_json::json!({"type": "string"}))),
            None
        );
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_object("  ").unwrap(), JsonObject::new());
        assert_eq!(
            parse_object("[1]").unwrap_err(),
            ToolError::InvalidArguments {
                message: "the arguments must be one JSON object, not an array; send e.g. {\"name\": \"value\"}".into()
            }
        );
    }
}
