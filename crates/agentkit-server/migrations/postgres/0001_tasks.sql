-- The task queue and the run log (PostgreSQL). See ARCHITECTURE.md, "agentkit-server: stores".
-- Everything lives in the `agentkit` schema (the store sets its search_path).
-- Times are milliseconds since the Unix epoch (lease decisions use the caller's clock).

CREATE TABLE tasks (
    -- Enqueue order: the tie-breaker within a priority.
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT   NOT NULL UNIQUE,
    idempotency_key     TEXT   NOT NULL UNIQUE,
    -- The agentkit_core::task::Task.
    task                JSONB  NOT NULL,
    state               TEXT   NOT NULL
        CHECK (state IN ('queued', 'leased', 'succeeded', 'failed', 'cancelled')),
    priority            BIGINT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL CHECK (max_attempts >= 1),
    run_at_ms           BIGINT,
    -- The fencing token: bumped by every lease, checked by every fenced write.
    token               BIGINT NOT NULL DEFAULT 0,
    lease_worker        TEXT,
    lease_expires_at_ms BIGINT,
    last_error          TEXT,
    -- The agentkit_core::store::TaskResult, once succeeded.
    result              JSONB,
    -- Opaque run-state bytes handed to the next lease.
    checkpoint          BYTEA,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL,
    -- A lease holder exactly while leased.
    CHECK ((state = 'leased') = (lease_worker IS NOT NULL AND lease_expires_at_ms IS NOT NULL))
);

-- What `lease` scans: queued entries, best first.
CREATE INDEX tasks_queued ON tasks (priority DESC, seq) WHERE state = 'queued';
-- Leases that may have expired (take-over and reaping).
CREATE INDEX tasks_leased ON tasks (lease_expires_at_ms) WHERE state = 'leased';
-- `list(Some(state))`.
CREATE INDEX tasks_state ON tasks (state, seq);

-- Workers LISTEN on `agentkit_tasks`: any transaction that makes an entry
-- queued (an enqueue, a retry) wakes them when it commits, whoever wrote it.
CREATE FUNCTION notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentkit_tasks', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER tasks_queued_notify
    AFTER INSERT OR UPDATE OF state ON tasks
    FOR EACH ROW WHEN (NEW.state = 'queued')
    EXECUTE FUNCTION notify_queued();

-- The last event id of each task's log: the row that serializes appenders.
CREATE TABLE run_logs (
    task_id TEXT   PRIMARY KEY,
    last_id BIGINT NOT NULL
);

CREATE TABLE run_events (
    task_id TEXT   NOT NULL,
    id      BIGINT NOT NULL,
    -- The agentkit_core::event::EventRecord.
    record  JSONB  NOT NULL,
    PRIMARY KEY (task_id, id)
);
