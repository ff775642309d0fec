//! agentd end to end over HTTP on 127.0.0.1: the API, live events, auth,
//! metrics and the web view in a real headless Chromium.

mod api;
mod auth;
mod browser;
mod config;
mod events;
mod metrics;
mod notify;
mod support;
