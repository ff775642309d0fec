//! Helpers shared by this crate's test suites and benchmarks.
#![allow(dead_code)]

pub mod fencing;
pub mod postgres;
