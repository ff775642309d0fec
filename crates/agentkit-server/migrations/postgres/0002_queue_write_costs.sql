-- Wake-ups are sent by the writer after its commit, coalesced, instead of by a
-- trigger inside the writing transaction: PostgreSQL serializes notifying
-- transactions on one lock held until their commit is flushed, which kept
-- enqueues from sharing WAL flushes (see src/store/pg_notify.rs).
DROP TRIGGER IF EXISTS tasks_queued_notify ON tasks;
DROP FUNCTION IF EXISTS notify_queued();

-- Every state change (enqueue, lease, complete) paid an insertion into this
-- index; only `list(Some(state))` could use it. Queued and leased entries are
-- found through the partial indexes, finished ones are most of the table.
DROP INDEX IF EXISTS tasks_state;
