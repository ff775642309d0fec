//! `AGENTD_*` environment variables: they override the file.

use std::path::PathBuf;
use std::str::FromStr;

use super::{Config, ConfigError, StoreKind};

/// Every variable agentd reads, with what it sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("AGENTD_LISTEN", "listen (address:port)"),
    ("AGENTD_TOKEN", "token (the bearer token)"),
    ("AGENTD_DATA_DIR", "data_dir"),
    (
        "AGENTD_STORE",
        "store: `sqlite:PATH`, `postgres://…` or `memory`",
    ),
    ("AGENTD_MODEL", "model.spec"),
    ("AGENTD_SANDBOX", "sandbox.backend"),
    ("AGENTD_CONCURRENCY", "workers.concurrency"),
    ("AGENTD_MAX_STEPS", "budgets.max_steps"),
    ("AGENTD_MAX_COST_USD", "budgets.max_cost_usd"),
];

/// Applies the `AGENTD_*` variables among `vars` to `config`. Empty values
/// are ignored (so `AGENTD_TOKEN=` does not set an empty token).
pub fn apply_env(config: &mut Config, vars: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, value) in vars {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "AGENTD_LISTEN" => config.listen = parse("AGENTD_LISTEN", value)?,
            "AGENTD_TOKEN" => config.token = Some(value.to_string()),
            "AGENTD_DATA_DIR" => config.data_dir = PathBuf::from(value),
            "AGENTD_STORE" => store(config, value)?,
            "AGENTD_MODEL" => config.model.spec = Some(value.to_string()),
            "AGENTD_SANDBOX" => config.sandbox.backend = value.to_string(),
            "AGENTD_CONCURRENCY" => {
                config.workers.concurrency = parse("AGENTD_CONCURRENCY", value)?
            }
            "AGENTD_MAX_STEPS" => config.budgets.max_steps = parse("AGENTD_MAX_STEPS", value)?,
            "AGENTD_MAX_COST_USD" => {
                config.budgets.max_cost_usd = Some(parse("AGENTD_MAX_COST_USD", value)?)
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse<T: FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|err| ConfigError::Env {
        var,
        message: format!("`{value}` is not valid: {err}"),
    })
}

fn store(config: &mut Config, value: &str) -> Result<(), ConfigError> {
    if value == "memory" {
        config.store.kind = StoreKind::Memory;
    } else if let Some(path) = value.strip_prefix("sqlite:") {
        config.store.kind = StoreKind::Sqlite;
        config.store.path = Some(PathBuf::from(path));
    } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        config.store.kind = StoreKind::Postgres;
        config.store.url = Some(value.to_string());
    } else {
        return Err(ConfigError::Env {
            var: "AGENTD_STORE",
            message: format!(
                "`{value}` is not a store: use `sqlite:PATH`, `postgres://…` or `memory`"
            ),
        });
    }
    Ok(())
}
