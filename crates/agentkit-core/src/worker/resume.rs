//! Resuming a leased task from its last checkpoint.
//!
//! Every turn of a leased run is checkpointed into the task store
//! ([`StoreCheckpoint`]): the run state plus the workspace's changes
//! ([`RunCheckpoint`]), the changes captured only after turns that ran a tool
//! that may change files. The next lease of the task (a retry, or a takeover
//! after a crash) carries those bytes in [`Lease::checkpoint`], and
//! [`run_lease`] continues from them in a fresh sandbox:
//!
//! 1. the checkpoint is decoded; one that cannot be read (another format
//!    version, corrupt bytes) or whose workspace could not be captured starts
//!    the run afresh, with an [`Event::Warning`] saying why;
//! 2. the sandbox is created and the workspace's changes are applied to it
//!    (see [`agent::workspace`](crate::agent::workspace) for what is and is
//!    not restored); if that fails, the run starts afresh, with a warning;
//! 3. the run continues with [`Agent::resume_with`]: a tool call that was in
//!    flight when the last attempt died is answered "interrupted, effects
//!    unknown, inspect the workspace" and never re-run; a model call in flight
//!    is made again; verification and publishing are redone (the forge keys
//!    pull requests by branch, so publishing twice updates one pull request).
//!
//! A run that stops for a reason the worker retries (cancellation, shutdown, a
//! passing model or sandbox failure) does not overwrite the last checkpoint
//! with its stop: the retry resumes from the last step that finished.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::disposition::{Disposition, disposition};
use super::guard::LeaseWatch;
use crate::agent::{Agent, RunControl};
use crate::checkpoint::{Checkpoint, CheckpointError, RunCheckpoint, WorkspaceCapture};
use crate::engine::{Phase, RunState};
use crate::event::Event;
use crate::outcome::{Outcome, StopReason};
use crate::sandbox::{SandboxProvider, SandboxSpec};
use crate::store::{FencingToken, Lease, TaskStore};
use crate::task::TaskId;

/// Checkpoints one lease's run into the task store, under the lease's token.
///
/// Keeps the workspace's last capture so every save carries it. A save the
/// store refuses because the lease is gone reports the loss to the
/// [`LeaseWatch`] (which cancels the run).
pub struct StoreCheckpoint {
    store: Arc<dyn TaskStore>,
    id: TaskId,
    token: FencingToken,
    workspace: Mutex<WorkspaceCapture>,
    watch: LeaseWatch,
}

impl StoreCheckpoint {
    /// Saves under `token`; `workspace` is what the run starts from.
    pub fn new(
        store: Arc<dyn TaskStore>,
        id: TaskId,
        token: FencingToken,
        workspace: WorkspaceCapture,
        watch: LeaseWatch,
    ) -> Self {
        Self {
            store,
            id,
            token,
            workspace: Mutex::new(workspace),
            watch,
        }
    }

    fn error(&self, message: String) -> CheckpointError {
        CheckpointError {
            task: self.id.to_string(),
            message,
        }
    }
}

#[async_trait]
impl Checkpoint for StoreCheckpoint {
    async fn save(&self, state: &RunState) -> Result<(), CheckpointError> {
        self.save_turn(state, None).await
    }

    /// The store hands checkpoints out with leases only.
    async fn load(&self, _task: &TaskId) -> Result<Option<RunState>, CheckpointError> {
        Ok(None)
    }

    fn keeps_workspace(&self) -> bool {
        true
    }

    async fn save_turn(
        &self,
        state: &RunState,
        workspace: Option<WorkspaceCapture>,
    ) -> Result<(), CheckpointError> {
        if let Phase::Done(reason) = &state.phase
            && disposition(reason) == Disposition::Retry
        {
            return Ok(());
        }
        let bytes = {
            let mut kept = self
                .workspace
                .lock()
                .map_err(|_| self.error("the checkpoint's lock is poisoned".into()))?;
            if let Some(fresh) = workspace {
                *kept = fresh;
            }
            RunCheckpoint::encode(state, &kept)?
        };
        match self
            .store
            .save_checkpoint(&self.id, self.token, bytes)
            .await
        {
            Ok(()) => Ok(()),
            Err(err) => {
                self.watch.report_error(&err);
                Err(self.error(err.to_string()))
            }
        }
    }
}

