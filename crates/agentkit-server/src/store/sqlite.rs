//! [`SqliteTaskStore`]: the queue and the run log in one SQLite file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::event::{EventRecord, now_ms};
use agentkit_core::store::{
    Enqueued, FencingToken, Lease, NewTask, StoreError, TaskRecord, TaskResult, TaskState,
    TaskStore, WorkSignal, lease_expiry,
};
use agentkit_core::task::TaskId;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::sql::{
    EXPIRED_ERROR_SQL, FencedWrite, Param, Value, backend_error, cancel_refusal, from_db,
    lease_doing, leases_in_order, record_columns, record_from_row, task_json, to_db,
};
use crate::runlog::{LoggedEvent, RunLog};

/// How long a writer waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest [`wait_for_work`](TaskStore::wait_for_work) sleeps before
/// returning to look for work written by *other* processes (SQLite has no
/// cross-process notification; this process's writes wake waiters at once).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The [`TaskStore`] and [`RunLog`] in one SQLite file: the embedded default.
///
/// - One file (plus SQLite's `-wal` and `-shm` side files), in WAL mode with
///   `synchronous = NORMAL`: a commit survives a crash of the process (a
///   `kill -9`); the last commits before a power loss may be rolled back.
/// - Safe with several worker *processes* on one machine: every write is
///   atomic (one writer at a time, the others wait up to a busy timeout of
///   10 s); a lease is two autocommit statements (reap expired leases, then
///   one `UPDATE … RETURNING` that takes the best ready entries), and every
///   fenced write is one `UPDATE … WHERE id = ? AND token = ? AND state =
///   'leased'`, so a stale token can never change a row. Not for network
///   file systems.
/// - Migrations are embedded and run by [`open`](Self::open).
/// - [`wait_for_work`](TaskStore::wait_for_work) wakes at once for work
///   written through this handle, and looks again every
///   [`DEFAULT_POLL_INTERVAL`] for work other processes wrote.
///
/// ```no_run
/// use agentkit_server::store::SqliteTaskStore;
/// # async fn run() -> Result<(), agentkit_core::store::StoreError> {
/// let store = SqliteTaskStore::open(".agentkit/tasks.db").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug)]
pub struct SqliteTaskStore {
    pool: SqlitePool,
    name: String,
    path: PathBuf,
    work: WorkSignal,
    poll_interval: Duration,
    /// Taken by every write through this handle: SQLite admits one writer at
    /// a time, and writers of one process queue here in order instead of in
    /// SQLite's busy handler, which sleeps (up to 25 ms a try) while the
    /// lock is held elsewhere.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteTaskStore {
    /// Opens (creating it and its parent directories if needed) the store at
    /// `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let name = format!("the SQLite task store `{}`", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StoreError::Backend {
                    message: format!(
                        "cannot create the directory `{}` for {name}: {e}: check the path and \
                         its permissions",
                        parent.display()
                    ),
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| backend_error("open the database", &name, &e, sqlite_advice))?;
        let store = Self {
            pool,
            name,
            path,
            work: WorkSignal::default(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            writer: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Sets how often [`wait_for_work`](TaskStore::wait_for_work) looks for
    /// work written by other processes (default [`DEFAULT_POLL_INTERVAL`]).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections (waiting for running queries to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate!("migrations/sqlite");
        // Processes opening a new file at once may race to create the schema:
        // the loser fails, and finds it applied when it tries again.
        let mut tries = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(_) if tries < 3 => tries += 1,
                Err(e) => {
                    return Err(StoreError::Backend {
                        message: format!(
                            "cannot bring the schema of {} up to date: {e}: was the file \
                             written by a newer agentkit? Use that version, or a new file",
                            self.name
                        ),
                    });
                }
            }
        }
    }

    fn error(&self, doing: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        let doing = doing.to_string();
        move |e| backend_error(&doing, &self.name, &e, sqlite_advice)
    }

    async fn immediate(&self, doing: &str) -> Result<Immediate, StoreError> {
        let writing = Arc::clone(&self.writer).lock_owned().await;
        let mut conn = self.pool.acquire().await.map_err(self.error(doing))?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(self.error(doing))?;
        Ok(Immediate {
            conn,
            done: false,
            _writing: writing,
        })
    }

    /// Runs a [`FencedWrite`] (one statement, atomic by itself) and explains
    /// a refusal.
    async fn fenced(
        &self,
        id: &TaskId,
        token: FencingToken,
        mut write: FencedWrite,
    ) -> Result<String, StoreError> {
        let doing = write.doing(id);
        let sql = write.statement(PARAM);
        let query = sqlx::query(&sql)
            .bind(to_db(now_ms()))
            .bind(&id.0)
            .bind(to_db(token.0));
        let query = Value::bind_all(query, std::mem::take(&mut write.values));
        let writing = self.writer.lock().await;
        let updated = query
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error(&doing))?;
        drop(writing);
        if let Some(row) = updated {
            return row.try_get::<String, _>(0).map_err(self.error(&doing));
        }
        // Tokens only grow and final states are final, so what is read now
        // explains the refusal.
        let found: Option<(String, i64)> =
            sqlx::query_as("SELECT state, token FROM tasks WHERE id = ?1")
                .bind(&id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.error(&doing))?;
        Err(write.refused(id, token, found))
    }
}

