//! A scripted HTTP/1.1 server on 127.0.0.1 for protocol and fault tests.
//!
//! It answers each request with the next scripted [`Reply`] and records what
//! it received. Replies can do what real providers and networks do: send an
//! error status with headers, stream an event stream in chunks (chunked
//! transfer encoding, as providers do), cut the connection after any byte,
//! end the body early but cleanly, stall, or hang up without answering.
//! Every connection is closed after its reply, so the client reconnects for
//! each request and a cut never leaks into the next one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// How a reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The whole body, properly terminated.
    Complete,
    /// After this many body bytes the socket is closed mid-body (a broken
    /// connection: the chunked body never gets its terminator).
    CutAfter(usize),
    /// After this many body bytes the body ends properly (a server that
    /// stops early without an error).
    EndAfter(usize),
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, in the chunks it is written in.
    pub chunks: Vec<Vec<u8>>,
    /// Wait this long before sending anything.
    pub delay: Duration,
    /// Wait this long between chunks.
    pub chunk_delay: Duration,
    /// After this many body bytes, stall this long.
    pub stall: Option<(usize, Duration)>,
    pub ending: Ending,
    /// Close the connection without any response.
    pub hang_up: bool,
}

impl Reply {
    /// A complete JSON response.
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            stall: None,
            ending: Ending::Complete,
            hang_up: false,
        }
    }

    /// A 200 event stream, one chunk per event (split after blank lines).
    pub fn sse(body: &str) -> Self {
        let mut chunks = Vec::new();
        let mut rest = body;
        while let Some(at) = rest.find("\n\n") {
            chunks.push(rest.as_bytes()[..at + 2].to_vec());
            rest = &rest[at + 2..];
        }
        if !rest.is_empty() {
            chunks.push(rest.as_bytes().to_vec());
        }
        Self {
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks,
            ..Self::json(200, "")
        }
    }

    /// A reply that closes the connection without answering.
    pub fn hang_up() -> Self {
        Self {
            hang_up: true,
            ..Self::json(200, "")
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    pub fn stall_after(mut self, bytes: usize, wait: Duration) -> Self {
        self.stall = Some((bytes, wait));
        self
    }

    /// The body as one byte string.
    pub fn body(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// The server; it stops when dropped.
pub struct Server {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server that answers with `replies`, in order; once they are
    /// used up it answers 599 with a message saying so.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let (r, q) = (received.clone(), replies.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (r, q) = (r.clone(), q.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, r, q).await;
                });
            }
        });
        Self {
            addr,
            received,
            replies,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Replies not used yet.
    pub fn unused(&self) -> usize {
        self.replies.lock().unwrap().len()
    }
}

async fn serve(
    mut socket: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut socket).await? else {
        return Ok(());
    };
    received.lock().unwrap().push(request);
    let reply = replies.lock().unwrap().pop_front().unwrap_or_else(|| {
        Reply::json(
            599,
            r#"{"error":{"message":"the test server has no scripted reply left"}}"#,
        )
    });
    tokio::time::sleep(reply.delay).await;
    if reply.hang_up {
        return Ok(());
    }
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.flush().await?;
    let body = reply.body();
    let limit = match reply.ending {
        Ending::Complete => body.len(),
        Ending::CutAfter(n) | Ending::EndAfter(n) => n.min(body.len()),
    };
    let mut sent = 0;
    for chunk in &reply.chunks {
        if sent >= limit {
            break;
        }
        let mut piece = &chunk[..chunk.len().min(limit - sent)];
        if let Some((at, wait)) = reply.stall
            && sent <= at
            && at < sent + piece.len()
        {
            let (before, after) = piece.split_at(at - sent);
            write_chunk(&mut socket, before).await?;
            sent += before.len();
            tokio::time::sleep(wait).await;
            piece = after;
        }
        write_chunk(&mut socket, piece).await?;
        sent += piece.len();
        if !reply.chunk_delay.is_zero() {
            tokio::time::sleep(reply.chunk_delay).await;
        }
    }
    if matches!(reply.ending, Ending::CutAfter(_)) {
        // Close without the terminating chunk: the body is broken.
        socket.shutdown().await?;
        return Ok(());
    }
    socket.write_all(b"0\r\n\r\n").await?;
    socket.flush().await?;
    socket.shutdown().await
}

async fn write_chunk(socket: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    socket
        .write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    socket.write_all(data).await?;
    socket.write_all(b"\r\n").await?;
    socket.flush().await
}

/// Reads one request (headers, then a `content-length` body).
async fn read_request(socket: &mut TcpStream) -> std::io::Result<Option<Received>> {
    let mut buf = Vec::new();
    let mut scratch = [0u8; 8192];
    loop {
        let n = socket.read(&mut scratch).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&scratch[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = request
            .parse(&buf)
            .map_err(|e| std::io::Error::other(e.to_string()))?
        else {
            continue;
        };
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let method = request.method.unwrap_or("").to_owned();
        let path = request.path.unwrap_or("").to_owned();
        while buf.len() < head_len + length {
            let n = socket.read(&mut scratch).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&scratch[..n]);
        }
        return Ok(Some(Received {
            method,
            path,
            headers,
            body: buf[head_len..head_len + length].to_vec(),
        }));
    }
}
