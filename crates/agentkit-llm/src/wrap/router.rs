//! [`Router`]: sends each call to a cheap or a capable model.
//!
//! Most steps of a coding agent are routine (read a file, run the tests, make
//! the edit that was planned); a few need the stronger model (planning the
//! work, recovering when things go wrong). A [`RoutePolicy`] looks at each
//! request and picks a [`Tier`]; the default, [`EscalatingPolicy`], uses the
//! capable model to plan and after repeated failures, and the cheap one
//! otherwise.

use std::borrow::Cow;
use std::sync::Arc;

use agentkit_core::message::{Message, Part, Role};
use agentkit_core::model::{Model, ModelError, ModelInfo, ModelRequest, ModelStream};
use agentkit_core::tokenizer::Tokenizer;
use async_trait::async_trait;

/// Which of the router's models answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The cheap, fast model.
    Cheap,
    /// The stronger, pricier model.
    Capable,
}

impl Tier {
    /// `cheap` or `capable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Cheap => "cheap",
            Tier::Capable => "capable",
        }
    }
}

/// A routing decision: the tier and why (logged with every call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The model that answers.
    pub tier: Tier,
    /// Why, for logs: `first turn: planning`, `2 consecutive tool errors`.
    pub reason: Cow<'static, str>,
}

impl Route {
    /// Routes to the cheap model.
    pub fn cheap(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            tier: Tier::Cheap,
            reason: reason.into(),
        }
    }

    /// Routes to the capable model.
    pub fn capable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            tier: Tier::Capable,
            reason: reason.into(),
        }
    }
}

/// Picks the model for each call. Any `Fn(&ModelRequest) -> Route` is one.
pub trait RoutePolicy: Send + Sync {
    /// The route for `request`.
    fn route(&self, request: &ModelRequest) -> Route;
}

impl<F> RoutePolicy for F
where
    F: Fn(&ModelRequest) -> Route + Send + Sync,
{
    fn route(&self, request: &ModelRequest) -> Route {
        self(request)
    }
}

/// The start of the feedback the engine sends when verification fails
/// (see [`Verification::feedback`](agentkit_core::verify::Verification::feedback)).
const VERIFICATION_FAILED: &str = "Verification failed.";

/// The default policy: capable when planning or recovering, cheap otherwise.
///
/// In order, a request goes to the capable model when:
///
/// 1. the conversation holds no assistant message yet: the first turn plans
///    the work, and a good plan saves many cheap turns;
/// 2. the engine reported a failed verification since the model's last reply
///    (its feedback starts with `Verification failed.`): the model claimed to
///    be done and was wrong;
/// 3. the most recent tool results are errors, `failure_threshold` (default
///    2) or more in a row: the cheap model is stuck.
///
/// Everything else goes to the cheap model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalatingPolicy {
    failure_threshold: usize,
    escalate_on_verification_failure: bool,
}

impl Default for EscalatingPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            escalate_on_verification_failure: true,
        }
    }
}

impl EscalatingPolicy {
    /// The default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Escalates after `failures` consecutive tool errors (at least 1).
    pub fn with_failure_threshold(mut self, failures: usize) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// Does not escalate on verification feedback (tool errors still count).
    pub fn without_verification_escalation(mut self) -> Self {
        self.escalate_on_verification_failure = false;
        self
    }
}

impl RoutePolicy for EscalatingPolicy {
    fn route(&self, request: &ModelRequest) -> Route {
        let messages = &request.messages;
        let Some(last_reply) = messages.iter().rposition(|m| m.role == Role::Assistant) else {
            return Route::capable("first turn: planning");
        };
        if self.escalate_on_verification_failure
            && messages[last_reply + 1..]
                .iter()
                .any(is_verification_failure)
        {
            return Route::capable("verification failed");
        }
        let errors = trailing_tool_errors(messages);
        if errors >= self.failure_threshold {
            return Route::capable(format!("{errors} consecutive tool errors"));
        }
        Route::cheap("routine step")
    }
}

fn is_verification_failure(message: &Message) -> bool {
    message.role == Role::User
        && message.parts.iter().any(|part| {
            matches!(part, Part::Text { text } if text.trim_start().starts_with(VERIFICATION_FAILED))
        })
}

/// How many of the most recent tool results are errors, counting back to
/// the latest success.
fn trailing_tool_errors(messages: &[Message]) -> usize {
    messages
        .iter()
        .rev()
        .flat_map(|m| m.tool_results().collect::<Vec<_>>().into_iter().rev())
        .take_while(|result| result.is_error)
        .count()
}

/// A model that routes each call to a cheap or a capable model by a
/// [`RoutePolicy`]. See the [module docs](self).
///
/// [`Model::info`] and [`Model::tokenizer`] are the capable model's, so
/// context budgets are planned for the larger window.
///
/// ```
/// use std::sync::Arc;
/// use agentkit_core::model::{Model, ModelRequest};
/// use agentkit_core::scripted::ScriptedModel;
/// use agentkit_llm::wrap::{Route, Router};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let request = ModelRequest {
/// #     system: String::new(), messages: vec![], tools: vec![], tool_choice: Default::default(),
/// #     max_output_tokens: None, temperature: None, reasoning_effort: None,
/// # };
/// let cheap = Arc::new(ScriptedModel::from_json(r#"[{"text": "cheap"}]"#, "inline")?);
/// let capable = Arc::new(ScriptedModel::from_json(r#"[{"text": "capable"}]"#, "inline")?);
/// // The default policy plans the first turn with the capable model.
/// let router = Router::new(cheap.clone(), capable.clone());
/// assert_eq!(router.complete(request.clone()).await?.message.text(), "capable");
/// // A custom policy: any closure from a request to a route.
/// let router = Router::new(cheap, capable)
///     .with_policy(|_: &ModelRequest| Route::cheap("always cheap"));
/// assert_eq!(router.complete(request).await?.message.text(), "cheap");
/// # Ok(())
/// # }
/// ```
pub struct Router {
    cheap: Arc<dyn Model>,
    capable: Arc<dyn Model>,
    policy: Box<dyn RoutePolicy>,
}

impl Router {
    /// Routes between `cheap` and `capable` with the [`EscalatingPolicy`].
    pub fn new(cheap: Arc<dyn Model>, capable: Arc<dyn Model>) -> Self {
        Self {
            cheap,
            capable,
            policy: Box::new(EscalatingPolicy::default()),
        }
    }

    /// Replaces the routing policy.
    pub fn with_policy(mut self, policy: impl RoutePolicy + 'static) -> Self {
        self.policy = Box::new(policy);
        self
    }

    /// The route the policy picks for `request`.
    pub fn route(&self, request: &ModelRequest) -> Route {
        self.policy.route(request)
    }

    /// The model serving `tier`.
    pub fn model(&self, tier: Tier) -> &Arc<dyn Model> {
        match tier {
            Tier::Cheap => &self.cheap,
            Tier::Capable => &self.capable,
        }
    }
}

#[async_trait]
impl Model for Router {
    fn info(&self) -> &ModelInfo {
        self.capable.info()
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        self.capable.tokenizer()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let route = self.route(&request);
        let model = self.model(route.tier);
        tracing::debug!(
            tier = route.tier.as_str(),
            model = %model.info().name,
            reason = %route.reason,
            "routed model call"
        );
        model.stream(request).await
    }
}
