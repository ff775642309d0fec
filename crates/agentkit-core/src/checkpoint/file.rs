//! [`FileCheckpoint`]: one append-only journal per task, so a checkpoint
//! costs what changed since the last one, not the whole conversation.
//!
//! # Format
//!
//! `<dir>/<task slug>.jsonl`, one JSON record per line:
//!
//! ```text
//! {"keep": K, "append": [message, ...], "head": RunState without its messages}
//! ```
//!
//! Loading folds the records in order: keep the first `K` messages, append
//! the new ones, take the record's head. A turn that only appended messages
//! writes just those (`K` = the previous length); a history rewritten in
//! place (compaction) keeps the common prefix and appends the rest.
//!
//! The journal is rewritten as one full record (written beside it, then
//! renamed over it) on the first save of a process and whenever its records
//! have grown past twice the last full record (at least
//! [`MIN_REWRITE_BYTES`]), so it stays within a small multiple of the state's
//! size. A crash can tear only the last line: loading ignores a torn last
//! line (the run resumes from the record before it) and refuses any other
//! damage. Appends are plain writes of a few kilobytes to the page cache,
//! made in place; rewrites run on the blocking pool. Nothing is `fsync`ed:
//! a checkpoint survives the process, not the machine.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Checkpoint, CheckpointError};
use crate::engine::RunState;
use crate::message::Message;
use crate::task::TaskId;

/// The journal is compacted once its records since the last full one pass
/// twice that record's size, and never below this many bytes.
pub const MIN_REWRITE_BYTES: u64 = 256 * 1024;

/// Keeps one append-only JSONL journal per task in a directory
/// (`<dir>/<task slug>.jsonl`): a checkpoint appends only the messages added
/// since the last one plus the small rest of the state, and the journal is
/// rewritten as one record once it outgrows twice the state (at least
/// 256 KiB). Loading ignores a torn last line (a crash
/// mid-write) and refuses any other damage. Nothing is `fsync`ed: a
/// checkpoint survives the process, not the machine.
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    dir: PathBuf,
    journals: Arc<Mutex<HashMap<TaskId, Journal>>>,
}

/// What this process last wrote for a task.
#[derive(Debug)]
struct Journal {
    file: std::fs::File,
    /// The messages the journal holds now.
    written: Vec<Message>,
    /// Bytes of the last full record.
    full_bytes: u64,
    /// Bytes appended since it.
    delta_bytes: u64,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    keep: usize,
    append: &'a [Message],
    head: &'a RunState,
}

#[derive(Deserialize)]
struct RecordIn {
    keep: usize,
    append: Vec<Message>,
    head: RunState,
}

impl FileCheckpoint {
    /// Checkpoints under `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            journals: Arc::default(),
        }
    }

    fn path(&self, task: &TaskId) -> PathBuf {
        self.dir.join(format!("{}.jsonl", task.slug()))
    }

    /// The file an earlier version kept the whole state in, read when there
    /// is no journal.
    fn legacy_path(&self, task: &TaskId) -> PathBuf {
        self.dir.join(format!("{}.json", task.slug()))
    }

    /// The open journals, locked.
    fn journals(&self) -> Result<MutexGuard<'_, HashMap<TaskId, Journal>>, String> {
        self.journals
            .lock()
            .map_err(|_| "the checkpoint journal's lock was poisoned by a panic".to_string())
    }
}

fn line(keep: usize, append: &[Message], head: &RunState) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec(&RecordOut { keep, append, head })
        .map_err(|e| format!("serializing the run state: {e}"))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// How many leading messages `a` and `b` share.
fn common_prefix(a: &[Message], b: &[Message]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Writes `bytes` as the whole journal at `path` (beside it, then renamed
/// over it) and opens it for appending.
fn rewrite(dir: &Path, path: &Path, bytes: &[u8]) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("replacing {}: {e}", path.display()))?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

#[async_trait]
impl Checkpoint for FileCheckpoint {
    async fn save(&self, state: &RunState) -> Result<(), CheckpointError> {
        let err = |message: String| CheckpointError {
            task: state.task.id.to_string(),
            message,
        };
        let head = RunState {
            messages: Vec::new(),
            ..state.clone()
        };
        let messages = &state.messages;
        let id = &state.task.id;
        {
            let mut journals = self.journals().map_err(err)?;
            if let Some(journal) = journals.get_mut(id)
                && journal.delta_bytes <= (2 * journal.full_bytes).max(MIN_REWRITE_BYTES)
            {
                let keep = common_prefix(&journal.written, messages);
                let bytes = line(keep, &messages[keep..], &head).map_err(err)?;
                let path = self.path(id);
                journal
                    .file
                    .write_all(&bytes)
                    .map_err(|e| err(format!("appending to {}: {e}", path.display())))?;
                journal.written.truncate(keep);
                journal.written.extend_from_slice(&messages[keep..]);
                journal.delta_bytes += bytes.len() as u64;
                return Ok(());
            }
        }
        // First save in this process, or time to compact: one full record.
        let bytes = line(0, messages, &head).map_err(err)?;
        let (dir, path) = (self.dir.clone(), self.path(id));
        let full_bytes = bytes.len() as u64;
        let file = tokio::task::spawn_blocking(move || rewrite(&dir, &path, &bytes))
            .await
            .map_err(|e| err(format!("the checkpoint writer stopped: {e}")))?
            .map_err(err)?;
        let journal = Journal {
            file,
            written: messages.clone(),
            full_bytes,
            delta_bytes: 0,
        };
        self.journals().map_err(err)?.insert(id.clone(), journal);
        Ok(())
    }

    async fn load(&self, task: &TaskId) -> Result<Option<RunState>, CheckpointError> {
        let err = |message: String| CheckpointError {
            task: task.to_string(),
            message,
        };
        let path = self.path(task);
        let text = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return load_legacy(&self.legacy_path(task)).await.map_err(err);
            }
            Err(e) => return Err(err(format!("reading {}: {e}", path.display()))),
        };
        fold(&text).map_err(|message| err(format!("{} {message}", path.display())))
    }
}

