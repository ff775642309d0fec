//! Where the agent's commands run and its files live.
//!
//! A [`SandboxProvider`] creates a [`Sandbox`] from a [`SandboxSpec`] (which
//! repository, which setup script, which [`SandboxPolicy`]). The sandbox runs
//! structured commands ([`ExecRequest`] → [`ExecOutput`]) and offers file
//! operations on paths *relative to its workspace*; every backend refuses a
//! path that resolves outside the workspace, through `..`, an absolute path
//! or a symlink. A non-zero exit status is data, not an error.
//!
//! Lifecycle: `create` → use → [`Sandbox::close`]. Backends also clean up on
//! drop, and a timed-out command takes its whole process group with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::environment::{EnvironmentReport, EnvironmentSpec};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Command {
    /// A program and its arguments, run without a shell.
    Argv(Vec<String>),
    /// A script run by `bash -c` (`sh -c` where bash is missing) inside the sandbox.
    Script(String),
}

/// A structured command. Build with [`ExecRequest::argv`] or
/// [`ExecRequest::script`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecRequest {
    /// What to run.
    pub command: Command,
    /// Working directory relative to the workspace root (`None`: the root).
    pub cwd: Option<String>,
    /// Extra environment variables, on top of the sandbox's own environment.
    pub env: BTreeMap<String, String>,
    /// Bytes written to the command's standard input (then closed).
    pub stdin: Option<Vec<u8>>,
    /// Wall-clock limit; on expiry the whole process group is killed.
    pub timeout: Duration,
    /// Maximum bytes kept of stdout and of stderr each (head and tail are kept).
    pub output_limit: usize,
    /// Sees the output while the command runs (not serialized).
    #[serde(skip)]
    pub tap: Option<OutputTap>,
}

/// Which stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A callback that sees a command's output as it is read, chunk by chunk
/// (chunks split lines and characters anywhere). Backends call it from
/// their output readers, so it must return quickly. Two taps are equal
/// when they are the same callback.
#[derive(Clone)]
pub struct OutputTap(std::sync::Arc<TapFn>);

/// What an [`OutputTap`] calls.
type TapFn = dyn Fn(OutputStream, &[u8]) + Send + Sync;

impl OutputTap {
    /// A tap calling `f` with each chunk.
    pub fn new(f: impl Fn(OutputStream, &[u8]) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// Hands `bytes` of `stream` to the callback.
    pub fn send(&self, stream: OutputStream, bytes: &[u8]) {
        (self.0)(stream, bytes);
    }
}

impl std::fmt::Debug for OutputTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputTap")
    }
}

impl PartialEq for OutputTap {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OutputTap {}

impl ExecRequest {
    /// Default timeout: two minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
    /// Default output cap per stream: 64 KiB.
    pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;

    /// Runs `program` with `args`, no shell involved.
    pub fn argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Command::Argv(argv.into_iter().map(Into::into).collect()))
    }

    /// Runs `script` with the sandbox's shell.
    pub fn script(script: impl Into<String>) -> Self {
        Self::new(Command::Script(script.into()))
    }

    fn new(command: Command) -> Self {
        Self {
            command,
            cwd: None,
            env: BTreeMap::new(),
            stdin: None,
            timeout: Self::DEFAULT_TIMEOUT,
            output_limit: Self::DEFAULT_OUTPUT_LIMIT,
            tap: None,
        }
    }

    /// Sets the working directory (relative to the workspace).
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the output cap per stream.
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    /// Shows the output to `tap` while the command runs (every backend of
    /// `agentkit-sandbox` does; the captured output is unchanged).
    pub fn tap(mut self, tap: OutputTap) -> Self {
        self.tap = Some(tap);
        self
    }
}

/// Captured output of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The text (lossy UTF-8). When truncated: the head, a marker line, the tail.
    pub text: String,
    /// Whether bytes were dropped from the middle.
    pub truncated: bool,
    /// How many bytes the stream produced in all.
    pub total_bytes: u64,
}

/// The result of a command. A non-zero exit is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when it was killed.
    pub signal: Option<i32>,
    /// Standard output.
    pub stdout: CapturedOutput,
    /// Standard error.
    pub stderr: CapturedOutput,
    /// How long it ran.
    pub duration: Duration,
    /// Whether the timeout killed it.
    pub timed_out: bool,
}

impl ExecOutput {
    /// Exited with status 0 and was not killed.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A one-line description of how it ended: `exit 0`, `killed by signal 9`, `timed out after 5s`.
    pub fn status_line(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.1}s", self.duration.as_secs_f64())
        } else if let Some(code) = self.exit_code {
            format!("exit {code}")
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            "ended without a status".to_string()
        }
    }
}

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (socket, device, fifo).
    Other,
}