/// Where the next run of a lease starts.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePoint {
    /// From scratch: there is no checkpoint.
    Fresh,
    /// From a stored run.
    Resume(Box<RunCheckpoint>),
    /// From scratch, because the stored checkpoint cannot be used.
    Discarded {
        /// Why.
        reason: String,
    },
}

impl ResumePoint {
    /// What `lease`'s checkpoint allows.
    pub fn of(lease: &Lease) -> Self {
        let Some(bytes) = &lease.checkpoint else {
            return Self::Fresh;
        };
        match RunCheckpoint::decode(&lease.task.id, bytes) {
            Ok(RunCheckpoint {
                workspace: WorkspaceCapture::Unavailable { reason },
                ..
            }) => Self::Discarded {
                reason: format!("the workspace's changes were not saved with it ({reason})"),
            },
            Ok(checkpoint) => Self::Resume(Box::new(checkpoint)),
            Err(err) => Self::Discarded {
                reason: err.message,
            },
        }
    }
}

/// Runs one leased task: creates its sandbox, continues from the lease's
/// checkpoint when it can (see the [module docs](self)), checkpoints every
/// turn into `store` under the lease's token, and closes the sandbox.
///
/// `control` stops the run (its `checkpoint` is replaced by the lease's);
/// `watch` learns when the store refuses a checkpoint because the lease is
/// gone. Never fails: a sandbox that cannot be created is an
/// `EnvironmentFailed` outcome.
pub async fn run_lease(
    agent: &Agent,
    provider: &dyn SandboxProvider,
    spec: &SandboxSpec,
    store: Arc<dyn TaskStore>,
    lease: Lease,
    mut control: RunControl,
    watch: LeaseWatch,
) -> Outcome {
    let id = lease.task.id.clone();
    let mut point = ResumePoint::of(&lease);
    if let ResumePoint::Discarded { reason } = &point {
        warn(
            agent,
            &id,
            format!("the stored checkpoint was not used, so the run starts over: {reason}"),
        );
    }
    let spec = match agent.sandbox_source(spec).await {
        Ok(spec) => spec,
        Err(err) => {
            return failed(
                id,
                format!("the forge could not provide the repository to clone: {err}"),
            );
        }
    };
    let sandbox = match super::create_sandbox(agent, provider, spec, &id).await {
        Ok(sandbox) => sandbox,
        Err(crate::sandbox::SandboxError::SetupFailed { report }) => {
            return agent.environment_broken(&id, *report);
        }
        Err(err) => {
            return failed(id, format!("could not create the sandbox: {err}"));
        }
    };
    if let ResumePoint::Resume(checkpoint) = &point
        && let WorkspaceCapture::Changes { base_commit, patch } = &checkpoint.workspace
        && let Err(err) =
            crate::agent::workspace::restore(sandbox.as_ref(), base_commit, patch).await
    {
        warn(
            agent,
            &id,
            format!(
                "the workspace of the stored checkpoint could not be restored, so the run starts over: {err}"
            ),
        );
        point = ResumePoint::Discarded {
            reason: err.to_string(),
        };
    }
    let start = match &point {
        ResumePoint::Resume(checkpoint) => checkpoint.workspace.clone(),
        _ => WorkspaceCapture::Pristine,
    };
    control.checkpoint = Some(Arc::new(StoreCheckpoint::new(
        store,
        id,
        lease.token,
        start,
        watch,
    )));
    let outcome = match point {
        ResumePoint::Resume(checkpoint) => {
            agent
                .resume_with(checkpoint.state, Arc::clone(&sandbox), control)
                .await
        }
        _ => {
            agent
                .run_with(lease.task, Arc::clone(&sandbox), control)
                .await
        }
    };
    if let Err(err) = sandbox.close().await {
        tracing::warn!(error = %err, sandbox = sandbox.id(), "closing the sandbox failed");
    }
    outcome
}

fn warn(agent: &Agent, task: &TaskId, message: String) {
    tracing::warn!(task = %task, "{message}");
    agent.events().emit_for(task, Event::Warning { message });
}

/// The outcome of a run that could not start.
pub(super) fn failed(task_id: TaskId, message: String) -> Outcome {
    Outcome::nothing_done(task_id, StopReason::EnvironmentFailed { message })
}
