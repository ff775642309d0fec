//! Hooks: policy at fixed points of the loop.
//!
//! A [`Hook`] has one method per point; each returns an action enum, so a
//! decision is always one of the allowed shapes. Every method defaults to
//! letting the step run. Hooks run in the order they were added; the first
//! one that does not return `Run` decides. Events (see [`crate::event`]) only
//! observe; hooks decide.

use async_trait::async_trait;

use crate::forge::PublishRequest;
use crate::message::{ToolCall, ToolResult};
use crate::model::ModelRequest;
use crate::task::Task;

/// Decision before a model call.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelCallAction {
    /// Send the request as is.
    Run,
    /// Send this request instead.
    Rewrite(Box<ModelRequest>),
    /// End the run.
    Stop {
        /// Why, for the operator.
        reason: String,
    },
}

/// Decision before a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCallAction {
    /// Run the call as the model asked.
    Run,
    /// Run the call with these arguments (JSON text) instead.
    Rewrite {
        /// The replacement arguments.
        arguments: String,
    },
    /// Do not run it; the model is told `reason` as the call's (error) result.
    Skip {
        /// Why, for the model.
        reason: String,
    },
    /// End the run.
    Stop {
        /// Why, for the operator.
        reason: String,
    },
}

/// Decision after a tool produced its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolResultAction {
    /// Keep the result.
    Keep,
    /// Replace what the model reads (redaction, summarising).
    Rewrite {
        /// The replacement content.
        content: String,
    },
    /// End the run.
    Stop {
        /// Why, for the operator.
        reason: String,
    },
}

/// Decision before publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAction {
    /// Publish.
    Run,
    /// Do not publish; the run still ends as finished.
    Skip {
        /// Why, for the operator.
        reason: String,
    },
    /// End the run without publishing, as stopped.
    Stop {
        /// Why, for the operator.
        reason: String,
    },
}

/// A policy hook. Override only the points you need.
#[async_trait]
pub trait Hook: Send + Sync {
    /// Before each model call.
    async fn before_model_call(&self, _task: &Task, _request: &ModelRequest) -> ModelCallAction {
        ModelCallAction::Run
    }

    /// Before each tool call.
    async fn before_tool_call(&self, _task: &Task, _call: &ToolCall) -> ToolCallAction {
        ToolCallAction::Run
    }

    /// After each tool call, before the model sees the result.
    async fn after_tool_result(&self, _task: &Task, _result: &ToolResult) -> ToolResultAction {
        ToolResultAction::Keep
    }

    /// Before the work is published.
    async fn before_publish(&self, _request: &PublishRequest) -> PublishAction {
        PublishAction::Run
    }
}