/// Metadata of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    /// What it is.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
}

/// Outbound network access for commands in the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "hosts", rename_all = "snake_case")]
pub enum NetworkPolicy {
    /// No network at all.
    #[default]
    Deny,
    /// Only these hosts (`host` or `host:port`), through a host-side proxy.
    AllowList(Vec<String>),
    /// Unrestricted.
    Full,
}

/// Resource limits. `None` means not limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// CPU seconds per command.
    pub cpu_seconds: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Number of processes.
    pub pids: Option<u64>,
    /// Disk usage of the workspace in bytes.
    pub disk_bytes: Option<u64>,
}

/// What the sandbox allows, independent of the backend that enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPolicy {
    /// Outbound network.
    pub network: NetworkPolicy,
    /// Paths (relative to the workspace) the agent's file operations may not
    /// write, remove or replace.
    pub protected_paths: Vec<String>,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// Host environment variables passed into commands (by name). Everything
    /// else is dropped, so host secrets do not leak in by default.
    pub env_allow: Vec<String>,
    /// Absolute host paths that isolating backends show **read-only** to
    /// commands, at the same path, on top of their default view (system
    /// directories, a secret-free `/etc`, the toolchains, the workspace and
    /// a private `/tmp`). Nothing else of the host is visible. The `local`
    /// backend isolates nothing and ignores this.
    #[serde(default)]
    pub read_only_paths: Vec<String>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self {
            network: NetworkPolicy::Deny,
            protected_paths: vec![".git/hooks".into(), ".git/config".into()],
            limits: ResourceLimits::default(),
            env_allow: [
                "PATH",
                "HOME",
                "LANG",
                "LC_ALL",
                "TERM",
                "TZ",
                "USER",
                "RUSTUP_HOME",
                "CARGO_HOME",
                "RUSTUP_TOOLCHAIN",
                "PYENV_ROOT",
                "GOPATH",
                "GOROOT",
                "JAVA_HOME",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            read_only_paths: Vec::new(),
        }
    }
}

/// What to build a sandbox from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Repository to clone into the workspace (a local path or URL).
    pub repo: String,
    /// Revision to check out (`None`: the repository's default branch).
    pub rev: Option<String>,
    /// Script run once in the fresh workspace (install dependencies, ...).
    pub setup_script: Option<String>,
    /// Limit for the setup script.
    pub setup_timeout: Duration,
    /// Fixed environment variables set in every command.
    pub env: BTreeMap<String, String>,
    /// The policy to enforce.
    pub policy: SandboxPolicy,
    /// What the setup may use besides its script (its variables, network,
    /// inputs, caches) and the toolchains the repository needs. See
    /// [`crate::environment`].
    #[serde(default)]
    pub environment: EnvironmentSpec,
}

impl SandboxSpec {
    /// A spec cloning `repo` at its default branch, default policy, no setup.
    pub fn new(repo: impl Into<String>) -> Self {
        Self {
            repo: repo.into(),
            rev: None,
            setup_script: None,
            setup_timeout: Duration::from_secs(600),
            env: BTreeMap::new(),
            policy: SandboxPolicy::default(),
            environment: EnvironmentSpec::default(),
        }
    }

    /// Checks out `rev`.
    pub fn rev(mut self, rev: impl Into<String>) -> Self {
        self.rev = Some(rev.into());
        self
    }

    /// Runs `script` once after cloning.
    pub fn setup_script(mut self, script: impl Into<String>) -> Self {
        self.setup_script = Some(script.into());
        self
    }
}

