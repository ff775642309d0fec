//! Helpers shared by this crate's test suites and benchmarks.
#![allow(dead_code)]

pub mod fencing;
pub mod postgres;

/// A small deterministic generator (xorshift) for seeded test schedules.
pub struct Rng(pub u64);

impl Rng {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
