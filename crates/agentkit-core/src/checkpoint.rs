//! Storing run state after every turn so a run can resume elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;
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

/// Keeps one JSON file per task in a directory, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    dir: PathBuf,
}

impl FileCheckpoint {
    /// Checkpoints under `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, task: &TaskId) -> PathBuf {
        self.dir.join(format!("{}.json", task.slug()))
    }
}

#[async_trait]
impl Checkpoint for FileCheckpoint {
    async fn save(&self, state: &RunState) -> Result<(), CheckpointError> {
        let err = |message: String| CheckpointError {
            task: state.task.id.to_string(),
            message,
        };
        let json = serde_json::to_vec_pretty(state).map_err(|e| err(e.to_string()))?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| err(format!("creating {}: {e}", self.dir.display())))?;
        let path = self.path(&state.task.id);
        let tmp = path.with_extension("json.tmp");
        tokio::fs::write(&tmp, json)
            .await
            .map_err(|e| err(format!("writing {}: {e}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| err(format!("replacing {}: {e}", path.display())))
    }

    async fn load(&self, task: &TaskId) -> Result<Option<RunState>, CheckpointError> {
        let path = self.path(task);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CheckpointError {
                    task: task.to_string(),
                    message: format!("{} is not a valid run state: {e}", path.display()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CheckpointError {
                task: task.to_string(),
                message: format!("reading {}: {e}", path.display()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::task::{RepoRef, Task};

    fn state() -> RunState {
        let task = Task::new("gh/7", "t", "b", RepoRef::new("."));
        Engine::new(EngineConfig::default(), task, "go".into())
            .state()
            .clone()
    }

    #[tokio::test]
    async fn file_checkpoints_round_trip_and_report_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoint::new(dir.path().join("runs"));
        let state = state();
        assert_eq!(store.load(&state.task.id).await.unwrap(), None);
        store.save(&state).await.unwrap();
        assert_eq!(
            store.load(&state.task.id).await.unwrap(),
            Some(state.clone())
        );
        // The file name comes from the slug, never from the raw id.
        let file = dir.path().join("runs/gh-7.json");
        assert!(file.is_file());
        std::fs::write(&file, "{ not json").unwrap();
        let err = store.load(&state.task.id).await.unwrap_err().to_string();
        assert!(err.contains("gh-7.json is not a valid run state"), "{err}");
    }
}