/// A `BEGIN IMMEDIATE` transaction on a pooled connection. Unless
/// committed, its connection is closed rather than returned to the pool, which
/// rolls back whatever it did: after SQLite's own automatic rollback (a full
/// disk, an I/O error) or a cancelled future, no connection is ever handed out
/// mid-transaction.
struct Immediate {
    conn: PoolConnection<Sqlite>,
    done: bool,
    _writing: tokio::sync::OwnedMutexGuard<()>,
}

impl Immediate {
    async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Immediate {
    fn drop(&mut self) {
        if !self.done {
            self.conn.close_on_drop();
        }
    }
}

/// What a SQLite result code means for whoever runs the store.
fn sqlite_advice(code: &str) -> Option<&'static str> {
    let code: i64 = code.parse().ok()?;
    Some(match code & 0xff {
        13 => {
            "the disk holding the database is full; the change was rolled back and nothing is \
             half-written: free disk space, then retry"
        }
        5 | 6 => {
            "another process held the database locked longer than the busy timeout; the change \
             was rolled back: retry, and check no process keeps a long transaction open"
        }
        8 => "the database file is read-only: check its permissions and the file system",
        10 => {
            "the disk reported an I/O error; the change was rolled back: check the disk and the \
             file system, then retry"
        }
        11 | 26 => {
            "the file is corrupt or not a database: restore it from a backup or point the store \
             at a new file"
        }
        14 => "the database file cannot be opened: check the path, its directory and permissions",
        _ => return None,
    })
}

/// Bind parameter `n` in this dialect.
const PARAM: Param = |n, _| format!("?{n}");

