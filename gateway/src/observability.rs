//! What operators watch: `/metrics` (Prometheus text), `/ready`, and the
//! request metrics every gateway records.
//!
//! The gateway serves these on its API address; `rdv project`, `rdv relay`
//! and `rdv publish` serve them on `RDV_METRICS_LISTEN` ([`serve`]). Gauges
//! are read from the store at scrape time (positions, lags, queue depth),
//! so any process answers for the whole deployment; counters and histograms
//! are this process's own.

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use rdv_eventstore::{
    EventStore, StoreError,
    metrics::{Counter, Gauge, Histogram, LATENCY_BUCKETS, render},
};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

static COMMANDS: Counter = Counter {
    name: "rdv_commands_total",
    help: "Commands (POST, PUT, PATCH, DELETE requests) by route and outcome: ok, rejected (4xx), conflict (409, 412), error (5xx).",
};
static COMMAND_DURATION: Histogram = Histogram {
    name: "rdv_command_duration_seconds",
    help: "Time to answer a command, by route.",
    buckets: LATENCY_BUCKETS,
};
static QUERIES: Counter = Counter {
    name: "rdv_queries_total",
    help: "Queries (GET requests) by route and outcome.",
};
static QUERY_DURATION: Histogram = Histogram {
    name: "rdv_query_duration_seconds",
    help: "Time to answer a query, by route.",
    buckets: LATENCY_BUCKETS,
};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counts and times every routed request under its route template (never
/// the concrete path, which may hold ids, nor the query, which may hold
/// personal data).
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let outcome = match response.status() {
        s if s.is_success() || s.is_redirection() => "ok",
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "conflict",
        s if s.is_client_error() => "rejected",
        _ => "error",
    };
    let name = format!("{method} {route}");
    let (counter, histogram, kind) = if method == Method::GET || method == Method::HEAD {
        (&QUERIES, &QUERY_DURATION, "query")
    } else {
        (&COMMANDS, &COMMAND_DURATION, "command")
    };
    counter.inc(&[(kind, &name), ("outcome", outcome)]);
    histogram.observe(&[(kind, &name)], elapsed);
    response
}

/// The header tying a request, the events it records and the log lines it
/// writes together.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// Gives every request a correlation id (the caller's `X-Correlation-Id`
/// when it is a UUID, else a new UUIDv7) before it is logged or handled, and
/// echoes it in the answer: the events a command records carry the same id
/// in their metadata, so logs and history can be joined.
pub async fn correlate(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<uuid::Uuid>().ok());
    let id = given.unwrap_or_else(uuid::Uuid::now_v7).to_string();
    let value = header::HeaderValue::from_str(&id).expect("a UUID is a valid header value");
    request.headers_mut().insert(CORRELATION_ID, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(CORRELATION_ID, value);
    response
}

/// Ready when the store answers, no projection has stopped on an event it
/// could not apply, and NATS, if configured, is connected; otherwise why not.
pub async fn readiness(store: &EventStore, nats: Option<&async_nats::Client>) -> Result<&'static str, String> {
    let failed = store
        .failed_projections()
        .await
        .map_err(|e| format!("the event store does not answer: {e}"))?;
    if let Some((name, position, error)) = failed.first() {
        return Err(format!(
            "the {name} projection stopped after position {position}: {error}"
        ));
    }
    match nats {
        None => Ok("not configured"),
        Some(client) if client.connection_state() == async_nats::connection::State::Connected => Ok("ok"),
        Some(_) => Err("NATS is not connected".into()),
    }
}

/// The whole `/metrics` text: this process's counters and histograms, then
/// the deployment's gauges read from the store now.
pub async fn scrape(store: &EventStore, nats: Option<&async_nats::Client>) -> Result<String, StoreError> {
    let head = store.head().await?;
    let checkpoints: std::collections::BTreeMap<String, i64> = store.checkpoints().await?.into_iter().collect();
    let mut gauges = vec![gauge(
        "rdv_store_head_position",
        "Position of the last readable event.",
        vec![],
        head,
    )];
    let failed: std::collections::BTreeSet<String> = store
        .failed_projections()
        .await?
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    for projection in rdv_projections::all() {
        gauges.push(gauge(
            "rdv_projector_failed",
            "1 when the projection stopped on an event it could not apply (see /ready and the log).",
            vec![("projection", projection.name().to_string())],
            i64::from(failed.contains(projection.name())),
        ));
        let position = checkpoints.get(projection.name()).copied().unwrap_or(0);
        let labels = vec![("projection", projection.name().to_string())];
        gauges.push(gauge(
            "rdv_projector_position",
            "Each projection's checkpoint.",
            labels.clone(),
            position,
        ));
        gauges.push(gauge(
            "rdv_projector_lag_events",
            "Readable events the projection has not applied yet.",
            labels,
            store.events_after(position).await?,
        ));
    }
    for (name, position) in &checkpoints {
        if let Some(stream) = name.strip_prefix(rdv_app::publisher::CHECKPOINT_PREFIX) {
            let labels = vec![("stream", stream.to_string())];
            gauges.push(gauge(
                "rdv_publisher_position",
                "The last event acknowledged by JetStream.",
                labels.clone(),
                *position,
            ));
            gauges.push(gauge(
                "rdv_publisher_lag_events",
                "Readable events JetStream has not acknowledged yet.",
                labels,
                store.events_after(*position).await?,
            ));
        }
    }
    gauges.push(gauge(
        "rdv_webhook_queue_depth",
        "Webhook deliveries pending or failed and to be tried again.",
        vec![],
        store.delivery_queue_depth().await?,
    ));
    let (open, idle) = store.connections();
    let connections = "Database connections this process holds, open and idle among them.";
    gauges.push(gauge(
        "rdv_db_connections",
        connections,
        vec![("state", "open".into())],
        open as i64,
    ));
    gauges.push(gauge(
        "rdv_db_connections",
        connections,
        vec![("state", "idle".into())],
        idle as i64,
    ));
    if let Some(client) = nats {
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        gauges.push(gauge(
            "rdv_nats_connected",
            "1 while this process is connected to NATS.",
            vec![],
            i64::from(connected),
        ));
    }
    Ok(render(&gauges))
}

fn gauge(name: &'static str, help: &'static str, labels: Vec<(&'static str, String)>, value: i64) -> Gauge {
    Gauge {
        name,
        help,
        labels,
        value: value as f64,
    }
}

/// A `/metrics` answer, or 503 when the store does not answer.
pub async fn metrics_response(store: &EventStore, nats: Option<&async_nats::Client>) -> Response {
    match scrape(store, nats).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            crate::error::ApiError::not_ready(format!("the event store does not answer: {error}")).into_response()
        }
    }
}

#[derive(Clone)]
struct Side {
    store: EventStore,
    nats: Option<async_nats::Client>,
}

/// Serves `/metrics`, `/health` and `/ready` on `listen` until `shutdown`:
/// what the processes without the API (projector, relay, publisher) offer
/// to Prometheus and to health checks.
pub async fn serve(
    listen: &str,
    store: EventStore,
    nats: Option<async_nats::Client>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(side): State<Side>| async move { metrics_response(&side.store, side.nats.as_ref()).await }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(|State(side): State<Side>| async move {
                match readiness(&side.store, side.nats.as_ref()).await {
                    Ok(_) => (StatusCode::OK, "ready").into_response(),
                    Err(why) => crate::error::ApiError::not_ready(why).into_response(),
                }
            }),
        )
        .with_state(Side { store, nats });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics, /health and /ready");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
