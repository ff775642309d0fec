//! [`NetworkGate`]: one sandbox's network namespace plus the allow-list
//! proxy serving it; and [`SandboxNetwork`], what a backend sets up for
//! each [`NetworkPolicy`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use agentkit_core::sandbox::{NetworkPolicy, SandboxError};
use tokio::task::JoinHandle;

use super::allow::AllowList;
use super::netns::NetNamespace;
use super::proxy::{self, ProxyConfig};

/// How a [`NetworkGate`] is set up. `Default`: any free port, the
/// [`ProxyConfig`] defaults, an empty `NO_PROXY`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GateConfig {
    /// The proxy's limits.
    pub proxy: ProxyConfig,
    /// The port the proxy listens on at 127.0.0.1 inside the namespace
    /// (0: any free port). Set one when the sandbox's own services might
    /// collide with a random port, e.g. in a container's namespace.
    pub port: u16,
    /// Destinations commands should reach without the proxy
    /// (`NO_PROXY`). Empty by default, so every request goes through the
    /// proxy and gets an explicit answer. Add `localhost,127.0.0.1,::1`
    /// when commands talk to servers they start inside the sandbox through
    /// proxy-aware clients, at the price of those clients no longer reaching
    /// host loopback destinations the allow-list names. Direct connections
    /// still reach only the namespace's own loopback, whatever this says.
    pub no_proxy: Vec<String>,
    /// Names the sandbox in logs.
    pub label: String,
}

impl GateConfig {
    /// Sets [`GateConfig::proxy`].
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Sets [`GateConfig::port`].
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`GateConfig::no_proxy`].
    pub fn no_proxy<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.no_proxy = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`GateConfig::label`].
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// A sandbox's way out under [`NetworkPolicy::AllowList`]: a network
/// namespace whose only interface is `lo`, and a proxy task in this process
/// that accepts on `127.0.0.1:PORT` **inside** that namespace and connects
/// out from the host namespace to allowed destinations only.
///
/// Run the sandbox's processes in [`namespace`](NetworkGate::namespace)
/// with [`env`](NetworkGate::env) set. Dropping the gate (or
/// [`close`](NetworkGate::close)) stops the proxy and cuts every connection
/// it carries; from then on nothing in the namespace leads out.
#[derive(Debug)]
pub struct NetworkGate {
    namespace: NetNamespace,
    addr: SocketAddr,
    allow: Arc<AllowList>,
    no_proxy: String,
    task: Option<JoinHandle<()>>,
}

impl NetworkGate {
    /// Creates a fresh namespace (only `lo`, up) and starts the proxy in it
    /// for `hosts` (the [`NetworkPolicy::AllowList`] entries). Must be
    /// called inside a tokio runtime; the proxy runs on it.
    ///
    /// Errors: [`SandboxError::Unsupported`] when the host cannot create
    /// network namespaces (see [`probe`](super::probe)),
    /// [`SandboxError::Setup`] for an invalid entry or a failure to listen.
    pub async fn start(hosts: &[String], config: GateConfig) -> Result<NetworkGate, SandboxError> {
        let allow = parse(hosts)?;
        let namespace = tokio::task::spawn_blocking(NetNamespace::create)
            .await
            .map_err(|err| SandboxError::Setup {
                reason: format!("the task creating the network namespace failed: {err}"),
            })??;
        Self::serve(namespace, allow, config).await
    }

    /// Starts the proxy in an existing namespace, e.g. a container's
    /// (`NetNamespace::of_process(pid)` of a container started with no
    /// network). Brings `lo` up. The namespace must have no other way out:
    /// the gate does not remove interfaces or routes.
    pub async fn start_in(
        namespace: NetNamespace,
        hosts: &[String],
        config: GateConfig,
    ) -> Result<NetworkGate, SandboxError> {
        let allow = parse(hosts)?;
        let ns = namespace.clone();
        tokio::task::spawn_blocking(move || ns.loopback_up())
            .await
            .map_err(|err| SandboxError::Setup {
                reason: format!("the task bringing `lo` up failed: {err}"),
            })??;
        Self::serve(namespace, allow, config).await
    }