fn json_column(column: &str) -> String {
    column.to_string()
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError> {
        let doing = format!("enqueue task `{}`", new.task.id);
        let now = to_db(now_ms());
        let writing = self.writer.lock().await;
        let inserted = sqlx::query(
            "INSERT INTO tasks (id, idempotency_key, task, state, priority, max_attempts, \
             run_at_ms, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?7) ON CONFLICT DO NOTHING",
        )
        .bind(&new.task.id.0)
        .bind(new.key())
        .bind(task_json(&new.task)?)
        .bind(i64::from(new.priority))
        .bind(i64::from(new.max_attempts.max(1)))
        .bind(new.run_at_ms.map(to_db))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.error(&doing))?;
        drop(writing);
        if inserted.rows_affected() == 1 {
            self.work.notify();
            return Ok(Enqueued {
                id: new.task.id,
                created: true,
            });
        }
        let (id,): (String,) = sqlx::query_as(
            "SELECT id FROM tasks WHERE idempotency_key = ?1 OR id = ?2 \
             ORDER BY idempotency_key = ?1 DESC LIMIT 1",
        )
        .bind(new.key())
        .bind(&new.task.id.0)
        .fetch_one(&self.pool)
        .await
        .map_err(self.error(&doing))?;
        Ok(Enqueued {
            id: TaskId(id),
            created: false,
        })
    }

    async fn lease(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms_: u64,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(self.lease_many(worker, ttl, now_ms_, 1).await?.pop())
    }

    // Leases up to `max` ready entries with two autocommit statements, each
    // atomic by itself (a write statement takes SQLite's write lock before
    // it reads, waiting up to the busy timeout): first expired leases with
    // no attempts left are failed, then one `UPDATE … WHERE seq IN (the best
    // `max` of: the first ready queued rows, the first expired leases with
    // attempts left) RETURNING …`.
    async fn lease_many(
        &self,
        worker: &str,
        ttl: Duration,
        now_ms_: u64,
        max: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let doing = &lease_doing(max);
        let at = to_db(now_ms());
        let now = to_db(now_ms_);
        let expires_at_ms = lease_expiry(now_ms_, ttl);
        let _writing = self.writer.lock().await;
        sqlx::query(&format!(
            "UPDATE tasks SET state = 'failed', last_error = {EXPIRED_ERROR_SQL}, \
             lease_worker = NULL, lease_expires_at_ms = NULL, updated_at_ms = ?2 \
             WHERE state = 'leased' AND lease_expires_at_ms <= ?1 AND attempts >= max_attempts"
        ))
        .bind(now)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(self.error(doing))?;
        let rows: Vec<SqliteRow> = sqlx::query(
            "UPDATE tasks SET state = 'leased', attempts = attempts + 1, token = token + 1, \
             lease_worker = ?2, lease_expires_at_ms = ?3, updated_at_ms = ?4 \
             WHERE seq IN (SELECT seq FROM ( \
                SELECT * FROM (SELECT seq, priority FROM tasks \
                    WHERE state = 'queued' AND (run_at_ms IS NULL OR run_at_ms <= ?1) \
                    ORDER BY priority DESC, seq LIMIT ?5) \
                UNION ALL \
                SELECT * FROM (SELECT seq, priority FROM tasks \
                    WHERE state = 'leased' AND lease_expires_at_ms <= ?1 \
                      AND attempts < max_attempts \
                    ORDER BY priority DESC, seq LIMIT ?5)) \
                ORDER BY priority DESC, seq LIMIT ?5) \
             RETURNING id, task, token, attempts, checkpoint, priority, seq",
        )
        .bind(now)
        .bind(worker)
        .bind(to_db(expires_at_ms))
        .bind(at)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.error(doing))?;
        leases_in_order(&rows, expires_at_ms)
    }

    async fn heartbeat(
        &self,
        id: &TaskId,
        token: FencingToken,
        ttl: Duration,
        now_ms_: u64,
    ) -> Result<u64, StoreError> {
        let expires = lease_expiry(now_ms_, ttl);
        self.fenced(id, token, FencedWrite::heartbeat(expires))
            .await?;
        Ok(expires)
    }

    async fn save_checkpoint(
        &self,
        id: &TaskId,
        token: FencingToken,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let write = FencedWrite::save_checkpoint(bytes);
        self.fenced(id, token, write).await.map(drop)
    }

    async fn complete(
        &self,
        id: &TaskId,
        token: FencingToken,
        result: TaskResult,
    ) -> Result<(), StoreError> {
        let write = FencedWrite::complete(id, &result)?;
        self.fenced(id, token, write).await.map(drop)
    }

    async fn fail(
        &self,
        id: &TaskId,
        token: FencingToken,
        error: String,
        retry_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let write = FencedWrite::fail(error, retry_at_ms);
        let state = self.fenced(id, token, write).await?;
        if state == TaskState::Queued.as_str() {
            self.work.notify();
        }
        Ok(())
    }

    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        let doing = format!("cancel task `{id}`");
        let mut tx = self.immediate(&doing).await?;
        let cancelled = sqlx::query(
            "UPDATE tasks SET state = 'cancelled', lease_worker = NULL, \
             lease_expires_at_ms = NULL, updated_at_ms = ?2 \
             WHERE id = ?1 AND state IN ('queued', 'leased')",
        )
        .bind(&id.0)
        .bind(to_db(now_ms()))
        .execute(&mut *tx.conn)
        .await
        .map_err(self.error(&doing))?;
        if cancelled.rows_affected() == 1 {
            return tx.commit().await.map_err(self.error(&doing));
        }
        let state: Option<(String,)> = sqlx::query_as("SELECT state FROM tasks WHERE id = ?1")
            .bind(&id.0)
            .fetch_optional(&mut *tx.conn)
            .await
            .map_err(self.error(&doing))?;
        cancel_refusal(id, state.map(|(s,)| s))
    }

    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let doing = format!("read task `{id}`");
        let sql = format!(
            "SELECT {} FROM tasks WHERE id = ?1",
            record_columns(json_column)
        );
        let row = sqlx::query(&sql)
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error(&doing))?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn list(&self, filter: Option<TaskState>) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM tasks WHERE ?1 IS NULL OR state = ?1 ORDER BY seq",
            record_columns(json_column)
        );
        let rows = sqlx::query(&sql)
            .bind(filter.map(TaskState::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("list tasks"))?;
        rows.iter().map(record_from_row).collect()
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.work.wait(timeout.min(self.poll_interval)).await;
    }
}

