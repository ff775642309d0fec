//! [`start`]: the whole daemon from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::SandboxProvider;
use agentkit_core::store::{MemoryTaskStore, TaskStore};
use agentkit_sandbox::auto;
use axum::Router;

use super::auth::check_listen;
use super::forge_set::Forges;
use super::forges::LocalForges;
use super::notify::Lifecycle;
use super::session::ConfiguredSessions;
use super::triggers::{configured_secrets, integrations, process_env};
use super::{App, Services};
use crate::config::{Config, StoreKind};
use crate::pool::{PoolConfig, PoolHandle, WorkerPool};
use crate::runlog::{MemoryRunLog, RunLog};

/// Why agentd did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot work (no token on a public address, a model
    /// spec that does not build, an unknown backend, …).
    #[error("{0}")]
    Refused(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A running agentd.
pub struct Daemon {
    addr: SocketAddr,
    pool: Arc<PoolHandle>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving, then stops the pool: event streams end, the server
    /// closes, leasing stops, running sessions checkpoint and hand their
    /// leases back (see [`PoolHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.server.await;
        let mut pool = self.pool;
        // The server's handlers held the last other references; give
        // stragglers (an event stream's task) a moment to let go.
        for _ in 0..50 {
            match Arc::try_unwrap(pool) {
                Ok(handle) => return handle.shutdown().await,
                Err(shared) => pool = shared,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!("the worker pool is still referenced; its sessions end with the process");
    }
}

/// What [`start`] needs besides the config.
pub struct StartOptions {
    /// The model spec to run (the configured one, or the demo's).
    pub model_spec: String,
    /// The repository of tasks that name none.
    pub default_repo: Option<String>,
    /// Extra routes (webhook triggers), merged with [`App::with_routes`].
    pub routes: Router,
}

impl StartOptions {
    /// Options running `model_spec`, with `default_repo` and no extra routes.
    pub fn new(model_spec: String, default_repo: Option<String>) -> Self {
        Self {
            model_spec,
            default_repo,
            routes: Router::new(),
        }
    }

    /// Adds routes (see [`App::with_routes`]).
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }
}

/// Builds and starts agentd: the store, the run log, the forges, the
/// sessions, the workers, and the HTTP server on `config.listen`.
pub async fn start(config: &Config, options: StartOptions) -> Result<Daemon, StartError> {
    check_listen(config.listen, config.token.as_deref()).map_err(StartError::Refused)?;
    let (store, log) = open_store(config).await?;
    let forges = Arc::new(forges(config)?);
    let sessions = ConfiguredSessions::new(config, options.model_spec, forges.clone());
    sessions.model().map_err(StartError::Refused)?;
    let provider = provider(&config.sandbox.backend).await?;
    let mut redactor = Redactor::new().with_env_secrets();
    if let Some(token) = &config.token {
        redactor = redactor.with_secret(token.clone());
    }
    for secret in configured_secrets(config, &process_env) {
        redactor = redactor.with_secret(secret);
    }
    let integrations = integrations(
        config,
        store.clone(),
        forges.clone(),
        redactor.clone(),
        options.default_repo.as_deref(),
        &process_env,
    )
    .map_err(StartError::Refused)?;
    let lifecycle = Lifecycle::new(
        store.clone(),
        integrations.notifiers.clone(),
        redactor.clone(),
    );
    let sessions = sessions.with_lifecycle(Arc::new(lifecycle));
    let defaults = PoolConfig::default();
    let pool = Arc::new(WorkerPool::start(
        PoolConfig {
            concurrency: config.workers.concurrency,
            lease_ttl: Duration::from_secs(config.workers.lease_ttl_secs.max(3)),
            retry_delay: Duration::from_secs(config.workers.retry_delay_secs),
            shutdown_grace: Duration::from_secs(config.workers.shutdown_grace_secs),
            redactor: redactor.clone(),
            ..defaults
        },
        store.clone(),
        log.clone(),
        provider,
        Arc::new(sessions),
    ));
    let stop = CancellationToken::new();
    if let Some(scheduler) = integrations.scheduler {
        tokio::spawn(scheduler.run(store.clone(), stop.clone()));
    }
    let mut services = Services::new(store, log, pool.clone());
    services.stopping = stop.clone();
    services.pulls = Some(forges.clone());
    services.redactor = redactor;
    services.default_repo = options.default_repo;
    services.max_attempts = config.workers.max_attempts;
    let allowed = forges.clone();
    services.repo_allowed = Arc::new(move |repo| allowed.allows(repo));
    let router = App::new(services)
        .with_token(config.token.clone())
        .with_routes(integrations.routes)
        .with_routes(options.routes)
        .router();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let until = stop.clone();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the HTTP server stopped");
        }
    });
    tracing::info!(%addr, "agentd listening");
    Ok(Daemon {
        addr,
        pool,
        stop,
        server,
    })
}

