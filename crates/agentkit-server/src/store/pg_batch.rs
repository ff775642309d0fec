//! The PostgreSQL store's batched writes: concurrent enqueues through one
//! handle become one `INSERT … SELECT … FROM unnest(…)`, concurrent
//! completions one `UPDATE … FROM unnest(…)` (gathered by a
//! [`Coalescer`]). Each batch is one statement, so one transaction: a
//! process that dies mid-batch leaves all of it or none of it, and the
//! batch pays one round trip and one WAL flush where each call paid its own.
//!
//! Every caller still gets its own answer: its own `created`, its own
//! fencing refusal (a stale token fails only its call; the statement's
//! `WHERE … token = …` is per row). When the statement fails on the data
//! (one task whose JSON PostgreSQL refuses, a deadlock with another
//! batch), each call is run again alone, so the error lands on the call
//! that caused it; when it fails on the connection, every caller in the
//! batch gets that error and nothing of it was written.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use agentkit_core::event::now_ms;
use agentkit_core::store::{FencingToken, StoreAction, StoreError, WorkSignal};
use agentkit_core::task::TaskId;
use sqlx::postgres::PgPool;

use super::coalesce::Coalescer;
use super::pg_notify::Announcer;
use super::sql::{backend_error, refused, to_db};

/// The most calls one statement takes (their rows travel as arrays, so
/// the bind limit does not apply; this bounds one statement's work).
const MAX_BATCH: usize = 256;

/// How many batches of one kind run at once per handle: while one runs,
/// new calls gather for the next. One measured best (`benches/store.rs`:
/// 2 or 4 made smaller batches that cost more server CPU per task, and the
/// server's own group commit already overlaps the handles' flushes).
const IN_FLIGHT: usize = 1;

/// An enqueue as the batch inserts it.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    /// The task id.
    pub id: String,
    /// The idempotency key (the task id when none was given).
    pub key: String,
    /// The task as JSON.
    pub task: String,
    /// Higher runs first.
    pub priority: i64,
    /// At least 1.
    pub max_attempts: i64,
    /// Not leased before, when set.
    pub run_at_ms: Option<i64>,
}

/// A completion as the batch writes it.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    /// The task.
    pub id: TaskId,
    /// The token the caller's lease holds.
    pub token: FencingToken,
    /// The `TaskResult` as JSON.
    pub result: String,
}

/// What the batches write to.
#[derive(Debug)]
pub(crate) struct Target {
    /// The store's pool.
    pub pool: PgPool,
    /// The store's name, for errors.
    pub name: String,
    /// The store's own waiters.
    pub work: Arc<WorkSignal>,
    /// Wakes every listening worker.
    pub announcer: Arc<Announcer>,
    /// Explains a database error code.
    pub advice: fn(&str) -> Option<&'static str>,
}

/// The coalescers of one store handle.
#[derive(Debug)]
pub(crate) struct Batches {
    target: Arc<Target>,
    /// `Some(ticket)`: created, woken by the `NOTIFY` with that ticket.
    enqueues: Coalescer<NewRow, Result<Option<u64>, StoreError>>,
    completions: Coalescer<Completion, Result<(), StoreError>>,
}

impl Batches {
    /// Starts the coalescers (they stop when this drops).
    pub(crate) fn start(target: Arc<Target>) -> Self {
        let (enqueue_target, complete_target) = (Arc::clone(&target), Arc::clone(&target));
        let enqueues = Coalescer::new(MAX_BATCH, IN_FLIGHT, move |rows| {
            enqueue_batch(Arc::clone(&enqueue_target), rows)
        });
        let completions = Coalescer::new(MAX_BATCH, IN_FLIGHT, move |items| {
            complete_batch(Arc::clone(&complete_target), items)
        });
        Self {
            target,
            enqueues,
            completions,
        }
    }

    /// Inserts `row` unless its id or key is stored (`Ok(false)`), and
    /// once it is committed, wakes the workers: returns once the batch's
    /// one `NOTIFY` went out (waited for here, so the next batch need not
    /// wait for it).
    pub(crate) async fn enqueue(&self, row: NewRow) -> Result<bool, StoreError> {
        let id = row.id.clone();
        let created = self
            .enqueues
            .call(row)
            .await
            .unwrap_or_else(|| Err(unanswered(&format!("enqueue task `{id}`"))))?;
        match created {
            Some(ticket) => {
                self.target.announcer.sent(ticket).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Completes the task leased with `completion.token`, or says why not.
    pub(crate) async fn complete(&self, completion: Completion) -> Result<(), StoreError> {
        let doing = format!("complete task `{}`", completion.id);
        self.completions
            .call(completion)
            .await
            .unwrap_or_else(|| Err(unanswered(&doing)))
    }
}

fn unanswered(doing: &str) -> StoreError {
    StoreError::Backend {
        message: format!(
            "cannot {doing}: the batch that took it stopped without an answer (the runtime is \
             shutting down); whether it was written is unknown: read the task to find out"
        ),
    }
}

impl Target {
    fn error(&self, doing: &str, err: &sqlx::Error) -> StoreError {
        backend_error(doing, &self.name, err, self.advice)
    }
}

async fn enqueue_batch(
    target: Arc<Target>,
    rows: Vec<NewRow>,
) -> Vec<Result<Option<u64>, StoreError>> {
    let created = batch_or_each(
        rows,
        |rows| insert(&target.pool, rows),
        |row, err| target.error(&format!("enqueue task `{}`", row.id), err),
    )
    .await;
    if !created.iter().any(|c| matches!(c, Ok(true))) {
        return created.into_iter().map(|c| c.map(|_| None)).collect();
    }
    target.work.notify();
    let ticket = target.announcer.request();
    created
        .into_iter()
        .map(|c| c.map(|created| created.then_some(ticket)))
        .collect()
}

/// One `INSERT` of `rows` in their order (so in enqueue order): whether each
/// was created. Rows whose id or key is taken, by the table or by an
/// earlier row of the batch, are skipped.
async fn insert(pool: &PgPool, rows: Vec<NewRow>) -> Result<Vec<bool>, sqlx::Error> {
    let column = |f: fn(&NewRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let inserted: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO tasks (id, idempotency_key, task, state, priority, max_attempts, \
            run_at_ms, created_at_ms, updated_at_ms) \
         SELECT n.id, n.key, n.task::jsonb, 'queued', n.priority, n.max_attempts, \
            n.run_at_ms, $7, $7 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
            $6::bigint[]) WITH ORDINALITY AS n(id, key, task, priority, max_attempts, \
            run_at_ms, ord) \
         ORDER BY n.ord \
         ON CONFLICT DO NOTHING RETURNING id, idempotency_key",
    )
    .bind(column(|r| r.id.clone()))
    .bind(column(|r| r.key.clone()))
    .bind(column(|r| r.task.clone()))
    .bind(rows.iter().map(|r| r.priority).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.max_attempts).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.run_at_ms).collect::<Vec<_>>())
    .bind(to_db(now_ms()))
    .fetch_all(pool)
    .await?;
    // A returned (id, key) is the first row of the batch that has it: an
    // identical later row conflicted with it.
    let mut created: HashMap<(String, String), usize> = HashMap::new();
    for pair in inserted {
        *created.entry(pair).or_default() += 1;
    }
    Ok(rows
        .into_iter()
        .map(|row| match created.get_mut(&(row.id, row.key)) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        })
        .collect())
}

