-- Every state change (enqueue, lease, complete) paid an insertion into this
-- index; only `list(Some(state))` could use it. Queued and leased entries are
-- found through the partial indexes, finished ones are most of the table.
DROP INDEX IF EXISTS tasks_state;
