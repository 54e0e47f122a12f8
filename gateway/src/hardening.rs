//! The public surface's defences beyond authentication: security headers on
//! every answer, CORS for the front apps named in `RDV_CORS_ORIGINS`, and a
//! per-IP rate limit on the endpoints anyone may call without an account
//! (public booking, short links, token pages), answered 429 with
//! `Retry-After`.

use crate::error::ApiError;
use axum::{
    extract::{ConnectInfo, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers every answer carries: no sniffing, no framing, no referrer, and
/// a policy that lets a page load nothing (the API serves JSON, PDF and
/// one plain page).
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// Adds [`SECURITY_HEADERS`] to an answer that lacks them.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Refusals made below the handlers come as plain text (a body over the
/// limit from the limit layer, a request past its time from the timeout
/// layer): they are answered as problem+json like every other error. HTML
/// pages (an expired short link) keep their body.
pub async fn problems_everywhere(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let refusal = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large("the body is over 1 MB"),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took too long to arrive or to answer",
        ),
        status => ApiError::new(
            status,
            "http",
            status.canonical_reason().unwrap_or("the request was refused"),
        ),
    };
    let mut problem = refusal.into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().entry(name).or_insert(value.clone());
        }
    }
    problem
}

/// CORS for the listed origins (none: no cross-origin access), with the
/// headers commands use and the ones front apps read back.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-correlation-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-event-position"),
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Whether a path is open to anyone (and so rate limited).
fn is_public(path: &str) -> bool {
    path.starts_with("/v1/public/") || path.starts_with("/i/") || path == "/v1/agents/invitations/accept"
}

/// A token bucket per client address: `per_minute` requests a minute, in
/// bursts of as many.
#[derive(Clone)]
pub struct RateLimit {
    per_minute: u32,
    buckets: Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
}

/// Buckets kept at most; the fullest are forgotten first when over.
const MAX_CLIENTS: usize = 100_000;

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Arc::default(),
        }
    }

    /// Takes a token for `ip`, or says how long until one is back.
    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (tokens, at) = buckets.entry(ip).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// Rate limits the public endpoints per client address.
pub async fn rate_limit(limit: RateLimit, request: Request, next: Next) -> Response {
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let (Some(ip), true) = (ip, limit.per_minute > 0 && is_public(request.uri().path()))
        && let Err(wait) = limit.take(ip, Instant::now())
    {
        let seconds = wait.as_secs().max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("too many requests from this address; retry in {seconds} s"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills_with_time() {
        let limit = RateLimit::new(3);
        let (ip, start) = ("192.0.2.1".parse().unwrap(), Instant::now());
        for _ in 0..3 {
            assert!(limit.take(ip, start).is_ok());
        }
        let wait = limit.take(ip, start).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limit.take(ip, start + Duration::from_secs(21)).is_ok());
        assert!(
            limit.take("192.0.2.2".parse().unwrap(), start).is_ok(),
            "another address"
        );
    }

    #[test]
    fn only_anonymous_endpoints_are_limited() {
        assert!(is_public("/v1/public/slots"));
        assert!(is_public("/i/ABCD1234"));
        assert!(!is_public("/v1/rdvs"));
    }
}
