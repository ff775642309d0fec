//! # agentkit-sandbox
//!
//! Sandbox backends for agentkit.

#![warn(missing_docs)]

pub mod local;
