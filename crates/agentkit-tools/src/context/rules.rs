//! [`RuleFiles`]: the repository's instructions for agents.

use std::collections::HashSet;
use std::path::{Component, Path};

use agentkit_core::context::{ContextError, ContextItem, ContextProvider, ContextRequest};
use agentkit_core::sandbox::{FileKind, Sandbox, SandboxError};
use async_trait::async_trait;

/// The per-directory rule file read from the root down to the working directory.
const AGENTS_FILE: &str = "AGENTS.md";
/// Rule files of other tools, read at the repository root only.
const ROOT_FILES: &[&str] = &[
    "CLAUDE.md",
    ".cursorrules",
    ".github/copilot-instructions.md",
];
/// Smallest remaining budget worth filling with a truncated file.
const MIN_TRUNCATED: usize = 256;
/// Files larger than this are not read at all.
const MAX_READ: u64 = 4 * 1024 * 1024;

/// Reads the repository's rule files through the sandbox's file API.
///
/// - `AGENTS.md` in every directory from the repository root down to the
///   [working directory](Self::working_dir): `AGENTS.md`, `crates/AGENTS.md`,
///   `crates/foo/AGENTS.md`. Deeper files are more specific and get a higher
///   priority: [`PRIORITY`](Self::PRIORITY) + 10 per directory level.
/// - `CLAUDE.md`, `.cursorrules` and `.github/copilot-instructions.md` at the
///   root, at [`PRIORITY`](Self::PRIORITY) − 10 (more with
///   [`with_root_file`](Self::with_root_file)).
///
/// Items are returned best first, titled with the file's path and tagged
/// `rules`. Together their bodies stay within a byte budget (default 32 KiB,
/// lowered to four bytes per token of the request's token budget when that is
/// smaller), filled best first: a file that does not fit whole is truncated
/// with a note when a useful part fits, and dropped otherwise; dropped and
/// unreadable files are listed in one last item, `rule files not shown`.
///
/// Missing files, directories and empty files are skipped silently; a file
/// with the same content as one already shown (say `CLAUDE.md` linked to
/// `AGENTS.md`) is shown once. Text is decoded lossily. A file the sandbox
/// refuses (a symlink out of the workspace, a protected path) is listed as
/// not shown, never fatal; only a sandbox that is gone fails the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFiles {
    working_dir: String,
    root_files: Vec<String>,
    budget_bytes: usize,
}

impl Default for RuleFiles {
    fn default() -> Self {
        Self::new()
    }
}

impl RuleFiles {
    /// Priority of the root `AGENTS.md`.
    pub const PRIORITY: i32 = 100;
    /// Default byte budget for all rule files together: 32 KiB.
    pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024;
    /// Title of the item listing files that were not shown.
    pub const NOT_SHOWN_TITLE: &'static str = "rule files not shown";

    /// Rule files for the repository root as working directory.
    pub fn new() -> Self {
        Self {
            working_dir: String::new(),
            root_files: ROOT_FILES.iter().map(|f| f.to_string()).collect(),
            budget_bytes: Self::DEFAULT_BUDGET_BYTES,
        }
    }

    /// Also reads `AGENTS.md` in each directory down to `dir` (relative to the
    /// repository root, e.g. `crates/foo`).
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = dir.into();
        self
    }

    /// Sets the byte budget for all files together.
    pub fn budget_bytes(mut self, bytes: usize) -> Self {
        self.budget_bytes = bytes;
        self
    }

    /// Adds a rule file read at the root (after the built-in ones).
    pub fn with_root_file(mut self, path: impl Into<String>) -> Self {
        self.root_files.push(path.into());
        self
    }

    /// The files to read, best first, with their priorities.
    fn candidates(&self) -> Result<Vec<(String, i32)>, ContextError> {
        let mut dirs: Vec<String> = Vec::new();
        for component in Path::new(&self.working_dir).components() {
            match component {
                Component::Normal(name) => dirs.push(name.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir if !dirs.is_empty() => {
                    dirs.pop();
                }
                _ => {
                    return Err(ContextError {
                        provider: "rules".into(),
                        message: format!(
                            "working directory `{}` is not inside the repository; \
                             give a path relative to its root",
                            self.working_dir
                        ),
                    });
                }
            }
        }
        let mut out = Vec::new();
        for depth in (0..=dirs.len()).rev() {
            let mut path = dirs[..depth].join("/");
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(AGENTS_FILE);
            let level = i32::try_from(depth).unwrap_or(i32::MAX / 20);
            out.push((path, Self::PRIORITY + 10 * level));
        }
        for file in &self.root_files {
            out.push((file.clone(), Self::PRIORITY - 10));
        }
        Ok(out)
    }
}

