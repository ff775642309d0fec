//! [`PgTaskStore`]: the queue and the run log in PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::event::{EventRecord, now_ms};
use agentkit_core::store::{
    Enqueued, FencingToken, Lease, NewTask, StoreError, TaskRecord, TaskResult, TaskState,
    TaskStore, WorkSignal, lease_expiry,
};
use agentkit_core::task::TaskId;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{QueryBuilder, Row};

use super::pg_batch::{Batches, Completion, NewRow, Target};
use super::pg_notify::{Announcer, CHANNEL, relay};
use super::sql::{
    EXPIRED_ERROR_SQL, FencedWrite, Param, Value, backend_error, cancel_refusal, from_db,
    lease_doing, leases_in_order, record_columns, record_from_row, result_json, task_json, to_db,
};
use crate::runlog::{LoggedEvent, RunLog};

/// The schema every table lives in (the connections' `search_path`).
pub(crate) const SCHEMA: &str = "agentkit";

/// The [`TaskStore`] and [`RunLog`] in PostgreSQL, for many workers on many
/// machines.
///
/// - Tables in the schema `agentkit` (created if missing), migrations
///   embedded and run by [`connect`](Self::connect) under PostgreSQL's
///   advisory lock, so workers starting together migrate once.
/// - [`lease`](TaskStore::lease) and [`lease_many`](TaskStore::lease_many)
///   are one statement: it fails expired leases with no attempts left,
///   picks the best ready entries with `FOR UPDATE SKIP LOCKED` (concurrent
///   workers skip each other's rows instead of waiting), and bumps their
///   fencing tokens.
/// - Every fenced write is one `UPDATE … WHERE id = $ AND token = $ AND state
///   = 'leased'`. Every operation is one autocommit statement (one round
///   trip, one commit), except a run-log append (one transaction).
/// - Concurrent [`enqueue`](TaskStore::enqueue)s through one handle share
///   statements, and so do concurrent [`complete`](TaskStore::complete)s: a
///   call runs at once when no batch of its kind is running, otherwise it
///   joins the next batch, one `INSERT … SELECT … FROM unnest(…)` or
///   `UPDATE … FROM unnest(…)` (one transaction, one WAL flush for all of
///   them). Each caller gets its own answer: its own `created`, its own
///   fencing refusal; a statement that fails on one call's data is run
///   again per call, so the error is that call's (see `store/pg_batch.rs`).
/// - [`wait_for_work`](TaskStore::wait_for_work) returns when a
///   `NOTIFY agentkit_tasks` arrives: one listening connection per store, no
///   polling. A write that makes an entry ready (an enqueue, a retry) sends
///   it after its commit, coalesced with other writers' (see
///   `store/pg_notify.rs` for why not from a trigger), and returns once it
///   went out. If the listening connection drops, waiters are woken
///   (notifications may have been missed) and it reconnects.
/// - Durability is the server's: with PostgreSQL's defaults every commit
///   waits for its WAL flush (shared by commits that wait at once). To trade
///   the last few hundred milliseconds of commits on a server crash for
///   throughput, add `options[synchronous_commit]=off` to the URL's query
///   (or `PgConnectOptions::options` with [`connect_with`](Self::connect_with)):
///   those connections' commits stop waiting for the flush.
///
/// ```no_run
/// use agentkit_server::store::PgTaskStore;
/// # async fn run() -> Result<(), agentkit_core::store::StoreError> {
/// let store = PgTaskStore::connect("postgres://agentkit@db.internal/agentkit").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug)]
pub struct PgTaskStore {
    pool: PgPool,
    name: String,
    work: Arc<WorkSignal>,
    listener: tokio::task::JoinHandle<()>,
    announcer: Arc<Announcer>,
    announcing: tokio::task::JoinHandle<()>,
    batches: Batches,
}

impl Drop for PgTaskStore {
    fn drop(&mut self) {
        self.listener.abort();
        self.announcing.abort();
    }
}

