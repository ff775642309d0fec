//! Context providers.