/// A failure of the sandbox itself (never a command's non-zero exit).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path resolves outside the workspace.
    #[error("path `{path}` is outside the workspace; use a path relative to the repository root")]
    OutsideWorkspace {
        /// The path as given.
        path: String,
    },
    /// The path is protected by policy.
    #[error("path `{path}` is protected by the sandbox policy and cannot be changed")]
    Protected {
        /// The path as given.
        path: String,
    },
    /// Nothing at that path.
    #[error("no such file or directory: `{path}`")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The path is of the wrong kind (a directory where a file was expected, ...).
    #[error("`{path}`: {reason}")]
    WrongKind {
        /// The path as given.
        path: String,
        /// What was expected.
        reason: String,
    },
    /// The command could not be started (program missing, bad cwd, ...).
    #[error("could not start the command: {reason}")]
    Spawn {
        /// Why.
        reason: String,
    },
    /// The host cannot provide what the policy or backend requires.
    #[error("the host does not support {what}: {hint}")]
    Unsupported {
        /// What is missing.
        what: String,
        /// What to do about it.
        hint: String,
    },
    /// Creating the sandbox (clone, setup script) failed.
    #[error("sandbox setup failed: {reason}")]
    Setup {
        /// What failed and its output.
        reason: String,
    },
    /// The setup script failed or ran out of time. The report holds its
    /// exit status and the end of its output; drivers end the run with
    /// [`StopReason::EnvironmentBroken`](crate::outcome::StopReason::EnvironmentBroken).
    #[error("the setup script failed ({}); fix the setup or the repository:\n{}", setup_status(report), report.output)]
    SetupFailed {
        /// What the setup did.
        report: Box<EnvironmentReport>,
    },
    /// The sandbox is closed or its backing environment is gone.
    #[error("the sandbox is gone: {reason}")]
    Gone {
        /// Why.
        reason: String,
    },
    /// An IO error on the host side.
    #[error("sandbox IO error on `{path}`: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    /// Whether this is a failure of the environment (the run cannot go on)
    /// rather than a mistake the model can correct.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            SandboxError::Unsupported { .. }
                | SandboxError::Setup { .. }
                | SandboxError::SetupFailed { .. }
                | SandboxError::Gone { .. }
        )
    }
}

fn setup_status(report: &EnvironmentReport) -> String {
    match (report.timed_out, report.exit) {
        (true, _) => format!("timed out after {:.1}s", report.setup_ms as f64 / 1000.0),
        (false, Some(code)) => format!("exit {code}"),
        (false, None) => "killed".into(),
    }
}

/// An isolated place to run commands and edit files.
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// A unique id for logs.
    fn id(&self) -> &str;

    /// The workspace as a host path, for backends whose workspace is a host
    /// directory. Host-side readers (search, indexing) may use it, read-only,
    /// and must not follow symlinks out of it.
    fn host_workspace(&self) -> Option<&Path> {
        None
    }

    /// What making this sandbox found: the setup's result and the
    /// toolchains (`None` for backends that do not report one).
    fn environment(&self) -> Option<&EnvironmentReport> {
        None
    }

    /// Runs a command.
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError>;

    /// Reads a file.
    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError>;

    /// Writes a file, creating parent directories.
    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError>;

    /// Lists a directory (not recursive), sorted by path.
    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError>;

    /// Removes a file or an empty directory.
    async fn remove(&self, path: &str) -> Result<(), SandboxError>;

    /// Metadata of a path (symlinks are not followed).
    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError>;

    /// Tears the sandbox down. Further calls fail with [`SandboxError::Gone`].
    async fn close(&self) -> Result<(), SandboxError>;
}

/// Creates sandboxes.
#[async_trait]
pub trait SandboxProvider: Send + Sync {
    /// The backend's name (`local`, `bwrap`, `docker`).
    fn name(&self) -> &str;

    /// Builds a sandbox for `spec`: clone, setup, ready to use. Fails loudly
    /// when the host cannot enforce the spec's policy.
    async fn create(&self, spec: &SandboxSpec)
    -> Result<std::sync::Arc<dyn Sandbox>, SandboxError>;
}

/// Joins a workspace-relative path onto `root` lexically, refusing absolute
/// paths and any `..` that climbs above the root. Symlinks are *not* checked
/// here; backends must also resolve the result and check it stays inside.
pub fn join_relative(root: &Path, path: &str) -> Result<PathBuf, SandboxError> {
    use std::path::Component;
    let outside = || SandboxError::OutsideWorkspace {
        path: path.to_string(),
    };
    let mut out = root.to_path_buf();
    let mut depth = 0usize;
    for comp in Path::new(path).components() {
        match comp {
            Component::Normal(c) => {
                out.push(c);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(outside());
                }
                out.pop();
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_relative_refuses_escapes() {
        let root = Path::new("/ws");
        assert_eq!(
            join_relative(root, "a/b").unwrap(),
            PathBuf::from("/ws/a/b")
        );
        assert_eq!(
            join_relative(root, "a/../b").unwrap(),
            PathBuf::from("/ws/b")
        );
        assert_eq!(join_relative(root, "").unwrap(), PathBuf::from("/ws"));
        assert!(join_relative(root, "../x").is_err());
        assert!(join_relative(root, "a/../../x").is_err());
        assert!(join_relative(root, "/etc/passwd").is_err());
    }
}