impl PgTaskStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// `?host=/run/postgresql` for a unix socket, `?sslmode=require` for TLS),
    /// with up to 10 connections (an operation waits at most 10 s for one),
    /// and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::Backend {
            message: format!(
                "the PostgreSQL URL is not valid ({why}): write it as \
                 postgres://user:password@host:port/database"
            ),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "it must start with postgres:// or postgresql://".into(),
            ));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10));
        Self::connect_with(options, pool).await
    }

    /// Connects with `options` and a pool configured by `pool` (size,
    /// timeouts); one more connection listens for wake-ups.
    pub async fn connect_with(
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> Result<Self, StoreError> {
        let name = format!(
            "the PostgreSQL task store `{}` on {}:{}",
            options.get_database().unwrap_or("(default database)"),
            options.get_host(),
            options.get_port()
        );
        let options = options.options([("search_path", SCHEMA)]);
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|e| backend_error("open a connection", &name, &e, pg_advice))?;
        migrate(&pool, &name).await?;
        let work = Arc::new(WorkSignal::default());
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| backend_error("listen for new work", &name, &e, pg_advice))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| backend_error("listen for new work", &name, &e, pg_advice))?;
        let listener = tokio::spawn(relay(listener, Arc::clone(&work), name.clone()));
        let (announcer, announcing) = Announcer::start(pool.clone(), name.clone());
        let batches = Batches::start(Arc::new(Target {
            pool: pool.clone(),
            name: name.clone(),
            work: Arc::clone(&work),
            announcer: Arc::clone(&announcer),
            advice: pg_advice,
        }));
        Ok(Self {
            pool,
            name,
            work,
            listener,
            announcer,
            announcing,
            batches,
        })
    }

    /// Closes the connections (waiting for running queries to finish).
    pub async fn close(&self) {
        self.listener.abort();
        self.pool.close().await;
    }

    fn error(&self, doing: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        let doing = doing.to_string();
        move |e| backend_error(&doing, &self.name, &e, pg_advice)
    }

    /// Runs a [`FencedWrite`] and explains a refusal.
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
        let updated = query
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error(&doing))?;
        if let Some(row) = updated {
            return row.try_get::<String, _>(0).map_err(self.error(&doing));
        }
        // Tokens only grow and final states are final, so what is read now
        // explains the refusal.
        let found: Option<(String, i64)> =
            sqlx::query_as("SELECT state, token FROM tasks WHERE id = $1")
                .bind(&id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.error(&doing))?;
        Err(write.refused(id, token, found))
    }
}

async fn migrate(pool: &PgPool, name: &str) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Backend {
        message: format!(
            "cannot bring the schema of {name} up to date: {e}: check the user may create \
             schemas and tables in this database (or create the schema `{SCHEMA}` for it)"
        ),
    };
    // Workers starting together may race to create the schema: the loser of
    // that race tries again and finds it.
    let create = format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}");
    if sqlx::query(&create).execute(pool).await.is_err() {
        sqlx::query(&create)
            .execute(pool)
            .await
            .map_err(|e| fail(&e))?;
    }
    sqlx::migrate!("migrations/postgres")
        .run(pool)
        .await
        .map_err(|e| fail(&e))
}

/// What a PostgreSQL SQLSTATE means for whoever runs the store.
fn pg_advice(code: &str) -> Option<&'static str> {
    Some(match code {
        "53100" => {
            "the database server's disk is full; the change was rolled back and nothing is \
             half-written: free disk space on the server, then retry"
        }
        "53200" | "53300" => {
            "the database server is out of memory or connections: lower the workers' pool \
             sizes or raise the server's limits, then retry"
        }
        "57P01" | "57P02" | "57P03" => {
            "the database server is shutting down or starting up; the change was rolled back: \
             retry once it is up"
        }
        "28000" | "28P01" => "the server refused the credentials: check the user and password",
        "3D000" => "the database does not exist: create it, or fix the URL",
        "42501" => "the user lacks a privilege: grant it access to the schema `agentkit`",
        "40001" | "40P01" => {
            "the transaction conflicted with another one and was rolled back: retry"
        }
        _ if code.starts_with("08") => {
            "the connection to the database server failed; the change was rolled back or never \
             sent: check the server is up and reachable, then retry"
        }
        _ => return None,
    })
}

/// Bind parameter `n` in this dialect.
const PARAM: Param = |n, ty| format!("${n}::{ty}");

fn json_column(column: &str) -> String {
    format!("{column}::text AS {column}")
}

