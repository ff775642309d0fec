//! Mounting `[triggers.*]`: the webhook routes, the cron scheduler and the
//! notifiers agentd runs, built from the config with secrets read from the
//! environment or files (never logged: the trigger types' `Debug` hides them).

use std::sync::Arc;

use agentkit_core::redact::Redactor;
use agentkit_core::store::TaskStore;
use agentkit_core::task::RepoRef;
use axum::Router;

use super::forge_set::Forges;
use super::notify::GitHubProgress;
use crate::config::Config;
use crate::triggers::cron::{Schedule, Scheduler};
use crate::triggers::generic::GenericWebhook;
use crate::triggers::github::GitHubTrigger;
use crate::triggers::linear::LinearTrigger;
use crate::triggers::notify::{LinearNotifier, Notifier, Notifiers, SharedNotifier, SlackNotifier};
use crate::triggers::slack::SlackTrigger;
use crate::triggers::{TriggerConfig, router};

/// Looks an environment variable up.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What `[triggers.*]` makes: routes to mount, schedules to run, notifiers
/// for the sessions.
pub struct Integrations {
    /// `/triggers/…` (empty when no webhook trigger is configured).
    pub routes: Router,
    /// The cron schedules, if any.
    pub scheduler: Option<Scheduler>,
    /// Told as tasks move (Slack, Linear, the GitHub progress comment).
    pub notifiers: Notifiers,
}

/// Builds the integrations of `config`. `default_repo` is the repository
/// of tickets whose trigger names none (after `config.first_repo()`).
pub fn integrations(
    config: &Config,
    store: Arc<dyn TaskStore>,
    forges: Arc<Forges>,
    redactor: Redactor,
    default_repo: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<Integrations, String> {
    let triggers = &config.triggers;
    let fallback = config.first_repo().or(default_repo.map(str::to_string));
    let repo_for = |key: &str, repo: &Option<String>, base: &Option<String>| {
        let url = repo.clone().or(fallback.clone()).ok_or_else(|| {
            format!(
                "{key}.repo is not set and there is no repository to default to \
                 (forge.github.repos or forge.repos)"
            )
        })?;
        let mut repo = RepoRef::new(url);
        repo.base = base.clone();
        Ok::<_, String>(repo)
    };
    let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::new();
    let mut hooks = TriggerConfig::default();

    if let Some(github) = &triggers.github {
        let mut trigger = GitHubTrigger::new(
            github
                .webhook_secret
                .read("triggers.github.webhook_secret", env)?,
        );
        trigger.label = github.label.clone();
        trigger.bot_login = github.bot_login.clone();
        trigger.priority = github.priority;
        trigger.associations = github.associations.clone();
        trigger.repos = if github.repos.is_empty() {
            config
                .forge
                .github
                .as_ref()
                .map(|g| g.repos.clone())
                .unwrap_or_default()
        } else {
            github.repos.clone()
        };
        hooks.github = Some(trigger);
        if github.progress_comment {
            notifiers.push(Arc::new(GitHubProgress::new(forges, redactor)));
        }
    }
    if let Some(slack) = &triggers.slack {
        hooks.slack = Some(SlackTrigger {
            signing_secret: slack
                .signing_secret
                .read("triggers.slack.signing_secret", env)?,
            repo: repo_for("triggers.slack", &slack.repo, &slack.base)?,
            users: slack.users.clone(),
            channels: slack.channels.clone(),
        });
        if let Some(token) = &slack.bot_token {
            let token = token.read("triggers.slack.bot_token", env)?;
            notifiers.push(Arc::new(
                SlackNotifier::new(token).api_base(&slack.api_base),
            ));
        }
    }
    if let Some(linear) = &triggers.linear {
        if linear.agent_user_id.is_none() && linear.label.is_none() {
            return Err(
                "triggers.linear needs agent_user_id or label: which issues are the agent's?"
                    .into(),
            );
        }
        hooks.linear = Some(LinearTrigger {
            signing_secret: linear
                .webhook_secret
                .read("triggers.linear.webhook_secret", env)?,
            agent_user_id: linear.agent_user_id.clone(),
            label: linear.label.clone(),
            repo: repo_for("triggers.linear", &linear.repo, &linear.base)?,
        });
        if let Some(key) = &linear.api_key {
            let key = key.read("triggers.linear.api_key", env)?;
            notifiers.push(Arc::new(LinearNotifier::new(key).api_url(&linear.api_url)));
        }
    }
    for (i, hook) in triggers.webhooks.iter().enumerate() {
        let key = format!("triggers.webhooks[{i}]");
        hooks.webhooks.push(GenericWebhook {
            name: hook.name.clone(),
            secret: hook.secret.read(&format!("{key}.secret"), env)?,
            signature_header: hook.signature_header.clone(),
            signature_prefix: hook.signature_prefix.clone(),
            delivery_header: hook.delivery_header.clone(),
            id_pointer: hook.id_pointer.clone(),
            title: hook.title.clone(),
            body: hook.body.clone(),
            repo: repo_for(&key, &hook.repo, &hook.base)?,
        });
    }
    let mut schedules = Vec::new();
    for (i, cron) in triggers.cron.iter().enumerate() {
        schedules.push(Schedule::new(
            &cron.name,
            &cron.schedule,
            &cron.timezone,
            &cron.title,
            &cron.body,
            repo_for(&format!("triggers.cron[{i}]"), &cron.repo, &cron.base)?,
        ));
    }
    let scheduler = if schedules.is_empty() {
        None
    } else {
        Some(Scheduler::new(schedules).map_err(|err| format!("triggers.cron: {err}"))?)
    };
    let notifiers = Notifiers(notifiers);
    let webhooks = hooks.github.is_some()
        || hooks.slack.is_some()
        || hooks.linear.is_some()
        || !hooks.webhooks.is_empty();
    hooks.notifier = Some(SharedNotifier(Arc::new(notifiers.clone())));
    let routes = if webhooks {
        router(hooks, store)
    } else {
        Router::new()
    };
    Ok(Integrations {
        routes,
        scheduler,
        notifiers,
    })
}

/// Every secret value the config refers to that can be read now (for the
/// redactor: none of them may reach a transcript or a log).
pub fn configured_secrets(config: &Config, env: EnvLookup<'_>) -> Vec<String> {
    let triggers = &config.triggers;
    let mut sources = Vec::new();
    if let Some(github) = &config.forge.github {
        sources.extend(github.token.iter());
    }
    if let Some(github) = &triggers.github {
        sources.push(&github.webhook_secret);
    }
    if let Some(slack) = &triggers.slack {
        sources.push(&slack.signing_secret);
        sources.extend(slack.bot_token.iter());
    }
    if let Some(linear) = &triggers.linear {
        sources.push(&linear.webhook_secret);
        sources.extend(linear.api_key.iter());
    }
    sources.extend(triggers.webhooks.iter().map(|hook| &hook.secret));
    sources
        .into_iter()
        .filter_map(|source| source.read("secret", env).ok())
        .collect()
}

/// The process environment, empty values as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
