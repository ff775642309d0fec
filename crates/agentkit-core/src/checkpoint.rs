//! Storing run state after every turn so a run can resume elsewhere.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::engine::RunState;
use crate::task::TaskId;

/// A checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint for task `{task}` failed: {message}")]
pub struct CheckpointError {
    /// The task.
    pub task: String,
    /// What happened.
    pub message: String,
}

/// Where run states are kept between turns.
#[async_trait]
pub trait Checkpoint: Send + Sync {
    /// Stores the latest state of a run (replacing the previous one).
    async fn save(&self, state: &RunState) -> Result<(), CheckpointError>;

    /// The latest stored state of a task's run.
    async fn load(&self, task: &TaskId) -> Result<Option<RunState>, CheckpointError>;
}

/// Keeps checkpoints in memory (tests, single-process use).
#[derive(Debug, Default)]
pub struct MemoryCheckpoint {
    states: Mutex<HashMap<TaskId, RunState>>,
}

impl MemoryCheckpoint {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Checkpoint for MemoryCheckpoint {
    async fn save(&self, state: &RunState) -> Result<(), CheckpointError> {
        if let Ok(mut states) = self.states.lock() {
            states.insert(state.task.id.clone(), state.clone());
        }
        Ok(())
    }

    async fn load(&self, task: &TaskId) -> Result<Option<RunState>, CheckpointError> {
        Ok(self.states.lock().ok().and_then(|s| s.get(task).cloned()))
    }
}

mod file;

pub use file::FileCheckpoint;
