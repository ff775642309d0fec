//! Behaviour of the model wrappers, against a fake inner model.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentkit_core::message::{Message, Part, Role, ToolCall, ToolResult};
use agentkit_core::model::{
    Capabilities, ErrorDetail, FinishReason, Model, ModelError, ModelErrorKind, ModelInfo,
    ModelRequest, ModelStream, StreamEvent,
};
use agentkit_core::usage::{Pricing, Usage};
use agentkit_llm::RetryPolicy;
use agentkit_llm::wrap::{
    EscalatingPolicy, Fallback, Meter, Metered, Retry, Route, RoutePolicy, Router, Tier,
};
use async_trait::async_trait;
use futures::StreamExt;
use support::quick;

// ---------------------------------------------------------------- fixtures

/// What one call to the fake returns.
enum Outcome {
    /// `stream()` fails.
    Fail(ModelError),
    /// `stream()` returns these items.
    Items(Vec<Result<StreamEvent, ModelError>>),
}

/// A model that replays outcomes and records when it was called.
struct Fake {
    info: ModelInfo,
    outcomes: Mutex<VecDeque<Outcome>>,
    calls: Mutex<Vec<Instant>>,
}

impl Fake {
    fn new(name: &str, outcomes: Vec<Outcome>) -> Arc<Self> {
        Self::with_window(name, 128_000, outcomes)
    }

