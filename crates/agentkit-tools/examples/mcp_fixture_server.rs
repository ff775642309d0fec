//! The MCP fixture server on stdio, for `tests/mcp.rs` (a real rmcp server
//! in a child process). Not a useful server otherwise.

#[path = "../tests/support/mcp_fixture.rs"]
mod mcp_fixture;

use rmcp::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = mcp_fixture::FixtureServer { can_exit: true };
    match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(err) => {
            eprintln!("the fixture server could not start: {err}");
            std::process::exit(1);
        }
    }
}
