//! How an [`super::Anthropic`] backend is set up.

use agentkit_core::model::ModelInfo;

/// The public Anthropic API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The API version this backend speaks (the `anthropic-version` header).
pub const DEFAULT_API_VERSION: &str = "2023-06-01";

/// Settings of an [`super::Anthropic`] backend.
///
/// Start from [`AnthropicConfig::new`] and override fields with struct update
/// syntax:
///
/// ```
/// use agentkit_llm::anthropic::AnthropicConfig;
///
/// let config = AnthropicConfig {
///     thinking: Some(8192),
///     ..AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-example")
/// };
/// assert!(!format!("{config:?}").contains("sk-ant-example"));
/// ```
#[derive(Clone, PartialEq)]
pub struct AnthropicConfig {
    /// Where the API lives, without `/v1` (default [`DEFAULT_BASE_URL`]).
    /// Requests go to `{base_url}/v1/messages`.
    pub base_url: String,
    /// The key sent as `x-api-key`. An empty key sends no header (for a
    /// proxy that adds its own).
    pub api_key: String,
    /// The model, e.g. `claude-sonnet-4-5`.
    pub model: String,
    /// The `anthropic-version` header (default [`DEFAULT_API_VERSION`]).
    pub anthropic_version: String,
    /// Beta features, sent comma-separated as `anthropic-beta` when not empty.
    pub beta: Vec<String>,
    /// `max_tokens` for requests that set no `max_output_tokens` (the API
    /// requires one). `None` uses the model's output limit.
    pub max_tokens: Option<u64>,
    /// Extended thinking's `budget_tokens` for requests that name no
    /// reasoning effort; `None` thinks only when a request asks to. See
    /// [`super::thinking`] for how the budget is fitted to each call.
    pub thinking: Option<u64>,
    /// Whether to mark prompt-cache breakpoints (default on).
    pub prompt_caching: bool,
    /// `Some(false)` asks for at most one tool call per reply
    /// (`disable_parallel_tool_use`); `None` leaves the API's default
    /// (parallel calls allowed).
    pub parallel_tool_calls: Option<bool>,
    /// What the model is, overriding the built-in catalog.
    pub info: Option<ModelInfo>,
}

impl AnthropicConfig {
    /// A configuration for `model` with `api_key` and every default.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            model: model.into(),
            anthropic_version: DEFAULT_API_VERSION.to_owned(),
            beta: Vec::new(),
            max_tokens: None,
            thinking: None,
            prompt_caching: true,
            parallel_tool_calls: None,
            info: None,
        }
    }
}

impl std::fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.api_key.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        };
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &key)
            .field("model", &self.model)
            .field("anthropic_version", &self.anthropic_version)
            .field("beta", &self.beta)
            .field("max_tokens", &self.max_tokens)
            .field("thinking", &self.thinking)
            .field("prompt_caching", &self.prompt_caching)
            .field("parallel_tool_calls", &self.parallel_tool_calls)
            .field("info", &self.info)
            .finish()
    }
}
