//! Verifiers.
