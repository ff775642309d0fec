//! # agentkit-tools
//!
//! The batteries of agentkit: agent tools, context providers, verifiers and forges.
//!
//! - [`tools`]: `read_file`, `write_file`, `edit_file`, `list_files`, `grep`,
//!   `shell`, `git_diff`, `finish`, `ask_human` — all through the `Sandbox` trait.
//! - [`context`]: rule files (`AGENTS.md`, `CLAUDE.md`, `.cursorrules`, ...).
//! - [`verify`]: [`verify::CommandVerifier`] runs the project's checks in the sandbox.
//! - [`forge`]: [`forge::LocalForge`], tickets from files and pull requests
//!   recorded next to a bare "origin" repository.

#![warn(missing_docs)]

pub mod context;
pub mod forge;
pub mod tools;
pub mod verify;