    async fn serve(
        namespace: NetNamespace,
        allow: AllowList,
        config: GateConfig,
    ) -> Result<NetworkGate, SandboxError> {
        let listener = namespace
            .listen(SocketAddr::from(([127, 0, 0, 1], config.port)))
            .await?;
        let addr = listener.local_addr().map_err(|err| SandboxError::Setup {
            reason: format!("the proxy listener has no address: {err}"),
        })?;
        let allow = Arc::new(allow);
        tracing::info!(target: "agentkit_sandbox::net", sandbox = %config.label, proxy = %addr,
            allow = %allow, "sandbox network gate started");
        let task = tokio::spawn(proxy::serve(
            listener,
            Arc::clone(&allow),
            config.proxy,
            config.label,
        ));
        Ok(NetworkGate {
            namespace,
            addr,
            allow,
            no_proxy: config.no_proxy.join(","),
            task: Some(task),
        })
    }

    /// The namespace the sandbox's processes must run in.
    pub fn namespace(&self) -> &NetNamespace {
        &self.namespace
    }

    /// The proxy's address inside the namespace (`127.0.0.1:PORT`).
    pub fn proxy_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The allow-list the proxy enforces.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// The variables to set in every command: `HTTP_PROXY`, `HTTPS_PROXY`,
    /// `ALL_PROXY` (and lowercase) = [`proxy_url`](NetworkGate::proxy_url),
    /// `NO_PROXY`/`no_proxy` = [`GateConfig::no_proxy`] (empty by default).
    pub fn env(&self) -> BTreeMap<String, String> {
        let url = self.proxy_url();
        let mut env = BTreeMap::new();
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            env.insert(name.to_string(), url.clone());
            env.insert(name.to_ascii_lowercase(), url.clone());
        }
        env.insert("NO_PROXY".into(), self.no_proxy.clone());
        env.insert("no_proxy".into(), self.no_proxy.clone());
        env
    }

    /// Whether the proxy is serving (false after it stopped or panicked).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the proxy and waits until its listener and connections are
    /// closed. Dropping the gate does the same without waiting.
    pub async fn close(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for NetworkGate {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Parses a policy's allow-list; an invalid entry is a setup error that
/// names it.
pub(crate) fn parse(hosts: &[String]) -> Result<AllowList, SandboxError> {
    AllowList::parse(hosts).map_err(|err| SandboxError::Setup {
        reason: format!("{err}; fix the sandbox policy's network allow-list"),
    })
}

/// What a backend sets up for a policy: see [`SandboxNetwork::for_policy`].
#[derive(Debug)]
pub enum SandboxNetwork {
    /// [`NetworkPolicy::Full`]: the host's network; nothing to enter.
    Host,
    /// [`NetworkPolicy::Deny`]: a namespace with only its own loopback.
    Isolated(NetNamespace),
    /// [`NetworkPolicy::AllowList`]: a namespace and its proxy.
    Gated(NetworkGate),
}

impl SandboxNetwork {
    /// Sets up the network for `policy`: nothing for `Full`, a fresh
    /// namespace for `Deny`, a [`NetworkGate`] for `AllowList` (an empty
    /// list still gets the proxy, so refusals are explained). Must be called
    /// inside a tokio runtime.
    pub async fn for_policy(
        policy: &NetworkPolicy,
        config: GateConfig,
    ) -> Result<SandboxNetwork, SandboxError> {
        match policy {
            NetworkPolicy::Full => Ok(SandboxNetwork::Host),
            NetworkPolicy::Deny => tokio::task::spawn_blocking(NetNamespace::create)
                .await
                .map_err(|err| SandboxError::Setup {
                    reason: format!("the task creating the network namespace failed: {err}"),
                })?
                .map(SandboxNetwork::Isolated),
            NetworkPolicy::AllowList(hosts) => NetworkGate::start(hosts, config)
                .await
                .map(SandboxNetwork::Gated),
        }
    }

    /// The namespace to run commands in (`None` for [`SandboxNetwork::Host`]).
    pub fn namespace(&self) -> Option<&NetNamespace> {
        match self {
            SandboxNetwork::Host => None,
            SandboxNetwork::Isolated(ns) => Some(ns),
            SandboxNetwork::Gated(gate) => Some(gate.namespace()),
        }
    }

    /// Variables to set in every command (the proxy's, when gated).
    pub fn env(&self) -> BTreeMap<String, String> {
        match self {
            SandboxNetwork::Gated(gate) => gate.env(),
            _ => BTreeMap::new(),
        }
    }
}
