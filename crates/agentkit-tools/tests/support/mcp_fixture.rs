//! An MCP server built with rmcp's server side, for the MCP client tests.
//! Used in-process (streamable HTTP) and as a child process (stdio, through
//! the `mcp_fixture_server` example).

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Value, json};

/// The fixture server. `can_exit` enables the `crash` tool (stdio only: in
/// process it would end the test).
#[derive(Clone)]
pub struct FixtureServer {
    pub can_exit: bool,
}

fn schema(value: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

fn tools(can_exit: bool) -> Vec<Tool> {
    let mut read_only = ToolAnnotations::new();
    read_only.read_only_hint = Some(true);
    read_only.open_world_hint = Some(false);
    let mut tools = vec![
        Tool::new(
            "echo",
            "Returns the text it is given.",
            schema(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})),
        )
        .with_annotations(read_only),
        Tool::new(
            "add",
            "Adds two numbers.",
            schema(json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]})),
        ),
        Tool::new("fail", "Always fails.", schema(json!({"type": "object"}))),
        Tool::new("picture", "Returns an image.", schema(json!({"type": "object"}))),
        Tool::new("api_key", "Returns the X-Api-Key header of the HTTP request.", schema(json!({"type": "object"}))),
        Tool::new("bad_schema", "Has a schema that is not an object.", schema(json!({"type": "string"}))),
    ];
    if can_exit {
        tools.push(Tool::new(
            "crash",
            "Exits the server.",
            schema(json!({"type": "object"})),
        ));
    }
    tools
}

impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools(self.can_exit)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "echo" => match args.get("text").and_then(Value::as_str) {
                Some(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
                None => {
                    return Err(ErrorData::invalid_params(
                        "`text` is required and must be a string",
                        None,
                    ));
                }
            },
            "add" => {
                let a = args.get("a").and_then(Value::as_f64).unwrap_or(0.0);
                let b = args.get("b").and_then(Value::as_f64).unwrap_or(0.0);
                CallToolResult::structured(json!({"sum": a + b}))
            }
            "api_key" => {
                let key = context
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|parts| parts.headers.get("x-api-key"))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(none)");
                CallToolResult::success(vec![ContentBlock::text(key)])
            }
            "fail" => CallToolResult::error(vec![ContentBlock::text("the disk is full")]),
            "picture" => CallToolResult::success(vec![
                ContentBlock::text("a red square:"),
                ContentBlock::image(
                    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
                    "image/png",
                ),
            ]),
            "crash" if self.can_exit => std::process::exit(3),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("fixture://docs/readme", "readme"),
            Resource::new("fixture://docs/logo", "logo"),
            Resource::new("fixture://other/notes", "notes"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = match request.uri.as_str() {
            "fixture://docs/readme" => ResourceContents::text(
                "# Fixture\nHello from the fixture server.",
                request.uri.clone(),
            ),
            "fixture://docs/logo" => ResourceContents::blob("iVBORw0KGgo=", request.uri.clone()),
            "fixture://other/notes" => ResourceContents::text("Some notes.", request.uri.clone()),
            other => {
                return Err(ErrorData::resource_not_found(
                    format!("no resource {other}"),
                    None,
                ));
            }
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