#[async_trait]
impl RunLog for SqliteTaskStore {
    async fn append(&self, task: &TaskId, events: &[EventRecord]) -> Result<u64, StoreError> {
        let doing = format!(
            "append {} event(s) to the run log of task `{task}`",
            events.len()
        );
        if events.is_empty() {
            let last: Option<(i64,)> =
                sqlx::query_as("SELECT last_id FROM run_logs WHERE task_id = ?1")
                    .bind(&task.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(self.error(&doing))?;
            return Ok(last.map_or(0, |(id,)| from_db(id)));
        }
        let records = super::event_json(task, events)?;
        let mut tx = self.immediate(&doing).await?;
        let (last,): (i64,) = sqlx::query_as(
            "INSERT INTO run_logs (task_id, last_id) VALUES (?1, ?2) \
             ON CONFLICT (task_id) DO UPDATE SET last_id = last_id + ?2 RETURNING last_id",
        )
        .bind(&task.0)
        .bind(records.len() as i64)
        .fetch_one(&mut *tx.conn)
        .await
        .map_err(self.error(&doing))?;
        let first = last - records.len() as i64 + 1;
        // SQLite binds at most 32766 values per statement: 3 per row.
        for (chunk_index, chunk) in records.chunks(1_000).enumerate() {
            let base = first + (chunk_index * 1_000) as i64;
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO run_events (task_id, id, record) ");
            insert.push_values(chunk.iter().zip(base..), |mut row, (json, id)| {
                row.push_bind(task.0.as_str())
                    .push_bind(id)
                    .push_bind(json.as_str());
            });
            insert
                .build()
                .execute(&mut *tx.conn)
                .await
                .map_err(self.error(&doing))?;
        }
        tx.commit().await.map_err(self.error(&doing))?;
        Ok(from_db(last))
    }

    async fn read(
        &self,
        task: &TaskId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let doing = format!("read the run log of task `{task}`");
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, record FROM run_events WHERE task_id = ?1 AND id > ?2 \
             ORDER BY id LIMIT ?3",
        )
        .bind(&task.0)
        .bind(to_db(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.error(&doing))?;
        rows.into_iter()
            .map(|(id, json)| super::logged_event(task, from_db(id), &json))
            .collect()
    }
}
