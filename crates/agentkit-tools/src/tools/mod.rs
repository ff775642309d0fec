//! Agent tools.