/// The outcome of reading one candidate.
enum Read {
    Text(Vec<u8>),
    Skip,
    Refused(String),
}

async fn read_rule_file(sandbox: &dyn Sandbox, path: &str) -> Result<Read, ContextError> {
    let fatal = |err: SandboxError| ContextError {
        provider: "rules".into(),
        message: format!("reading `{path}`: {err}"),
    };
    let stat = match sandbox.stat(path).await {
        Ok(stat) => stat,
        Err(SandboxError::NotFound { .. }) => return Ok(Read::Skip),
        Err(err) if err.is_infrastructure() => return Err(fatal(err)),
        Err(err) => return Ok(Read::Refused(err.to_string())),
    };
    match stat.kind {
        FileKind::File | FileKind::Symlink => {}
        FileKind::Dir | FileKind::Other => return Ok(Read::Skip),
    }
    if stat.size > MAX_READ {
        return Ok(Read::Refused(format!(
            "{} bytes, too large to read",
            stat.size
        )));
    }
    match sandbox.read(path).await {
        Ok(bytes) => Ok(Read::Text(bytes)),
        // A dangling symlink or a directory behind a link: nothing to show.
        Err(SandboxError::NotFound { .. } | SandboxError::WrongKind { .. }) => Ok(Read::Skip),
        Err(err) if err.is_infrastructure() => Err(fatal(err)),
        Err(err) => Ok(Read::Refused(err.to_string())),
    }
}

#[async_trait]
impl ContextProvider for RuleFiles {
    fn name(&self) -> &str {
        "rules"
    }

    async fn provide(
        &self,
        request: &ContextRequest<'_>,
    ) -> Result<Vec<ContextItem>, ContextError> {
        let mut remaining = match request.budget_tokens {
            0 => self.budget_bytes,
            tokens => self.budget_bytes.min(tokens.saturating_mul(4)),
        };
        let budget = remaining;
        let mut items = Vec::new();
        let mut not_shown = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for (path, priority) in self.candidates()? {
            let bytes = match read_rule_file(request.sandbox, &path).await? {
                Read::Text(bytes) => bytes,
                Read::Skip => continue,
                Read::Refused(reason) => {
                    tracing::warn!(path = %path, reason = %reason, "rule file not readable");
                    not_shown.push(format!("- `{path}`: {reason}"));
                    continue;
                }
            };
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            if text.is_empty() || !seen.insert(bytes) {
                continue;
            }
            let body = if text.len() <= remaining {
                text
            } else if remaining >= MIN_TRUNCATED {
                truncate(&path, &text, remaining, budget)
            } else {
                not_shown.push(format!(
                    "- `{path}` ({} bytes): over the {budget}-byte rule-file budget",
                    text.len()
                ));
                continue;
            };
            remaining = remaining.saturating_sub(body.len());
            items.push(ContextItem {
                source: "rules".into(),
                title: path,
                body,
                priority,
                tokens: 0,
            });
        }
        if !not_shown.is_empty() {
            items.push(ContextItem {
                source: "rules".into(),
                title: Self::NOT_SHOWN_TITLE.into(),
                body: format!(
                    "These rule files exist but are not shown; read them with the file \
                     tools if they matter:\n{}",
                    not_shown.join("\n")
                ),
                priority: Self::PRIORITY - 20,
                tokens: 0,
            });
        }
        Ok(items)
    }
}

/// The head of `text` within `room` bytes, cut at a line end where one is
/// near, followed by a note saying what was cut.
fn truncate(path: &str, text: &str, room: usize, budget: usize) -> String {
    let note = format!(
        "\n\n[truncated: `{path}` is {} bytes; the rest is over the {budget}-byte rule-file \
         budget — read the file for all of it]",
        text.len()
    );
    let limit = room.saturating_sub(note.len());
    let mut cut = limit.min(text.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(newline) = text[..cut].rfind('\n')
        && newline >= cut / 2
    {
        cut = newline;
    }
    format!("{}{note}", text[..cut].trim_end())
}
