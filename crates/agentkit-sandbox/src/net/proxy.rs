//! The allow-list forward proxy: serves `CONNECT host:port` tunnels and
//! plain-HTTP absolute-form requests on a listener, and connects only to
//! destinations the [`AllowList`] allows.
//!
//! Per connection:
//!
//! 1. Read the request head (at most [`ProxyConfig::max_head_bytes`] and
//!    [`ProxyConfig::max_headers`] fields, within
//!    [`ProxyConfig::head_timeout`]); a bad head gets `400`, an oversized
//!    one `431`, a slow one `408`.
//! 2. Classify: `CONNECT host:port` or `METHOD http://host[:port]/path`.
//!    Anything else gets `400` saying what a proxy request looks like.
//! 3. Check the destination against the allow-list. Refused: `403` with a
//!    body the model can act on (what was refused, why, what is allowed).
//!    Nothing is resolved or connected for a refused destination.
//! 4. Resolve the name **on the host** and drop local addresses unless the
//!    entry names them explicitly (see [`allow`](super::allow)); connect
//!    within [`ProxyConfig::connect_timeout`] (`502`/`504` on failure).
//! 5. CONNECT: answer `200`, then copy both ways with
//!    `tokio::io::copy_bidirectional`. Plain HTTP: send the rewritten head
//!    (origin-form, `Host` from the URL, hop-by-hop fields removed,
//!    `Connection: close`), pass the request body on, rewrite the response
//!    head the same way, pass the response body on. One request per
//!    connection: the client is told `Connection: close`.
//! 6. Either way the connection ends after [`ProxyConfig::idle_timeout`]
//!    without a byte in either direction.
//!
//! Every decision is logged with `tracing` (target `agentkit_sandbox::net`):
//! `info` for allowed and refused destinations, `debug` for the rest.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::allow::{AllowList, Decision, Host, Target, is_local_address};
use super::http::{self, HeadError, ProxyRequest};
use super::idle::{Activity, Tracked, read_some};

const LOG_TARGET: &str = "agentkit_sandbox::net";

/// After a reply of the proxy's own, how long to wait for the client's
/// unread bytes, and how many to read at most, before closing.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// Limits of the proxy. `Default` gives values suited to package managers
/// and git over HTTPS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Longest request head, and longest upstream response head, in bytes
    /// (default 32 KiB; longer gets `431` / `502`).
    pub max_head_bytes: usize,
    /// Most header fields in a head (default 100).
    pub max_headers: usize,
    /// Time allowed for the client to send its request head (default 30 s).
    /// (A server's response is bounded by `idle_timeout`: some take long.)
    pub head_timeout: Duration,
    /// Time allowed to resolve and connect to the destination (default 30 s).
    pub connect_timeout: Duration,
    /// A connection with no byte in either direction for this long is
    /// closed (default 10 minutes).
    pub idle_timeout: Duration,
    /// Most client connections served at once (default 256); more wait in
    /// the listen backlog.
    pub max_connections: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: 32 * 1024,
            max_headers: 100,
            head_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            max_connections: 256,
        }
    }
}

impl ProxyConfig {
    /// Sets [`ProxyConfig::max_head_bytes`].
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// Sets [`ProxyConfig::max_headers`].
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets [`ProxyConfig::head_timeout`].
    pub fn head_timeout(mut self, limit: Duration) -> Self {
        self.head_timeout = limit;
        self
    }

    /// Sets [`ProxyConfig::connect_timeout`].
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Sets [`ProxyConfig::idle_timeout`].
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// Sets [`ProxyConfig::max_connections`].
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count;
        self
    }
}

/// Serves the proxy on `listener` until the returned future is dropped.
/// Dropping it closes the listener and every connection it is serving
/// (each runs in a task the future owns).
///
/// `label` names the sandbox in logs. Must run inside a tokio runtime, on
/// threads in the namespace outbound connections should come from (the
/// host's: never call `setns` on runtime threads).
pub async fn serve(
    listener: TcpListener,
    allow: Arc<AllowList>,
    config: ProxyConfig,
    label: String,
) {
    let config = Arc::new(config);
    let label: Arc<str> = label.into();
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let allow = Arc::clone(&allow);
                let config = Arc::clone(&config);
                let label = Arc::clone(&label);
                connections.spawn(async move {
                    let _permit = permit;
                    let conn = Connection {
                        allow: &allow,
                        config: &config,
                        label: &label,
                        peer,
                    };
                    conn.serve(stream).await;
                });
            }
            Err(err) => {
                // Out of descriptors and the like: back off, keep serving.
                tracing::warn!(target: LOG_TARGET, sandbox = %label, error = %err, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client connection.
struct Connection<'a> {
    allow: &'a AllowList,
    config: &'a ProxyConfig,
    label: &'a str,
    peer: SocketAddr,
}

/// A reply the proxy makes itself, then closes.
struct Refusal {
    code: u16,
    reason: &'static str,
    body: String,
}

impl Refusal {
    fn new(code: u16, reason: &'static str, body: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            body: body.into(),
        }
    }
}