#[async_trait]
impl TaskStore for PgTaskStore {
    async fn enqueue(&self, new: NewTask) -> Result<Enqueued, StoreError> {
        let doing = format!("enqueue task `{}`", new.task.id);
        let row = NewRow {
            id: new.task.id.0.clone(),
            key: new.key().to_string(),
            task: task_json(&new.task)?,
            priority: i64::from(new.priority),
            max_attempts: i64::from(new.max_attempts.max(1)),
            run_at_ms: new.run_at_ms.map(to_db),
        };
        if self.batches.enqueue(row).await? {
            return Ok(Enqueued {
                id: new.task.id,
                created: true,
            });
        }
        let (id,): (String,) = sqlx::query_as(
            "SELECT id FROM tasks WHERE idempotency_key = $1 OR id = $2 \
             ORDER BY idempotency_key = $1 DESC LIMIT 1",
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

    // Leases up to `max` ready entries in one statement: the data-modifying
    // CTE reaps expired leases with no attempts left (it runs whether or
    // not it is read, and the rows it fails are never candidates below),
    // then the best queued rows and the best expired leases are locked with
    // `FOR UPDATE SKIP LOCKED` (concurrent workers skip each other's rows
    // instead of waiting), and the best `max` of them are leased.
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
        let expires_at_ms = lease_expiry(now_ms_, ttl);
        let sql = format!(
            "WITH reaped AS ( \
                UPDATE tasks SET state = 'failed', last_error = {EXPIRED_ERROR_SQL}, \
                    lease_worker = NULL, lease_expires_at_ms = NULL, updated_at_ms = $4 \
                WHERE id IN (SELECT id FROM tasks WHERE state = 'leased' \
                    AND lease_expires_at_ms <= $1 AND attempts >= max_attempts \
                    FOR UPDATE SKIP LOCKED)), \
             queued AS (SELECT id, seq, priority FROM tasks \
                WHERE state = 'queued' AND (run_at_ms IS NULL OR run_at_ms <= $1) \
                ORDER BY priority DESC, seq LIMIT $5 FOR UPDATE SKIP LOCKED), \
             expired AS (SELECT id, seq, priority FROM tasks \
                WHERE state = 'leased' AND lease_expires_at_ms <= $1 \
                  AND attempts < max_attempts \
                ORDER BY priority DESC, seq LIMIT $5 FOR UPDATE SKIP LOCKED), \
             picked AS (SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) c \
                ORDER BY priority DESC, seq LIMIT $5) \
             UPDATE tasks t SET state = 'leased', attempts = t.attempts + 1, \
                token = t.token + 1, lease_worker = $2, lease_expires_at_ms = $3, \
                updated_at_ms = $4 \
             FROM picked WHERE t.id = picked.id \
             RETURNING t.id, t.task::text AS task, t.token, t.attempts, t.checkpoint, \
                t.priority, t.seq"
        );
        let rows: Vec<PgRow> = sqlx::query(&sql)
            .bind(to_db(now_ms_))
            .bind(worker)
            .bind(to_db(expires_at_ms))
            .bind(to_db(now_ms()))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(self.error(&lease_doing(max)))?;
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
        let completion = Completion {
            id: id.clone(),
            token,
            result: result_json(id, &result)?,
        };
        self.batches.complete(completion).await
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
            self.announcer.announce().await;
        }
        Ok(())
    }

    async fn cancel(&self, id: &TaskId) -> Result<(), StoreError> {
        let doing = format!("cancel task `{id}`");
        let cancelled = sqlx::query(
            "UPDATE tasks SET state = 'cancelled', lease_worker = NULL, \
             lease_expires_at_ms = NULL, updated_at_ms = $2 \
             WHERE id = $1 AND state IN ('queued', 'leased')",
        )
        .bind(&id.0)
        .bind(to_db(now_ms()))
        .execute(&self.pool)
        .await
        .map_err(self.error(&doing))?;
        if cancelled.rows_affected() == 1 {
            return Ok(());
        }
        let state: Option<(String,)> = sqlx::query_as("SELECT state FROM tasks WHERE id = $1")
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error(&doing))?;
        cancel_refusal(id, state.map(|(s,)| s))
    }

    async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let doing = format!("read task `{id}`");
        let sql = format!(
            "SELECT {} FROM tasks WHERE id = $1",
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
            "SELECT {} FROM tasks WHERE $1::text IS NULL OR state = $1 ORDER BY seq",
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
        self.work.wait(timeout).await;
    }
}

#[async_trait]
impl RunLog for PgTaskStore {
    async fn append(&self, task: &TaskId, events: &[EventRecord]) -> Result<u64, StoreError> {
        let doing = format!(
            "append {} event(s) to the run log of task `{task}`",
            events.len()
        );
        if events.is_empty() {
            let last: Option<(i64,)> =
                sqlx::query_as("SELECT last_id FROM run_logs WHERE task_id = $1")
                    .bind(&task.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(self.error(&doing))?;
            return Ok(last.map_or(0, |(id,)| from_db(id)));
        }
        let records = super::event_json(task, events)?;
        let mut tx = self.pool.begin().await.map_err(self.error(&doing))?;
        // The counter row's lock serializes appenders of one task.
        let (last,): (i64,) = sqlx::query_as(
            "INSERT INTO run_logs (task_id, last_id) VALUES ($1, $2) \
             ON CONFLICT (task_id) DO UPDATE SET last_id = run_logs.last_id + $2 \
             RETURNING last_id",
        )
        .bind(&task.0)
        .bind(records.len() as i64)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.error(&doing))?;
        let first = last - records.len() as i64 + 1;
        // PostgreSQL binds at most 65535 values per statement: 2 per row.
        for (chunk_index, chunk) in records.chunks(1_000).enumerate() {
            let base = first + (chunk_index * 1_000) as i64;
            let mut insert =
                QueryBuilder::<Postgres>::new("INSERT INTO run_events (task_id, id, record) ");
            insert.push_values(chunk.iter().zip(base..), |mut row, (json, id)| {
                row.push_bind(task.0.as_str())
                    .push_bind(id)
                    .push_bind(json.as_str())
                    .push_unseparated("::jsonb");
            });
            insert
                .build()
                .execute(&mut *tx)
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
            "SELECT id, record::text FROM run_events WHERE task_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
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
