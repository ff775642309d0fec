//! What the SQL stores share: value conversions, row decoding, the diagnosis
//! of a refused fenced write, and backend errors that say what to do.

use agentkit_core::store::{
    FencingToken, Lease, LeaseHolder, StoreAction, StoreError, TaskRecord, TaskResult, TaskState,
};
use agentkit_core::task::{Task, TaskId};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

/// The columns every `TaskRecord` query selects, in the order
/// [`record_from_row`] reads them by name. `json` renders a JSON column as
/// text (`task` for SQLite, `task::text` for PostgreSQL).
pub(crate) fn record_columns(json: fn(&str) -> String) -> String {
    format!(
        "id, {task}, state, priority, idempotency_key, attempts, max_attempts, run_at_ms, token, \
         lease_worker, lease_expires_at_ms, last_error, {result}, created_at_ms, updated_at_ms",
        task = json("task"),
        result = json("result"),
    )
}

/// A millisecond time or counter as stored (SQL integers are signed 64-bit:
/// times beyond `i64::MAX` are stored as `i64::MAX`).
pub(crate) fn to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored millisecond time or counter (negative values, which the store
/// never writes, read as 0).
pub(crate) fn from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn from_db_u32(value: i64, column: &str, id: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(id, &format!("{column} = {value} is out of range")))
}

pub(crate) fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Backend {
        message: format!(
            "task `{id}` is stored in a shape this version cannot read ({what}): the database \
             was written by another program or version; check its schema migrations"
        ),
    }
}

pub(crate) fn parse_state(id: &str, state: &str) -> Result<TaskState, StoreError> {
    Ok(match state {
        "queued" => TaskState::Queued,
        "leased" => TaskState::Leased,
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::Failed,
        "cancelled" => TaskState::Cancelled,
        other => return Err(corrupt(id, &format!("unknown state `{other}`"))),
    })
}

pub(crate) fn task_json(task: &Task) -> Result<String, StoreError> {
    serde_json::to_string(task).map_err(|e| StoreError::Backend {
        message: format!("task `{}` cannot be serialized to JSON: {e}", task.id),
    })
}

pub(crate) fn result_json(id: &TaskId, result: &TaskResult) -> Result<String, StoreError> {
    serde_json::to_string(result).map_err(|e| StoreError::Backend {
        message: format!("the result of task `{id}` cannot be serialized to JSON: {e}"),
    })
}

pub(crate) fn parse_task(id: &str, json: &str) -> Result<Task, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt(id, &format!("its task JSON: {e}")))
}

/// Decodes a row of [`record_columns`].
pub(crate) fn record_from_row<'r, R>(row: &'r R) -> Result<TaskRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = get(row, "id", "?")?;
    let int = |column: &'static str| get::<R, i64>(row, column, &id);
    let text = |column: &'static str| get::<R, Option<String>>(row, column, &id);
    let task = parse_task(&id, &get::<R, String>(row, "task", &id)?)?;
    let state = parse_state(&id, &get::<R, String>(row, "state", &id)?)?;
    let priority = int("priority")?;
    let lease = match (
        text("lease_worker")?,
        get::<R, Option<i64>>(row, "lease_expires_at_ms", &id)?,
    ) {
        (Some(worker), Some(expires)) => Some(LeaseHolder {
            worker,
            expires_at_ms: from_db(expires),
        }),
        _ => None,
    };
    let result = match text("result")? {
        Some(json) => Some(
            serde_json::from_str(&json)
                .map_err(|e| corrupt(&id, &format!("its result JSON: {e}")))?,
        ),
        None => None,
    };
    Ok(TaskRecord {
        task,
        state,
        priority: i32::try_from(priority)
            .map_err(|_| corrupt(&id, &format!("priority = {priority} is out of range")))?,
        idempotency_key: get(row, "idempotency_key", &id)?,
        attempts: from_db_u32(int("attempts")?, "attempts", &id)?,
        max_attempts: from_db_u32(int("max_attempts")?, "max_attempts", &id)?,
        run_at_ms: get::<R, Option<i64>>(row, "run_at_ms", &id)?.map(from_db),
        token: FencingToken(from_db(int("token")?)),
        lease,
        last_error: text("last_error")?,
        result,
        created_at_ms: from_db(int("created_at_ms")?),
        updated_at_ms: from_db(int("updated_at_ms")?),
    })
}

/// Decodes the `RETURNING id, task, token, attempts, checkpoint` of a lease.
pub(crate) fn lease_from_row<'r, R>(row: &'r R, expires_at_ms: u64) -> Result<Lease, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = get(row, "id", "?")?;
    let attempts = get::<R, i64>(row, "attempts", &id)?;
    Ok(Lease {
        task: parse_task(&id, &get::<R, String>(row, "task", &id)?)?,
        token: FencingToken(from_db(get(row, "token", &id)?)),
        attempt: from_db_u32(attempts, "attempts", &id)?,
        expires_at_ms,
        checkpoint: get(row, "checkpoint", &id)?,
    })
}

