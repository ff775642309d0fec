//! # agentkit-server
//!
//! The control plane of agentkit: what turns the loop into a *background*
//! agent a team can run. It holds
//! - durable [`TaskStore`](agentkit_core::store::TaskStore) backends (SQLite,
//!   the embedded default; PostgreSQL for many workers on many machines);
//! - the [`RunLog`](runlog::RunLog): every event of every run, numbered per
//!   task, so live views can resume and transcripts can be downloaded;
//! - the [worker pool](pool::WorkerPool): N sessions per process, resumed
//!   from their checkpoints after a crash or a shutdown;
//! - the `agentd` daemon (HTTP API, live event stream, web
//!   view, metrics) and the triggers (GitHub, Slack, Linear, cron, signed
//!   webhooks).
//!
//! The smallest complete use: log two events of a run and read them back.
//!
//! ```
//! use agentkit_core::event::{Event, EventRecord};
//! use agentkit_core::task::TaskId;
//! use agentkit_server::runlog::{MemoryRunLog, RunLog};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let log = MemoryRunLog::new();
//! let task = TaskId("T-1".into());
//! let record = |seq| EventRecord {
//!     seq,
//!     task_id: Some(task.clone()),
//!     at_ms: 0,
//!     event: Event::Nudged { message: "go on".into() },
//! };
//! log.append(&task, &[record(0), record(1)]).await?;
//! let after_first = log.read(&task, 1, 100).await?;
//! assert_eq!(after_first.len(), 1);
//! assert_eq!(after_first[0].id, 2);
//! # Ok::<(), agentkit_core::store::StoreError>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

#[cfg(feature = "daemon")]
pub mod api;
#[cfg(feature = "daemon")]
pub mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "daemon")]
pub mod metrics;
pub mod pool;
pub mod runlog;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod store;
#[cfg(feature = "triggers")]
pub mod triggers;
#[cfg(feature = "daemon")]
pub mod web;
