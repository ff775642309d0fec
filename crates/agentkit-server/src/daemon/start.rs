//! [`start`]: the whole daemon from a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::SandboxProvider;
use agentkit_core::store::{MemoryTaskStore, TaskStore};
use agentkit_sandbox::local::LocalProvider;
use axum::Router;

use super::auth::check_listen;
use super::forges::LocalForges;
use super::session::ConfiguredSessions;
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
    let forges = Arc::new(LocalForges::new(
        config.forge.state_dir.clone(),
        config.forge.repos.clone(),
    ));
    if config.forge.kind != "local" {
        return Err(StartError::Refused(format!(
            "forge.kind `{}` is not supported by this build: use \"local\"",
            config.forge.kind
        )));
    }
    let sessions = ConfiguredSessions::new(config, options.model_spec, forges.clone());
    sessions.model().map_err(StartError::Refused)?;
    let provider = provider(&config.sandbox.backend)?;
    let mut redactor = Redactor::new().with_env_secrets();
    if let Some(token) = &config.token {
        redactor = redactor.with_secret(token.clone());
    }
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

fn provider(backend: &str) -> Result<Arc<dyn SandboxProvider>, StartError> {
    match backend {
        "local" => Ok(Arc::new(LocalProvider::new())),
        other => Err(StartError::Refused(format!(
            "sandbox.backend `{other}` is not built into agentd: use \"local\" \
             (bwrap and docker need agentd built with their features)"
        ))),
    }
}
