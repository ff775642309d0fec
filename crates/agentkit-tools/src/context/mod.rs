//! Context providers: what the model is shown besides the conversation.
//!
//! Each provider implements [`ContextProvider`]: given the task, the sandbox,
//! the conversation so far and a token budget, it returns ranked
//! [`ContextItem`]s, best first; the `ContextEngine` packs the items of all
//! providers by priority into its token budget. Providers read the repository
//! only through the [`Sandbox`](agentkit_core::sandbox::Sandbox) file API, so
//! the sandbox's path checks (nothing outside the workspace, symlinks
//! included) apply to them too. A provider fails only when it cannot work at
//! all; a single unreadable file is reported in its items instead.
//!
//! - [`RuleFiles`] (`rules`): `AGENTS.md` from the repository root down to the
//!   working directory, plus `CLAUDE.md`, `.cursorrules` and
//!   `.github/copilot-instructions.md`.
//!
//! [`ContextProvider`]: agentkit_core::context::ContextProvider
//! [`ContextItem`]: agentkit_core::context::ContextItem

#[cfg(feature = "repo-map")]
pub mod code;
#[cfg(feature = "repo-map")]
pub mod rank;
#[cfg(feature = "repo-map")]
mod repo_map;
#[cfg(feature = "repo-map")]
mod retrieval;
mod rules;

#[cfg(feature = "repo-map")]
pub use code::CodeIndex;
#[cfg(feature = "repo-map")]
pub use repo_map::{RenderedMap, RepoMap};
#[cfg(feature = "repo-map")]
pub use retrieval::{CodeHit, CodeSearch, EmbedError, Embedder};
pub use rules::RuleFiles;

#[cfg(test)]
mod tests;
