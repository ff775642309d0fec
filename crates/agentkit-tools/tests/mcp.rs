//! MCP round trips against real servers: the rmcp fixture server over stdio
//! (a child process) and over streamable HTTP (in process, on 127.0.0.1),
//! and `@modelcontextprotocol/server-filesystem` from npm (installed by
//! `.ci/mcp.sh`).
#![cfg(feature = "mcp")]

#[path = "support/mcp_fixture.rs"]
mod mcp_fixture;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::context::{ContextItem, ContextProvider, ContextRequest};
use agentkit_core::prelude::*;
use agentkit_core::testing::MemorySandbox;
use agentkit_core::tool::ToolSet;
use agentkit_tools::mcp::{McpResources, McpServer, McpServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

/// The stdio fixture server, built by cargo as an example of this package
/// (`cargo test` builds examples; a run limited with `--test` does not, so
/// build them first after changing the fixture).
fn fixture_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join("mcp_fixture_server");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p agentkit-tools --features mcp --examples` (cargo test builds it)",
        path.display()
    );
    path
}

fn cx() -> ToolContext {
    ToolContext {
        sandbox: Arc::new(MemorySandbox::new()),
        task: Arc::new(Task::new("T-1", "t", "b", RepoRef::new("."))),
        call_id: "call_1".into(),
        cancel: CancellationToken::new(),
    }
}

async fn call(tools: &ToolSet, name: &str, args: &str) -> Result<ToolOutput, ToolError> {
    let tool = tools
        .get(name)
        .unwrap_or_else(|| panic!("no tool {name} in {tools:?}"));
    tool.call_raw(args, &cx()).await
}

async fn stdio_fixture() -> McpServer {
    let config = McpServerConfig::stdio(
        "fx",
        fixture_binary().display().to_string(),
        Vec::<String>::new(),
    )
    .env("AGENTKIT_FIXTURE", "1")
    .call_timeout(Duration::from_secs(20));
    McpServer::connect(config)
        .await
        .expect("the fixture server starts")
}

#[tokio::test]
async fn stdio_tools_are_namespaced_with_their_schemas_and_annotations() {
    let server = stdio_fixture().await;
    let tools = server.tools().await.unwrap();
    assert_eq!(
        tools.names(),
        vec![
            "fx__add",
            "fx__api_key",
            "fx__crash",
            "fx__echo",
            "fx__fail",
            "fx__picture"
        ]
    );
    insta::assert_json_snapshot!("fixture_tool_specs", tools.specs());
}

#[tokio::test]
async fn stdio_results_and_errors_reach_the_model() {
    let server = stdio_fixture().await;
    let tools = server.tools().await.unwrap();
    assert_eq!(
        call(&tools, "fx__echo", r#"{"text":"hello"}"#).await,
        Ok(ToolOutput::text("hello"))
    );
    assert_eq!(
        call(&tools, "fx__add", r#"{"a":2,"b":40}"#).await,
        Ok(ToolOutput::text("{\"sum\":42.0}"))
    );
    assert_eq!(
        call(&tools, "fx__fail", "{}").await,
        Err(ToolError::failed("the disk is full"))
    );
    assert_eq!(
        call(&tools, "fx__picture", "").await,
        Ok(ToolOutput::text(
            "a red square:\n\n[image: image/png, 72 bytes, not shown]"
        ))
    );
    assert_eq!(
        call(&tools, "fx__echo", r#"{"txt":"typo"}"#).await,
        Err(ToolError::InvalidArguments {
            message: "the MCP server `fx` refused them: `text` is required and must be a string"
                .into()
        })
    );
    assert_eq!(
        call(&tools, "fx__echo", r#"{"text":"#).await,
        Err(ToolError::InvalidArguments {
            message: "the arguments are not valid JSON (EOF while parsing a value at line 1 column 8); send one JSON object, e.g. {\"name\": \"value\"}".into()
        })
    );
}

#[tokio::test]
async fn a_server_that_dies_turns_its_tools_into_errors_not_a_stop() {
    let server = stdio_fixture().await;
    let tools = server.tools().await.unwrap();
    let crashed = call(&tools, "fx__crash", "{}").await.unwrap_err();
    assert!(!matches!(crashed, ToolError::Fatal { .. }), "{crashed:?}");
    let after = call(&tools, "fx__echo", r#"{"text":"still there?"}"#).await;
    assert_eq!(
        after.map_err(|e| e.message_for_model()),
        Err("The MCP server `fx` is not running any more, so `echo` is unavailable for the rest of this run. Go on without its tools.".to_string())
    );
}

#[tokio::test]
async fn only_allowed_tools_are_offered() {
    let config = McpServerConfig::stdio(
        "fx",
        fixture_binary().display().to_string(),
        Vec::<String>::new(),
    )
    .allow_tools(["echo", "not_offered"]);
    let server = McpServer::connect(config).await.unwrap();
    assert_eq!(server.tools().await.unwrap().names(), vec!["fx__echo"]);
}

#[tokio::test]
async fn a_missing_program_is_a_clear_error() {
    let config = McpServerConfig::stdio("gone", "/nonexistent/mcp-server", ["--x"]);
    let err = McpServer::connect(config).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not start MCP server `gone` (`/nonexistent/mcp-server`): No such file or directory (os error 2); check that the program is installed and on PATH"
    );
}

/// Serves the fixture over streamable HTTP on 127.0.0.1; returns its URL.
async fn http_fixture(cancel: CancellationToken) -> String {
    let service: StreamableHttpService<mcp_fixture::FixtureServer, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(mcp_fixture::FixtureServer { can_exit: false }),
            Default::default(),
            StreamableHttpServerConfig::default().with_cancellation_token(cancel.child_token()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let service = hyper_util::service::TowerToHyperService::new(service);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = cancel.cancelled() => return,
            };
            let Ok((stream, _)) = accepted else { return };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn streamable_http_round_trip_with_tools_and_resources() {
    let cancel = CancellationToken::new();
    let url = http_fixture(cancel.clone()).await;
    let server =
        McpServer::connect(McpServerConfig::http("web", url).header("X-Api-Key", "test-key"))
            .await
            .expect("connects over HTTP");
    let tools = server.tools().await.unwrap();
    assert_eq!(
        tools.names(),
        vec![
            "web__add",
            "web__api_key",
            "web__echo",
            "web__fail",
            "web__picture"
        ]
    );
    assert_eq!(
        call(&tools, "web__api_key", "{}").await,
        Ok(ToolOutput::text("test-key"))
    );
    assert_eq!(
        call(&tools, "web__echo", r#"{"text":"over http"}"#).await,
        Ok(ToolOutput::text("over http"))
    );
    let sandbox = MemorySandbox::new();
    let task = Task::new("T-1", "t", "b", RepoRef::new("."));
    let request = ContextRequest {
        task: &task,
        sandbox: &sandbox,
        history: &[],
        budget_tokens: 1_000,
    };
    let items = McpResources::new(server.clone())
        .only(["fixture://docs/"])
        .provide(&request)
        .await
        .unwrap();
    assert_eq!(
        items,
        vec![ContextItem {
            source: "mcp:web".into(),
            title: "readme (fixture://docs/readme)".into(),
            body: "# Fixture\nHello from the fixture server.".into(),
            priority: 10,
            tokens: 0,
        }]
    );
    cancel.cancel();
}

#[tokio::test]
async fn an_unreachable_http_server_fails_the_handshake() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = McpServer::connect(McpServerConfig::http(
        "down",
        format!("http://127.0.0.1:{port}/mcp"),
    ))
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("MCP server `down` did not complete the handshake: "),
        "{err}"
    );
}

// ---- a server installed from npm ----

/// `mcp-server-filesystem` from `.ci/mcp.sh`, or `None` (after saying so)
/// when it is not installed and CI does not require it.
fn npm_filesystem_server() -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTKIT_MCP_NPM_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/agentkit/mcp-npm"))
        })?;
    let bin = dir.join("node_modules/.bin/mcp-server-filesystem");
    let node = std::process::Command::new("node").arg("--version").output();
    if bin.exists() && node.is_ok_and(|o| o.status.success()) {
        return Some(bin);
    }
    let message = format!(
        "{} or node is missing; run `.ci/mcp.sh` (or `.ci/run`, which does)",
        bin.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    None
}

#[tokio::test]
async fn npm_filesystem_server_round_trip() {
    let Some(bin) = npm_filesystem_server() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("notes.txt"), "first line\nsecond line\n").unwrap();
    let root_path = root.path().canonicalize().unwrap();
    let server = McpServer::connect(
        McpServerConfig::stdio(
            "files",
            bin.display().to_string(),
            [root_path.display().to_string()],
        )
        .allow_tools(["read_text_file", "list_directory", "write_file"])
        .call_timeout(Duration::from_secs(60)),
    )
    .await
    .expect("the npm filesystem server starts");
    let tools = server.tools().await.unwrap();
    assert_eq!(
        tools.names(),
        vec![
            "files__list_directory",
            "files__read_text_file",
            "files__write_file"
        ]
    );
    let specs = tools.specs();
    assert!(specs[1].annotations.read_only, "{:?}", specs[1]);
    assert!(!specs[2].annotations.read_only && specs[2].annotations.destructive);
    assert_eq!(specs[1].parameters["type"], "object");
    let file = root_path.join("notes.txt").display().to_string();
    assert_eq!(
        call(
            &tools,
            "files__read_text_file",
            &serde_json::json!({"path": file}).to_string()
        )
        .await,
        Ok(ToolOutput::text("first line\nsecond line\n"))
    );
    let outside = call(&tools, "files__read_text_file", r#"{"path":"/etc/passwd"}"#)
        .await
        .unwrap_err();
    assert!(
        outside
            .message_for_model()
            .contains("outside allowed directories"),
        "{outside:?}"
    );
}
