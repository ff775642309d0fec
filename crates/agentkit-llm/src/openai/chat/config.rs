//! What an [`OpenAiChat`](super::OpenAiChat) talks to and how.

use agentkit_core::model::{ModelInfo, ReasoningEffort};

/// OpenAI's API root.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Where and how to reach a Chat Completions endpoint.
///
/// Build one with [`OpenAiChatConfig::openai`] or
/// [`OpenAiChatConfig::compatible`] (they pick the right [`ChatQuirks`]),
/// then adjust it with the `with_*` setters or by assigning fields.
///
/// `Debug` never prints the API key or the values of extra headers.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct OpenAiChatConfig {
    /// The API root; `/chat/completions` is appended (a trailing `/` is ignored).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set and not empty.
    pub api_key: Option<String>,
    /// The model's name as the server knows it, e.g. `gpt-4.1` or `qwen3:8b`.
    pub model: String,
    /// The provider named in [`ModelInfo::provider`] and used for the
    /// catalog lookup, e.g. `openai`, `openai-compatible`, `openrouter`.
    pub provider_label: String,
    /// `OpenAI-Organization` header.
    pub organization: Option<String>,
    /// `OpenAI-Project` header.
    pub project: Option<String>,
    /// More headers sent with every request (names are lower-cased).
    pub extra_headers: Vec<(String, String)>,
    /// The reasoning effort sent when a request names none. Setting it also
    /// declares that the model reasons: a request's own effort is otherwise
    /// only sent when [`ModelInfo::capabilities`] says the model reasons,
    /// because OpenAI rejects `reasoning_effort` for other models.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// `parallel_tool_calls`, sent only when set and the request has tools.
    pub parallel_tool_calls: Option<bool>,
    /// Ask for a final usage chunk when streaming (`stream_options`). Some
    /// compatible servers reject `stream_options`; turn this off for them.
    pub include_usage_in_stream: bool,
    /// Where the server departs from OpenAI's own behaviour.
    pub quirks: ChatQuirks,
    /// What the model is; `None` looks it up in [`crate::catalog`].
    pub info: Option<ModelInfo>,
}

/// The differences between OpenAI and the servers that copy its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatQuirks {
    /// The field that carries the output cap.
    pub max_tokens_field: MaxTokensField,
    /// The role the system prompt is sent as.
    pub system_role: SystemRole,
}

impl ChatQuirks {
    /// OpenAI itself: `max_completion_tokens`, `developer` for reasoning models.
    pub fn openai() -> Self {
        Self {
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
            system_role: SystemRole::ByModel,
        }
    }

    /// A typical OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM
    /// Studio): `max_tokens` and a plain `system` message, which their chat
    /// templates understand.
    pub fn compatible() -> Self {
        Self {
            max_tokens_field: MaxTokensField::MaxTokens,
            system_role: SystemRole::System,
        }
    }
}

impl Default for ChatQuirks {
    fn default() -> Self {
        Self::openai()
    }
}

/// The request field that caps the reply's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current field; its reasoning models
    /// reject `max_tokens`.
    MaxCompletionTokens,
    /// `max_tokens`: deprecated by OpenAI, but the only one many compatible
    /// servers know.
    MaxTokens,
}

impl MaxTokensField {
    /// The field's name on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

/// The role the system prompt is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemRole {
    /// `developer` for OpenAI's reasoning models (`o1`, `o3`, `o4-mini`,
    /// `gpt-5`…; OpenAI documents that developer messages replace system
    /// messages there), `system` for every other model.
    ByModel,
    /// Always `system`.
    System,
    /// Always `developer`.
    Developer,
}

impl SystemRole {
    /// The role name used for `model`.
    pub fn role_for(&self, model: &str) -> &'static str {
        match self {
            SystemRole::System => "system",
            SystemRole::Developer => "developer",
            SystemRole::ByModel if is_openai_reasoning_model(model) => "developer",
            SystemRole::ByModel => "system",
        }
    }
}

