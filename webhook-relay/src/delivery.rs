//! The webhook delivery worker: claims due deliveries (in order per
//! endpoint and record, see [`rdv_eventstore::deliveries`]), signs and posts
//! them, records each attempt, and schedules the next one.
//!
//! - Success is a 2xx only (a redirect is not followed and counts as a
//!   failure); the request times out after 15 s.
//! - Retries follow the endpoint's schedule, else the relay's (by default 0,
//!   5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: Svix's), with ±20 % jitter; a `Retry-After` on 429 or 503
//!   pushes the next attempt back; after the last attempt the delivery is
//!   dead-lettered (kept, never dropped).
//! - 410 Gone dead-letters the delivery and disables the endpoint.
//! - The target is vetted again (SSRF) before each attempt, and the request
//!   goes to exactly the vetted address.
//! - Different records go in parallel, with at most 16 requests in flight
//!   to one endpoint.

use crate::{
    signing::{WebhookSecret, signature_header},
    target::{self, AllowList},
};
use chrono::Utc;
use futures::StreamExt;
use rdv_domain::webhook_endpoint::{WebhookEndpoint, WebhookEndpointCommand, WebhookFormat};
use rdv_eventstore::metrics::{Counter, Histogram, LATENCY_BUCKETS};
use rdv_eventstore::sealing::MasterKey;
use rdv_eventstore::{
    CommandContext, CommandService, StoreError, StoredResponse,
    deliveries::{AttemptRecord, ClaimedDelivery, DeliveryStatus},
};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 200;
/// Requests in flight to one endpoint at most.
const PER_ENDPOINT: usize = 16;
/// A claim lasts at least this long, and always well past an attempt's timeout.
const MIN_LEASE_MS: i64 = 60_000;
const RESPONSE_KEPT: usize = 4096;
/// How often due retries are looked for (new deliveries wake the relay).
const POLL: Duration = Duration::from_millis(50);

/// An enabled endpoint, ready for a batch's deliveries.
struct Prepared {
    format: WebhookFormat,
    /// The endpoint's own retry schedule, else the relay's.
    schedule: Vec<f64>,
    /// The target, secrets and client, or why the endpoint cannot be sent
    /// to (each attempt then fails with that reason, and is retried).
    ready: Result<Ready, String>,
}

struct Ready {
    target: target::Target,
    secrets: Vec<WebhookSecret>,
    client: reqwest::Client,
}

/// Attempts by what they left the delivery as: `succeeded`, `failed` (to be
/// tried again) or `dead` (given up).
static DELIVERIES: Counter = Counter {
    name: "rdv_webhook_deliveries_total",
    help: "Webhook delivery attempts by outcome (succeeded, failed and retried later, dead).",
};

static ATTEMPT_DURATION: Histogram = Histogram {
    name: "rdv_webhook_attempt_duration_seconds",
    help: "Time from sending a webhook to its answer, by outcome.",
    buckets: LATENCY_BUCKETS,
};

/// When to attempt a delivery, in seconds: the first attempt, then each
/// retry (`RDV_WEBHOOK_RETRY_SCHEDULE`, comma-separated).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule(pub Vec<f64>);

impl Default for RetrySchedule {
    /// Svix's: 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    fn default() -> Self {
        Self(vec![0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0])
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let schedule: Result<Vec<f64>, _> = text.split(',').map(|s| s.trim().parse::<f64>()).collect();
        match schedule {
            Ok(s) if !s.is_empty() && s.iter().all(|d| d.is_finite() && *d >= 0.0) => Ok(Self(s)),
            _ => Err(format!("not a list of seconds: {text}")),
        }
    }
}

pub struct WebhookRelay {
    commands: CommandService,
    master_key: MasterKey,
    allow: AllowList,
    schedule: RetrySchedule,
    /// How long one attempt may take (`RDV_WEBHOOK_TIMEOUT`).
    timeout: Duration,
    /// An endpoint failing this long is disabled (`RDV_WEBHOOK_DISABLE_AFTER`).
    disable_after: chrono::Duration,
    /// One HTTP client per (host, vetted address): connections are reused,
    /// and each client only ever connects to the address vetted for it.
    clients: std::sync::Mutex<std::collections::HashMap<(String, std::net::SocketAddr), reqwest::Client>>,
}

/// What one attempt came to.
struct Outcome {
    status_code: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    retry_after: Option<f64>,
}

