//! Tools: typed for authors, erased for the engine.
//!
//! An author implements [`Tool`] with a typed `Args` (`DeserializeOwned +
//! JsonSchema`). The engine only sees [`DynTool`], which every `Tool` gets
//! for free: it publishes a [`ToolSpec`] (name, description, JSON schema,
//! annotations) and parses the model's raw argument text *strictly*. Invalid
//! arguments are never defaulted: the model is told the path and the problem.
//!
//! ```
//! use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Arguments of `shout`.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct ShoutArgs {
//!     /// The text to shout.
//!     text: String,
//! }
//!
//! struct Shout;
//!
//! #[async_trait::async_trait]
//! impl Tool for Shout {
//!     type Args = ShoutArgs;
//!     fn name(&self) -> &str { "shout" }
//!     fn description(&self) -> &str { "Upper-cases text." }
//!     fn annotations(&self) -> ToolAnnotations { ToolAnnotations::read_only() }
//!     async fn call(&self, args: ShoutArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
//!         Ok(ToolOutput::text(args.text.to_uppercase()))
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::sandbox::{Sandbox, SandboxError};
use crate::task::Task;

/// What the model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// When and how to use it.
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: serde_json::Value,
    /// Behavioural hints the engine and policies use.
    pub annotations: ToolAnnotations,
}

/// Behavioural hints about a tool (same meaning as MCP's tool annotations).
///
/// The engine runs consecutive `read_only` calls in parallel and every other
/// call alone, in the order the model gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolAnnotations {
    /// Changes nothing in its environment.
    pub read_only: bool,
    /// May destroy data (delete, overwrite) rather than only add.
    pub destructive: bool,
    /// Calling it twice with the same arguments has no further effect.
    pub idempotent: bool,
    /// Reaches outside the sandbox's closed world (network, external services).
    pub open_world: bool,
}

impl ToolAnnotations {
    /// A read-only, idempotent, closed-world tool.
    pub fn read_only() -> Self {
        Self {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        }
    }

    /// A tool that changes the workspace but destroys nothing it does not replace.
    pub fn mutating() -> Self {
        Self::default()
    }

    /// A tool that may overwrite or delete data.
    pub fn destructive() -> Self {
        Self {
            destructive: true,
            ..Self::default()
        }
    }
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolOutput {
    /// Text for the model to read.
    Text {
        /// The text.
        content: String,
    },
    /// The agent declares the task done.
    Finish {
        /// What was done, for the pull request and the operator.
        summary: String,
    },
    /// The agent cannot go on without a human.
    NeedsHuman {
        /// What the human must answer or do.
        question: String,
    },
}

impl ToolOutput {
    /// Text output.
    pub fn text(content: impl Into<String>) -> Self {
        ToolOutput::Text {
            content: content.into(),
        }
    }
}

/// A failed tool call.
///
/// `InvalidArguments` and `Failed` go back to the model so it can correct
/// itself; `Fatal` means the environment is broken and stops the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments did not match the schema.
    #[error("invalid arguments: {message}")]
    InvalidArguments {
        /// Exactly what was wrong, for the model.
        message: String,
    },
    /// The call ran and failed in a way the model can act on.
    #[error("{message}")]
    Failed {
        /// What the model is told.
        message: String,
        /// Extra detail for the operator only (logs, events), never shown to the model.
        operator_detail: Option<String>,
    },
    /// The environment is broken (sandbox died, disk gone): the run cannot go on.
    #[error("tool environment failure: {message}")]
    Fatal {
        /// What happened, for the operator.
        message: String,
    },
}

impl ToolError {
    /// A failure the model should read and act on.
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed {
            message: message.into(),
            operator_detail: None,
        }
    }

    /// What the model is told about this error.
    pub fn message_for_model(&self) -> String {
        match self {
            ToolError::InvalidArguments { message } => format!("Invalid arguments: {message}"),
            ToolError::Failed { message, .. } => message.clone(),
            ToolError::Fatal { .. } => {
                "The tool's environment failed; the run is stopping.".to_string()
            }
        }
    }
}

impl From<SandboxError> for ToolError {
    fn from(err: SandboxError) -> Self {
        if err.is_infrastructure() {
            ToolError::Fatal {
                message: err.to_string(),
            }
        } else {
            ToolError::failed(err.to_string())
        }
    }
}

/// What a tool call can reach.
#[derive(Clone)]
pub struct ToolContext {
    /// The sandbox the task runs in.
    pub sandbox: Arc<dyn Sandbox>,
    /// The task being worked on.
    pub task: Arc<Task>,
    /// The id of the call being answered.
    pub call_id: String,
    /// Fires when the run is cancelled; long tools should stop early.
    pub cancel: CancellationToken,
}

/// A tool with typed arguments. Implement this; the engine uses [`DynTool`].
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The arguments object. Prefer `#[serde(deny_unknown_fields)]` so typos are reported.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;

    /// The name the model calls it by (`[a-zA-Z0-9_-]{1,64}`).
    fn name(&self) -> &str;

    /// When and how to use it, for the model.
    fn description(&self) -> &str;

    /// Behavioural hints. The default (mutating, non-idempotent) is the safe one.
    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::default()
    }

    /// Runs the tool.
    async fn call(&self, args: Self::Args, cx: &ToolContext) -> Result<ToolOutput, ToolError>;
}

/// The object-safe form of a tool that the engine drives.
#[async_trait]
pub trait DynTool: Send + Sync {
    /// The tool's spec (name, description, schema, annotations).
    fn spec(&self) -> ToolSpec;

