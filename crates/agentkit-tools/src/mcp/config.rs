//! How an agent reaches its MCP servers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One MCP server an agent uses.
///
/// ```
/// use agentkit_tools::mcp::{McpServerConfig, McpTransport};
///
/// let files = McpServerConfig::stdio("files", "npx", ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"])
///     .env("NODE_OPTIONS", "--max-old-space-size=256")
///     .allow_tools(["read_text_file", "list_directory"]);
/// let tracker = McpServerConfig::http("tracker", "http://127.0.0.1:8931/mcp")
///     .header("Authorization", "Bearer from-the-secret-store");
/// assert!(matches!(tracker.transport, McpTransport::Http { .. }));
/// assert_eq!(files.name, "files");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The server's name: the prefix of its tools (`name__tool`) and the
    /// source of its context items. Letters, digits, `_` and `-`.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
    /// The server's tools the agent may call (by their MCP names); `None`
    /// allows every tool the server lists.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// How long one call may take before the model is told it timed out.
    #[serde(default = "default_timeout", with = "secs")]
    pub call_timeout: Duration,
    /// Whether the servers' `readOnlyHint` may let calls run in parallel.
    /// Annotations are hints from the server; turn this off for servers you
    /// do not trust (their tools then count as mutating).
    #[serde(default = "yes")]
    pub trust_annotations: bool,
}

/// How to reach an MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum McpTransport {
    /// A child process speaking MCP on its standard input and output. It runs
    /// on the host, with a clean environment (see the [module docs](super)).
    Stdio {
        /// The program (looked up on `PATH`).
        command: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Variables set for it. Nothing else of the host's environment
        /// reaches it except `PATH` and the names in `inherit_env`.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Names of host variables passed through (e.g. `HOME` for tools
        /// that need a cache directory).
        #[serde(default)]
        inherit_env: Vec<String>,
        /// Its working directory (default: the agent process's).
        #[serde(default)]
        cwd: Option<PathBuf>,
    },
    /// A streamable-HTTP endpoint (the MCP 2025-03-26+ HTTP transport).
    Http {
        /// The endpoint, e.g. `https://mcp.example.com/mcp`.
        url: String,
        /// Headers sent with every request (`Authorization`, API keys...).
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

impl McpServerConfig {
    /// A server started as `command args...`.
    pub fn stdio<I, S>(name: impl Into<String>, command: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            McpTransport::Stdio {
                command: command.into(),
                args: args.into_iter().map(Into::into).collect(),
                env: BTreeMap::new(),
                inherit_env: Vec::new(),
                cwd: None,
            },
        )
    }

    /// A server reached over streamable HTTP at `url`.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(
            name,
            McpTransport::Http {
                url: url.into(),
                headers: BTreeMap::new(),
            },
        )
    }

    fn new(name: impl Into<String>, transport: McpTransport) -> Self {
        Self {
            name: name.into(),
            transport,
            allowed_tools: None,
            call_timeout: default_timeout(),
            trust_annotations: true,
        }
    }

    /// Sets a variable for a stdio server (ignored for HTTP).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let McpTransport::Stdio { env, .. } = &mut self.transport {
            env.insert(key.into(), value.into());
        }
        self
    }

    /// Passes the host's variable `key` through to a stdio server.
    pub fn inherit_env(mut self, key: impl Into<String>) -> Self {
        if let McpTransport::Stdio { inherit_env, .. } = &mut self.transport {
            inherit_env.push(key.into());
        }
        self
    }

    /// Runs a stdio server in `dir`.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        if let McpTransport::Stdio { cwd, .. } = &mut self.transport {
            *cwd = Some(dir.into());
        }
        self
    }

    /// Sends a header with every request to an HTTP server (ignored for stdio).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let McpTransport::Http { headers, .. } = &mut self.transport {
            headers.insert(key.into(), value.into());
        }
        self
    }

    /// Allows only these tools (by their MCP names).
    pub fn allow_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_tools = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the per-call timeout.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Ignores the server's behaviour hints (every tool counts as mutating).
    pub fn untrusted_annotations(mut self) -> Self {
        self.trust_annotations = false;
        self
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

fn yes() -> bool {
    true
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_entry_reads_with_defaults() {
        let config: McpServerConfig = serde_json::from_str(
            r#"{"name":"docs","transport":{"type":"http","url":"http://127.0.0.1:1/mcp","headers":{"X-Key":"k"}},"allowed_tools":["search"]}"#,
        )
        .unwrap();
        assert_eq!(
            config,
            McpServerConfig::http("docs", "http://127.0.0.1:1/mcp")
                .header("X-Key", "k")
                .allow_tools(["search"])
        );
        let err = serde_json::from_str::<McpServerConfig>(
            r#"{"name":"x","transport":{"type":"stdio","command":"a","argv":[]}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `argv`"), "{err}");
    }
}
