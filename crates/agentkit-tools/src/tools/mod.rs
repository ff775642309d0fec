//! Agent tools: what the model calls to read, change and check the repository.
//!
//! | tool | does | annotations |
//! | --- | --- | --- |
//! | [`read_file`](ReadFile) | a text file with line numbers, a line range of it, capped | read-only |
//! | [`write_file`](WriteFile) | creates or replaces a whole file | destructive |
//! | [`edit_file`](EditFile) | exact string replacement, with a diagnosis of near misses | destructive |
//! | [`list_files`](ListFiles) | files under a directory, `.gitignore`-aware, glob filter | read-only |
//! | [`grep`](Grep) | regex search (ripgrep's engine), `path:line:text` | read-only |
//! | [`shell`](Shell) | a bash script; exit code, stdout and stderr | destructive |
//! | [`git_diff`](GitDiff) | uncommitted changes, untracked files included | read-only |
//! | [`finish`](Finish) | ends the task with a summary | — |
//! | [`ask_human`](AskHuman) | stops to ask a person | — |
//!
//! With the `repo-map` feature, [`code_tools`] adds three tools over a shared
//! [`CodeIndex`](crate::context::CodeIndex) (tree-sitter tags):
//!
//! | tool | does | annotations |
//! | --- | --- | --- |
//! | `repo_map` ([`RepoMapTool`]) | ranked definitions, one line each, with an optional focus | read-only |
//! | `find_symbol` ([`FindSymbol`]) | a symbol's definitions (`path:line`, kind, signature line) and references | read-only |
//! | `search_code` ([`SearchCode`]) | BM25 over definitions' bodies | read-only |
//!
//! Every tool works through [`Sandbox`](agentkit_core::sandbox::Sandbox) in
//! `cx.sandbox` with workspace-relative paths. `grep` and `list_files` walk
//! the workspace in-process when the sandbox exposes it as a host directory
//! ([`Sandbox::host_workspace`](agentkit_core::sandbox::Sandbox::host_workspace)),
//! never following symlinks or leaving the root, and otherwise run `rg` (or
//! `grep`/`find`) inside the sandbox.
//!
//! Errors the model can fix (a path that does not exist, an `old_string`
//! that does not match, an invalid regex) come back as
//! [`ToolError::Failed`](agentkit_core::tool::ToolError) or `InvalidArguments`
//! and say what to do next; a command's non-zero exit is ordinary output.
//!
//! ```
//! let tools = agentkit_tools::tools::standard_tools();
//! assert!(tools.get("edit_file").is_some());
//! ```

use agentkit_core::tool::ToolSet;

mod ask_human;
mod edit_file;
mod edit_hint;
mod fallback;
#[cfg(feature = "repo-map")]
mod find_symbol;
mod finish;
mod git_diff;
mod grep;
mod grep_hits;
mod grep_host;
mod list_files;
mod read_file;
#[cfg(feature = "repo-map")]
mod repo_map;
mod run_tests;
#[cfg(feature = "repo-map")]
mod search_code;
mod shell;
mod text;
pub(crate) mod walk;
mod write_file;

#[cfg(test)]
mod tests;

pub use ask_human::{AskHuman, AskHumanArgs};
pub use edit_file::{EditFile, EditFileArgs};
#[cfg(feature = "repo-map")]
pub use find_symbol::{FindSymbol, FindSymbolArgs, SymbolShow};
pub use finish::{Finish, FinishArgs};
pub use git_diff::{GitDiff, GitDiffArgs};
pub use grep::{Grep, GrepArgs};
pub use list_files::{ListFiles, ListFilesArgs};
pub use read_file::{ReadFile, ReadFileArgs};
#[cfg(feature = "repo-map")]
pub use repo_map::{RepoMapArgs, RepoMapTool};
pub use run_tests::{RunTests, RunTestsArgs};
#[cfg(feature = "repo-map")]
pub use search_code::{SearchCode, SearchCodeArgs};
pub use shell::{Shell, ShellArgs};
pub use write_file::{WriteFile, WriteFileArgs};

/// Every tool in this module, ready to hand to an agent.
pub fn standard_tools() -> ToolSet {
    ToolSet::new()
        .with(ReadFile)
        .with(WriteFile)
        .with(EditFile)
        .with(ListFiles)
        .with(Grep)
        .with(Shell)
        .with(GitDiff)
        .with(Finish)
        .with(AskHuman)
        // What agents trained on other harnesses (mini-swe-agent, Claude's
        // bash tool) call a shell; the arguments are the same (`command`).
        .with_alias("bash", "shell")
}

/// `tools` with `repo_map`, `find_symbol` and `search_code` added, all over
/// `map`'s index (give the same [`RepoMap`](crate::context::RepoMap) to the
/// context engine, so the workspace is parsed once for both).
///
/// ```
/// use agentkit_tools::context::{CodeIndex, RepoMap};
/// use agentkit_tools::tools::{code_tools, standard_tools};
///
/// let map = RepoMap::new(CodeIndex::new());
/// let tools = code_tools(standard_tools(), &map);
/// assert!(tools.get("find_symbol").is_some());
/// ```
#[cfg(feature = "repo-map")]
pub fn code_tools(tools: ToolSet, map: &crate::context::RepoMap) -> ToolSet {
    tools
        .with(RepoMapTool::new(map.clone()))
        .with(FindSymbol::new(map.index().clone()))
        .with(SearchCode::new(crate::context::CodeSearch::new(
            map.index().clone(),
        )))
}