impl Connection<'_> {
    async fn serve(&self, mut client: TcpStream) {
        let _ = client.set_nodelay(true);
        let mut buf = Vec::with_capacity(4096);
        let outcome = match timeout(
            self.config.head_timeout,
            self.read_head(&mut client, &mut buf),
        )
        .await
        {
            Ok(Ok(Some((request, len)))) => {
                let rest = buf.split_off(len);
                self.handle(&mut client, request, rest).await
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(refusal)) => Err(refusal),
            Err(_) => Err(Refusal::new(
                408,
                "Request Timeout",
                format!(
                    "The proxy waited {}s for a complete request head and closed the connection.\n",
                    self.config.head_timeout.as_secs()
                ),
            )),
        };
        if let Err(refusal) = outcome {
            tracing::debug!(target: LOG_TARGET, sandbox = self.label, peer = %self.peer,
                code = refusal.code, "proxy reply");
            let reply = http::reply(refusal.code, refusal.reason, &refusal.body);
            let _ = timeout(Duration::from_secs(5), async {
                client.write_all(&reply).await?;
                client.shutdown().await?;
                // Lingering close: read what the client still sends (a body
                // nobody will use) so that closing does not reset the
                // connection before the client has read the reply.
                let mut sink = [0u8; 8192];
                let mut drained = 0usize;
                while drained < LINGER_BYTES {
                    match timeout(LINGER, client.read(&mut sink)).await {
                        Ok(Ok(n)) if n > 0 => drained += n,
                        _ => break,
                    }
                }
                io::Result::Ok(())
            })
            .await;
        }
    }

    /// Reads until a request head is complete. `Ok(None)`: the client
    /// closed without sending one.
    async fn read_head(
        &self,
        client: &mut TcpStream,
        buf: &mut Vec<u8>,
    ) -> Result<Option<(ProxyRequest, usize)>, Refusal> {
        loop {
            let read = read_some(client, buf, self.config.max_head_bytes).await;
            match read {
                Ok(0) if buf.is_empty() => return Ok(None),
                Ok(0) => {
                    return Err(Refusal::new(
                        400,
                        "Bad Request",
                        "The connection ended in the middle of the request head.\n",
                    ));
                }
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
            match http::parse_request(buf, self.config.max_headers, self.config.max_head_bytes) {
                Ok(None) => continue,
                Ok(Some((head, len))) => {
                    return match http::classify(&head) {
                        Ok(request) => Ok(Some((request, len))),
                        Err(why) => {
                            tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                                method = %head.method, why = %why, "proxy: bad request");
                            Err(Refusal::new(400, "Bad Request", format!("{why}\n")))
                        }
                    };
                }
                Err(HeadError::TooLarge(why)) => {
                    return Err(Refusal::new(
                        431,
                        "Request Header Fields Too Large",
                        format!("{why}; the proxy refuses larger request heads.\n"),
                    ));
                }
                Err(HeadError::Malformed(why)) => {
                    return Err(Refusal::new(400, "Bad Request", format!("{why}\n")));
                }
            }
        }
    }

    async fn handle(
        &self,
        client: &mut TcpStream,
        request: ProxyRequest,
        rest: Vec<u8>,
    ) -> Result<(), Refusal> {
        let (method, target) = match &request {
            ProxyRequest::Connect(target) => ("CONNECT", target),
            ProxyRequest::Forward { target, .. } => ("HTTP", target),
        };
        let local_ok = self.authorize(method, target)?;
        let upstream = self.connect(target, local_ok).await?;
        match request {
            ProxyRequest::Connect(target) => self.tunnel(client, upstream, &target, rest).await,
            ProxyRequest::Forward {
                target,
                upstream_head,
            } => {
                self.forward(client, upstream, &target, upstream_head, rest)
                    .await
            }
        }
    }

    /// The allow-list decision, logged. `Ok(local_ok)` when allowed.
    fn authorize(&self, method: &str, target: &Target) -> Result<bool, Refusal> {
        let decision = self.allow.check(target);
        match decision {
            Decision::Allow { local_ok } => {
                tracing::info!(target: LOG_TARGET, sandbox = self.label, method,
                    destination = %target, decision = "allow", "sandbox network request allowed");
                Ok(local_ok)
            }
            Decision::HostNotListed => {
                tracing::info!(target: LOG_TARGET, sandbox = self.label, method,
                    destination = %target, decision = "deny", why = "host not listed",
                    "sandbox network request refused");
                Err(Refusal::new(
                    403,
                    "Host not in the sandbox network allow-list",
                    format!(
                        "Blocked by the sandbox's network policy: `{}` is not in this sandbox's \
                         network allow-list, so the proxy did not connect to it.\n{}",
                        target.host,
                        self.advice(&target.host)
                    ),
                ))
            }
            Decision::PortNotAllowed { allowed_ports } => {
                tracing::info!(target: LOG_TARGET, sandbox = self.label, method,
                    destination = %target, decision = "deny", why = "port not allowed",
                    "sandbox network request refused");
                let ports: Vec<String> = allowed_ports.iter().map(u16::to_string).collect();
                Err(Refusal::new(
                    403,
                    "Port not in the sandbox network allow-list",
                    format!(
                        "Blocked by the sandbox's network policy: `{}` may only be reached on \
                         port {}, not on port {}.\n{}",
                        target.host,
                        ports.join(", "),
                        target.port,
                        self.advice(&target.host)
                    ),
                ))
            }
        }
    }

    fn advice(&self, host: &Host) -> String {
        format!(
            "Allowed destinations: {}.\nThe sandbox reaches the network only through this \
             proxy, and only those destinations; there is no other way out. If the task \
             cannot be done without `{host}`, say so in your report: the sandbox's network \
             allow-list is set by the operator.\n",
            self.allow
        )
    }

    /// Resolves on the host and connects to the first address that answers.
    async fn connect(&self, target: &Target, local_ok: bool) -> Result<TcpStream, Refusal> {
        let unreachable = |why: String| {
            tracing::info!(target: LOG_TARGET, sandbox = self.label, destination = %target,
                why = %why, "sandbox network request failed upstream");
            Refusal::new(
                502,
                "Bad Gateway",
                format!("The proxy could not connect to `{target}`: {why}.\n"),
            )
        };
        let work = async {
            let addrs: Vec<SocketAddr> = match &target.host {
                Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
                Host::Name(name) => tokio::net::lookup_host((name.as_str(), target.port))
                    .await
                    .map_err(|err| unreachable(format!("the name did not resolve ({err})")))?
                    .collect(),
            };
            let (usable, local): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
                .into_iter()
                .partition(|a| local_ok || !is_local_address(a.ip()));
            if usable.is_empty() {
                let shown: Vec<String> = local.iter().map(|a| a.ip().to_string()).collect();
                tracing::info!(target: LOG_TARGET, sandbox = self.label, destination = %target,
                    decision = "deny", why = "resolves to local addresses", addresses = ?shown,
                    "sandbox network request refused");
                return Err(Refusal::new(
                    403,
                    "Destination address not allowed by the sandbox network policy",
                    format!(
                        "Blocked by the sandbox's network policy: `{}` resolves to {} \
                         (loopback or link-local on the host), which only an allow-list entry \
                         naming that IP address may reach.\n{}",
                        target.host,
                        if shown.is_empty() {
                            "no address".to_string()
                        } else {
                            shown.join(", ")
                        },
                        self.advice(&target.host)
                    ),
                ));
            }
            let mut last = None;
            for addr in usable {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                            destination = %target, address = %addr, "connected upstream");
                        return Ok(stream);
                    }
                    Err(err) => last = Some(err),
                }
            }
            Err(unreachable(match last {
                Some(err) => err.to_string(),
                None => "no address to connect to".into(),
            }))
        };
        match timeout(self.config.connect_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Refusal::new(
                504,
                "Gateway Timeout",
                format!(
                    "The proxy could not connect to `{target}` within {}s.\n",
                    self.config.connect_timeout.as_secs()
                ),
            )),
        }
    }

    async fn tunnel(
        &self,
        client: &mut TcpStream,
        mut upstream: TcpStream,
        target: &Target,
        rest: Vec<u8>,
    ) -> Result<(), Refusal> {
        let activity = Activity::new();
        let work = async {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            if !rest.is_empty() {
                upstream.write_all(&rest).await?;
            }
            let mut a = Tracked::new(client, &activity);
            let mut b = Tracked::new(&mut upstream, &activity);
            tokio::io::copy_bidirectional(&mut a, &mut b).await
        };
        let ended = activity.bound(self.config.idle_timeout, work).await;
        self.log_end(target, "tunnel", ended.map(|r| r.map(|_| ())));
        Ok(())
    }

    async fn forward(
        &self,
        client: &mut TcpStream,
        mut upstream: TcpStream,
        target: &Target,
        head: Vec<u8>,
        rest: Vec<u8>,
    ) -> Result<(), Refusal> {
        if let Err(err) = upstream.write_all(&head).await {
            return Err(Refusal::new(
                502,
                "Bad Gateway",
                format!("The proxy could not send the request to `{target}`: {err}.\n"),
            ));
        }
        let activity = Activity::new();
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let mut client_read = Tracked::new(client_read, &activity);
        let mut client_write = Tracked::new(client_write, &activity);
        let mut upstream_read = Tracked::new(upstream_read, &activity);
        let mut upstream_write = Tracked::new(upstream_write, &activity);

        let request_body = async {
            if !rest.is_empty() {
                upstream_write.write_all(&rest).await?;
            }
            tokio::io::copy(&mut client_read, &mut upstream_write).await?;
            upstream_write.shutdown().await
        };
        let response = async {
            let mut buf = Vec::with_capacity(4096);
            loop {
                let (head, len) = match timeout(
                    self.config.idle_timeout,
                    self.read_response_head(&mut upstream_read, &mut buf),
                )
                .await
                {
                    Ok(Ok(done)) => done,
                    Ok(Err(refusal)) => return Ok::<_, io::Error>(Some(refusal)),
                    Err(_) => {
                        return Ok(Some(Refusal::new(
                            504,
                            "Gateway Timeout",
                            format!(
                                "`{target}` sent no response within {}s.\n",
                                self.config.idle_timeout.as_secs()
                            ),
                        )));
                    }
                };
                client_write
                    .write_all(&http::rewrite_response(&head))
                    .await?;
                let rest = buf.split_off(len);
                buf = rest;
                if head.code >= 200 || head.code == 101 {
                    break;
                }
                // 1xx informational: the final head follows.
            }
            client_write.write_all(&buf).await?;
            tokio::io::copy(&mut upstream_read, &mut client_write).await?;
            client_write.shutdown().await?;
            Ok(None)
        };
        let both = async {
            tokio::pin!(request_body);
            tokio::pin!(response);
            let mut body_done = false;
            loop {
                tokio::select! {
                    sent = &mut request_body, if !body_done => {
                        body_done = true;
                        // A server may answer (413, 401) without reading the
                        // whole body: keep passing its response on. If the
                        // client is gone, writing the response fails.
                        if let Err(err) = sent {
                            tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                                destination = %target, error = %err, "request body not fully sent");
                        }
                    }
                    answered = &mut response => return answered,
                }
            }
        };
        let ended = activity.bound(self.config.idle_timeout, both).await;
        match ended {
            Some(Ok(Some(refusal))) => Err(refusal),
            Some(Ok(None)) => {
                self.log_end(target, "request", Some(Ok(())));
                Ok(())
            }
            Some(Err(err)) => {
                self.log_end(target, "request", Some(Err(err)));
                Ok(())
            }
            None => {
                self.log_end(target, "request", None);
                Ok(())
            }
        }
    }

    async fn read_response_head<R: AsyncRead + Unpin>(
        &self,
        upstream: &mut R,
        buf: &mut Vec<u8>,
    ) -> Result<(http::ResponseHead, usize), Refusal> {
        let bad = |why: String| Refusal::new(502, "Bad Gateway", format!("{why}\n"));
        loop {
            if !buf.is_empty() {
                match http::parse_response(buf, self.config.max_headers, self.config.max_head_bytes)
                {
                    Ok(Some(done)) => return Ok(done),
                    Ok(None) => {}
                    Err(HeadError::TooLarge(why) | HeadError::Malformed(why)) => {
                        return Err(bad(format!("The server's response was refused: {why}.")));
                    }
                }
            }
            match read_some(upstream, buf, self.config.max_head_bytes).await {
                Ok(0) => {
                    return Err(bad(
                        "The server closed the connection without a response.".into()
                    ));
                }
                Ok(_) => {}
                Err(err) => {
                    return Err(bad(format!("Reading the server's response failed: {err}.")));
                }
            }
        }
    }

    fn log_end(&self, target: &Target, kind: &str, ended: Option<io::Result<()>>) {
        match ended {
            Some(Ok(_)) => tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                destination = %target, kind, "proxied connection ended"),
            Some(Err(err)) => tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                destination = %target, kind, error = %err, "proxied connection failed"),
            None => tracing::debug!(target: LOG_TARGET, sandbox = self.label,
                destination = %target, kind, idle_timeout_secs = self.config.idle_timeout.as_secs(),
                "proxied connection closed after being idle"),
        }
    }
}