/// Whether `model` names one of OpenAI's reasoning families: `o` followed by
/// a digit (`o1`, `o3-mini`, `o4-mini`) or `gpt-5` and later point releases.
pub(super) fn is_openai_reasoning_model(model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    let mut chars = model.chars();
    let o_series = chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit());
    o_series || model.starts_with("gpt-5")
}

impl OpenAiChatConfig {
    /// OpenAI's own API for `model`, authenticated with `api_key`.
    pub fn openai(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: OPENAI_BASE_URL.into(),
            api_key: Some(api_key.into()),
            model: model.into(),
            provider_label: "openai".into(),
            organization: None,
            project: None,
            extra_headers: Vec::new(),
            reasoning_effort: None,
            parallel_tool_calls: None,
            include_usage_in_stream: true,
            quirks: ChatQuirks::openai(),
            info: None,
        }
    }

    /// An OpenAI-compatible server at `base_url` (e.g.
    /// `http://localhost:8000/v1` for vLLM, `http://localhost:11434/v1` for
    /// Ollama), with an optional key.
    pub fn compatible(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            provider_label: "openai-compatible".into(),
            quirks: ChatQuirks::compatible(),
            ..Self::openai(model, String::new())
        }
    }

    /// The same config with another provider label (e.g. `openrouter`).
    pub fn with_provider_label(mut self, label: impl Into<String>) -> Self {
        self.provider_label = label.into();
        self
    }

    /// The same config with an `OpenAI-Organization` header.
    pub fn with_organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// The same config with an `OpenAI-Project` header.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The same config with one more header on every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// The same config with a default reasoning effort (see the field).
    pub fn with_reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning_effort = Some(effort);
        self
    }

    /// The same config sending `parallel_tool_calls`.
    pub fn with_parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// The same config asking (or not) for usage at the end of a stream.
    pub fn with_usage_in_stream(mut self, include: bool) -> Self {
        self.include_usage_in_stream = include;
        self
    }

    /// The same config with other quirks.
    pub fn with_quirks(mut self, quirks: ChatQuirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// The same config with the model's info given instead of looked up.
    pub fn with_info(mut self, info: ModelInfo) -> Self {
        self.info = Some(info);
        self
    }

    /// The endpoint requests are posted to.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

impl std::fmt::Debug for OpenAiChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.api_key.as_ref().map(|_| "<redacted>");
        let headers: Vec<(&str, &str)> = self
            .extra_headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("OpenAiChatConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &key)
            .field("model", &self.model)
            .field("provider_label", &self.provider_label)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("extra_headers", &headers)
            .field("reasoning_effort", &self.reasoning_effort)
            .field("parallel_tool_calls", &self.parallel_tool_calls)
            .field("include_usage_in_stream", &self.include_usage_in_stream)
            .field("quirks", &self.quirks)
            .field("info", &self.info)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_families_get_the_developer_role_by_model() {
        let role = |m| SystemRole::ByModel.role_for(m);
        for m in [
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
        ] {
            assert_eq!(role(m), "developer", "{m}");
        }
        for m in ["gpt-4o", "gpt-4.1-mini", "omni-moderation-latest", "llama3"] {
            assert_eq!(role(m), "system", "{m}");
        }
        assert_eq!(SystemRole::System.role_for("o3"), "system");
    }

    #[test]
    fn debug_redacts_the_key_and_header_values() {
        let config =
            OpenAiChatConfig::openai("gpt-4o", "sk-secret").with_header("x-api-key", "also-secret");
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(printed.contains("x-api-key"), "{printed}");
    }

    #[test]
    fn endpoint_ignores_a_trailing_slash() {
        let config = OpenAiChatConfig::compatible("http://localhost:8000/v1/", "m", None);
        assert_eq!(
            config.endpoint(),
            "http://localhost:8000/v1/chat/completions"
        );
    }
}
