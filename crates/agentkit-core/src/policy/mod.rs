//! Policies: ready-made [`Hook`](crate::hook::Hook)s that decide which tool
//! calls may run.
//!
//! - [`ToolAllowList`] — only the named tools run.
//! - [`CommandPolicy`] — shell commands matching deny rules are refused
//!   (pushing, fetching scripts into a shell, privilege escalation, ...).
//! - [`PathPolicy`] — file-writing tools may not touch paths matching deny globs.
//! - [`contract`] — the completion contract a change must meet before it is
//!   published (checked host-side on the handed-over commits, not a hook).
//! - [`file`](mod@file) — all of the above, budgets and the network allow-list from one
//!   TOML file per repository (`.agentkit/policy.toml`) and per operator.
//!
//! A refused call is *skipped*, not failed: the model is told the reason as
//! the call's result and can choose another way. Policies read the call's raw
//! arguments; arguments that are not valid JSON are let through, because the
//! tool itself reports them precisely.
//!
//! ```
//! use agentkit_core::policy::{CommandPolicy, PathPolicy, ToolAllowList};
//!
//! let commands = CommandPolicy::default().deny(r"\bnpm\s+publish\b", "publishing packages is not allowed").unwrap();
//! let paths = PathPolicy::default().deny(".github/workflows/**").unwrap();
//! let tools = ToolAllowList::new(["read_file", "grep", "finish"]);
//! # let _ = (commands, paths, tools);
//! ```

mod commands;
pub mod contract;
#[cfg(feature = "policy-file")]
pub mod file;
mod paths;
mod tools;

pub use commands::CommandPolicy;
pub use paths::PathPolicy;
pub use tools::ToolAllowList;

/// A policy rule could not be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy rule `{rule}`: {message}")]
pub struct PolicyError {
    /// The rule as given.
    pub rule: String,
    /// What is wrong with it.
    pub message: String,
}

/// The string argument `field` of a call's raw JSON arguments, if any.
fn string_argument(arguments: &str, field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(arguments).ok()?;
    value.get(field)?.as_str().map(str::to_string)
}
