//! The outbox sender: claims due messages, sends them, records the outcome.
//! Several senders may run against one PostgreSQL; claims are leases, so a
//! sender that dies mid-way leaves its messages to the next.

use crate::{
    mailer::{Email, Mailer},
    sms::{Sms, SmsSender},
};
use chrono::{Duration, Utc};
use rdv_eventstore::{ClaimedMessage, EventStore, StoreError};
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 20;
const LEASE_SECONDS: i64 = 120;
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub struct OutboxSender {
    store: EventStore,
    mailer: Mailer,
    sms: SmsSender,
    from: String,
}

impl OutboxSender {
    pub fn new(store: EventStore, mailer: Mailer, sms: SmsSender, from: String) -> Self {
        Self {
            store,
            mailer,
            sms,
            from,
        }
    }

    /// Sends every due message once; returns how many were sent.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        let mut sent = 0;
        loop {
            let batch = self.store.claim_outbox(BATCH, Duration::seconds(LEASE_SECONDS)).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            for claimed in batch {
                if self.deliver(&claimed).await? {
                    sent += 1;
                }
            }
        }
    }

    async fn deliver(&self, claimed: &ClaimedMessage) -> Result<bool, StoreError> {
        let message = &claimed.message;
        let id = message.id.to_string();
        let result = match message.kind.as_str() {
            "email" => match serde_json::from_value::<Email>(message.payload.clone()) {
                Ok(email) => self
                    .mailer
                    .send(&id, &self.from, &email)
                    .await
                    .map_err(|e| (e.is_transient(), e.to_string())),
                Err(e) => Err((false, format!("not an e-mail: {e}"))),
            },
            "sms" => match serde_json::from_value::<Sms>(message.payload.clone()) {
                Ok(sms) => self.sms.send(&id, &sms).await.map_err(|e| (true, e.to_string())),
                Err(e) => Err((false, format!("not an SMS: {e}"))),
            },
            other => Err((false, format!("no sender for {other} messages"))),
        };
        match result {
            Ok(()) => {
                self.store.outbox_sent(message.id).await?;
                tracing::info!(message_id = %id, kind = %message.kind, "outbox message sent");
                Ok(true)
            }
            Err((transient, error)) => {
                // Exponential backoff up to an hour; a message that can never
                // be sent waits a day between tries and stays visible.
                let delay = if transient {
                    5 * 2i64.pow(claimed.attempts.clamp(0, 10) as u32)
                } else {
                    86_400
                };
                let retry_at = Utc::now() + Duration::seconds(delay.min(if transient { 3600 } else { 86_400 }));
                tracing::warn!(message_id = %id, attempts = claimed.attempts, %error, "outbox message not sent");
                self.store.outbox_failed(message.id, &error, retry_at).await?;
                Ok(false)
            }
        }
    }

    /// Sends due messages until `shutdown`, woken by appends in this process.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut appended = self.store.subscribe();
        loop {
            if let Err(error) = self.send_due().await {
                tracing::error!(%error, "outbox sender could not read the outbox");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = appended.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
