//! Wake-ups across PostgreSQL connections: `NOTIFY` sent by the writer,
//! coalesced, and relayed from `LISTEN` to the store's [`WorkSignal`].
//!
//! Why not a trigger that notifies in the enqueueing transaction: PostgreSQL
//! serializes every transaction that notifies on one global lock held until
//! its commit is flushed to disk, so notifying enqueues cannot share a WAL
//! flush (group commit) and the queue's enqueue rate falls to the disk's
//! flush rate (~300/s on the reference machine). Here an enqueue commits
//! alone (its flush shared with concurrent commits), then asks the
//! [`Announcer`] for a `NOTIFY`: one notifying transaction covers every
//! request made before it started, so under load a few `NOTIFY`s cover many
//! enqueues. The notifying transaction writes nothing but the notification,
//! so it commits with `synchronous_commit = off`: a crash can only lose a
//! wake-up (workers look for work at their next timeout anyway), never a
//! task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentkit_core::store::WorkSignal;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{Notify, watch};

/// The `LISTEN/NOTIFY` channel workers wait on.
pub(crate) const CHANNEL: &str = "agentkit_tasks";

/// The notifying statement: its own transaction (a multi-statement simple
/// query is one implicit transaction), committed without waiting for the
/// disk.
const NOTIFY_SQL: &str = "SET LOCAL synchronous_commit = off; NOTIFY agentkit_tasks";

/// Sends coalesced `NOTIFY`s for a store: [`announce`](Self::announce) returns
/// once a `NOTIFY` that started after the call has been sent.
#[derive(Debug)]
pub(crate) struct Announcer {
    /// Requests made so far (a request's ticket is the count after it).
    requested: AtomicU64,
    /// Wakes the sending task.
    wanted: Notify,
    /// The highest ticket a sent (or failed) `NOTIFY` covers.
    sent: watch::Sender<u64>,
}

impl Announcer {
    /// An announcer and the task that sends for it (abort it when the store
    /// drops).
    pub(crate) fn start(pool: PgPool, name: String) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let announcer = Arc::new(Self {
            requested: AtomicU64::new(0),
            wanted: Notify::new(),
            sent: watch::channel(0).0,
        });
        let task = tokio::spawn(send(Arc::clone(&announcer), pool, name));
        (announcer, task)
    }

    /// Tells every listening worker that an entry became ready, after the
    /// write that made it ready committed. Waits until a `NOTIFY` covering
    /// this call went out (or failed, which is logged: workers then find the
    /// entry at their next look); never fails the caller's write.
    pub(crate) async fn announce(&self) {
        let ticket = self.request();
        self.sent(ticket).await;
    }

    /// Asks for a `NOTIFY` without waiting for it: [`sent`](Self::sent)
    /// with the ticket returned waits for it. A batch of enqueues asks once
    /// for all of them, so its callers share one `NOTIFY` (and one round of
    /// wake-ups) instead of asking one after another.
    pub(crate) fn request(&self) -> u64 {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wanted.notify_one();
        ticket
    }

    /// Returns once a `NOTIFY` covering `ticket` went out (or failed).
    pub(crate) async fn sent(&self, ticket: u64) {
        let mut sent = self.sent.subscribe();
        // The sender lives as long as `self`; a closed channel ends the wait.
        let _ = sent.wait_for(|&covered| covered >= ticket).await;
    }
}

/// The sending task: one `NOTIFY` per wake-up of `wanted`, covering every
/// request counted before it started.
async fn send(announcer: Arc<Announcer>, pool: PgPool, name: String) {
    loop {
        announcer.wanted.notified().await;
        let covers = announcer.requested.load(Ordering::SeqCst);
        if let Err(e) = sqlx::raw_sql(NOTIFY_SQL).execute(&pool).await {
            tracing::warn!(
                error = %e,
                "{name}: cannot notify workers of new work; they will find it at their next look"
            );
        }
        announcer.sent.send_replace(covers);
    }
}

/// Turns notifications on [`CHANNEL`] into wake-ups, until the store drops.
///
/// When the listening connection drops, notifications sent until it is back
/// are lost: waiters are woken when it drops and again once it listens again,
/// so they look for work themselves.
pub(crate) async fn relay(mut listener: PgListener, work: Arc<WorkSignal>, name: String) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => work.notify(),
            Ok(None) | Err(_) => {
                work.notify();
                // Reconnect (the listener LISTENs again on connecting).
                loop {
                    match sqlx::query("SELECT 1").execute(&mut listener).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(
                                error = %e,
                                "{name}: cannot listen for new work; retrying in 1 s"
                            );
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                work.notify();
            }
        }
    }
}