async fn complete_batch(
    target: Arc<Target>,
    items: Vec<Completion>,
) -> Vec<Result<(), StoreError>> {
    // A task completed twice in one batch: the later call goes in a later
    // round, so it meets the first one's result as a sequential call would.
    let mut results: Vec<Option<Result<(), StoreError>>> = vec![None; items.len()];
    let mut pending: Vec<(usize, Completion)> = items.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let (round, later): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, c)| seen.insert(c.id.clone()));
        pending = later;
        let (slots, round): (Vec<usize>, Vec<Completion>) = round.into_iter().unzip();
        let updated = batch_or_each(
            round.clone(),
            |items| update(&target.pool, items),
            |c, err| target.error(&format!("complete task `{}`", c.id), err),
        )
        .await;
        for ((slot, completion), updated) in slots.into_iter().zip(round).zip(updated) {
            results[slot] = Some(match updated {
                Ok(true) => Ok(()),
                Ok(false) => Err(diagnose(&target, &completion).await),
                Err(err) => Err(err),
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(unanswered("complete a task"))))
        .collect()
}

/// One fenced `UPDATE` of the batch's tasks (ids distinct): whether each
/// row matched its id, its token and `leased`.
async fn update(pool: &PgPool, items: Vec<Completion>) -> Result<Vec<bool>, sqlx::Error> {
    let done: Vec<(String,)> = sqlx::query_as(
        "UPDATE tasks t SET state = 'succeeded', result = c.result::jsonb, \
            lease_worker = NULL, lease_expires_at_ms = NULL, updated_at_ms = $1 \
         FROM unnest($2::text[], $3::bigint[], $4::text[]) AS c(id, token, result) \
         WHERE t.id = c.id AND t.token = c.token AND t.state = 'leased' \
         RETURNING t.id",
    )
    .bind(to_db(now_ms()))
    .bind(items.iter().map(|c| c.id.0.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|c| to_db(c.token.0)).collect::<Vec<_>>())
    .bind(items.iter().map(|c| c.result.clone()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let done: std::collections::HashSet<String> = done.into_iter().map(|(id,)| id).collect();
    Ok(items.iter().map(|c| done.contains(&c.id.0)).collect())
}

/// Why a completion matched no row (tokens only grow and final states are
/// final, so what is read now explains it).
async fn diagnose(target: &Target, completion: &Completion) -> StoreError {
    let doing = format!("complete task `{}`", completion.id);
    let found: Result<Option<(String, i64)>, _> =
        sqlx::query_as("SELECT state, token FROM tasks WHERE id = $1")
            .bind(&completion.id.0)
            .fetch_optional(&target.pool)
            .await;
    match found {
        Ok(found) => refused(
            &completion.id,
            completion.token,
            StoreAction::Complete,
            found,
        ),
        Err(err) => target.error(&doing, &err),
    }
}

/// Runs `run` on the whole batch; when the statement fails on the data
/// (a database error), runs it on each item alone so the error lands on
/// its own caller. `error` words the error for one item.
async fn batch_or_each<I, O, Fut>(
    items: Vec<I>,
    run: impl Fn(Vec<I>) -> Fut,
    error: impl Fn(&I, &sqlx::Error) -> StoreError,
) -> Vec<Result<O, StoreError>>
where
    I: Clone,
    Fut: Future<Output = Result<Vec<O>, sqlx::Error>>,
{
    match run(items.clone()).await {
        Ok(out) => out.into_iter().map(Ok).collect(),
        Err(sqlx::Error::Database(_)) if items.len() > 1 => {
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                results.push(match run(vec![item.clone()]).await {
                    Ok(mut out) => out.pop().ok_or_else(|| StoreError::Backend {
                        message: "a batch of one returned no answer".into(),
                    }),
                    Err(err) => Err(error(&item, &err)),
                });
            }
            results
        }
        Err(err) => items.iter().map(|item| Err(error(item, &err))).collect(),
    }
}