impl WebhookRelay {
    pub fn new(
        commands: CommandService,
        master_key: MasterKey,
        allow: AllowList,
        schedule: RetrySchedule,
        (timeout, disable_after): (Duration, chrono::Duration),
    ) -> Self {
        Self {
            commands,
            master_key,
            allow,
            schedule,
            timeout,
            disable_after,
            clients: Default::default(),
        }
    }

    /// How long a claim lasts: twice the timeout, a minute at least, so a
    /// batch in flight is never claimed again by another worker.
    fn lease_ms(&self) -> i64 {
        (self.timeout.as_millis() as i64 * 2).max(MIN_LEASE_MS)
    }

    /// The client for a host pinned to its vetted address.
    fn client(&self, host: &str, address: std::net::SocketAddr) -> Result<reqwest::Client, reqwest::Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&(host.to_string(), address)) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .resolve(host, address)
            .build()?;
        clients.insert((host.to_string(), address), client.clone());
        Ok(client)
    }

    /// Delivers until `shutdown`: woken as soon as deliveries are committed
    /// (by a projector of this process, or of any process on PostgreSQL),
    /// and polling for retries coming due.
    pub async fn run(self, shutdown: CancellationToken) {
        let store = self.commands.store().clone();
        let mut queued = store.deliveries_queued();
        let listener = tokio::spawn({
            let (store, shutdown) = (store.clone(), shutdown.clone());
            async move { store.listen_for_deliveries(shutdown).await }
        });
        loop {
            queued.borrow_and_update();
            match self.deliver_due().await {
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "webhook relay"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = queued.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        let _ = listener.await;
    }

    /// Attempts every due delivery once (concurrently within a batch: a
    /// batch never holds two deliveries of one record to one endpoint);
    /// returns how many attempts were made.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let mut attempts = 0;
        loop {
            let batch = self
                .commands
                .store()
                .claim_deliveries(Utc::now().timestamp_millis(), self.lease_ms(), BATCH)
                .await?;
            if batch.is_empty() {
                return Ok(attempts);
            }
            attempts += batch.len();
            // Endpoints in parallel; at most PER_ENDPOINT requests at once to
            // any one of them, so a batch never floods one SI.
            let mut by_endpoint: HashMap<String, Vec<ClaimedDelivery>> = HashMap::new();
            for delivery in batch {
                by_endpoint
                    .entry(delivery.endpoint_id.clone())
                    .or_default()
                    .push(delivery);
            }
            let lanes = by_endpoint.into_iter().map(|(endpoint_id, deliveries)| async move {
                // Once per endpoint and batch: its state, target and secrets.
                let prepared = match self.prepare(&endpoint_id).await {
                    Ok(prepared) => prepared,
                    Err(error) => return Err(error),
                };
                let prepared = &prepared;
                Ok(futures::stream::iter(deliveries)
                    .map(|d: ClaimedDelivery| async move {
                        let result = self.attempt(prepared, &d).await;
                        (d, result)
                    })
                    .buffer_unordered(PER_ENDPOINT)
                    .collect::<Vec<_>>()
                    .await)
            });
            let mut results = Vec::new();
            for lane in futures::future::join_all(lanes).await {
                results.extend(lane?);
            }
            let mut records = Vec::with_capacity(results.len());
            let (mut gone, mut failing) = (Vec::new(), std::collections::BTreeSet::new());
            for (delivery, result) in results {
                let (record, endpoint_gone) = result;
                if endpoint_gone {
                    gone.push(delivery.endpoint_id.clone());
                } else if record.status == DeliveryStatus::Failed || record.status == DeliveryStatus::Dead {
                    failing.insert(delivery.endpoint_id.clone());
                }
                records.push((delivery.id.clone(), record));
            }
            // One transaction (one commit) records the whole batch.
            self.commands.store().record_attempts(&records).await?;
            for (_, record) in &records {
                let outcome = [("outcome", record.status.as_str())];
                DELIVERIES.inc(&outcome);
                ATTEMPT_DURATION.observe(&outcome, record.duration_ms as f64 / 1000.0);
            }
            gone.dedup();
            for endpoint in gone {
                self.disable(&endpoint, "the endpoint answered 410 Gone", Vec::new())
                    .await;
            }
            for endpoint in failing {
                self.disable_if_failing_too_long(&endpoint).await?;
            }
        }
    }

    /// What every delivery of a batch to one endpoint shares: the endpoint
    /// as it stands (none when disabled or deleted), and its vetted target
    /// and opened signing secrets, or why they cannot be used.
    async fn prepare(&self, endpoint_id: &str) -> Result<Option<Prepared>, StoreError> {
        let endpoint: WebhookEndpoint = self.commands.store().load_aggregate(endpoint_id).await?;
        let Ok(state) = endpoint.state() else { return Ok(None) };
        if !state.enabled {
            return Ok(None);
        }
        let ready = async {
            let target = target::vet(&state.config.target_url, &self.allow)
                .await
                .map_err(|error| format!("target refused: {error}"))?;
            let mut secrets = Vec::new();
            for sealed in state.signing_secrets(Utc::now()) {
                match self.master_key.open(&sealed.0).map(|s| WebhookSecret::parse(&s)) {
                    Ok(Ok(secret)) => secrets.push(secret),
                    _ => return Err("the endpoint's secret cannot be opened".to_string()),
                }
            }
            let host = target.url.host_str().unwrap_or_default().to_string();
            let client = self
                .client(&host, target.address)
                .map_err(|_| "could not build an HTTP client".to_string())?;
            Ok(Ready {
                target,
                secrets,
                client,
            })
        }
        .await;
        Ok(Some(Prepared {
            format: state.config.format,
            schedule: state
                .config
                .retry_schedule
                .clone()
                .unwrap_or_else(|| self.schedule.0.clone()),
            ready,
        }))
    }

    /// One attempt: its record, and whether the endpoint answered 410 Gone.
    async fn attempt(&self, prepared: &Option<Prepared>, delivery: &ClaimedDelivery) -> (AttemptRecord, bool) {
        let started = Instant::now();
        let (outcome, schedule) = match prepared {
            Some(prepared) => (self.post(prepared, delivery).await, &prepared.schedule),
            None => {
                let record = AttemptRecord {
                    at_ms: Utc::now().timestamp_millis(),
                    status_code: None,
                    duration_ms: 0,
                    error: Some("the endpoint is disabled or deleted".into()),
                    response: None,
                    status: DeliveryStatus::Dead,
                    next_attempt_at_ms: 0,
                };
                return (record, false);
            }
        };
        let now = Utc::now();
        let succeeded = outcome.status_code.is_some_and(|c| (200..300).contains(&c));
        let gone = outcome.status_code == Some(410);
        let next_delay = schedule.get(delivery.attempts as usize + 1).copied();
        let (status, next) = match (succeeded, gone, next_delay) {
            (true, _, _) => (DeliveryStatus::Succeeded, 0),
            (false, true, _) | (false, false, None) => (DeliveryStatus::Dead, 0),
            (false, false, Some(delay)) => {
                let delay = jittered(delay).max(outcome.retry_after.unwrap_or(0.0));
                (DeliveryStatus::Failed, now.timestamp_millis() + (delay * 1000.0) as i64)
            }
        };
        let record = AttemptRecord {
            at_ms: now.timestamp_millis(),
            status_code: outcome.status_code,
            duration_ms: started.elapsed().as_millis() as i64,
            error: outcome.error,
            response: outcome.response,
            status,
            next_attempt_at_ms: next,
        };
        (record, gone)
    }

    /// Signs and posts the stored body to the vetted target.
    async fn post(&self, prepared: &Prepared, delivery: &ClaimedDelivery) -> Outcome {
        let failed = |error: String| Outcome {
            status_code: None,
            error: Some(error),
            response: None,
            retry_after: None,
        };
        let Ready {
            target,
            secrets,
            client,
        } = match &prepared.ready {
            Ok(ready) => ready,
            Err(error) => return failed(error.clone()),
        };
        let timestamp = Utc::now().timestamp();
        let body = delivery.body.as_bytes();
        let mut request = client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(secrets, &delivery.id, timestamp, body),
            );
        if prepared.format == WebhookFormat::RdvServicePublic
            && let Some(current) = secrets.first()
        {
            request = request.header("x-lapin-signature", current.lapin_signature(body));
        }
        match request.body(delivery.body.clone()).send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|_| code == 429 || code == 503);
                let text = response.text().await.unwrap_or_default();
                let kept: String = text.chars().take(RESPONSE_KEPT).collect();
                Outcome {
                    status_code: Some(code),
                    error: (!(200..300).contains(&code)).then(|| format!("HTTP {code}")),
                    response: Some(kept),
                    retry_after,
                }
            }
            Err(error) if error.is_timeout() => failed("timeout".into()),
            Err(error) if error.is_connect() => failed("connection failed".into()),
            Err(_) => failed("request failed".into()),
        }
    }

    /// Disables an endpoint that has only failed for `disable_after` and
    /// tells the organisation's admins by e-mail, in one transaction.
    async fn disable_if_failing_too_long(&self, endpoint_id: &str) -> Result<(), StoreError> {
        let store = self.commands.store();
        let Some(since) = store.failing_since(endpoint_id).await? else {
            return Ok(());
        };
        let now = Utc::now().timestamp_millis();
        if now - since < self.disable_after.num_milliseconds() {
            return Ok(());
        }
        let endpoint: WebhookEndpoint = store.load_aggregate(endpoint_id).await?;
        let Ok(state) = endpoint.state() else { return Ok(()) };
        if !state.enabled {
            return Ok(());
        }
        let days = self.disable_after.num_hours() as f64 / 24.0;
        let reason = format!("every delivery failed for {days:.1} days");
        let owners: Vec<String> = store
            .docs(
                rdv_projections::directory::NAME,
                rdv_projections::directory::ORGANISATION_AGENTS,
                &state.organisation_id.to_string(),
            )
            .await?
            .into_iter()
            .filter_map(|d| serde_json::from_value::<rdv_projections::directory::OrganisationAgentView>(d).ok())
            .filter(|a| a.role == rdv_domain::values::Role::Admin)
            .filter_map(|a| a.email)
            .collect();
        let target = &state.config.target_url;
        let emails = owners
            .iter()
            .map(|to| failing_endpoint_email(to, target, &reason))
            .collect();
        self.disable(endpoint_id, &reason, emails).await;
        Ok(())
    }

    /// Disables an endpoint, with the messages telling of it, in one
    /// transaction; a failure is logged (the next batch tries again).
    async fn disable(&self, endpoint_id: &str, reason: &str, messages: Vec<rdv_eventstore::OutboxMessage>) {
        let ctx = CommandContext::new("system:webhook-relay");
        let outcome = self
            .commands
            .run(
                &ctx,
                |unit| {
                    let (id, messages) = (endpoint_id.to_string(), messages.clone());
                    let disable = WebhookEndpointCommand::DisableWebhookEndpoint { reason: reason.into() };
                    Box::pin(async move {
                        unit.handle::<WebhookEndpoint>(&id, disable).await?;
                        for message in messages {
                            unit.send(message);
                        }
                        Ok::<_, rdv_eventstore::CommandError>(())
                    })
                },
                |_, _| StoredResponse {
                    status: 200,
                    body: serde_json::Value::Null,
                },
            )
            .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, endpoint_id, reason, "could not disable a webhook endpoint");
        }
    }
}

