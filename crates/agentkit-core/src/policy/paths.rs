//! Paths that file-writing tools may not touch.

use async_trait::async_trait;
use globset::{GlobSet, GlobSetBuilder};

use super::{PolicyError, string_argument};
use crate::hook::{Hook, ToolCallAction};
use crate::message::ToolCall;
use crate::task::Task;

/// Refuses writes (by the named tools, through their `path` argument) to
/// paths that match a deny glob. Paths are normalized first (`./a//b` → `a/b`).
///
/// [`PathPolicy::default`] applies to `write_file` and `edit_file` and denies
/// `.git/**` (history and hooks are the host's business). Add CI workflows,
/// secrets files or generated code as a project needs.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    tools: Vec<String>,
    patterns: Vec<String>,
    set: GlobSet,
}

impl PathPolicy {
    /// A policy with no deny globs for `write_file` and `edit_file`.
    pub fn empty() -> Self {
        Self {
            tools: vec!["write_file".into(), "edit_file".into()],
            patterns: Vec::new(),
            set: GlobSet::empty(),
        }
    }

    /// Adds a deny glob (`**` crosses directories; `*` does not).
    pub fn deny(mut self, glob: &str) -> Result<Self, PolicyError> {
        self.patterns.push(glob.to_string());
        let mut builder = GlobSetBuilder::new();
        for pattern in &self.patterns {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| PolicyError {
                    rule: pattern.clone(),
                    message: e.to_string(),
                })?;
            builder.add(glob);
        }
        self.set = builder.build().map_err(|e| PolicyError {
            rule: glob.to_string(),
            message: e.to_string(),
        })?;
        Ok(self)
    }

    /// Applies the globs to these tools' `path` argument.
    pub fn for_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// The glob that denies `path`, if any.
    pub fn check(&self, path: &str) -> Option<&str> {
        let normalized = normalize(path);
        self.set
            .matches(&normalized)
            .first()
            .map(|&i| self.patterns[i].as_str())
    }
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl Default for PathPolicy {
    fn default() -> Self {
        Self::empty()
            .deny(".git")
            .and_then(|p| p.deny(".git/**"))
            .unwrap_or_else(|_| Self::empty())
    }
}

#[async_trait]
impl Hook for PathPolicy {
    async fn before_tool_call(&self, _task: &Task, call: &ToolCall) -> ToolCallAction {
        if !self.tools.iter().any(|t| t == &call.name) {
            return ToolCallAction::Run;
        }
        let Some(path) = string_argument(&call.arguments, "path") else {
            return ToolCallAction::Run;
        };
        match self.check(&path) {
            Some(glob) => ToolCallAction::Skip {
                reason: format!(
                    "refused by the path policy: `{path}` matches `{glob}`, which this task may not change"
                ),
            },
            None => ToolCallAction::Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_globs_match_normalized_paths() {
        let p = PathPolicy::default().deny(".github/workflows/**").unwrap();
        assert_eq!(p.check(".git/config"), Some(".git/**"));
        assert_eq!(p.check("./.git//hooks/pre-commit"), Some(".git/**"));
        assert_eq!(
            p.check(".github/workflows/ci.yml"),
            Some(".github/workflows/**")
        );
        assert_eq!(p.check("src/.gitignore"), None);
        assert_eq!(p.check("src/lib.rs"), None);
    }

    #[tokio::test]
    async fn refused_writes_are_skipped_with_the_glob() {
        let p = PathPolicy::default();
        let task = Task::new("t", "t", "t", crate::task::RepoRef::new("."));
        let call = ToolCall {
            id: "1".into(),
            name: "write_file".into(),
            arguments: r#"{"path":".git/hooks/post-commit","content":"x"}"#.into(),
        };
        assert_eq!(
            p.before_tool_call(&task, &call).await,
            ToolCallAction::Skip {
                reason: "refused by the path policy: `.git/hooks/post-commit` matches `.git/**`, which this task may not change".into()
            }
        );
    }
}