/// The forges of `config`: local ones, and GitHub's with `[forge.github]`.
fn forges(config: &Config) -> Result<Forges, StartError> {
    let local = Arc::new(LocalForges::new(
        config.forge.state_dir.clone(),
        config.forge.repos.clone(),
    ));
    let forges = Forges::local(local);
    let Some(github) = &config.forge.github else {
        return Ok(forges);
    };
    with_github(forges, config, github)
}

type Opened = (Arc<dyn TaskStore>, Arc<dyn RunLog>);

async fn open_store(config: &Config) -> Result<Opened, StartError> {
    match config.store.kind {
        StoreKind::Memory => Ok((
            Arc::new(MemoryTaskStore::new()),
            Arc::new(MemoryRunLog::new()),
        )),
        StoreKind::Sqlite => {
            let path = config.sqlite_path();
            let store = crate::store::SqliteTaskStore::open(&path)
                .await
                .map_err(|err| {
                    StartError::Refused(format!(
                        "cannot open the SQLite task store `{}`: {err}",
                        path.display()
                    ))
                })?;
            let store = Arc::new(store);
            Ok((store.clone(), store))
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let url = config.store.url.as_deref().unwrap_or_default();
            let store = crate::store::PgTaskStore::connect(url)
                .await
                .map_err(|err| {
                    StartError::Refused(format!(
                        "cannot connect to the PostgreSQL task store: {err}"
                    ))
                })?;
            let store = Arc::new(store);
            Ok((store.clone(), store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreKind::Postgres => Err(StartError::Refused(
            "store.kind \"postgres\" needs agentd built with the `postgres` feature of \
             agentkit-server (the root package's `daemon-postgres`)"
                .into(),
        )),
    }
}

#[cfg(feature = "github")]
fn with_github(
    forges: Forges,
    config: &Config,
    github: &crate::config::GitHubForgeConfig,
) -> Result<Forges, StartError> {
    let built = super::github::GitHubForges::new(github, &config.data_dir, &process_env)
        .map_err(StartError::Refused)?;
    Ok(forges.with_github(Arc::new(built), config.forge.kind == "github"))
}

#[cfg(not(feature = "github"))]
fn with_github(
    _: Forges,
    _: &Config,
    _: &crate::config::GitHubForgeConfig,
) -> Result<Forges, StartError> {
    Err(StartError::Refused(
        "[forge.github] needs agentd built with the `github` feature \
         (`cargo build --features daemon,github --bin agentd`)"
            .into(),
    ))
}

/// The sandbox backend: `auto` (the default) is the strongest this host
/// supports (bwrap, then docker, else `local` with a loud warning); a name
/// is that backend or a refusal to start.
async fn provider(backend: &str) -> Result<Arc<dyn SandboxProvider>, StartError> {
    let options = auto::Options::default();
    let choice = if backend == "auto" {
        auto::strongest(&options).await
    } else {
        auto::by_name(backend, &options).await.map_err(|err| {
            StartError::Refused(format!(
                "sandbox.backend `{backend}` cannot be used: {err} (\"auto\" picks the \
                 strongest available)"
            ))
        })?
    };
    if let Some(warning) = &choice.warning {
        tracing::warn!("{warning}");
    }
    tracing::info!(backend = choice.backend, "sandbox backend");
    Ok(choice.provider)
}
