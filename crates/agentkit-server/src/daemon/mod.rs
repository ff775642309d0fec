//! agentd: the worker side and the HTTP side of the daemon, put together.
//!
//! [`Services`] is everything a request handler needs (the task store, the
//! run log, the [`Workers`], the forges); [`App`] builds the axum router from
//! it — the JSON API (`crate::api`), the web view (`crate::web`), the
//! metrics (`crate::metrics`), `/healthz` — behind the bearer-token check
//! ([`auth`]), plus any router a caller adds with [`App::with_routes`]
//! (webhook triggers, for instance). [`start`] builds the whole daemon from a
//! [`Config`](crate::config::Config).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use agentkit_core::store::MemoryTaskStore;
//! use agentkit_server::daemon::{App, Services, workers::NoWorkers};
//! use agentkit_server::runlog::MemoryRunLog;
//!
//! let store = Arc::new(MemoryTaskStore::new());
//! let services = Services::new(store.clone(), Arc::new(MemoryRunLog::new()), Arc::new(NoWorkers::new(store)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let router = App::new(services).with_routes(axum::Router::new()).router();
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod forge_set;
pub mod forges;
#[cfg(feature = "github")]
pub mod github;
pub mod notify;
pub mod session;
mod start;
pub mod triggers;
pub mod workers;

use std::sync::Arc;

use agentkit_core::CancellationToken;
use agentkit_core::redact::Redactor;
use agentkit_core::store::TaskStore;
use axum::routing::get;

use crate::api::ApiError;
use crate::metrics::MetricsCache;
use crate::pool::PoolStatus;
use crate::runlog::RunLog;
use axum::http::StatusCode;
use forges::PullRequests;
use workers::Workers;

pub use axum::Router;
pub use start::{Daemon, StartError, StartOptions, start};

/// Serves `router` on `listener` until the process ends (what [`start`]
/// does with graceful shutdown; handy for an [`App`] built by hand).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

/// Decides whether tasks may name a repository.
pub type RepoCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Everything request handlers share.
#[derive(Clone)]
pub struct Services {
    /// The queue.
    pub store: Arc<dyn TaskStore>,
    /// Every run's events.
    pub log: Arc<dyn RunLog>,
    /// The running side: cancel, live events, what runs.
    pub workers: Arc<dyn Workers>,
    /// Pull requests as the forge reports them (diffs, metrics); `None`
    /// when there is no forge to ask.
    pub pulls: Option<Arc<dyn PullRequests>>,
    /// Removes secrets from transcripts.
    pub redactor: Redactor,
    /// The repository of tasks that name none.
    pub default_repo: Option<String>,
    /// Which repositories tasks may name.
    pub repo_allowed: RepoCheck,
    /// Leases a task gets unless the request says otherwise.
    pub max_attempts: u32,
    /// Per-task figures, kept up to date from the run log.
    pub metrics: Arc<MetricsCache>,
    /// Fired when the daemon stops: live event streams end.
    pub stopping: CancellationToken,
}

impl Services {
    /// Services over `store`, `log` and `workers`, without a forge, default
    /// repository or repository restriction.
    pub fn new(store: Arc<dyn TaskStore>, log: Arc<dyn RunLog>, workers: Arc<dyn Workers>) -> Self {
        Self {
            metrics: Arc::new(MetricsCache::new(log.clone())),
            store,
            log,
            workers,
            pulls: None,
            redactor: Redactor::new().with_env_secrets(),
            default_repo: None,
            repo_allowed: Arc::new(|_| true),
            max_attempts: agentkit_core::store::NewTask::DEFAULT_MAX_ATTEMPTS,
            stopping: CancellationToken::new(),
        }
    }
}

/// Builds agentd's router. See the [module documentation](self).
pub struct App {
    services: Services,
    token: Option<String>,
    extra: Router,
}

impl App {
    /// The app over `services`, without a token (loopback only).
    pub fn new(services: Services) -> Self {
        Self {
            services,
            token: None,
            extra: Router::new(),
        }
    }

    /// Requires `token` on every route but `/healthz` (and whatever
    /// [`with_routes`](Self::with_routes) adds, which authenticates itself:
    /// webhooks carry signatures, not tokens).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Merges `routes` (e.g. webhook triggers) into the app. They are served
    /// outside the token check and must authenticate their callers
    /// themselves; their paths must not collide with agentd's (`/api/…`,
    /// `/tasks/…`, `/metrics`, `/healthz`, `/login`, `/assets/…`, `/`).
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        let check = auth::TokenCheck::new(self.token.clone());
        let protected = Router::new()
            .merge(crate::api::routes())
            .merge(crate::web::routes())
            .route("/metrics", get(crate::metrics::prometheus_route))
            .with_state(self.services.clone())
            .layer(axum::middleware::from_fn_with_state(
                check.clone(),
                auth::require_token,
            ));
        let workers = self.services.workers.clone();
        Router::new()
            .route("/healthz", get(move || healthz(workers.clone())))
            .merge(crate::web::public_routes(check))
            .merge(protected)
            .merge(self.extra)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
    }
}

/// `GET /healthz`: 200 `{"status": "ok", "workers": …}`, or 503 with
/// `"status": "degraded"` while the workers cannot lease (the store failed;
/// the reason is in `workers.reason`).
async fn healthz(workers: Arc<dyn Workers>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let status = workers.status();
    let degraded = matches!(status, Some(PoolStatus::BackingOff { .. }));
    let body = serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "workers": status,
        "running": workers.running().len(),
    });
    let code = if degraded {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(body))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
