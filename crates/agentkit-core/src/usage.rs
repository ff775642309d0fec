//! Tokens used and what they cost.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign};

/// Token counts reported by a model call (or summed over many).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    pub input_tokens: u64,
    /// Completion tokens, including reasoning ones.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache (a subset of `input_tokens`).
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Completion tokens spent on reasoning (a subset of `output_tokens`).
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, rhs: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + rhs.input_tokens,
            output_tokens: self.output_tokens + rhs.output_tokens,
            cached_input_tokens: self.cached_input_tokens + rhs.cached_input_tokens,
            reasoning_tokens: self.reasoning_tokens + rhs.reasoning_tokens,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        *self = *self + rhs;
    }
}

/// Money spent, in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Cost {
    /// Amount in US dollars.
    pub usd: f64,
}

impl Cost {
    /// A cost of `usd` dollars.
    pub fn usd(usd: f64) -> Self {
        Self { usd }
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, rhs: Cost) -> Cost {
        Cost {
            usd: self.usd + rhs.usd,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, rhs: Cost) {
        self.usd += rhs.usd;
    }
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${:.4}", self.usd)
    }
}

/// Prices per million tokens, in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    /// Dollars per million uncached input tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output tokens.
    pub output_per_mtok: f64,
    /// Dollars per million cached input tokens (`None`: same as uncached).
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
}

impl Pricing {
    /// What `usage` costs at these prices.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        let cached_rate = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        Cost::usd(
            (uncached as f64 * self.input_per_mtok
                + cached as f64 * cached_rate
                + usage.output_tokens as f64 * self.output_per_mtok)
                / 1_000_000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_charges_cached_tokens_at_their_own_rate() {
        let pricing = Pricing {
            input_per_mtok: 2.0,
            output_per_mtok: 8.0,
            cached_input_per_mtok: Some(0.5),
        };
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
            cached_input_tokens: 400_000,
            reasoning_tokens: 0,
        };
        // 600k uncached * 2 + 400k cached * 0.5 + 500k out * 8 = 1.2 + 0.2 + 4.0
        assert!((pricing.cost(&usage).usd - 5.4).abs() < 1e-9);
    }
}
