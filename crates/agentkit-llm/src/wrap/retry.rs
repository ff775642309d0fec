//! [`Retry`]: calls again after a retryable failure.
//!
//! The algorithm, per call:
//!
//! 1. Start the call on the inner model and wait for its first event
//!    (see [the first-event rule](super#the-first-event-rule)).
//! 2. On success, return the stream. Errors the stream yields later are
//!    passed on, never retried.
//! 3. On failure, ask [`RetryPolicy::delay_for`] how long to wait: `None`
//!    (not retryable, or retries used up) returns the error; otherwise log
//!    the retry, sleep, and go back to 1 with the same request.

use std::sync::Arc;

use agentkit_core::model::{Model, ModelError, ModelInfo, ModelRequest, ModelStream};
use agentkit_core::tokenizer::Tokenizer;
use async_trait::async_trait;

use crate::retry::RetryPolicy;

/// A model that retries failed calls according to a [`RetryPolicy`].
///
/// Only [retryable](ModelError::is_retryable) errors are retried (rate
/// limits and transient faults); quota, context-length, credential and
/// invalid-request errors are returned at once. A provider's `Retry-After`
/// is honoured within the policy's cap.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agentkit_core::model::Model;
/// use agentkit_core::scripted::ScriptedModel;
/// use agentkit_llm::RetryPolicy;
/// use agentkit_llm::wrap::Retry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let request = agentkit_core::model::ModelRequest {
/// #     system: String::new(), messages: vec![], tools: vec![], tool_choice: Default::default(),
/// #     max_output_tokens: None, temperature: None, reasoning_effort: None,
/// # };
/// let flaky = ScriptedModel::from_json(
///     r#"[{"error": {"kind": "transient", "message": "overloaded"}}, {"text": "hi"}]"#,
///     "inline",
/// )?;
/// let policy = RetryPolicy {
///     initial_backoff: Duration::from_millis(1),
///     ..RetryPolicy::default()
/// };
/// let model = Retry::new(Arc::new(flaky), policy);
/// assert_eq!(model.complete(request).await?.message.text(), "hi");
/// # Ok(())
/// # }
/// ```
pub struct Retry {
    inner: Arc<dyn Model>,
    policy: RetryPolicy,
}

impl Retry {
    /// Wraps `inner`, retrying by `policy`.
    pub fn new(inner: Arc<dyn Model>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wrapped model.
    pub fn inner(&self) -> &Arc<dyn Model> {
        &self.inner
    }
}

#[async_trait]
impl Model for Retry {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        self.inner.tokenizer()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        self.policy
            .run(&self.inner.info().name, || {
                super::first_event(self.inner.as_ref(), request.clone())
            })
            .await
    }
}
