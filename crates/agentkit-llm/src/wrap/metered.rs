//! [`Metered`]: adds up the tokens and dollars that pass through it.
//!
//! Usage is read from the [`StreamEvent::Usage`] events as they pass; the
//! last one of a call is that call's usage (providers send running totals).
//! A call is recorded when its stream ends or is dropped, so a call the
//! caller abandons half-way still counts what the provider reported by then.

use std::sync::{Arc, Mutex, MutexGuard};

use agentkit_core::model::{Model, ModelError, ModelInfo, ModelRequest, ModelStream, StreamEvent};
use agentkit_core::tokenizer::Tokenizer;
use agentkit_core::usage::{Cost, Pricing, Usage};
use async_trait::async_trait;
use futures::StreamExt;

/// Running totals, shared between a [`Metered`] model and whoever reads them.
///
/// One meter may serve several models (see [`Metered::with_meter`]).
#[derive(Debug, Default)]
pub struct Meter {
    totals: Mutex<Totals>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    usage: Usage,
    cost: Cost,
    calls: u64,
    unpriced_calls: u64,
}

impl Meter {
    /// An empty meter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens used by all recorded calls.
    pub fn usage(&self) -> Usage {
        self.totals().usage
    }

    /// What the recorded calls cost. Calls without known prices add nothing
    /// (see [`Meter::unpriced_calls`]).
    pub fn cost(&self) -> Cost {
        self.totals().cost
    }

    /// Calls recorded: every call whose stream was returned, finished or not.
    pub fn calls(&self) -> u64 {
        self.totals().calls
    }

    /// Recorded calls whose cost is unknown because their model has no
    /// pricing; when non-zero, [`Meter::cost`] is a lower bound.
    pub fn unpriced_calls(&self) -> u64 {
        self.totals().unpriced_calls
    }

    /// Adds one call's usage, priced by `pricing` when known.
    pub fn record(&self, usage: Usage, pricing: Option<&Pricing>) {
        let mut totals = self.totals();
        totals.usage += usage;
        totals.calls += 1;
        match pricing {
            Some(pricing) => totals.cost += pricing.cost(&usage),
            None => totals.unpriced_calls += 1,
        }
    }

    fn totals(&self) -> MutexGuard<'_, Totals> {
        // Totals are plain numbers, valid even if a holder panicked.
        self.totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A model that records usage and cost in a [`Meter`]. See the
/// [module docs](self).
///
/// Prices come from the inner model's [`ModelInfo::pricing`] unless replaced
/// with [`Metered::with_pricing`]; [`Model::info`] reports the prices used.
///
/// ```
/// use std::sync::Arc;
/// use agentkit_core::model::Model;
/// use agentkit_core::scripted::ScriptedModel;
/// use agentkit_core::usage::Pricing;
/// use agentkit_llm::wrap::Metered;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let request = agentkit_core::model::ModelRequest {
/// #     system: String::new(), messages: vec![], tools: vec![], tool_choice: Default::default(),
/// #     max_output_tokens: None, temperature: None, reasoning_effort: None,
/// # };
/// let inner = ScriptedModel::from_json(
///     r#"[{"text": "hi", "usage": {"input_tokens": 1000000, "output_tokens": 0}}]"#,
///     "inline",
/// )?;
/// let model = Metered::new(Arc::new(inner)).with_pricing(Pricing {
///     input_per_mtok: 2.0,
///     output_per_mtok: 8.0,
///     cached_input_per_mtok: None,
/// });
/// let meter = model.meter();
/// model.complete(request).await?;
/// assert_eq!((meter.calls(), meter.usage().input_tokens, meter.cost().usd), (1, 1_000_000, 2.0));
/// # Ok(())
/// # }
/// ```
pub struct Metered {
    inner: Arc<dyn Model>,
    info: ModelInfo,
    meter: Arc<Meter>,
}

impl Metered {
    /// Meters `inner` in a meter of its own, at the inner model's prices.
    pub fn new(inner: Arc<dyn Model>) -> Self {
        Self {
            info: inner.info().clone(),
            inner,
            meter: Arc::new(Meter::new()),
        }
    }

    /// Prices calls at `pricing` instead of the inner model's list prices
    /// (negotiated rates, a proxy's own prices, a model the catalog does not
    /// know).
    pub fn with_pricing(mut self, pricing: Pricing) -> Self {
        self.info.pricing = Some(pricing);
        self
    }

    /// Records into `meter`, which may be shared with other models.
    pub fn with_meter(mut self, meter: Arc<Meter>) -> Self {
        self.meter = meter;
        self
    }

    /// The meter, to read totals while or after the model is used.
    pub fn meter(&self) -> Arc<Meter> {
        Arc::clone(&self.meter)
    }
}

/// Records a call's last reported usage when dropped (end of stream or
/// abandoned stream alike).
struct CallRecord {
    meter: Arc<Meter>,
    pricing: Option<Pricing>,
    usage: Usage,
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.meter.record(self.usage, self.pricing.as_ref());
    }
}

#[async_trait]
impl Model for Metered {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        self.inner.tokenizer()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let stream = self.inner.stream(request).await?;
        let mut record = CallRecord {
            meter: Arc::clone(&self.meter),
            pricing: self.info.pricing,
            usage: Usage::default(),
        };
        Ok(stream
            .inspect(move |item| {
                // Borrow the whole record so the closure owns it (a field
                // capture would drop the record, and record zero, at once).
                let record = &mut record;
                if let Ok(StreamEvent::Usage(usage)) = item {
                    record.usage = *usage;
                }
            })
            .boxed())
    }
}
