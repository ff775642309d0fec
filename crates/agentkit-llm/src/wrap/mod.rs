//! Models around models: each is itself a [`Model`].
//!
//! - [`Retry`] waits and calls again after a retryable failure.
//! - [`Fallback`] moves on to the next model after selected failures.
//! - [`Router`] sends each call to a cheap or a capable model.
//! - [`Metered`] adds up the tokens and dollars that pass through it.
//!
//! They compose; a usual stack meters what is really spent, falls back
//! between providers, and retries each provider on its own:
//!
//! ```
//! use std::sync::Arc;
//! use agentkit_core::model::Model;
//! use agentkit_core::scripted::ScriptedModel;
//! use agentkit_llm::RetryPolicy;
//! use agentkit_llm::wrap::{Fallback, Metered, Retry};
//!
//! let primary = Arc::new(Retry::new(Arc::new(ScriptedModel::new(vec![])), RetryPolicy::default()));
//! let backup = Arc::new(Retry::new(Arc::new(ScriptedModel::new(vec![])), RetryPolicy::default()));
//! let model = Metered::new(Arc::new(Fallback::new(primary, [backup as Arc<dyn Model>])));
//! let meter = model.meter();
//! assert_eq!(meter.calls(), 0);
//! ```
//!
//! # The first-event rule
//!
//! A call is only repeated (by [`Retry`]) or moved to another model (by
//! [`Fallback`]) while nothing has reached the caller: when
//! [`Model::stream`] fails, or when the
//! stream fails (or ends) before its first event. To know that, these
//! wrappers wait for the first output (an event other than a usage report)
//! before returning the stream. Once output has been passed on, a later error is passed on too: repeating the
//! call would duplicate output the caller has already seen.

pub mod fallback;
pub mod metered;
pub mod retry;
pub mod router;

pub use fallback::Fallback;
pub use metered::{Meter, Metered};
pub use retry::Retry;
pub use router::{EscalatingPolicy, Route, RoutePolicy, Router, Tier};

use agentkit_core::model::{
    ErrorDetail, Model, ModelError, ModelRequest, ModelStream, StreamEvent,
};
use futures::StreamExt;

/// Starts a call on `model` and waits for its first output (see
/// [`first_output`]).
pub(crate) async fn first_event(
    model: &dyn Model,
    request: ModelRequest,
) -> Result<ModelStream, ModelError> {
    first_output(model.stream(request).await?, &model.info().name).await
}

/// Waits for the first output of `stream` (of model `model`): an event
/// other than a usage report (usage alone is nothing the caller could see
/// twice).
///
/// `Err` means nothing reached the caller, so the call may be repeated: the
/// stream failed before any output, or ended without any (a `Transient`
/// error, as [`ResponseFolder`](agentkit_core::model::ResponseFolder) would
/// report). `Ok` is the whole stream, leading usage reports included.
pub(crate) async fn first_output(
    mut stream: ModelStream,
    model: &str,
) -> Result<ModelStream, ModelError> {
    let mut leading = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(event @ StreamEvent::Usage(_))) => leading.push(Ok(event)),
            Some(Ok(event)) => {
                leading.push(Ok(event));
                return Ok(futures::stream::iter(leading).chain(stream).boxed());
            }
            Some(Err(error)) => return Err(error),
            None => {
                return Err(ModelError::Transient {
                    detail: ErrorDetail::message(format!(
                        "the stream of model `{model}` ended before any output"
                    )),
                });
            }
        }
    }
}
