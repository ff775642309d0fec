//! Cron schedules: a task at every instant of a 5-field cron expression in a
//! time zone (croner for the expression, chrono-tz for the zone, so daylight
//! saving is handled as the zone's rules say).
//!
//! Each instant enqueues once: the task id (and idempotency key) is
//! `cron:<name>@<instant in UTC, RFC 3339>`, so two daemons running the same
//! schedules, or one daemon restarted, never enqueue an instant twice.
//! [`Scheduler::due`] is pure (which instants fall in a time range);
//! [`Scheduler::run`] sleeps until the next one and enqueues it, and on start
//! catches up the latest instant of each schedule missed within
//! [`Scheduler::catch_up`] (one run, not one per missed instant).
//!
//! ```
//! use agentkit_core::task::RepoRef;
//! use agentkit_server::triggers::cron::{Schedule, Scheduler};
//!
//! let nightly = Schedule::new("deps", "0 3 * * *", "Europe/Paris",
//!     "Update dependencies", "Run cargo update and fix what breaks.",
//!     RepoRef::new("https://github.com/acme/app.git"));
//! let scheduler = Scheduler::new(vec![nightly]).expect("valid schedules");
//! ```

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::store::{NewTask, StoreError, TaskStore};
use agentkit_core::task::{RepoRef, Task, TaskSource};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// One schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// A unique name (part of every task id).
    pub name: String,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// An IANA time zone (`UTC`, `Europe/Paris`).
    pub timezone: String,
    /// The task's title.
    pub title: String,
    /// The task's body.
    pub body: String,
    /// The repository.
    pub repo: RepoRef,
}

impl Schedule {
    /// A schedule.
    pub fn new(
        name: impl Into<String>,
        cron: impl Into<String>,
        timezone: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
        repo: RepoRef,
    ) -> Self {
        Self {
            name: name.into(),
            cron: cron.into(),
            timezone: timezone.into(),
            title: title.into(),
            body: body.into(),
            repo,
        }
    }

    /// The task for `instant`.
    pub fn task_at(&self, instant: DateTime<Utc>) -> Task {
        let at = instant.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut task = Task::new(
            format!("cron:{}@{at}", self.name),
            self.title.clone(),
            self.body.clone(),
            self.repo.clone(),
        );
        task.source = TaskSource::Schedule {
            name: self.name.clone(),
        };
        task
    }
}

/// A schedule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The expression is not a valid 5-field cron expression.
    #[error("schedule `{name}`: `{cron}` is not a 5-field cron expression: {reason}")]
    Cron {
        /// The schedule.
        name: String,
        /// The expression.
        cron: String,
        /// What croner said.
        reason: String,
    },
    /// The time zone is unknown.
    #[error(
        "schedule `{name}`: `{timezone}` is not an IANA time zone (e.g. `UTC`, `Europe/Paris`)"
    )]
    TimeZone {
        /// The schedule.
        name: String,
        /// The zone.
        timezone: String,
    },
    /// Two schedules share a name.
    #[error("two schedules are named `{0}`; names must be unique")]
    Duplicate(String),
}

struct Parsed {
    schedule: Schedule,
    cron: croner::Cron,
    zone: Tz,
}

/// Runs schedules. See the [module docs](self).
pub struct Scheduler {
    schedules: Vec<Parsed>,
    catch_up: Duration,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .schedules
            .iter()
            .map(|p| p.schedule.name.as_str())
            .collect();
        f.debug_struct("Scheduler")
            .field("schedules", &names)
            .finish()
    }
}

impl Scheduler {
    /// Parses every schedule; fails on the first bad one.
    pub fn new(schedules: Vec<Schedule>) -> Result<Self, ScheduleError> {
        let mut parsed: Vec<Parsed> = Vec::new();
        for schedule in schedules {
            if parsed.iter().any(|p| p.schedule.name == schedule.name) {
                return Err(ScheduleError::Duplicate(schedule.name));
            }
            let fields = schedule.cron.split_whitespace().count();
            let cron = if fields == 5 {
                croner::Cron::new(&schedule.cron)
                    .parse()
                    .map_err(|e| e.to_string())
            } else {
                Err(format!("it has {fields} fields"))
            }
            .map_err(|reason| ScheduleError::Cron {
                name: schedule.name.clone(),
                cron: schedule.cron.clone(),
                reason,
            })?;
            let zone: Tz = schedule
                .timezone
                .parse()
                .map_err(|_| ScheduleError::TimeZone {
                    name: schedule.name.clone(),
                    timezone: schedule.timezone.clone(),
                })?;
            parsed.push(Parsed {
                schedule,
                cron,
                zone,
            });
        }
        Ok(Self {
            schedules: parsed,
            catch_up: Duration::from_secs(3600),
        })
    }

    /// How far back [`run`](Self::run) looks for a missed instant on start
    /// (default one hour).
    pub fn catch_up(mut self, window: Duration) -> Self {
        self.catch_up = window;
        self
    }

