//! Storing run state after every turn so a run can resume elsewhere.
//!
//! A [`Checkpoint`] keeps the latest [`RunState`] of each run. Stores that
//! resume runs in a *fresh* sandbox (the worker's, in the task store) also keep
//! the workspace's changes: they answer [`Checkpoint::keeps_workspace`] with
//! true, and the driver then captures the changes after every turn in which a
//! tool that may change files ran ([`WorkspaceCapture`], taken by
//! [`agent::workspace`](crate::agent::workspace)) and hands them to
//! [`Checkpoint::save_turn`].
//!
//! [`RunCheckpoint`] is the versioned byte format of a run state plus its
//! workspace, as stored in [`TaskStore`](crate::store::TaskStore) checkpoints:
//!
//! ```text
//! b"AKCP" | version: u16 BE | header length: u32 BE | header (JSON) | patch bytes
//! ```
//!
//! The header is `{"state": RunState, "workspace": WorkspaceCapture}` without
//! the patch; the patch (a binary `git diff`) follows raw, so binary files cost
//! no encoding overhead. A reader refuses any other magic or version with a
//! [`CheckpointError`] (callers start the run afresh and say why).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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

    /// Whether this store keeps the workspace's changes with the state. When
    /// it does, the driver captures them after each turn that ran a tool that
    /// may change files and passes them to [`save_turn`](Self::save_turn).
    /// Capturing costs a `git` command in the sandbox, so the default is no.
    fn keeps_workspace(&self) -> bool {
        false
    }

    /// Stores the state after a turn. `workspace` is `Some` when the turn may
    /// have changed files (the fresh capture replaces the kept one) and `None`
    /// when the kept one still holds. The default ignores it and calls
    /// [`save`](Self::save).
    async fn save_turn(
        &self,
        state: &RunState,
        workspace: Option<WorkspaceCapture>,
    ) -> Result<(), CheckpointError> {
        let _ = workspace;
        self.save(state).await
    }
}

/// What a checkpoint holds of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkspaceCapture {
    /// No tool that may change files has run: a fresh sandbox *is* the
    /// workspace.
    Pristine,
    /// The changes since `base_commit`: a binary `git diff` of the working
    /// tree (tracked files and untracked files that are not ignored).
    Changes {
        /// The commit the diff applies to.
        base_commit: String,
        /// The diff (not serialized in the header: it follows it raw).
        #[serde(skip)]
        patch: Vec<u8>,
    },
    /// Files may have changed but could not be captured, so the run cannot be
    /// resumed in a fresh sandbox.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// The version of the [`RunCheckpoint`] format this build writes and reads.
pub const CHECKPOINT_FORMAT_VERSION: u16 = 1;

const MAGIC: &[u8; 4] = b"AKCP";
const PREAMBLE: usize = 4 + 2 + 4;

/// A run state and its workspace, as stored in the task store. See the
/// [module docs](self) for the byte format.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCheckpoint {
    /// The run.
    pub state: RunState,
    /// The workspace as of `state`.
    pub workspace: WorkspaceCapture,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    state: &'a RunState,
    workspace: &'a WorkspaceCapture,
}

#[derive(Deserialize)]
struct HeaderIn {
    state: RunState,
    workspace: WorkspaceCapture,
}

