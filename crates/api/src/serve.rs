//! Serving the API on a socket with limits a hostile client cannot outlast: the request
//! head must arrive within `header_timeout` (also the keep-alive idle limit: hyper starts
//! that clock whenever it waits for a request head), a body within `body_timeout` and under
//! `max_body` bytes (see [`crate::guard`]), and at most `max_connections` connections are
//! served at once — one more gets `503` and is closed, so stalled sockets cannot pile up.
//!
//! `axum::serve` has none of these knobs (no timer, so not even hyper's header timeout),
//! hence this small accept loop over hyper's HTTP/1 connection builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long and how much a client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The request line and headers, and the idle time between keep-alive requests.
    pub header_timeout: Duration,
    /// The whole request body.
    pub body_timeout: Duration,
    /// Largest request body on any route (webhooks have their own, smaller cap).
    pub max_body: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long in-flight requests may finish after shutdown is asked for.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body: 2 << 20,
            max_connections: 512,
            drain: Duration::from_secs(5),
        }
    }
}

/// The answer to a connection over the limit, written without reading its request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 61\r\n\r\n{\"error\":\"too many connections; try again later\",\"code\":503}\n";

/// Serves `router` (from [`crate::router_with`], which checks bodies) on `listener` until
/// `shutdown` completes, then lets open requests finish for at most [`Limits::drain`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: pause instead of spinning.
                Err(e) => {
                    tracing::warn!("accepting an API connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "API connection refused: too many open");
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "API connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("API: open connections closed after the drain time");
    }
    Ok(())
}

/// Answers 503 and closes, spending at most a second on a client that does not read.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_busy_answer_has_the_length_it_claims() {
        let text = std::str::from_utf8(super::BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let claimed: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(claimed, body.len());
        assert!(serde_json::from_str::<serde_json::Value>(body.trim()).is_ok());
    }
}
