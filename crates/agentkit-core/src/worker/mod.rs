//! Running tasks: [`run_task`] runs one task end to end (create the sandbox,
//! run the agent, close the sandbox); a [`Worker`] takes tasks from a
//! [`TaskStore`](crate::store::TaskStore) one lease at a time and records how
//! each ended. The pieces a [`Worker`] is made of are public so that other
//! workers (the server's pool) reuse them: [`run_lease`] (run or
//! [`resume`] one lease), [`guard_lease`] (heartbeat and cancel watch),
//! [`record_outcome`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::environment::live::SetupOutput;
use crate::outcome::Outcome;
use crate::sandbox::{Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use crate::task::{Task, TaskId};

/// Creates a sandbox from `spec`, runs `task` in it and closes it, whatever
/// the outcome. A setup that fails ends as
/// [`StopReason::EnvironmentBroken`](crate::outcome::StopReason::EnvironmentBroken)
/// (see [`Agent::environment_broken`]); any other failure to create the
/// sandbox is returned.
pub async fn run_task(
    agent: &Agent,
    provider: &dyn SandboxProvider,
    spec: &SandboxSpec,
    task: Task,
    cancel: CancellationToken,
) -> Result<Outcome, SandboxError> {
    let spec = agent
        .sandbox_source(spec)
        .await
        .map_err(|err| SandboxError::Setup {
            reason: format!("the forge could not provide the repository to clone: {err}"),
        })?;
    let sandbox = match create_sandbox(agent, provider, spec, &task.id).await {
        Ok(sandbox) => sandbox,
        Err(SandboxError::SetupFailed { report }) => {
            return Ok(agent.environment_broken(&task.id, *report));
        }
        Err(err) => return Err(err),
    };
    let outcome = agent.run(task, Arc::clone(&sandbox), cancel).await;
    if let Err(err) = sandbox.close().await {
        tracing::warn!(error = %err, sandbox = sandbox.id(), "closing the sandbox failed");
    }
    Ok(outcome)
}

/// `provider.create(spec)` with the setup's output sent live to `agent`'s
/// events as [`Event::SetupOutput`](crate::event::Event::SetupOutput) of
/// `task` while the setup runs.
pub async fn create_sandbox(
    agent: &Agent,
    provider: &dyn SandboxProvider,
    mut spec: SandboxSpec,
    task: &TaskId,
) -> Result<Arc<dyn Sandbox>, SandboxError> {
    let live = SetupOutput::new(agent.events().clone(), task.clone());
    spec.environment.setup_output = Some(live.tap());
    let created = provider.create(&spec).await;
    live.flush();
    created
}

mod disposition;
mod guard;
mod queue;
pub mod resume;

pub use disposition::{Disposition, disposition};
pub use guard::{LeaseLoss, LeaseWatch, guard_lease};
pub use queue::{Worker, WorkerError, record_outcome};
pub use resume::{ResumePoint, StoreCheckpoint, run_lease};