    fn with_window(name: &str, context_window: u64, outcomes: Vec<Outcome>) -> Arc<Self> {
        Arc::new(Self {
            info: ModelInfo {
                name: name.into(),
                provider: "fake".into(),
                context_window,
                max_output_tokens: 8_000,
                pricing: None,
                capabilities: Capabilities::default(),
            },
            outcomes: Mutex::new(outcomes.into()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn priced(name: &str, pricing: Pricing, outcomes: Vec<Outcome>) -> Arc<Self> {
        let mut fake = Arc::into_inner(Self::new(name, outcomes)).unwrap();
        fake.info.pricing = Some(pricing);
        Arc::new(fake)
    }

    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// The time between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[async_trait]
impl Model for Fake {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn stream(&self, _request: ModelRequest) -> Result<ModelStream, ModelError> {
        self.calls.lock().unwrap().push(Instant::now());
        match self.outcomes.lock().unwrap().pop_front() {
            Some(Outcome::Fail(error)) => Err(error),
            Some(Outcome::Items(items)) => Ok(futures::stream::iter(items).boxed()),
            None => Err(ModelError::Permanent {
                detail: ErrorDetail::message(format!("{} has no outcome left", self.info.name)),
            }),
        }
    }
}

fn error(kind: ModelErrorKind, message: &str) -> ModelError {
    let detail = ErrorDetail::message(message);
    match kind {
        ModelErrorKind::ContextLength => ModelError::ContextLength { detail },
        ModelErrorKind::RateLimited => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        ModelErrorKind::Quota => ModelError::Quota { detail },
        ModelErrorKind::Transient => ModelError::Transient { detail },
        ModelErrorKind::Auth => ModelError::Auth { detail },
        ModelErrorKind::InvalidRequest => ModelError::InvalidRequest { detail },
        ModelErrorKind::Permanent => ModelError::Permanent { detail },
    }
}

fn fail(kind: ModelErrorKind) -> Outcome {
    Outcome::Fail(error(kind, "boom"))
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

fn text(text: &str) -> Result<StreamEvent, ModelError> {
    Ok(StreamEvent::TextDelta { text: text.into() })
}

fn finish() -> Result<StreamEvent, ModelError> {
    Ok(StreamEvent::Finish {
        reason: FinishReason::Stop,
    })
}

/// A whole reply saying `says`.
fn reply(says: &str) -> Outcome {
    Outcome::Items(vec![
        text(says),
        Ok(StreamEvent::Usage(usage(10, 5))),
        finish(),
    ])
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        system: "system".into(),
        messages,
        tools: vec![],
        tool_choice: Default::default(),
        max_output_tokens: None,
        temperature: None,
        reasoning_effort: None,
    }
}

async fn say(model: &dyn Model) -> Result<String, ModelError> {
    Ok(model.complete(request(vec![])).await?.message.text())
}

/// Every item of a call's stream.
async fn items(model: &dyn Model) -> Vec<Result<StreamEvent, ModelError>> {
    match model.stream(request(vec![])).await {
        Ok(stream) => stream.collect().await,
        Err(error) => vec![Err(error)],
    }
}

const RETRYABLE: [ModelErrorKind; 2] = [ModelErrorKind::RateLimited, ModelErrorKind::Transient];
const NOT_RETRYABLE: [ModelErrorKind; 5] = [
    ModelErrorKind::Quota,
    ModelErrorKind::ContextLength,
    ModelErrorKind::InvalidRequest,
    ModelErrorKind::Auth,
    ModelErrorKind::Permanent,
];

// ------------------------------------------------------------------- Retry

#[tokio::test]
async fn retry_repeats_rate_limited_and_transient_calls_until_one_succeeds() {
    for kind in RETRYABLE {
        let fake = Fake::new("m", vec![fail(kind), fail(kind), reply("hi")]);
        let model = Retry::new(fake.clone(), quick(2));
        assert_eq!(say(&model).await.unwrap(), "hi", "{kind:?}");
        assert_eq!(fake.calls(), 3, "{kind:?}");
    }
}

#[tokio::test]
async fn retry_returns_other_kinds_at_once() {
    for kind in NOT_RETRYABLE {
        let fake = Fake::new("m", vec![fail(kind), reply("hi")]);
        let model = Retry::new(fake.clone(), quick(2));
        assert_eq!(say(&model).await.unwrap_err().kind(), kind);
        assert_eq!(fake.calls(), 1, "{kind:?} was retried");
    }
}

#[tokio::test]
async fn retry_repeats_a_stream_that_fails_or_ends_before_its_first_event() {
    let fake = Fake::new(
        "m",
        vec![
            Outcome::Items(vec![Err(error(ModelErrorKind::Transient, "reset"))]),
            Outcome::Items(vec![]),
            reply("hi"),
        ],
    );
    let model = Retry::new(fake.clone(), quick(2));
    assert_eq!(say(&model).await.unwrap(), "hi");
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn retry_passes_on_an_error_after_the_first_event_without_repeating() {
    let cut = error(ModelErrorKind::Transient, "connection reset mid-stream");
    let fake = Fake::new(
        "m",
        vec![
            Outcome::Items(vec![text("partial"), Err(cut.clone())]),
            reply("again"),
        ],
    );
    let model = Retry::new(fake.clone(), quick(2));
    assert_eq!(items(&model).await, vec![text("partial"), Err(cut)]);
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn retry_returns_the_last_error_when_retries_run_out() {
    let fake = Fake::new(
        "m",
        vec![
            Outcome::Fail(error(ModelErrorKind::Transient, "first")),
            Outcome::Fail(error(ModelErrorKind::Transient, "second")),
            Outcome::Fail(error(ModelErrorKind::RateLimited, "third")),
            reply("too late"),
        ],
    );
    let model = Retry::new(fake.clone(), quick(2));
    assert_eq!(
        say(&model).await.unwrap_err(),
        error(ModelErrorKind::RateLimited, "third")
    );
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn retry_waits_the_backoff_between_attempts() {
    let fake = Fake::new(
        "m",
        vec![
            fail(ModelErrorKind::Transient),
            fail(ModelErrorKind::Transient),
            reply("hi"),
        ],
    );
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(20),
        ..quick(2)
    };
    let model = Retry::new(
        fake.clone(),
        RetryPolicy {
            max_backoff: Duration::from_secs(1),
            ..policy
        },
    );
    assert_eq!(say(&model).await.unwrap(), "hi");
    let gaps = fake.gaps();
    assert!(gaps[0] >= Duration::from_millis(20), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(40), "{gaps:?}");
}

#[tokio::test]
async fn retry_honours_retry_after_instead_of_the_backoff() {
    let limited = ModelError::RateLimited {
        retry_after: Some(Duration::from_millis(30)),
        detail: ErrorDetail::message("slow down"),
    };
    let fake = Fake::new("m", vec![Outcome::Fail(limited), reply("hi")]);
    // Were Retry-After ignored, the 10-minute backoff would hit the timeout.
    let policy = RetryPolicy {
        initial_backoff: Duration::from_secs(600),
        max_backoff: Duration::from_secs(600),
        ..quick(2)
    };
    let model = Retry::new(fake.clone(), policy);
    let answer = tokio::time::timeout(Duration::from_secs(20), say(&model)).await;
    assert_eq!(answer.expect("Retry-After was not honoured").unwrap(), "hi");
    assert!(fake.gaps()[0] >= Duration::from_millis(30));
}

#[tokio::test]
async fn retry_forwards_info_of_the_inner_model() {
    let fake = Fake::new("inner", vec![]);
    let model = Retry::new(fake, quick(0));
    assert_eq!(model.info().name, "inner");
    assert!(model.tokenizer().is_none());
}

// ---------------------------------------------------------------- Fallback

#[tokio::test]
async fn fallback_moves_on_after_rate_limits_transient_errors_and_quota() {
    for kind in [
        ModelErrorKind::RateLimited,
        ModelErrorKind::Transient,
        ModelErrorKind::Quota,
    ] {
        let primary = Fake::new("primary", vec![fail(kind)]);
        let backup = Fake::new("backup", vec![reply("from backup")]);
        let model = Fallback::new(primary.clone(), [backup.clone() as Arc<dyn Model>]);
        assert_eq!(say(&model).await.unwrap(), "from backup", "{kind:?}");
        assert_eq!((primary.calls(), backup.calls()), (1, 1));
    }
}

#[tokio::test]
async fn fallback_returns_other_kinds_without_trying_the_next_model() {
    for kind in [
        ModelErrorKind::ContextLength,
        ModelErrorKind::Auth,
        ModelErrorKind::InvalidRequest,
        ModelErrorKind::Permanent,
    ] {
        let primary = Fake::new("primary", vec![fail(kind)]);
        let backup = Fake::new("backup", vec![reply("from backup")]);
        let model = Fallback::new(primary, [backup.clone() as Arc<dyn Model>]);
        assert_eq!(say(&model).await.unwrap_err().kind(), kind);
        assert_eq!(backup.calls(), 0, "{kind:?} fell back");
    }
}

#[tokio::test]
async fn fallback_moves_on_when_the_stream_fails_before_its_first_event() {
    let primary = Fake::new(
        "primary",
        vec![Outcome::Items(vec![Err(error(
            ModelErrorKind::Transient,
            "overloaded",
        ))])],
    );
    let backup = Fake::new("backup", vec![reply("from backup")]);
    let model = Fallback::new(primary, [backup as Arc<dyn Model>]);
    assert_eq!(say(&model).await.unwrap(), "from backup");
}

#[tokio::test]
async fn fallback_passes_on_an_error_after_the_first_event() {
    let cut = error(ModelErrorKind::Transient, "cut");
    let primary = Fake::new(
        "primary",
        vec![Outcome::Items(vec![text("partial"), Err(cut.clone())])],
    );
    let backup = Fake::new("backup", vec![reply("from backup")]);
    let model = Fallback::new(primary, [backup.clone() as Arc<dyn Model>]);
    assert_eq!(items(&model).await, vec![text("partial"), Err(cut)]);
    assert_eq!(backup.calls(), 0);
}

#[tokio::test]
async fn fallback_tries_every_model_in_order_and_returns_the_last_error() {
    let a = Fake::new("a", vec![Outcome::Fail(error(ModelErrorKind::Quota, "a"))]);
    let b = Fake::new(
        "b",
        vec![Outcome::Fail(error(ModelErrorKind::Transient, "b"))],
    );
    let c = Fake::new(
        "c",
        vec![Outcome::Fail(error(ModelErrorKind::RateLimited, "c"))],
    );
    let model = Fallback::new(a.clone(), [b.clone() as Arc<dyn Model>, c.clone()]);
    assert_eq!(
        say(&model).await.unwrap_err(),
        error(ModelErrorKind::RateLimited, "c")
    );
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 1, 1));
}

#[tokio::test]
async fn fallback_on_context_length_is_opt_in_and_skips_windows_that_are_not_larger() {
    let primary = Fake::with_window(
        "primary",
        128_000,
        vec![fail(ModelErrorKind::ContextLength)],
    );
    let same = Fake::with_window("same", 128_000, vec![reply("same")]);
    let small = Fake::with_window("small", 64_000, vec![reply("small")]);
    let big = Fake::with_window("big", 1_000_000, vec![reply("big")]);
    let model = Fallback::new(
        primary,
        [same.clone() as Arc<dyn Model>, small.clone(), big.clone()],
    )
    .on_context_length();
    assert!(model.falls_back_on(ModelErrorKind::ContextLength));
    assert_eq!(say(&model).await.unwrap(), "big");
    assert_eq!((same.calls(), small.calls(), big.calls()), (0, 0, 1));
}

#[tokio::test]
async fn fallback_kinds_are_configurable() {
    let primary = Fake::new("primary", vec![fail(ModelErrorKind::Quota)]);
    let backup = Fake::new("backup", vec![reply("from backup")]);
    let model = Fallback::new(primary, [backup.clone() as Arc<dyn Model>])
        .on_kinds([ModelErrorKind::Transient]);
    assert_eq!(say(&model).await.unwrap_err().kind(), ModelErrorKind::Quota);
    assert_eq!(backup.calls(), 0);
}

#[tokio::test]
async fn fallback_reports_the_primary_info() {
    let model = Fallback::new(
        Fake::new("primary", vec![]),
        [Fake::new("backup", vec![]) as Arc<dyn Model>],
    );
    assert_eq!(model.info().name, "primary");
}

// ------------------------------------------------------------------ Router

fn tool_turn(id: &str, is_error: bool) -> [Message; 2] {
    [
        Message {
            role: Role::Assistant,
            parts: vec![Part::ToolCall(ToolCall {
                id: id.into(),
                name: "run".into(),
                arguments: "{}".into(),
            })],
        },
        Message {
            role: Role::User,
            parts: vec![Part::ToolResult(ToolResult {
                call_id: id.into(),
                name: "run".into(),
                content: if is_error { "failed" } else { "ok" }.into(),
                is_error,
            })],
        },
    ]
}

/// A conversation: the task, then one tool turn per outcome (`true` = error).
fn history(errors: &[bool]) -> Vec<Message> {
    let mut messages = vec![Message::user("Fix the bug.")];
    for (i, is_error) in errors.iter().enumerate() {
        messages.extend(tool_turn(&format!("c{i}"), *is_error));
    }
    messages
}

fn tier(messages: Vec<Message>) -> (Tier, String) {
    let route = EscalatingPolicy::default().route(&request(messages));
    (route.tier, route.reason.into_owned())
}

#[test]
fn escalating_policy_plans_the_first_turn_with_the_capable_model() {
    assert_eq!(
        tier(history(&[])),
        (Tier::Capable, "first turn: planning".into())
    );
}

#[test]
fn escalating_policy_uses_the_cheap_model_for_routine_steps() {
    assert_eq!(tier(history(&[false])).0, Tier::Cheap);
    assert_eq!(
        tier(history(&[true])).0,
        Tier::Cheap,
        "one error is not a streak"
    );
    assert_eq!(
        tier(history(&[true, true, false])).0,
        Tier::Cheap,
        "a success ends the streak"
    );
}

#[test]
fn escalating_policy_escalates_after_consecutive_tool_errors() {
    assert_eq!(
        tier(history(&[false, true, true])),
        (Tier::Capable, "2 consecutive tool errors".into())
    );
    let strict = EscalatingPolicy::new().with_failure_threshold(3);
    assert_eq!(
        strict.route(&request(history(&[true, true]))).tier,
        Tier::Cheap
    );
    assert_eq!(
        strict.route(&request(history(&[true, true, true]))).tier,
        Tier::Capable
    );
}

#[test]
fn escalating_policy_escalates_after_failed_verification_until_the_model_replies() {
    let mut messages = history(&[false]);
    messages.push(Message::user(
        "Verification failed. Fix the problems below, then call `finish` again.\n\n### `tests`",
    ));
    assert_eq!(
        tier(messages.clone()),
        (Tier::Capable, "verification failed".into())
    );
    let lenient = EscalatingPolicy::new().without_verification_escalation();
    assert_eq!(lenient.route(&request(messages.clone())).tier, Tier::Cheap);
    messages.extend(tool_turn("after", false));
    assert_eq!(tier(messages).0, Tier::Cheap);
}

#[tokio::test]
async fn router_sends_each_call_to_the_routed_model() {
    let cheap = Fake::new("cheap", vec![reply("cheap")]);
    let capable = Fake::new("capable", vec![reply("capable")]);
    let router = Router::new(cheap.clone(), capable.clone());
    assert_eq!(router.info().name, "capable");
    let first = router.complete(request(history(&[]))).await.unwrap();
    assert_eq!(first.message.text(), "capable");
    let routine = router.complete(request(history(&[false]))).await.unwrap();
    assert_eq!(routine.message.text(), "cheap");
    assert_eq!((cheap.calls(), capable.calls()), (1, 1));
}

/// Routes requests that offer no tools to the cheap model.
struct ToollessIsCheap;

impl RoutePolicy for ToollessIsCheap {
    fn route(&self, request: &ModelRequest) -> Route {
        if request.tools.is_empty() {
            Route::cheap("no tools offered")
        } else {
            Route::capable("tools offered")
        }
    }
}

#[tokio::test]
async fn router_policy_is_replaceable() {
    let cheap = Fake::new("cheap", vec![reply("cheap")]);
    let capable = Fake::new("capable", vec![]);
    let router = Router::new(cheap, capable.clone()).with_policy(ToollessIsCheap);
    assert_eq!(
        router.route(&request(history(&[]))),
        Route::cheap("no tools offered")
    );
    assert_eq!(say(&router).await.unwrap(), "cheap");
    assert_eq!(capable.calls(), 0);
}

// ----------------------------------------------------------------- Metered

const PRICES: Pricing = Pricing {
    input_per_mtok: 2.0,
    output_per_mtok: 8.0,
    cached_input_per_mtok: Some(0.5),
};

fn cents(meter: &Meter) -> f64 {
    (meter.cost().usd * 100.0 * 1e6).round() / 1e6
}

#[tokio::test]
async fn metered_adds_up_usage_and_cost_keeping_each_calls_last_usage() {
    let fake = Fake::priced(
        "m",
        PRICES,
        vec![
            Outcome::Items(vec![
                Ok(StreamEvent::Usage(usage(1_000, 0))),
                text("hi"),
                Ok(StreamEvent::Usage(usage(1_000, 500))),
                finish(),
            ]),
            Outcome::Items(vec![
                text("again"),
                Ok(StreamEvent::Usage(Usage {
                    input_tokens: 2_000,
                    output_tokens: 250,
                    cached_input_tokens: 1_000,
                    reasoning_tokens: 100,
                })),
                finish(),
            ]),
        ],
    );
    let model = Metered::new(fake);
    let meter = model.meter();
    say(&model).await.unwrap();
    say(&model).await.unwrap();
    assert_eq!(meter.calls(), 2);
    assert_eq!(
        meter.usage(),
        Usage {
            input_tokens: 3_000,
            output_tokens: 750,
            cached_input_tokens: 1_000,
            reasoning_tokens: 100,
        }
    );
    // (1000·2 + 500·8) + (1000·2 + 1000·0.5 + 250·8) = 6000 + 4500 per million
    assert_eq!(cents(&meter), 1.05);
    assert_eq!(meter.unpriced_calls(), 0);
}

#[tokio::test]
async fn metered_prices_override_the_inner_models_and_show_in_its_info() {
    let fake = Fake::new("m", vec![reply("hi")]);
    let model = Metered::new(fake).with_pricing(PRICES);
    assert_eq!(model.info().pricing, Some(PRICES));
    say(&model).await.unwrap();
    // 10 input · $2 + 5 output · $8 per million
    assert_eq!(cents(&model.meter()), 0.006);
}

#[tokio::test]
async fn metered_counts_calls_without_prices_as_unpriced() {
    let model = Metered::new(Fake::new("m", vec![reply("hi")]));
    say(&model).await.unwrap();
    let meter = model.meter();
    assert_eq!(
        (
            meter.calls(),
            meter.usage(),
            meter.cost().usd,
            meter.unpriced_calls()
        ),
        (1, usage(10, 5), 0.0, 1)
    );
}

#[tokio::test]
async fn metered_records_an_abandoned_stream_and_skips_a_failed_call() {
    let fake = Fake::priced(
        "m",
        PRICES,
        vec![
            Outcome::Items(vec![
                Ok(StreamEvent::Usage(usage(1_000, 0))),
                text("never read"),
                finish(),
            ]),
            fail(ModelErrorKind::Auth),
        ],
    );
    let model = Metered::new(fake);
    let mut stream = model.stream(request(vec![])).await.unwrap();
    stream.next().await;
    assert_eq!(model.meter().calls(), 0, "recorded when the stream goes");
    drop(stream);
    assert_eq!(model.meter().usage(), usage(1_000, 0));
    assert!(say(&model).await.is_err());
    assert_eq!(model.meter().calls(), 1);
}

#[tokio::test]
async fn metered_models_can_share_one_meter() {
    let meter = Arc::new(Meter::new());
    let a = Metered::new(Fake::priced("a", PRICES, vec![reply("a")])).with_meter(meter.clone());
    let b = Metered::new(Fake::new("b", vec![reply("b")])).with_meter(meter.clone());
    say(&a).await.unwrap();
    say(&b).await.unwrap();
    assert_eq!(
        (meter.calls(), meter.usage(), meter.unpriced_calls()),
        (2, usage(20, 10), 1)
    );
    assert_eq!(cents(&meter), 0.006);
}

#[tokio::test]
async fn wrappers_compose() {
    let flaky = Fake::new(
        "flaky",
        vec![fail(ModelErrorKind::Transient), fail(ModelErrorKind::Quota)],
    );
    let backup = Fake::new("backup", vec![reply("from backup")]);
    let model = Metered::new(Arc::new(Fallback::new(
        Arc::new(Retry::new(flaky.clone(), quick(2))),
        [backup as Arc<dyn Model>],
    )));
    assert_eq!(say(&model).await.unwrap(), "from backup");
    assert_eq!(flaky.calls(), 2);
    assert_eq!(model.meter().calls(), 1);
    assert_eq!(model.info().name, "flaky");
}
