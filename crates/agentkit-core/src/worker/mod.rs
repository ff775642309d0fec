//! Running tasks: [`run_task`] runs one task end to end (create the sandbox,
//! run the agent, close the sandbox); a [`Worker`] takes tasks from a
//! [`TaskStore`](crate::store::TaskStore) one lease at a time and records how
//! each ended.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::outcome::Outcome;
use crate::sandbox::{SandboxError, SandboxProvider, SandboxSpec};
use crate::task::Task;

/// Creates a sandbox from `spec`, runs `task` in it and closes it, whatever
/// the outcome. Fails only when the sandbox cannot be created.
pub async fn run_task(
    agent: &Agent,
    provider: &dyn SandboxProvider,
    spec: &SandboxSpec,
    task: Task,
    cancel: CancellationToken,
) -> Result<Outcome, SandboxError> {
    let sandbox = provider.create(spec).await?;
    let outcome = agent.run(task, Arc::clone(&sandbox), cancel).await;
    if let Err(err) = sandbox.close().await {
        tracing::warn!(error = %err, sandbox = sandbox.id(), "closing the sandbox failed");
    }
    Ok(outcome)
}

mod disposition;
mod queue;

pub use disposition::{Disposition, disposition};
pub use queue::{Worker, WorkerError};