/// A delay with ±20 % jitter, so retries of many deliveries spread out.
fn jittered(seconds: f64) -> f64 {
    // Ten-thousandths of the delay, 8,000 to 12,000: computed as one
    // product and one division, so the bounds come out exact.
    let factor = 8_000 + (uuid::Uuid::now_v7().as_u128() % 4_001) as u32;
    seconds * f64::from(factor) / 10_000.0
}

/// The e-mail telling an organisation admin their endpoint was disabled.
fn failing_endpoint_email(to: &str, target: &str, reason: &str) -> rdv_eventstore::OutboxMessage {
    rdv_eventstore::OutboxMessage::new(
        "email",
        serde_json::json!({
            "to": to,
            "subject": "Webhook désactivé",
            "text": format!(
                "Bonjour,\n\nLe webhook vers {target} a été désactivé : {reason}.\n\
                 Les livraisons en échec restent consultables et peuvent être renvoyées une fois \
                 le point de réception rétabli et le webhook réactivé.\n"
            ),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_lists_of_seconds_and_jitter_stays_within_a_fifth() {
        let parse = |s: &str| s.parse::<RetrySchedule>();
        assert_eq!(parse("0, 5,300").unwrap().0, [0.0, 5.0, 300.0]);
        assert!(parse("").is_err() && parse("5,-1").is_err() && parse("a").is_err());
        for _ in 0..100 {
            let d = jittered(100.0);
            assert!((80.0..=120.0).contains(&d), "{d}");
        }
    }
}