    /// Parses `arguments` (raw JSON text from the model) strictly and runs the tool.
    async fn call_raw(&self, arguments: &str, cx: &ToolContext) -> Result<ToolOutput, ToolError>;
}

#[async_trait]
impl<T: Tool> DynTool for T {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_string(),
            description: self.description().to_string(),
            parameters: schema_for_args::<T::Args>(),
            annotations: self.annotations(),
        }
    }

    async fn call_raw(&self, arguments: &str, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let args = parse_arguments::<T::Args>(arguments)?;
        self.call(args, cx).await
    }
}

/// The JSON schema of an arguments type, normalized for tool use: an object
/// schema without `$schema` or `title`.
pub fn schema_for_args<A: JsonSchema>() -> serde_json::Value {
    let schema = schemars::schema_for!(A);
    let mut value = serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        obj.entry("properties")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    value
}

/// Parses raw argument text into `A`, strictly.
///
/// Whitespace-only text counts as `{}` (several providers send an empty string
/// for a call without arguments), so missing required fields are still
/// reported. Any other problem names the JSON path and what was expected.
pub fn parse_arguments<A: DeserializeOwned>(raw: &str) -> Result<A, ToolError> {
    let text = if raw.trim().is_empty() { "{}" } else { raw };
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, A>(&mut de) {
        Ok(args) => {
            if de.end().is_err() {
                return Err(ToolError::InvalidArguments {
                    message:
                        "trailing characters after the JSON object; send exactly one JSON object"
                            .into(),
                });
            }
            Ok(args)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = if inner.is_syntax() || inner.is_eof() {
                format!(
                    "the arguments are not valid JSON ({inner}); send one JSON object, e.g. {{\"name\": \"value\"}}"
                )
            } else if path == "." || path.is_empty() {
                format!("{inner}")
            } else {
                format!("at `{path}`: {inner}")
            };
            Err(ToolError::InvalidArguments { message })
        }
    }
}

/// The tools an agent may call, by name, in a stable order.
#[derive(Clone, Default)]
pub struct ToolSet {
    tools: BTreeMap<String, Arc<dyn DynTool>>,
    /// Other names models use for a tool (`bash` for `shell`): alias → name.
    aliases: BTreeMap<String, String>,
}

impl ToolSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool, replacing one of the same name.
    pub fn with(mut self, tool: impl DynTool + 'static) -> Self {
        self.insert(Arc::new(tool));
        self
    }

    /// Adds a shared tool, replacing one of the same name.
    pub fn insert(&mut self, tool: Arc<dyn DynTool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    /// Adds every tool and alias of `other`, replacing those of the same name.
    pub fn extend(&mut self, other: ToolSet) {
        self.tools.extend(other.tools);
        self.aliases.extend(other.aliases);
    }

    /// Also accepts calls to `alias` as calls to the tool `name`: models
    /// trained on other agents call tools by the names they learnt there
    /// (`bash` for a shell). The model is only ever shown `name`; a call by
    /// the alias is recorded under `name`. An alias never hides a tool of
    /// the same name.
    pub fn with_alias(mut self, alias: impl Into<String>, name: impl Into<String>) -> Self {
        self.aliases.insert(alias.into(), name.into());
        self
    }

    /// The aliases whose tool is in the set (alias → tool name).
    pub fn aliases(&self) -> BTreeMap<String, String> {
        self.aliases
            .iter()
            .filter(|(alias, name)| {
                self.tools.contains_key(*name) && !self.tools.contains_key(*alias)
            })
            .map(|(alias, name)| (alias.clone(), name.clone()))
            .collect()
    }

    /// The tool called `name`, or the one `name` is an alias of.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn DynTool>> {
        self.tools
            .get(name)
            .or_else(|| self.tools.get(self.aliases.get(name)?))
    }

    /// The specs of every tool, sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|t| t.spec()).collect()
    }

    /// The names of every tool, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tools.keys().cloned().collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Args {
        path: String,
        #[serde(default)]
        start_line: Option<u64>,
    }

    fn invalid(raw: &str) -> String {
        match parse_arguments::<Args>(raw) {
            Err(ToolError::InvalidArguments { message }) => message,
            other => panic!("expected invalid arguments, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_field_and_the_expectation() {
        assert_eq!(
            invalid(r#"{"path":"a","start_line":"ten"}"#),
            "at `start_line`: invalid type: string \"ten\", expected u64 at line 1 column 30"
        );
    }

    #[test]
    fn missing_field_is_reported_not_defaulted() {
        assert_eq!(invalid("{}"), "missing field `path` at line 1 column 2");
        assert_eq!(invalid("  "), "missing field `path` at line 1 column 2");
    }

    #[test]
    fn unknown_field_is_reported() {
        let msg = invalid(r#"{"path":"a","line":3}"#);
        assert!(
            msg.contains("unknown field `line`, expected `path` or `start_line`"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_json_is_reported_as_invalid_json() {
        let msg = invalid(r#"{"path":"a"#);
        assert!(msg.starts_with("the arguments are not valid JSON"), "{msg}");
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        assert!(invalid(r#"{"path":"a"} {"#).contains("trailing characters"));
    }

    #[test]
    fn valid_arguments_parse() {
        assert_eq!(
            parse_arguments::<Args>(r#"{"path":"src/lib.rs","start_line":3}"#).unwrap(),
            Args {
                path: "src/lib.rs".into(),
                start_line: Some(3)
            }
        );
    }
}