    /// Every `(schedule, instant)` with `after < instant <= until`, in time order.
    pub fn due(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(&Schedule, DateTime<Utc>)> {
        let mut due = Vec::new();
        for p in &self.schedules {
            let start = after.with_timezone(&p.zone);
            for instant in p.cron.iter_after(start) {
                let instant = instant.with_timezone(&Utc);
                if instant > until {
                    break;
                }
                due.push((&p.schedule, instant));
            }
        }
        due.sort_by_key(|(s, at)| (*at, s.name.clone()));
        due
    }

    /// The first instant of any schedule after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|p| {
                p.cron
                    .find_next_occurrence(&after.with_timezone(&p.zone), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
            .min()
    }

    /// Enqueues every instant in `(after, until]`; returns how many were new.
    pub async fn enqueue_due(
        &self,
        store: &dyn TaskStore,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.enqueue(store, self.due(after, until)).await
    }

    /// Enqueues only the latest instant of each schedule in `(after,
    /// until]`: what a daemon that was down missed (one catch-up run, not one
    /// per missed instant).
    pub async fn enqueue_latest(
        &self,
        store: &dyn TaskStore,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let due = self.due(after, until);
        let latest: Vec<_> = due
            .iter()
            .enumerate()
            .filter(|(i, (schedule, _))| {
                !due[i + 1..]
                    .iter()
                    .any(|(later, _)| later.name == schedule.name)
            })
            .map(|(_, pair)| *pair)
            .collect();
        self.enqueue(store, latest).await
    }

    async fn enqueue(
        &self,
        store: &dyn TaskStore,
        due: Vec<(&Schedule, DateTime<Utc>)>,
    ) -> Result<usize, StoreError> {
        let mut created = 0;
        for (schedule, instant) in due {
            let task = schedule.task_at(instant);
            let key = task.id.0.clone();
            let done = store
                .enqueue(NewTask::new(task).idempotency_key(key))
                .await?;
            if done.created {
                tracing::info!(schedule = %schedule.name, task = %done.id, "scheduled task enqueued");
                created += 1;
            }
        }
        Ok(created)
    }

    /// Enqueues instants as they come until `cancel` fires.
    pub async fn run(self, store: Arc<dyn TaskStore>, cancel: CancellationToken) {
        let catch_up = chrono::Duration::from_std(self.catch_up).unwrap_or_default();
        let mut after = Utc::now() - catch_up;
        let mut caught_up = false;
        loop {
            let now = Utc::now();
            let enqueued = if caught_up {
                self.enqueue_due(store.as_ref(), after, now).await
            } else {
                self.enqueue_latest(store.as_ref(), after, now).await
            };
            match enqueued {
                Ok(_) => {
                    after = now;
                    caught_up = true;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not enqueue scheduled tasks; retrying")
                }
            }
            let wait = self
                .next_after(after)
                .and_then(|next| (next - Utc::now()).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
                .clamp(Duration::from_millis(100), Duration::from_secs(3600));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn nightly(zone: &str) -> Schedule {
        Schedule::new(
            "deps",
            "0 3 * * *",
            zone,
            "Update dependencies",
            "cargo update",
            RepoRef::new("."),
        )
    }

    #[test]
    fn instants_follow_the_time_zone_across_daylight_saving() {
        let s = Scheduler::new(vec![nightly("Europe/Paris")]).unwrap();
        let due: Vec<String> = s
            .due(at("2026-03-28T00:00:00Z"), at("2026-03-31T00:00:00Z"))
            .iter()
            .map(|(_, t)| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .collect();
        // 03:00 in Paris is 02:00 UTC before the switch on March 29, 01:00 UTC after.
        assert_eq!(
            due,
            vec![
                "2026-03-28T02:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T01:00:00Z"
            ]
        );
        assert_eq!(
            s.next_after(at("2026-03-28T02:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        assert!(matches!(
            Scheduler::new(vec![Schedule {
                cron: "0 3 * *".into(),
                ..nightly("UTC")
            }]),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            Scheduler::new(vec![nightly("Mars/Olympus")]),
            Err(ScheduleError::TimeZone { .. })
        ));
        assert_eq!(
            Scheduler::new(vec![nightly("UTC"), nightly("UTC")]).unwrap_err(),
            ScheduleError::Duplicate("deps".into())
        );
    }

    #[tokio::test]
    async fn each_instant_is_enqueued_once_even_by_two_daemons() {
        let store = agentkit_core::store::MemoryTaskStore::new();
        let first = Scheduler::new(vec![nightly("UTC")]).unwrap();
        let second = Scheduler::new(vec![nightly("UTC")]).unwrap();
        let (from, to) = (at("2026-05-01T00:00:00Z"), at("2026-05-03T00:00:00Z"));
        assert_eq!(first.enqueue_due(&store, from, to).await.unwrap(), 2);
        assert_eq!(second.enqueue_due(&store, from, to).await.unwrap(), 0);
        let ids: Vec<String> = store
            .list(None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.task.id.0.clone())
            .collect();
        assert_eq!(
            ids,
            vec![
                "cron:deps@2026-05-01T03:00:00Z",
                "cron:deps@2026-05-02T03:00:00Z"
            ]
        );
    }

    #[tokio::test]
    async fn a_restart_catches_up_only_the_latest_missed_instant_of_each_schedule() {
        let store = agentkit_core::store::MemoryTaskStore::new();
        let hourly = Schedule {
            name: "hourly".into(),
            cron: "0 * * * *".into(),
            ..nightly("UTC")
        };
        let s = Scheduler::new(vec![nightly("UTC"), hourly]).unwrap();
        let (from, to) = (at("2026-05-01T00:30:00Z"), at("2026-05-01T05:10:00Z"));
        assert_eq!(s.enqueue_latest(&store, from, to).await.unwrap(), 2);
        let mut ids: Vec<String> = store
            .list(None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.task.id.0.clone())
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            vec![
                "cron:deps@2026-05-01T03:00:00Z",
                "cron:hourly@2026-05-01T05:00:00Z"
            ]
        );
    }
}
