//! Forges.
