//! When and how long to wait before retrying a failed call.
//!
//! The defaults match the official OpenAI and Anthropic SDKs: 2 retries,
//! exponential backoff from 0.5 s doubling up to 8 s with jitter, and a
//! provider's `Retry-After` honoured up to 60 s.

use std::time::Duration;

use std::future::Future;

use agentkit_core::model::ModelError;

/// How a failed call is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The wait before the first retry.
    pub initial_backoff: Duration,
    /// The longest computed wait.
    pub max_backoff: Duration,
    /// Whether waits are randomised (down to 75 % of the computed wait), so
    /// that many clients do not retry in lockstep.
    pub jitter: bool,
    /// The longest `Retry-After` honoured; a longer one falls back to the
    /// computed backoff.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            jitter: true,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The same policy with `max_retries` retries.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The same policy with no randomisation (for tests and benchmarks).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The computed wait before retry number `retry` (0-based): the initial
    /// backoff doubled `retry` times, capped, then jittered.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2f64.powi(retry.min(30) as i32);
        let base =
            (self.initial_backoff.as_secs_f64() * factor).min(self.max_backoff.as_secs_f64());
        let scale = if self.jitter {
            1.0 - 0.25 * rand::random::<f64>()
        } else {
            1.0
        };
        Duration::from_secs_f64(base * scale)
    }

    /// The wait before retry number `retry` after `error`, or `None` when the
    /// error must not be retried or the retries are used up.
    ///
    /// Only [`ModelError::is_retryable`] errors are retried. A provider's
    /// `retry_after` within [`RetryPolicy::max_retry_after`] is used as is.
    pub fn delay_for(&self, retry: u32, error: &ModelError) -> Option<Duration> {
        if retry >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let ModelError::RateLimited {
            retry_after: Some(wait),
            ..
        } = error
            && *wait <= self.max_retry_after
        {
            return Some(*wait);
        }
        Some(self.backoff(retry))
    }

    /// Runs `attempt` until it succeeds, fails with an error this policy
    /// does not retry, or the retries are used up; waits [`delay_for`]
    /// between attempts and logs each retry for `model`.
    ///
    /// [`delay_for`]: RetryPolicy::delay_for
    pub(crate) async fn run<T, F, Fut>(&self, model: &str, mut attempt: F) -> Result<T, ModelError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ModelError>>,
    {
        let mut retry = 0;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(wait) = self.delay_for(retry, &error) else {
                return Err(error);
            };
            retry += 1;
            tracing::warn!(
                "gen_ai.request.model" = %model,
                attempt = retry + 1,
                max_attempts = self.max_retries + 1,
                wait_ms = wait.as_millis() as u64,
                kind = ?error.kind(),
                %error,
                "model call failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentkit_core::model::ErrorDetail;

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_eight() {
        let p = RetryPolicy::default().without_jitter();
        let waits: Vec<f64> = (0..7).map(|r| p.backoff(r).as_secs_f64()).collect();
        assert_eq!(waits, vec![0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
    }

    #[test]
    fn jitter_stays_between_three_quarters_and_the_full_wait() {
        let p = RetryPolicy::default();
        for _ in 0..200 {
            let w = p.backoff(1).as_secs_f64();
            assert!((0.75..=1.0).contains(&w), "{w}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap_and_only_retryable_errors_retry() {
        let p = RetryPolicy::default().without_jitter();
        let limited = |secs| ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
            detail: ErrorDetail::message("slow down"),
        };
        assert_eq!(p.delay_for(0, &limited(7)), Some(Duration::from_secs(7)));
        assert_eq!(
            p.delay_for(0, &limited(61)),
            Some(Duration::from_millis(500))
        );
        assert_eq!(p.delay_for(2, &limited(1)), None, "retries used up");
        let quota = ModelError::Quota {
            detail: ErrorDetail::message("no credit"),
        };
        assert_eq!(p.delay_for(0, &quota), None);
        assert_eq!(RetryPolicy::none().delay_for(0, &limited(1)), None);
    }
}
