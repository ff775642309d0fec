//! # agentkit
//!
//! A framework for building *background coding agents*: a ticket comes in,
//! an agent works on it alone in a sandbox — reads the code, edits it, runs
//! the tests, reads the failures, tries again — and hands back a pull request
//! for a human to review.
//!
//! This crate is the facade. It re-exports the workspace crates behind cargo
//! features and offers [`job::FixIssue`], a complete agent assembled from the
//! default parts (local sandbox, standard tools, rule-file context, command
//! verifier, local forge), and [`best_of::BestOf`]: N attempts in parallel,
//! one pull request.
//!
//! | feature | crate | default |
//! | --- | --- | --- |
//! | (always) | [`core`] — types, traits, engine, driver | yes |
//! | `llm` | [`llm`] — model backends and model specs | yes |
//! | `sandbox-local` | [`sandbox`] — the `local` sandbox backend | yes |
//! | `sandbox-bwrap` | `sandbox::bwrap` — the `bwrap` backend (Linux, bubblewrap); implies `sandbox-local` | no |
//! | `sandbox-docker` | [`sandbox`] — also the `docker` backend (a container per sandbox) | no |
//! | `tools` | [`tools`] — tools, context, verifiers, forges | yes |
//! | `eval` | `eval` — the eval harness; `external` — CLI agents (mini-swe-agent, Codex CLI, Claude Code, aider) as backbones | no |
//! | `daemon` | `server` — the control plane and the `agentd` binary | no |
//!
//! The smallest complete agent, assembled by hand:
//!
//! ```no_run
//! # #[cfg(all(feature = "llm", feature = "sandbox-local", feature = "tools"))]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use agentkit::core::prelude::*;
//! use agentkit::core::worker::run_task;
//!
//! let model = agentkit::llm::from_spec("scripted:examples/data/roman-trajectory.json")?;
//! let agent = Agent::builder(model)
//!     .tools(agentkit::tools::tools::standard_tools())
//!     .verifier(agentkit::tools::verify::CommandVerifier::new().check("tests", "cargo test --offline"))
//!     .sink(TracingSink)
//!     .build();
//! let task = Task::new("ROMAN-1", "to_roman(4) is IIII", "It should be IV.", RepoRef::new("/path/to/repo"));
//! let provider = agentkit::sandbox::local::LocalProvider::new();
//! let spec = SandboxSpec::new("/path/to/repo");
//! let outcome = run_task(&agent, &provider, &spec, task, CancellationToken::new()).await?;
//! println!("{}", outcome.stop_reason);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub use agentkit_core as core;
#[cfg(feature = "llm")]
pub use agentkit_llm as llm;
#[cfg(feature = "sandbox-local")]
pub use agentkit_sandbox as sandbox;
#[cfg(feature = "server")]
pub use agentkit_server as server;
#[cfg(feature = "tools")]
pub use agentkit_tools as tools;

#[cfg(all(feature = "sandbox-local", feature = "tools"))]
pub mod best_of;
#[cfg(all(feature = "sandbox-local", feature = "tools"))]
pub mod demo;
#[cfg(feature = "eval")]
pub mod eval;
#[cfg(feature = "eval")]
pub mod external;
#[cfg(all(feature = "sandbox-local", feature = "tools"))]
pub mod job;
pub mod progress;

/// The README's code blocks, compiled as doctests so the README cannot rot.
#[cfg(all(doctest, feature = "llm", feature = "sandbox-local", feature = "tools"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