/// Replays a journal's records; `None` for an empty one.
fn fold(text: &[u8]) -> Result<Option<RunState>, String> {
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let mut messages: Vec<Message> = Vec::new();
    let mut state: Option<RunState> = None;
    for (n, raw) in lines.iter().enumerate() {
        let record: RecordIn = match serde_json::from_slice(raw) {
            Ok(record) => record,
            Err(e) if n + 1 == lines.len() && n > 0 => {
                tracing::warn!(error = %e, "the checkpoint's last record is torn; resuming from the one before");
                break;
            }
            Err(e) => return Err(format!("is not a valid run state (record {}): {e}", n + 1)),
        };
        if record.keep > messages.len() {
            return Err(format!(
                "is not a valid run state (record {} keeps {} messages of {})",
                n + 1,
                record.keep,
                messages.len()
            ));
        }
        messages.truncate(record.keep);
        messages.extend(record.append);
        state = Some(record.head);
    }
    Ok(state.map(|head| RunState { messages, ..head }))
}

async fn load_legacy(path: &Path) -> Result<Option<RunState>, String> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not a valid run state: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
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

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[tokio::test]
    async fn appends_only_what_changed_and_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoint::new(dir.path().join("runs"));
        let file = dir.path().join("runs/gh-7.jsonl");
        let mut state = state();
        assert_eq!(store.load(&state.task.id).await.unwrap(), None);
        store.save(&state).await.unwrap();
        for n in 0..5 {
            state.messages.push(Message::user(format!("turn {n}")));
            state.steps += 1;
            store.save(&state).await.unwrap();
        }
        assert_eq!(lines(&file), 6);
        // The last record carries one message, not the conversation.
        let last = std::fs::read_to_string(&file).unwrap();
        let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
        assert_eq!(
            (
                last["keep"].as_u64(),
                last["append"].as_array().map(Vec::len)
            ),
            (Some(5), Some(1))
        );
        // A history rewritten in place keeps the common prefix.
        state.messages.truncate(2);
        state.messages.push(Message::user("summary"));
        store.save(&state).await.unwrap();
        assert_eq!(
            store.load(&state.task.id).await.unwrap(),
            Some(state.clone())
        );
        // Another process (a new store) reads the same state and starts a fresh journal.
        let other = FileCheckpoint::new(dir.path().join("runs"));
        assert_eq!(
            other.load(&state.task.id).await.unwrap(),
            Some(state.clone())
        );
        other.save(&state).await.unwrap();
        assert_eq!(lines(&file), 1);
    }

    #[tokio::test]
    async fn a_torn_last_record_resumes_from_the_one_before_and_other_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoint::new(dir.path().join("runs"));
        let file = dir.path().join("runs/gh-7.jsonl");
        let mut state = state();
        store.save(&state).await.unwrap();
        let saved = state.clone();
        state.messages.push(Message::user("more"));
        store.save(&state).await.unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, &text[..text.len() - 10]).unwrap();
        assert_eq!(store.load(&saved.task.id).await.unwrap(), Some(saved));
        std::fs::write(&file, format!("{{ not json\n{text}")).unwrap();
        let err = store.load(&state.task.id).await.unwrap_err().to_string();
        assert!(
            err.contains("gh-7.jsonl is not a valid run state (record 1)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_journal_is_compacted_when_it_outgrows_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoint::new(dir.path().join("runs"));
        let file = dir.path().join("runs/gh-7.jsonl");
        let mut state = state();
        let big = "x".repeat(64 * 1024);
        for _ in 0..12 {
            state.messages.push(Message::user(big.clone()));
            store.save(&state).await.unwrap();
        }
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size < 3 * 13 * 64 * 1024, "{size}");
        assert!(lines(&file) < 12, "{}", lines(&file));
        assert_eq!(store.load(&state.task.id).await.unwrap(), Some(state));
    }

    #[tokio::test]
    async fn a_whole_state_file_of_an_earlier_version_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpoint::new(dir.path());
        let state = state();
        std::fs::write(
            dir.path().join("gh-7.json"),
            serde_json::to_vec_pretty(&state).unwrap(),
        )
        .unwrap();
        assert_eq!(store.load(&state.task.id).await.unwrap(), Some(state));
    }
}
