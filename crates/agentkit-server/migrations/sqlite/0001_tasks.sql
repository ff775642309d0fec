-- The task queue and the run log (SQLite). See ARCHITECTURE.md, "agentkit-server: stores".
-- Times are milliseconds since the Unix epoch (lease decisions use the caller's clock).

CREATE TABLE tasks (
    -- Enqueue order: the tie-breaker within a priority.
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    -- The agentkit_core::task::Task, as JSON.
    task                TEXT    NOT NULL,
    state               TEXT    NOT NULL
        CHECK (state IN ('queued', 'leased', 'succeeded', 'failed', 'cancelled')),
    priority            INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at_ms           INTEGER,
    -- The fencing token: bumped by every lease, checked by every fenced write.
    token               INTEGER NOT NULL DEFAULT 0,
    lease_worker        TEXT,
    lease_expires_at_ms INTEGER,
    last_error          TEXT,
    -- The agentkit_core::store::TaskResult, as JSON, once succeeded.
    result              TEXT,
    -- Opaque run-state bytes handed to the next lease.
    checkpoint          BLOB,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    -- A lease holder exactly while leased.
    CHECK ((state = 'leased') = (lease_worker IS NOT NULL AND lease_expires_at_ms IS NOT NULL))
);

-- What `lease` scans: queued entries, best first.
CREATE INDEX tasks_queued ON tasks (priority DESC, seq) WHERE state = 'queued';
-- Leases that may have expired (take-over and reaping).
CREATE INDEX tasks_leased ON tasks (lease_expires_at_ms) WHERE state = 'leased';
-- `list(Some(state))`.
CREATE INDEX tasks_state ON tasks (state, seq);

-- The last event id of each task's log: the row that serializes appenders.
CREATE TABLE run_logs (
    task_id TEXT    PRIMARY KEY,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE run_events (
    task_id TEXT    NOT NULL,
    id      INTEGER NOT NULL,
    -- The agentkit_core::event::EventRecord, as JSON.
    record  TEXT    NOT NULL,
    PRIMARY KEY (task_id, id)
) WITHOUT ROWID;
