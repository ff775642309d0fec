//! The leasing loop: take tasks whenever session slots are free, as many
//! at once as there are free slots.

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::event::now_ms;
use tokio::sync::Semaphore;

use super::{PoolStatus, Shared, session};

/// The first pause after a store failure; it doubles up to `max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Leases until the pool stops. Idle: waits in `wait_for_work`. Store down:
/// backs off (doubling, capped), with the reason in the pool's status.
pub(super) async fn run(shared: Arc<Shared>, slots: Arc<Semaphore>) {
    let config = &shared.config;
    let mut failing_since: Option<u64> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = shared.stopping.cancelled() => return,
        };
        if shared.stopping.is_cancelled() {
            return;
        }
        // Fill every free slot in one round trip.
        let mut permits = vec![permit];
        while let Ok(more) = slots.clone().try_acquire_owned() {
            permits.push(more);
        }
        let wanted = permits.len();
        match shared
            .store
            .lease_many(&config.worker_name, config.lease_ttl, now_ms(), wanted)
            .await
        {
            Ok(leases) => {
                recovered(&shared, &mut failing_since, &mut backoff);
                let drained = leases.len() < wanted;
                for (lease, permit) in leases.into_iter().zip(permits.drain(..)) {
                    shared
                        .sessions
                        .spawn(session::run(shared.clone(), lease, permit));
                }
                drop(permits);
                if drained {
                    tokio::select! {
                        _ = shared.store.wait_for_work(config.idle_wait) => {}
                        _ = shared.stopping.cancelled() => return,
                    }
                }
            }
            Err(err) => {
                drop(permits);
                let since = *failing_since.get_or_insert_with(now_ms);
                tracing::warn!(
                    worker = %config.worker_name,
                    error = %err,
                    retry_in_ms = backoff.as_millis() as u64,
                    "the task store failed; not leasing until it answers again"
                );
                shared.set_status(PoolStatus::BackingOff {
                    reason: err.to_string(),
                    since_ms: since,
                    retry_in_ms: backoff.as_millis() as u64,
                });
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.stopping.cancelled() => return,
                }
                backoff = (backoff * 2).min(config.max_backoff.max(FIRST_BACKOFF));
            }
        }
    }
}

fn recovered(shared: &Shared, failing_since: &mut Option<u64>, backoff: &mut Duration) {
    if failing_since.take().is_some() {
        tracing::info!("the task store answers again; leasing");
    }
    *backoff = FIRST_BACKOFF;
    shared.set_status(PoolStatus::Leasing);
}
