//! The unit of work: a ticket the agent is asked to resolve.

use serde::{Deserialize, Serialize};

/// A ticket handed to an agent: what to do, and in which repository.
///
/// `Task` is a strict domain type: every field is required when it is
/// deserialized, except `labels` (empty when absent) and `source`
/// (`Cli` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identifier. The publish branch (`agent/<id>`) is derived from it,
    /// so it must be unique per ticket and stay the same across retries.
    pub id: TaskId,
    /// One-line summary, used as the pull-request title.
    pub title: String,
    /// The full ticket text.
    pub body: String,
    /// Where the code lives.
    pub repo: RepoRef,
    /// Ticket labels, as the tracker reported them.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Where the ticket came from.
    #[serde(default)]
    pub source: TaskSource,
}

impl Task {
    /// A task with the given id, title and body against `repo`, from the CLI, without labels.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
        repo: RepoRef,
    ) -> Self {
        Self {
            id: TaskId(id.into()),
            title: title.into(),
            body: body.into(),
            repo,
            labels: Vec::new(),
            source: TaskSource::Cli,
        }
    }
}

/// Identifier of a task. Only `[A-Za-z0-9._-]` survive into branch names
/// (see [`TaskId::slug`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl TaskId {
    /// The id reduced to characters that are safe in a git ref and a file name:
    /// anything outside `[A-Za-z0-9._-]` becomes `-`, leading dots and dashes are
    /// dropped, `..` is collapsed, and an empty result becomes `task`.
    pub fn slug(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for c in self.0.chars() {
            let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '-'
            };
            if c == '.' && out.ends_with('.') {
                continue;
            }
            out.push(c);
        }
        let trimmed = out
            .trim_start_matches(['.', '-'])
            .trim_end_matches(['.', '-']);
        let trimmed = trimmed.strip_suffix(".lock").unwrap_or(trimmed);
        if trimmed.is_empty() {
            "task".to_string()
        } else {
            trimmed.chars().take(100).collect()
        }
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository a task is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    /// Where to clone from: a local path or a URL the sandbox provider understands.
    pub url: String,
    /// The branch (or other revision) to start from and to open the pull request against.
    /// `None` means the repository's default branch.
    #[serde(default)]
    pub base: Option<String>,
}

impl RepoRef {
    /// A repository at `url`, on its default branch.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            base: None,
        }
    }

    /// The same repository on branch `base`.
    pub fn with_base(mut self, base: impl Into<String>) -> Self {
        self.base = Some(base.into());
        self
    }
}

/// Where a ticket came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskSource {
    /// Typed on the command line.
    #[default]
    Cli,
    /// Read from a ticket file.
    File {
        /// The file's path.
        path: String,
    },
    /// An issue on a forge.
    Forge {
        /// The forge's name (`github`, `local`, ...).
        forge: String,
        /// The number or key on that forge.
        number: String,
        /// A link for humans, when the forge has one.
        #[serde(default)]
        url: Option<String>,
    },
    /// A scheduled run.
    Schedule {
        /// The schedule's name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_safe_characters_and_replaces_the_rest() {
        assert_eq!(TaskId("ISSUE-42".into()).slug(), "ISSUE-42");
        assert_eq!(TaskId("gh/owner repo#7".into()).slug(), "gh-owner-repo-7");
        assert_eq!(TaskId("../../etc".into()).slug(), "etc");
        assert_eq!(TaskId("a..b".into()).slug(), "a.b");
        assert_eq!(TaskId("x.lock".into()).slug(), "x");
        assert_eq!(TaskId("///".into()).slug(), "task");
    }
}
