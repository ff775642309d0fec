//! Connecting to an MCP server and listing what it offers.

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::sync::Arc;

use agentkit_core::tool::ToolSet;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, ServiceExt};

use super::config::{McpServerConfig, McpTransport};
use super::tool::{McpTool, tool_name};

/// Host variables a stdio server always gets (it must find its interpreter).
const ALWAYS_INHERITED: &[&str] = &["PATH"];

/// A failure to connect to an MCP server or to list what it offers.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The configuration cannot work.
    #[error("MCP server `{server}` is misconfigured: {message}")]
    Config {
        /// The server's name.
        server: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The stdio server's program could not be started.
    #[error(
        "could not start MCP server `{server}` (`{command}`): {source}; check that the program is installed and on PATH"
    )]
    Spawn {
        /// The server's name.
        server: String,
        /// The program.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The MCP handshake failed (the server exited, answered with something
    /// else than MCP, or the HTTP endpoint refused).
    #[error("MCP server `{server}` did not complete the handshake: {message}")]
    Handshake {
        /// The server's name.
        server: String,
        /// What happened.
        message: String,
    },
    /// A request failed after the handshake.
    #[error("MCP server `{server}` failed to {operation}: {source}")]
    Request {
        /// The server's name.
        server: String,
        /// What was asked (`list its tools`, ...).
        operation: &'static str,
        /// Why.
        #[source]
        source: ServiceError,
    },
}

/// A connected MCP server. Cheap to clone; the connection closes when the
/// last clone (including the tools made from it) is dropped, and a stdio
/// server's process is killed then.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Connection>,
}

pub(super) struct Connection {
    pub(super) config: McpServerConfig,
    pub(super) service: RunningService<RoleClient, ClientConfig>,
}

impl Connection {
    pub(super) fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("name", &self.inner.config.name)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// Starts (stdio) or reaches (HTTP) the server and completes the MCP handshake.
    pub async fn connect(config: McpServerConfig) -> Result<Self, McpError> {
        check_name(&config.name)?;
        let client = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("agentkit", env!("CARGO_PKG_VERSION")),
        );
        let handshake = |e: &dyn std::fmt::Display| McpError::Handshake {
            server: config.name.clone(),
            message: e.to_string(),
        };
        let service = match &config.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                inherit_env,
                cwd,
            } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).env_clear().kill_on_drop(true);
                for key in ALWAYS_INHERITED
                    .iter()
                    .copied()
                    .chain(inherit_env.iter().map(String::as_str))
                {
                    if let Some(value) = std::env::var_os(key) {
                        cmd.env(key, value);
                    }
                }
                cmd.envs(env);
                if let Some(dir) = cwd {
                    cmd.current_dir(dir);
                }
                let (transport, _stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|source| McpError::Spawn {
                        server: config.name.clone(),
                        command: command.clone(),
                        source,
                    })?;
                client.serve(transport).await.map_err(|e| handshake(&e))?
            }
            McpTransport::Http { url, headers } => {
                install_crypto_provider();
                let mut custom = HashMap::new();
                for (key, value) in headers {
                    let name =
                        http::HeaderName::try_from(key.as_str()).map_err(|e| McpError::Config {
                            server: config.name.clone(),
                            message: format!("header name `{key}` is invalid: {e}"),
                        })?;
                    let value = http::HeaderValue::try_from(value.as_str()).map_err(|e| {
                        McpError::Config {
                            server: config.name.clone(),
                            message: format!("the value of header `{key}` is invalid: {e}"),
                        }
                    })?;
                    custom.insert(name, value);
                }
                let transport = StreamableHttpClientTransport::from_config(
                    StreamableHttpClientTransportConfig::with_uri(url.as_str())
                        .custom_headers(custom),
                );
                client.serve(transport).await.map_err(|e| handshake(&e))?
            }
        };
        Ok(Self {
            inner: Arc::new(Connection { config, service }),
        })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The server's tools (those allowed by the configuration) as agent
    /// tools named `server__tool`. A tool the configuration allows but the
    /// server does not list is reported in the logs.
    pub async fn tools(&self) -> Result<ToolSet, McpError> {
        let listed = self
            .inner
            .peer()
            .list_all_tools()
            .await
            .map_err(|source| self.request_error("list its tools", source))?;
        let config = &self.inner.config;
        if let Some(allowed) = &config.allowed_tools {
            for missing in allowed
                .iter()
                .filter(|a| !listed.iter().any(|t| t.name == **a))
            {
                tracing::warn!(server = %config.name, tool = %missing, "an allowed MCP tool is not offered by the server");
            }
        }
        let mut set = ToolSet::new();
        let mut names = BTreeSet::new();
        for tool in listed {
            let allowed = config
                .allowed_tools
                .as_ref()
                .is_none_or(|a| a.iter().any(|n| *n == tool.name));
            if !allowed {
                continue;
            }
            let name = tool_name(&config.name, &tool.name);
            if !names.insert(name.clone()) {
                return Err(McpError::Config {
                    server: config.name.clone(),
                    message: format!(
                        "two of its tools map to the agent tool name `{name}` (names are cut to 64 characters); allow only one of them with `allowed_tools`"
                    ),
                });
            }
            let remote = tool.name.clone();
            match McpTool::new(self.inner.clone(), name, tool) {
                Some(tool) => set.insert(Arc::new(tool)),
                None => tracing::warn!(
                    server = %config.name,
                    tool = %remote,
                    "MCP tool left out: its input schema is not an object schema"
                ),
            }
        }
        Ok(set)
    }

    pub(super) fn connection(&self) -> &Arc<Connection> {
        &self.inner
    }

    pub(super) fn request_error(&self, operation: &'static str, source: ServiceError) -> McpError {
        McpError::Request {
            server: self.inner.config.name.clone(),
            operation,
            source,
        }
    }

    /// Closes the connection now (a stdio server is asked to exit, then killed).
    pub async fn close(self) {
        if let Ok(connection) = Arc::try_unwrap(self.inner) {
            let _ = connection.service.cancel().await;
        }
    }
}

/// Connects to every server, in order. Fails on the first that cannot be reached.
pub async fn connect_all(configs: Vec<McpServerConfig>) -> Result<Vec<McpServer>, McpError> {
    let mut servers = Vec::with_capacity(configs.len());
    for config in configs {
        servers.push(McpServer::connect(config).await?);
    }
    Ok(servers)
}

/// The tools of every server in one set.
pub async fn tool_set(servers: &[McpServer]) -> Result<ToolSet, McpError> {
    let mut all = ToolSet::new();
    for server in servers {
        let tools = server.tools().await?;
        for name in tools.names() {
            if let Some(tool) = tools.get(&name) {
                all.insert(tool.clone());
            }
        }
    }
    Ok(all)
}

fn check_name(name: &str) -> Result<(), McpError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(McpError::Config {
            server: name.to_string(),
            message: "a server name must be 1 to 32 letters, digits, `_` or `-` without `__` (it prefixes its tools' names)".into(),
        })
    }
}

/// rmcp's HTTP client is built on rustls without a bundled crypto provider:
/// install `ring` (what the rest of agentkit uses) unless the application
/// installed one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
