//! Helpers shared by the root package's tests.

pub mod python;
