//! What the SQL stores share: value conversions, row decoding, the diagnosis
//! of a refused fenced write, and backend errors that say what to do.

use agentkit_core::store::{
    FencingToken, Lease, LeaseHolder, StoreAction, StoreError, TaskRecord, TaskResult, TaskState,
};
use agentkit_core::task::{Task, TaskId};
use sqlx::{ColumnIndex, Decode, Row, Type};

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

fn get<'r, R, T>(row: &'r R, column: &'static str, id: &str) -> Result<T, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column)
        .map_err(|e| corrupt(id, &format!("column `{column}`: {e}")))
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

/// Why a fenced write matched no row, from the entry's `(state, token)` read
/// after it (`None`: no such entry). Checks in the contract's order: exists,
/// token, leased. `None` when the write should have matched (a token from
/// the future: the caller retries, then reports `LeaseLost`).
pub(crate) fn refusal(
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
