//! [`Fallback`]: moves on to the next model after selected failures.
//!
//! The algorithm, per call: try the models in order. A model that fails
//! before its first event (see [the first-event rule](super#the-first-event-rule))
//! with an error of a kind in the fallback set hands the call to the next
//! candidate; any other error, or the last model's error, is returned. After
//! a context-length error only models with a larger context window than the
//! one that failed are candidates: a smaller or equal window would fail too.
//!
//! The default set is rate limits, transient faults and exhausted quota:
//! failures of one provider or account that another may not share.
//! Context-length errors are off by default: the usual remedy is compacting
//! the conversation, and a bigger-window model is often a pricier one; enable
//! them with [`Fallback::on_context_length`] when the list holds one.

use std::collections::HashSet;
use std::sync::Arc;

use agentkit_core::model::{
    Model, ModelError, ModelErrorKind, ModelInfo, ModelRequest, ModelStream,
};
use agentkit_core::tokenizer::Tokenizer;
use async_trait::async_trait;

/// A model that tries a list of models in order. See the [module docs](self).
///
/// [`Model::info`] and [`Model::tokenizer`] are the primary's: budgets are
/// planned for the model that normally answers.
///
/// ```
/// use std::sync::Arc;
/// use agentkit_core::model::Model;
/// use agentkit_core::scripted::ScriptedModel;
/// use agentkit_llm::wrap::Fallback;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let request = agentkit_core::model::ModelRequest {
/// #     system: String::new(), messages: vec![], tools: vec![], tool_choice: Default::default(),
/// #     max_output_tokens: None, temperature: None, reasoning_effort: None,
/// # };
/// let broke = ScriptedModel::from_json(
///     r#"[{"error": {"kind": "quota", "message": "add credit"}}]"#,
///     "inline",
/// )?;
/// let backup = ScriptedModel::from_json(r#"[{"text": "from the backup"}]"#, "inline")?;
/// let model = Fallback::new(Arc::new(broke), [Arc::new(backup) as Arc<dyn Model>]);
/// assert_eq!(model.complete(request).await?.message.text(), "from the backup");
/// # Ok(())
/// # }
/// ```
pub struct Fallback {
    primary: Arc<dyn Model>,
    fallbacks: Vec<Arc<dyn Model>>,
    kinds: HashSet<ModelErrorKind>,
}

impl Fallback {
    /// Error kinds that fall back by default.
    pub const DEFAULT_KINDS: [ModelErrorKind; 3] = [
        ModelErrorKind::RateLimited,
        ModelErrorKind::Transient,
        ModelErrorKind::Quota,
    ];

    /// Tries `primary`, then each of `fallbacks` in order, on the
    /// [default kinds](Self::DEFAULT_KINDS).
    pub fn new(
        primary: Arc<dyn Model>,
        fallbacks: impl IntoIterator<Item = Arc<dyn Model>>,
    ) -> Self {
        Self {
            primary,
            fallbacks: fallbacks.into_iter().collect(),
            kinds: Self::DEFAULT_KINDS.into_iter().collect(),
        }
    }

    /// Falls back on exactly these error kinds.
    pub fn on_kinds(mut self, kinds: impl IntoIterator<Item = ModelErrorKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Also falls back on context-length errors, to models with a larger
    /// context window than the one that failed.
    pub fn on_context_length(mut self) -> Self {
        self.kinds.insert(ModelErrorKind::ContextLength);
        self
    }

    /// Whether an error of `kind` moves the call to the next model.
    pub fn falls_back_on(&self, kind: ModelErrorKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The model tried first.
    pub fn primary(&self) -> &Arc<dyn Model> {
        &self.primary
    }

    /// The models tried after the primary, in order.
    pub fn fallbacks(&self) -> &[Arc<dyn Model>] {
        &self.fallbacks
    }
}

#[async_trait]
impl Model for Fallback {
    fn info(&self) -> &ModelInfo {
        self.primary.info()
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        self.primary.tokenizer()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let mut model = &self.primary;
        let mut candidates = self.fallbacks.iter();
        // The context window the next candidate must exceed, after a
        // context-length error.
        let mut must_exceed = 0;
        loop {
            let error = match super::first_event(model.as_ref(), request.clone()).await {
                Ok(stream) => return Ok(stream),
                Err(error) => error,
            };
            if !self.falls_back_on(error.kind()) {
                return Err(error);
            }
            if error.kind() == ModelErrorKind::ContextLength {
                must_exceed = must_exceed.max(model.info().context_window);
            }
            let Some(next) = candidates.find(|next| next.info().context_window > must_exceed)
            else {
                return Err(error);
            };
            tracing::warn!(
                model = %model.info().name,
                next = %next.info().name,
                kind = ?error.kind(),
                error = %error,
                "model call failed; falling back to the next model"
            );
            model = next;
        }
    }
}
