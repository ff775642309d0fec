//! Idle-timeout plumbing for proxied connections: a shared activity clock,
//! streams that tick it, and a bound that ends work once nothing moved for
//! a while. Knows nothing about HTTP or allow-lists.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::{Instant, sleep_until};

/// Reads at most up to `limit` bytes in total into `buf` (one read).
pub(super) async fn read_some<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<usize> {
    let room = limit.saturating_sub(buf.len()).clamp(1, 8192);
    let start = buf.len();
    buf.resize(start + room, 0);
    let read = stream.read(&mut buf[start..]).await;
    buf.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

/// When a connection last moved a byte, shared by the streams of one
/// connection.
pub(super) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Runs `work` until it ends (`Some`) or nothing moved for `idle` (`None`).
    pub(super) async fn bound<F: Future>(&self, idle: Duration, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        loop {
            let deadline = self.last() + idle;
            tokio::select! {
                out = &mut work => return Some(out),
                _ = sleep_until(deadline) => {
                    if self.last() + idle <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

/// A stream that records activity on every read or write that moved bytes.
pub(super) struct Tracked<'a, S> {
    inner: S,
    activity: &'a Activity,
}

impl<'a, S> Tracked<'a, S> {
    pub(super) fn new(inner: S, activity: &'a Activity) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
