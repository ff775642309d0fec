//! Network namespaces and the allow-list proxy, end to end.
//!
//! Rules these tests keep: they connect only to listeners they started
//! themselves (on 127.0.0.1 / 127.0.0.2 in the host namespace) or to
//! addresses inside namespaces they created. Nothing else, not even to show
//! that it fails.
//!
//! They need network namespaces (root or CAP_SYS_ADMIN). Where the host has
//! none they are skipped with a message, or fail when `CI` is set.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit_core::sandbox::{NetworkPolicy, SandboxError};
use agentkit_sandbox::net::{GateConfig, NetNamespace, NetworkGate, SandboxNetwork, probe};
use common::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether namespace tests can run; panics under `CI` when they cannot.
fn namespaces_supported() -> bool {
    match probe() {
        Ok(()) => true,
        Err(err) => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "the network namespace tests cannot run on this CI host: {err}. \
                     Run them as root or with CAP_SYS_ADMIN."
                );
            }
            eprintln!("skipping a network namespace test: {err}");
            false
        }
    }
}

macro_rules! require_namespaces {
    () => {
        if !namespaces_supported() {
            return;
        }
    };
}

// ---------------------------------------------------------------------------
// A tiny HTTP server in the host namespace that counts what reaches it.

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    /// Every request received: head and body as text.
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Listens on `ip`:0 and answers every request with `<name> says hello`,
    /// then closes (its response claims keep-alive, which the proxy must
    /// not pass on).
    async fn start(ip: [u8; 4], name: &'static str) -> Server {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, b, r) = (connections.clone(), bytes.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (b, r) = (b.clone(), r.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let complete = loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break None,
                            Ok(n) => {
                                b.fetch_add(n, Ordering::SeqCst);
                                buf.extend_from_slice(&chunk[..n]);
                            }
                        }
                        if let Some(end) = find(&buf, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                break Some(());
                            }
                        }
                    };
                    r.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf).into_owned());
                    if complete.is_some() {
                        let body = format!("{name} says hello\n");
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                             Content-Length: {}\r\nConnection: keep-alive\r\n\
                             Keep-Alive: timeout=5\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(reply.as_bytes()).await;
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server {
            addr,
            connections,
            bytes,
            requests,
            task,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// (connections accepted, bytes received).
    fn seen(&self) -> (usize, usize) {
        (
            self.connections.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Clients inside a namespace.

/// Runs `f` on a thread inside `ns`.
async fn in_ns<T, F>(ns: &NetNamespace, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ns = ns.clone();
    tokio::task::spawn_blocking(move || ns.run(f).unwrap())
        .await
        .unwrap()
}

/// Connects to `addr` from inside `ns`, sends `request`, returns everything
/// read until the peer closes.
async fn exchange(
    ns: &NetNamespace,
    addr: SocketAddr,
    request: Vec<u8>,
) -> std::io::Result<String> {
    in_ns(ns, move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(&request)?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
    .await
}

/// What a client program got: the HTTP status (0 when it got none), the
/// body, and its stderr.
#[derive(Debug)]
struct Fetch {
    code: u16,
    body: String,
    stderr: String,
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The argv of a client that GETs a URL honouring the proxy variables and
/// prints the body then the status on the last line: curl, else python3.
/// `tunnel` makes curl use CONNECT even for http:// (`None` when only
/// python3 is there: it cannot).
fn client_argv(url: &str, tunnel: bool, no_proxy: bool) -> Option<Vec<String>> {
    if let Some(curl) = which("curl") {
        let mut argv = vec![
            curl.display().to_string(),
            "-sS".into(),
            "--max-time".into(),
            "10".into(),
            "-o".into(),
            "-".into(),
            "-w".into(),
            "\n%{http_code}".into(),
        ];
        if tunnel {
            argv.push("--proxytunnel".into());
        }
        if no_proxy {
            argv.extend(["--noproxy".into(), "*".into()]);
        }
        argv.push(url.into());
        return Some(argv);
    }
    if tunnel {
        return None;
    }
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .map(String::from)
        .or_else(|| which("python3").map(|p| p.display().to_string()))?;
    let script = r#"
import sys, urllib.request, urllib.error
handlers = [urllib.request.ProxyHandler({})] if sys.argv[2] == "1" else []
opener = urllib.request.build_opener(*handlers)
try:
    r = opener.open(sys.argv[1], timeout=10)
    sys.stdout.write(r.read().decode() + "\n" + str(r.status))
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode() + "\n" + str(e.code))
except Exception as e:
    sys.stderr.write(repr(e))
    sys.stdout.write("\n000")
"#;
    Some(vec![
        python,
        "-c".into(),
        script.into(),
        url.into(),
        if no_proxy { "1" } else { "0" }.into(),
    ])
}

/// Runs `argv` as a child process that enters `ns` before exec, with the
/// host environment minus proxy variables plus `env`.
async fn run_in(
    ns: &NetNamespace,
    argv: &[String],
    env: &BTreeMap<String, String>,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env);
    ns.enter_on_spawn(&mut cmd);
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn parse_fetch(out: std::process::Output) -> Fetch {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    Fetch {
        code: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// GETs `url` from a client program inside `ns`. `None`: no client program
/// for this kind of request on this host (reported with eprintln).
async fn fetch(
    ns: &NetNamespace,
    env: &BTreeMap<String, String>,
    url: &str,
    tunnel: bool,
    no_proxy: bool,
) -> Option<Fetch> {
    let Some(argv) = client_argv(url, tunnel, no_proxy) else {
        let what = "no HTTP client program (curl, python3) for this request";
        if std::env::var_os("CI").is_some() {
            panic!("{what}");
        }
        eprintln!("skipping part of a test: {what}");
        return None;
    };
    Some(parse_fetch(run_in(ns, &argv, env).await))
}

async fn gate(hosts: &[String]) -> NetworkGate {
    NetworkGate::start(hosts, GateConfig::default().label("test"))
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_namespace_has_only_its_own_loopback_up() {
    require_namespaces!();
    let ns = tokio::task::spawn_blocking(NetNamespace::create)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ns.interfaces().unwrap(), ["lo"]);
    // lo is up: a listener bound inside answers a client inside.
    let listener = ns
        .listen_std(SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"inside").unwrap();
    });
    let got = in_ns(&ns, move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await;
    accept.join().unwrap();
    assert_eq!(got, "inside");
    // The same namespace through its path, as another program sees it.
    assert!(ns.path().starts_with("/proc"));
    let reopened = NetNamespace::open(ns.path()).unwrap();
    assert_eq!(reopened.interfaces().unwrap(), ["lo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowed_host_answers_and_an_unlisted_one_gets_403_and_no_byte() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let ns = gate.namespace();
    let env = gate.env();
    assert_eq!(env["HTTP_PROXY"], gate.proxy_url());
    assert_eq!(env["https_proxy"], gate.proxy_url());
    assert_eq!(env["ALL_PROXY"], gate.proxy_url());
    assert_eq!(env["NO_PROXY"], "");

    // Plain HTTP through the proxy variables.
    let Some(ok) = fetch(ns, &env, &allowed.url("/x"), false, false).await else {
        return;
    };
    assert_eq!(
        (ok.code, ok.body.as_str()),
        (200, "allowed says hello\n"),
        "{ok:?}"
    );
    assert_eq!(allowed.seen().0, 1);

    let denied = fetch(ns, &env, &unlisted.url("/x"), false, false)
        .await
        .unwrap();
    assert_eq!(denied.code, 403, "{denied:?}");
    assert!(
        denied
            .body
            .contains("`127.0.0.2` is not in this sandbox's network allow-list"),
        "{denied:?}"
    );
    assert!(
        denied.body.contains(&format!(
            "Allowed destinations: 127.0.0.1:{}",
            allowed.port()
        )),
        "{denied:?}"
    );

    // The same through CONNECT tunnels (curl --proxytunnel).
    if let Some(ok) = fetch(ns, &env, &allowed.url("/t"), true, false).await {
        assert_eq!(
            (ok.code, ok.body.as_str()),
            (200, "allowed says hello\n"),
            "{ok:?}"
        );
        let denied = fetch(ns, &env, &unlisted.url("/t"), true, false)
            .await
            .unwrap();
        assert_ne!(denied.code, 200, "{denied:?}");
        assert!(denied.stderr.contains("403"), "{denied:?}");
    }

    assert_eq!(
        unlisted.seen(),
        (0, 0),
        "the unlisted host must see nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_connections_from_the_namespace_do_not_reach_the_host() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let mut gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    // Inside, 127.0.0.1:<allowed port> must be nothing at all, not the proxy.
    while gate.proxy_addr().port() == allowed.port() {
        gate = self::gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    }
    let ns = gate.namespace();

    for addr in [allowed.addr, unlisted.addr] {
        let err = exchange(ns, addr, b"GET / HTTP/1.1\r\n\r\n".to_vec())
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}: {err}"
        );
    }
    // A client told to bypass the proxy fails the same way.
    if let Some(direct) = fetch(ns, &gate.env(), &allowed.url("/"), false, true).await {
        assert_eq!(direct.code, 0, "{direct:?}");
    }
    assert_eq!(allowed.seen(), (0, 0));
    assert_eq!(unlisted.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_on_a_port_the_entry_does_not_name() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let other_port = Server::start([127, 0, 0, 1], "other").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let reply = exchange(
        gate.namespace(),
        gate.proxy_addr(),
        format!("CONNECT {} HTTP/1.1\r\nHost: x\r\n\r\n", other_port.addr).into_bytes(),
    )
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 403 Port not in the sandbox network allow-list\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains(&format!(
            "`127.0.0.1` may only be reached on port {}, not on port {}",
            allowed.port(),
            other_port.port()
        )),
        "{reply}"
    );
    assert_eq!(other_port.seen(), (0, 0));
    assert_eq!(allowed.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_tunnel_carries_bytes_both_ways() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    // The tunnelled request is sent right behind the CONNECT head.
    let request = format!(
        "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\nGET /inner HTTP/1.1\r\nHost: {0}\r\n\r\n",
        allowed.addr
    );
    let reply = exchange(gate.namespace(), gate.proxy_addr(), request.into_bytes())
        .await
        .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{reply}"
    );
    assert!(reply.ends_with("allowed says hello\n"), "{reply}");
    // A tunnel is raw bytes: the origin's own head comes back untouched.
    assert!(reply.contains("Keep-Alive: timeout=5"), "{reply}");
    let seen = allowed.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("GET /inner HTTP/1.1\r\n"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_forwarded_in_origin_form_without_hop_by_hop_fields() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let request = format!(
        "POST http://{0}/upload?x=1 HTTP/1.1\r\nHost: spoofed.example\r\n\
         Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\n\
         Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=30\r\nX-Hop: 1\r\n\
         X-Kept: yes\r\nContent-Length: 5\r\n\r\nhello",
        allowed.addr
    );
    let reply = exchange(gate.namespace(), gate.proxy_addr(), request.into_bytes())
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(!reply.to_lowercase().contains("keep-alive"), "{reply}");
    assert!(reply.ends_with("allowed says hello\n"), "{reply}");

    let seen = allowed.requests.lock().unwrap().clone();
    assert_eq!(
        seen,
        [format!(
            "POST /upload?x=1 HTTP/1.1\r\nHost: {}\r\nX-Kept: yes\r\nContent-Length: 5\r\n\
             Connection: close\r\n\r\nhello",
            allowed.addr
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_an_explanation() {
    require_namespaces!();
    // Every destination named here is a listener of this test, so even a
    // broken proxy could not reach anything else.
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let gate = gate(&["127.0.0.1:9".to_string(), "*.example.com:443".to_string()]).await;
    let (ns, proxy) = (gate.namespace(), gate.proxy_addr());
    let ask = |req: String| exchange(ns, proxy, req.into_bytes());

    let reply = ask("NOT HTTP AT ALL\r\n\r\n".into()).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");

    let reply = ask(format!(
        "GET /path HTTP/1.1\r\nHost: {}\r\n\r\n",
        unlisted.addr
    ))
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains("absolute URL"), "{reply}");

    let reply = ask("CONNECT 127.0.0.2 HTTP/1.1\r\n\r\n".to_string())
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains("a port is required"), "{reply}");

    let big = format!(
        "GET {} HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        unlisted.url("/"),
        "a".repeat(40 * 1024)
    );
    let reply = ask(big).await.unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{reply}"
    );

    let reply = ask(format!("CONNECT {} HTTP/1.1\r\n\r\n", unlisted.addr))
        .await
        .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 403 Host not in the sandbox network allow-list\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains("`127.0.0.2` is not in this sandbox's"),
        "{reply}"
    );
    assert!(
        reply.contains("Allowed destinations: 127.0.0.1:9, *.example.com:443."),
        "{reply}"
    );
    assert!(reply.contains("say so in your report"), "{reply}");
    assert_eq!(unlisted.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_with_a_body_still_gets_its_403() {
    require_namespaces!();
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let gate = gate(&["127.0.0.1:9".to_string()]).await;
    // The client sends a whole body the proxy will never use; the proxy
    // must not reset the connection before the client reads the reply.
    let body = "x".repeat(512 * 1024);
    let request = format!(
        "POST {} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        unlisted.url("/upload"),
        body.len()
    );
    let reply = exchange(gate.namespace(), gate.proxy_addr(), request.into_bytes())
        .await
        .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 403 Host not in the sandbox network allow-list\r\n"),
        "{reply}"
    );
    assert_eq!(unlisted.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_times_out() {
    require_namespaces!();
    let config = GateConfig::default().proxy(
        agentkit_sandbox::net::ProxyConfig::default().head_timeout(Duration::from_millis(300)),
    );
    let gate = NetworkGate::start(&["127.0.0.1:9".to_string()], config)
        .await
        .unwrap();
    let reply = exchange(
        gate.namespace(),
        gate.proxy_addr(),
        b"GET http://exa".to_vec(),
    )
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_is_closed() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let config = GateConfig::default().proxy(
        agentkit_sandbox::net::ProxyConfig::default().idle_timeout(Duration::from_millis(300)),
    );
    let gate = NetworkGate::start(&[format!("127.0.0.1:{}", allowed.port())], config)
        .await
        .unwrap();
    // Opens a tunnel, sends nothing through it, and waits for the end.
    let started = std::time::Instant::now();
    let reply = exchange(
        gate.namespace(),
        gate.proxy_addr(),
        format!("CONNECT {} HTTP/1.1\r\n\r\n", allowed.addr).into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(reply, "HTTP/1.1 200 Connection established\r\n\r\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(allowed.seen(), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_gate_fails_closed() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let ns = gate.namespace().clone();
    let proxy = gate.proxy_addr();
    let env = gate.env();
    assert!(gate.is_running());
    gate.close().await;

    let err = exchange(&ns, proxy, b"CONNECT x:1 HTTP/1.1\r\n\r\n".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    if let Some(after) = fetch(&ns, &env, &allowed.url("/"), false, false).await {
        assert_eq!(after.code, 0, "{after:?}");
    }
    assert_eq!(ns.interfaces().unwrap(), ["lo"]);
    assert_eq!(allowed.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_gate_stops_the_proxy_and_cuts_open_tunnels() {
    require_namespaces!();
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let ns = gate.namespace().clone();
    let proxy = gate.proxy_addr();

    // An open tunnel, waiting inside the namespace.
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let tunnel = {
        let ns = ns.clone();
        let target = allowed.addr;
        tokio::task::spawn_blocking(move || {
            ns.run(move || {
                let mut s = TcpStream::connect(proxy)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes())?;
                let mut head = [0u8; 39];
                s.read_exact(&mut head)?;
                opened_tx
                    .send(String::from_utf8_lossy(&head).into_owned())
                    .ok();
                // Blocks until the proxy cuts the tunnel.
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).map(|_| rest)
            })
            .unwrap()
        })
    };
    let head = tokio::task::spawn_blocking(move || opened_rx.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");

    drop(gate);
    let cut = tokio::time::timeout(Duration::from_secs(5), tunnel)
        .await
        .expect("the tunnel must end when the gate is dropped")
        .unwrap();
    // Closed (EOF) or reset: either way nothing came through.
    assert!(cut.map(|rest| rest.is_empty()).unwrap_or(true));

    let ns2 = ns.clone();
    let refused = tokio::task::spawn_blocking(move || {
        eventually(Duration::from_secs(5), || {
            ns2.run(move || TcpStream::connect(proxy).is_err()).unwrap()
        })
    })
    .await
    .unwrap();
    assert!(
        refused,
        "the proxy port must refuse connections once the gate is dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_serves_the_namespace_of_an_existing_process() {
    require_namespaces!();
    // Docker-like: a process already lives in a namespace with no network;
    // the gate is started in that process's namespace.
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let container_ns = tokio::task::spawn_blocking(NetNamespace::create)
        .await
        .unwrap()
        .unwrap();
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("30");
    container_ns.enter_on_spawn(&mut cmd);
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    drop(container_ns); // only the process keeps it alive now

    let ns = NetNamespace::of_process(pid).unwrap();
    assert_eq!(ns.interfaces().unwrap(), ["lo"]);
    let gate = NetworkGate::start_in(
        ns,
        &[format!("127.0.0.1:{}", allowed.port())],
        GateConfig::default().port(3128),
    )
    .await
    .unwrap();
    assert_eq!(gate.proxy_url(), "http://127.0.0.1:3128");
    if let Some(ok) = fetch(
        gate.namespace(),
        &gate.env(),
        &allowed.url("/"),
        false,
        false,
    )
    .await
    {
        assert_eq!(
            (ok.code, ok.body.as_str()),
            (200, "allowed says hello\n"),
            "{ok:?}"
        );
    }
    child.kill().await.unwrap();

    let err = NetNamespace::open("/proc/self/ns/definitely-not-there").unwrap_err();
    assert!(matches!(err, SandboxError::Setup { .. }), "{err}");
    let err = NetNamespace::open("/proc/self/ns/uts").unwrap_err();
    assert!(err.to_string().contains("not a network namespace"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bwrap_inside_the_namespace_reaches_only_the_proxy() {
    require_namespaces!();
    let Some(bwrap) = which("bwrap") else {
        eprintln!("skipping: bwrap is not installed");
        return;
    };
    let allowed = Server::start([127, 0, 0, 1], "allowed").await;
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let gate = gate(&[format!("127.0.0.1:{}", allowed.port())]).await;
    let sandboxed = |argv: Vec<String>| {
        let mut full = vec![
            bwrap.display().to_string(),
            "--ro-bind".into(),
            "/".into(),
            "/".into(),
            "--dev".into(),
            "/dev".into(),
            "--proc".into(),
            "/proc".into(),
            "--unshare-pid".into(),
            "--die-with-parent".into(),
            "--".into(),
        ];
        full.extend(argv);
        full
    };
    let Some(argv) = client_argv(&allowed.url("/b"), false, false) else {
        return;
    };
    let ok = parse_fetch(run_in(gate.namespace(), &sandboxed(argv), &gate.env()).await);
    assert_eq!(
        (ok.code, ok.body.as_str()),
        (200, "allowed says hello\n"),
        "{ok:?}"
    );

    let argv = client_argv(&unlisted.url("/b"), false, false).unwrap();
    let denied = parse_fetch(run_in(gate.namespace(), &sandboxed(argv), &gate.env()).await);
    assert_eq!(denied.code, 403, "{denied:?}");

    let argv = client_argv(&allowed.url("/b"), false, true).unwrap();
    let direct = parse_fetch(run_in(gate.namespace(), &sandboxed(argv), &gate.env()).await);
    assert_eq!(direct.code, 0, "{direct:?}");

    // Only lo inside bwrap as well.
    let out = run_in(
        gate.namespace(),
        &sandboxed(vec!["cat".into(), "/proc/self/net/dev".into()]),
        &BTreeMap::new(),
    )
    .await;
    let dev = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim()))
        .collect();
    assert_eq!(names, ["lo"], "{dev}");
    assert_eq!(allowed.seen().0, 1);
    assert_eq!(unlisted.seen(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsenter_can_use_the_namespace_path() {
    require_namespaces!();
    let Some(nsenter) = which("nsenter") else {
        eprintln!("skipping: nsenter is not installed");
        return;
    };
    let ns = tokio::task::spawn_blocking(NetNamespace::create)
        .await
        .unwrap()
        .unwrap();
    let out = tokio::process::Command::new(nsenter)
        .arg(format!("--net={}", ns.path().display()))
        .args(["cat", "/proc/self/net/dev"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dev = String::from_utf8_lossy(&out.stdout);
    assert_eq!(dev.lines().count(), 3, "only lo: {dev}");
    assert!(
        dev.lines().nth(2).unwrap().trim_start().starts_with("lo:"),
        "{dev}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_policy_gets_its_network() {
    require_namespaces!();
    let full = SandboxNetwork::for_policy(&NetworkPolicy::Full, GateConfig::default())
        .await
        .unwrap();
    assert!(matches!(full, SandboxNetwork::Host));
    assert!(full.namespace().is_none() && full.env().is_empty());

    let deny = SandboxNetwork::for_policy(&NetworkPolicy::Deny, GateConfig::default())
        .await
        .unwrap();
    assert!(matches!(deny, SandboxNetwork::Isolated(_)));
    assert_eq!(deny.namespace().unwrap().interfaces().unwrap(), ["lo"]);
    assert!(deny.env().is_empty());

    let gated = SandboxNetwork::for_policy(
        &NetworkPolicy::AllowList(vec![]),
        GateConfig::default().no_proxy(["localhost", "127.0.0.1"]),
    )
    .await
    .unwrap();
    let SandboxNetwork::Gated(gate) = &gated else {
        panic!("AllowList must be gated: {gated:?}");
    };
    assert!(gate.allow_list().is_empty());
    let env = gated.env();
    assert_eq!(env.len(), 8);
    assert_eq!(env["no_proxy"], "localhost,127.0.0.1");
    // An empty allow-list refuses everything, and says so.
    let unlisted = Server::start([127, 0, 0, 2], "unlisted").await;
    let reply = exchange(
        gate.namespace(),
        gate.proxy_addr(),
        format!("CONNECT {} HTTP/1.1\r\n\r\n", unlisted.addr).into_bytes(),
    )
    .await
    .unwrap();
    assert!(reply.contains("Allowed destinations: (empty)."), "{reply}");
    assert_eq!(unlisted.seen(), (0, 0));
}

#[tokio::test]
async fn an_invalid_allow_list_is_refused_before_anything_starts() {
    let err = NetworkGate::start(&["https://crates.io".to_string()], GateConfig::default())
        .await
        .unwrap_err();
    match err {
        SandboxError::Setup { reason } => {
            assert!(reason.contains("`https://crates.io`"), "{reason}");
            assert!(reason.contains("not a URL"), "{reason}");
            assert!(reason.contains("fix the sandbox policy"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