/// What a lease of up to `max` entries is, for error messages.
pub(crate) fn lease_doing(max: usize) -> String {
    match max {
        1 => "lease a task".into(),
        n => format!("lease up to {n} tasks"),
    }
}

/// Decodes the rows of a lease statement that also returns `priority` and
/// `seq`, in lease order (best priority first, then enqueue order), since SQL
/// does not order `RETURNING` rows.
pub(crate) fn leases_in_order<R>(rows: &[R], expires_at_ms: u64) -> Result<Vec<Lease>, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut keyed = rows
        .iter()
        .map(|row| {
            let lease = lease_from_row(row, expires_at_ms)?;
            let id = &lease.task.id.0;
            let order = (
                std::cmp::Reverse(get::<R, i64>(row, "priority", id)?),
                get::<R, i64>(row, "seq", id)?,
            );
            Ok((order, lease))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    keyed.sort_by_key(|(order, _)| *order);
    Ok(keyed.into_iter().map(|(_, lease)| lease).collect())
}

fn get<'r, R, T>(row: &'r R, column: &'static str, id: &str) -> Result<T, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column)
        .map_err(|e| corrupt(id, &format!("column `{column}`: {e}")))
}

/// Renders bind parameter `n` in a dialect, with its SQL type where the
/// dialect needs one (`?4` in SQLite, `$4::bigint` in PostgreSQL).
pub(crate) type Param = fn(usize, &str) -> String;

/// A write after a lease: one `UPDATE … WHERE id = p2 AND token = p3 AND
/// state = 'leased' RETURNING state` (p1 is the update time), so a stale
/// token can never change the row. The SET clauses live here, once for both
/// dialects; each backend runs [`statement`](Self::statement) with the first
/// three binds, then [`values`](Self::values) from p4 on.
pub(crate) struct FencedWrite {
    /// What is attempted (named in refusals and errors).
    pub action: StoreAction,
    set: fn(Param) -> String,
    /// The binds from p4 on.
    pub values: Vec<Value>,
}

impl FencedWrite {
    /// Extends the lease to `expires_at_ms`.
    pub fn heartbeat(expires_at_ms: u64) -> Self {
        Self {
            action: StoreAction::Heartbeat,
            set: |p| format!("lease_expires_at_ms = {}", p(4, "bigint")),
            values: vec![Value::Int(Some(to_db(expires_at_ms)))],
        }
    }

    /// Replaces the checkpoint.
    pub fn save_checkpoint(bytes: Vec<u8>) -> Self {
        Self {
            action: StoreAction::SaveCheckpoint,
            set: |p| format!("checkpoint = {}", p(4, "bytea")),
            values: vec![Value::Bytes(bytes)],
        }
    }

    /// Records the result and ends the lease: `succeeded`.
    pub fn complete(id: &TaskId, result: &TaskResult) -> Result<Self, StoreError> {
        Ok(Self {
            action: StoreAction::Complete,
            set: |p| {
                format!(
                    "state = 'succeeded', result = {}, lease_worker = NULL, \
                     lease_expires_at_ms = NULL",
                    p(4, "jsonb")
                )
            },
            values: vec![Value::Text(result_json(id, result)?)],
        })
    }

    /// Records the error and ends the lease: `queued` again at `retry_at_ms`
    /// while attempts are left, `failed` otherwise.
    pub fn fail(error: String, retry_at_ms: Option<u64>) -> Self {
        Self {
            action: StoreAction::Fail,
            set: |p| {
                let retry = p(5, "bigint");
                let requeue = format!("{retry} IS NOT NULL AND attempts < max_attempts");
                format!(
                    "state = CASE WHEN {requeue} THEN 'queued' ELSE 'failed' END, \
                     run_at_ms = CASE WHEN {requeue} THEN {retry} ELSE run_at_ms END, \
                     last_error = {}, lease_worker = NULL, lease_expires_at_ms = NULL",
                    p(4, "text")
                )
            },
            values: vec![Value::Text(error), Value::Int(retry_at_ms.map(to_db))],
        }
    }

    /// The statement in the dialect of `p`.
    pub fn statement(&self, p: Param) -> String {
        format!(
            "UPDATE tasks SET {}, updated_at_ms = {} \
             WHERE id = {} AND token = {} AND state = 'leased' RETURNING state",
            (self.set)(p),
            p(1, "bigint"),
            p(2, "text"),
            p(3, "bigint")
        )
    }

    /// What is being done, for error messages.
    pub fn doing(&self, id: &TaskId) -> String {
        format!("{} task `{id}`", self.action)
    }

