//! The HTTP server under the router: hyper's connection builder with the
//! limits a public service needs, which `axum::serve` does not set. A
//! client that never finishes its headers is answered 408 and cut off
//! after [`HEADER_READ_TIMEOUT`] ([`crate::header_deadline`]) instead of
//! holding a connection open; headers over [`MAX_HEADER_BYTES`] are
//! refused (431). On shutdown, connections finish the requests they are
//! serving.

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::header_deadline::first_headers;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request's headers (and the read buffer) may hold.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` until `signal` completes, then waits for
/// the connections' requests in flight. Each request carries the peer's
/// address as [`ConnectInfo`] (for the rate limit).
pub async fn serve(listener: TcpListener, router: Router, signal: impl Future<Output = ()>) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    let graceful = GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Answers are small and written at once: no Nagle's delay.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let service = router.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let Some(stream) = first_headers(stream).await else {
                return;
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended on an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