impl RunCheckpoint {
    /// The bytes of `state` and `workspace` (see the [module docs](self)).
    pub fn encode(
        state: &RunState,
        workspace: &WorkspaceCapture,
    ) -> Result<Vec<u8>, CheckpointError> {
        let header =
            serde_json::to_vec(&HeaderOut { state, workspace }).map_err(|e| CheckpointError {
                task: state.task.id.to_string(),
                message: format!("the run state does not serialize: {e}"),
            })?;
        let patch: &[u8] = match workspace {
            WorkspaceCapture::Changes { patch, .. } => patch,
            _ => &[],
        };
        let header_len = u32::try_from(header.len()).map_err(|_| CheckpointError {
            task: state.task.id.to_string(),
            message: format!(
                "the run state is too large to checkpoint ({} bytes)",
                header.len()
            ),
        })?;
        let mut bytes = Vec::with_capacity(PREAMBLE + header.len() + patch.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_be_bytes());
        bytes.extend_from_slice(&header_len.to_be_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(patch);
        Ok(bytes)
    }

    /// Reads checkpoint bytes of `task`. Anything but this build's format
    /// (another version, another magic, a cut-off or corrupt header) is an
    /// error saying what was found.
    pub fn decode(task: &TaskId, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let err = |message: String| CheckpointError {
            task: task.to_string(),
            message,
        };
        if bytes.len() < PREAMBLE || &bytes[..4] != MAGIC {
            return Err(err(format!(
                "the {} stored bytes are not an agentkit run checkpoint (no `AKCP` header)",
                bytes.len()
            )));
        }
        let version = u16::from_be_bytes([bytes[4], bytes[5]]);
        if version != CHECKPOINT_FORMAT_VERSION {
            return Err(err(format!(
                "the checkpoint has format version {version}; this build reads version \
                 {CHECKPOINT_FORMAT_VERSION} only"
            )));
        }
        let header_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
        let Some(header) = bytes.get(PREAMBLE..PREAMBLE.saturating_add(header_len)) else {
            return Err(err(format!(
                "the checkpoint is cut off: its header claims {header_len} bytes, {} are stored",
                bytes.len() - PREAMBLE
            )));
        };
        let HeaderIn {
            state,
            mut workspace,
        } = serde_json::from_slice(header)
            .map_err(|e| err(format!("the checkpoint's run state does not parse: {e}")))?;
        if state.task.id != *task {
            return Err(err(format!(
                "the checkpoint belongs to task `{}`",
                state.task.id
            )));
        }
        if let WorkspaceCapture::Changes { patch, .. } = &mut workspace {
            *patch = bytes[PREAMBLE + header_len..].to_vec();
        }
        Ok(Self { state, workspace })
    }
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

    #[test]
    fn run_checkpoints_round_trip_with_a_binary_patch() {
        let state = state();
        let workspace = WorkspaceCapture::Changes {
            base_commit: "abc".into(),
            patch: vec![0, 159, 146, 150, b'\n', 255],
        };
        let bytes = RunCheckpoint::encode(&state, &workspace).unwrap();
        assert_eq!(
            RunCheckpoint::decode(&state.task.id, &bytes).unwrap(),
            RunCheckpoint {
                state: state.clone(),
                workspace
            }
        );
        let pristine = RunCheckpoint::encode(&state, &WorkspaceCapture::Pristine).unwrap();
        assert_eq!(
            RunCheckpoint::decode(&state.task.id, &pristine)
                .unwrap()
                .workspace,
            WorkspaceCapture::Pristine
        );
    }

    #[test]
    fn unreadable_run_checkpoints_say_what_was_found() {
        let state = state();
        let id = &state.task.id;
        let bytes = RunCheckpoint::encode(&state, &WorkspaceCapture::Pristine).unwrap();
        let message = |bytes: &[u8]| RunCheckpoint::decode(id, bytes).unwrap_err().message;
        assert_eq!(
            message(b"{}"),
            "the 2 stored bytes are not an agentkit run checkpoint (no `AKCP` header)"
        );
        let mut newer = bytes.clone();
        newer[5] = 9;
        assert_eq!(
            message(&newer),
            "the checkpoint has format version 9; this build reads version 1 only"
        );
        let cut = &bytes[..20];
        assert!(
            message(cut).starts_with("the checkpoint is cut off"),
            "{}",
            message(cut)
        );
        let mut garbled = bytes.clone();
        garbled[12] = b'#';
        assert!(message(&garbled).starts_with("the checkpoint's run state does not parse"));
        let other = TaskId("other".into());
        assert_eq!(
            RunCheckpoint::decode(&other, &bytes).unwrap_err().message,
            "the checkpoint belongs to task `gh/7`"
        );
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
