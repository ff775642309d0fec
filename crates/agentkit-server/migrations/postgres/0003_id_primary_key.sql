-- The task id becomes the primary key and `seq` (still the enqueue order, still assigned by its
-- identity) loses its own index. Every state change (lease, complete) writes a new row version
-- into every index of the table (the state is in the partial indexes' predicates, so no update is
-- HOT); one index fewer is three index insertions and WAL records fewer per task. Statements
-- find rows by id; the lease scan reads `seq` from its partial index; only `list` sorts by it.
ALTER TABLE tasks
    DROP CONSTRAINT tasks_pkey,
    DROP CONSTRAINT tasks_id_key,
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);
