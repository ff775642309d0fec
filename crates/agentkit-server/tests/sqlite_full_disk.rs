//! A full disk under the SQLite store: writes fail with a `Backend` error
//! that says the disk is full and what to do, nothing is half-written, and
//! once space is freed the same writes succeed on a consistent store.
//!
//! A worker pool on that store stops leasing and says why, leaves the task
//! untouched, and runs it once space is freed.
//!
//! The store lives on a tiny tmpfs mounted for the test (root only); where
//! mounting is impossible the test prints `SKIPPED` (and fails under `CI`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agentkit_core::store::conformance::{TTL, task};
use agentkit_core::store::{NewTask, StoreError, TaskState, TaskStore};
use agentkit_core::testing::MemoryProvider;
use agentkit_server::pool::{PoolStatus, WorkerPool};
use agentkit_server::runlog::conformance::event;
use agentkit_server::runlog::{MemoryRunLog, RunLog};
use agentkit_server::store::SqliteTaskStore;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                if std::env::var_os("CI").is_some() {
                    panic!("cannot mount a tmpfs for the full-disk test under CI: {why}");
                }
                println!("SKIPPED: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount the tmpfs with size={size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system with a file until it is full; returns the file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).and_then(|()| file.flush()).is_ok() {}
    let _ = file.sync_all();
    path
}

fn assert_disk_full(result: Result<impl std::fmt::Debug, StoreError>, doing: &str) {
    let err = result.expect_err(doing);
    let StoreError::Backend { message } = &err else {
        panic!("{doing}: expected a backend error, got {err:?}")
    };
    assert!(
        message.contains(doing)
            && message.contains("the disk holding the database is full")
            && message.contains("free disk space"),
        "{message}"
    );
    assert!(
        !err.ownership_lost(),
        "a full disk does not take the lease away"
    );
}

#[tokio::test]
async fn a_full_disk_fails_writes_cleanly_and_they_succeed_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let store = SqliteTaskStore::open(fs.path().join("tasks.db"))
        .await
        .unwrap();
    store.enqueue(NewTask::new(task("T-0"))).await.unwrap();
    let lease = store.lease("w", TTL, 0).await.unwrap().unwrap();
    let t0 = lease.task.id.clone();
    store
        .save_checkpoint(&t0, lease.token, b"turn 1".to_vec())
        .await
        .unwrap();
    store.append(&t0, &[event("T-0", "before")]).await.unwrap();
    let before = store.get(&t0).await.unwrap();

    let filler = fill(fs.path());
    // Every payload is larger than the whole file system.
    let big = vec![7u8; 2 << 20];
    let mut huge_task = task("T-1");
    huge_task.body = "x".repeat(2 << 20);
    let many: Vec<_> = (0..4_000)
        .map(|i| event("T-0", &format!("{i:0>600}")))
        .collect();
    assert_disk_full(
        store.save_checkpoint(&t0, lease.token, big.clone()).await,
        "save a checkpoint for task `T-0`",
    );
    assert_disk_full(
        store.enqueue(NewTask::new(huge_task.clone())).await,
        "enqueue task `T-1`",
    );
    assert_disk_full(
        store.append(&t0, &many).await,
        "append 4000 event(s) to the run log of task `T-0`",
    );

    // Nothing was half-written: the entry, its checkpoint and the log are as
    // they were, and the failed enqueue left no entry.
    assert_eq!(store.get(&t0).await.unwrap(), before);
    assert_eq!(store.get(&huge_task.id).await.unwrap(), None);
    assert_eq!(store.read(&t0, 0, 10_000).await.unwrap().len(), 1);

    // The fault clears (space freed, the disk grown): the same writes go
    // through, on a consistent store.
    std::fs::remove_file(filler).unwrap();
    fs.grow("32m");
    store
        .save_checkpoint(&t0, lease.token, big.clone())
        .await
        .unwrap();
    let enqueued = store
        .enqueue(NewTask::new(huge_task.clone()))
        .await
        .unwrap();
    assert!(enqueued.created);
    assert_eq!(store.append(&t0, &many).await.unwrap(), 4_001);
    let taken_over = store.lease("w2", TTL, 20_000).await.unwrap().unwrap();
    assert_eq!(
        (taken_over.task.id.clone(), taken_over.checkpoint),
        (t0.clone(), Some(big))
    );
    let next = store.lease("w2", TTL, 20_000).await.unwrap().unwrap();
    assert_eq!(next.task, huge_task);
    let leased = store.list(Some(TaskState::Leased)).await.unwrap();
    assert_eq!(leased.len(), 2);
    store.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_on_a_full_disk_stops_leasing_says_why_and_runs_the_task_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let store = SqliteTaskStore::open(fs.path().join("tasks.db"))
        .await
        .unwrap();
    // A lease rewrites the whole row: with a 300 kB body it needs more room
    // than a full disk has.
    let mut big = task("T-1");
    big.body = "x".repeat(300 << 10);
    store.enqueue(NewTask::new(big.clone())).await.unwrap();
    let before = store.get(&big.id).await.unwrap();
    let filler = fill(fs.path());
    let store = std::sync::Arc::new(store);
    let finish = r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}]"#;
    let pool = WorkerPool::start(
        common::config("w", 2),
        store.clone(),
        std::sync::Arc::new(MemoryRunLog::new()),
        std::sync::Arc::new(MemoryProvider::new()),
        std::sync::Arc::new(common::Factory::new(common::script(finish))),
    );
    let reason = common::backing_off_reason(&pool).await;
    assert!(
        reason.contains("cannot lease up to 2 tasks in the SQLite task store")
            && reason.contains("the disk holding the database is full")
            && reason.contains("free disk space"),
        "{reason}"
    );
    // Nothing was half-written: the entry is still queued, no attempt used.
    assert_eq!(store.get(&big.id).await.unwrap(), before);

    std::fs::remove_file(filler).unwrap();
    fs.grow("32m");
    let record = common::finished(store.as_ref(), &big.id).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 1));
    assert_eq!(pool.status(), PoolStatus::Leasing);
    pool.shutdown().await;
    store.close().await;
}