    /// The error for a write that matched no row, from the entry's `(state,
    /// token)` read after it (`None`: no such entry).
    pub fn refused(
        &self,
        id: &TaskId,
        presented: FencingToken,
        found: Option<(String, i64)>,
    ) -> StoreError {
        refused(id, presented, self.action, found)
    }
}

/// The error for a fenced `action` with token `presented` that matched no
/// row, from the entry's `(state, token)` read after it (`None`: no such
/// entry).
pub(crate) fn refused(
    id: &TaskId,
    presented: FencingToken,
    action: StoreAction,
    found: Option<(String, i64)>,
) -> StoreError {
    match refusal(id, presented, action, found) {
        Ok(Some(err)) | Err(err) => err,
        // Only a token from the future gets here.
        Ok(None) => StoreError::LeaseLost {
            id: id.clone(),
            presented,
            current: presented,
        },
    }
}

/// A value bound after the first three of a fenced write.
pub(crate) enum Value {
    /// An integer or NULL.
    Int(Option<i64>),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// Binds `values` to `query`, in order.
    pub fn bind_all<'q, DB: Database>(
        query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
        values: Vec<Value>,
    ) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        Option<i64>: Encode<'q, DB> + Type<DB>,
        String: Encode<'q, DB> + Type<DB>,
        Vec<u8>: Encode<'q, DB> + Type<DB>,
    {
        values.into_iter().fold(query, |query, value| match value {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Bytes(v) => query.bind(v),
        })
    }
}

/// Why a fenced write matched no row, from the entry's `(state, token)` read
/// after it (`None`: no such entry). Checks in the contract's order: exists,
/// token, leased. `None` when the write should have matched (a token from
/// the future: the caller retries, then reports `LeaseLost`).
fn refusal(
    id: &TaskId,
    presented: FencingToken,
    action: StoreAction,
    found: Option<(String, i64)>,
) -> Result<Option<StoreError>, StoreError> {
    let Some((state, token)) = found else {
        return Ok(Some(StoreError::NotFound { id: id.clone() }));
    };
    let current = FencingToken(from_db(token));
    if current != presented {
        return Ok(Some(StoreError::LeaseLost {
            id: id.clone(),
            presented,
            current,
        }));
    }
    let from = parse_state(&id.0, &state)?;
    if from != TaskState::Leased {
        return Ok(Some(StoreError::InvalidTransition {
            id: id.clone(),
            from,
            action,
        }));
    }
    Ok(None)
}

/// Why `cancel` matched no row, from the entry's state (`None`: no entry).
pub(crate) fn cancel_refusal(id: &TaskId, state: Option<String>) -> Result<(), StoreError> {
    let Some(state) = state else {
        return Err(StoreError::NotFound { id: id.clone() });
    };
    match parse_state(&id.0, &state)? {
        TaskState::Cancelled => Ok(()),
        from => Err(StoreError::InvalidTransition {
            id: id.clone(),
            from,
            action: StoreAction::Cancel,
        }),
    }
}

/// The `last_error` of a task whose lease expired on its last attempt, as an
/// SQL expression over the row (both dialects concatenate with `||`).
pub(crate) const EXPIRED_ERROR_SQL: &str = "'the lease held by `' || lease_worker || '` expired at ' \
     || lease_expires_at_ms || ' ms on attempt ' || attempts || ' of ' || max_attempts \
     || ', with no attempts left (the worker stopped heartbeating)'";

/// A database failure as a [`StoreError::Backend`] that says what was being
/// done, to which database, what broke, and what to do. `advice` names the
/// backend-specific cause of a database error code, if it knows it.
pub(crate) fn backend_error(
    doing: &str,
    database: &str,
    err: &sqlx::Error,
    advice: fn(&str) -> Option<&'static str>,
) -> StoreError {
    let (what, todo): (String, &str) = match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let todo = advice(&code)
                .unwrap_or("the change was rolled back; check the database's log, then retry");
            (format!("{} (code {code})", db.message()), todo)
        }
        sqlx::Error::Io(e) => (
            format!("the connection failed: {e}"),
            "the database is down or unreachable; nothing was half-written (the change was \
             rolled back or never sent): start it or fix the address, then retry",
        ),
        sqlx::Error::PoolTimedOut => (
            "no connection became available in time".into(),
            "the database is down, unreachable or overloaded; check it is running, then retry",
        ),
        sqlx::Error::PoolClosed => (
            "the connection pool is closed".into(),
            "the store was shut down; open it again",
        ),
        sqlx::Error::Tls(e) => (
            format!("TLS failed: {e}"),
            "check the server's certificate and the URL's sslmode",
        ),
        other => (
            other.to_string(),
            "the change was rolled back; check the database, then retry",
        ),
    };
    StoreError::Backend {
        message: format!("cannot {doing} in {database}: {what}: {todo}"),
    }
}
