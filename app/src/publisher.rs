//! The publisher (distributed mode): tails the global feed into NATS
//! JetStream, so SIs and other services can follow the events with durable
//! consumers.
//!
//! Each event goes to `<prefix>.<aggregate_type>.<event_type>` (by default
//! `rdv.events.Rdv.RdvBooked`) with the JSON of `GET /v1/events`, the header
//! `Nats-Msg-Id` = its event id (JetStream drops a repeat within the
//! stream's duplicate window) and `Rdv-Position` = its global position. The
//! checkpoint moves only once every message of a batch has its PubAck, so a
//! crash republishes at most one batch, which deduplication absorbs. The
//! event store stays the source of truth: [`Publisher::reconcile`] rewinds
//! the checkpoint to what the stream really holds, so events JetStream lost
//! (a purge, a lost volume) are published again from the store.

use crate::audit::FeedEvent;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use rdv_eventstore::EventStore;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Publishers' checkpoints are named after their stream with this prefix.
pub const CHECKPOINT_PREFIX: &str = "publisher:";

/// The header holding an event's global position.
pub const POSITION_HEADER: &str = "Rdv-Position";

/// Events published per batch (and acknowledged before the checkpoint moves).
const BATCH: i64 = 500;
/// How often the publisher looks for events written by other processes.
const POLL: Duration = Duration::from_millis(100);
/// JetStream drops a message whose id it saw within this window.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("event store: {0}")]
    Store(#[from] rdv_eventstore::StoreError),
    #[error("NATS: {0}")]
    Nats(String),
}

fn nats(error: impl std::fmt::Display) -> PublishError {
    PublishError::Nats(error.to_string())
}

/// Where events go: the stream and the subject prefix it captures.
#[derive(Debug, Clone)]
pub struct Destination {
    pub stream: String,
    pub prefix: String,
}

impl Default for Destination {
    fn default() -> Self {
        Self {
            stream: "RDV_EVENTS".into(),
            prefix: "rdv.events".into(),
        }
    }
}

pub struct Publisher {
    store: EventStore,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    destination: Destination,
    /// The checkpoint's name (one per destination).
    checkpoint: String,
}

impl Publisher {
    /// Connects to NATS (waiting for it if it is not up yet) and makes sure
    /// the stream exists.
    pub async fn connect(store: EventStore, url: &str, destination: Destination) -> Result<Self, PublishError> {
        let client = async_nats::ConnectOptions::new()
            .name("rdv-publish")
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(nats)?;
        let publisher = Self {
            checkpoint: format!("{CHECKPOINT_PREFIX}{}", destination.stream),
            store,
            jetstream: jetstream::new(client.clone()),
            client,
            destination,
        };
        publisher.stream().await?;
        Ok(publisher)
    }

    /// The connection, for `/ready` and `/metrics`.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The stream, created when missing (first start, or lost).
    async fn stream(&self) -> Result<stream::Stream, PublishError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: self.destination.stream.clone(),
                subjects: vec![format!("{}.>", self.destination.prefix)],
                duplicate_window: DUPLICATE_WINDOW,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats)
    }

    /// Publishes every event after the checkpoint; returns the new one.
    pub async fn catch_up(&self) -> Result<i64, PublishError> {
        loop {
            let (checkpoint, _) = self.store.checkpoint(&self.checkpoint).await?;
            let (events, scanned) = self.store.read_feed_of(checkpoint, BATCH, &[]).await?;
            // Nothing new. (On PostgreSQL the scanned bound moves with every
            // transaction, this checkpoint's own included: writing it would
            // never end.)
            if events.is_empty() {
                return Ok(checkpoint);
            }
            let mut acks = Vec::with_capacity(events.len());
            for event in events {
                let subject = format!(
                    "{}.{}.{}",
                    self.destination.prefix, event.aggregate_type, event.event_type
                );
                let (id, position) = (event.metadata.event_id.to_string(), event.position.to_string());
                let body = serde_json::to_vec(&FeedEvent::from(event)).map_err(nats)?;
                let message = PublishMessage::build()
                    .payload(body.into())
                    .message_id(id)
                    .header(POSITION_HEADER, position.as_str());
                acks.push(self.jetstream.send_publish(subject, message).await.map_err(nats)?);
            }
            for ack in acks {
                ack.await.map_err(nats)?;
            }
            self.move_checkpoint(scanned).await?;
        }
    }

    async fn move_checkpoint(&self, position: i64) -> Result<(), PublishError> {
        let mut tx = self.store.begin_projection().await?;
        tx.lock_checkpoint(&self.checkpoint).await?;
        tx.set_checkpoint(&self.checkpoint, position).await?;
        Ok(tx.commit().await?)
    }

    /// Rewinds the checkpoint to the last event the stream holds, when the
    /// stream holds less than the checkpoint says (JetStream lost
    /// acknowledged messages, or the stream was deleted and is created
    /// again). A purge keeps JetStream's memory of message ids for the
    /// duplicate window, so events purged within it are not stored again.
    /// Returns the checkpoint it leaves.
    pub async fn reconcile(&self) -> Result<i64, PublishError> {
        let (checkpoint, _) = self.store.checkpoint(&self.checkpoint).await?;
        let mut stream = self.stream().await?;
        let state = stream.info().await.map_err(nats)?.state.clone();
        // A purged stream keeps counting its sequences but holds nothing.
        let held = match (state.messages, state.last_sequence) {
            (0, _) | (_, 0) => 0,
            (_, sequence) => {
                let message = stream.get_raw_message(sequence).await.map_err(nats)?;
                message
                    .headers
                    .get(POSITION_HEADER)
                    .and_then(|p| p.as_str().parse::<i64>().ok())
                    .unwrap_or(0)
            }
        };
        if held < checkpoint {
            tracing::warn!(
                held,
                checkpoint,
                "JetStream lacks published events: publishing them again"
            );
            self.move_checkpoint(held).await?;
            return Ok(held);
        }
        Ok(checkpoint)
    }

    /// Reconciles, then publishes as events come until `shutdown`; on an
    /// error (NATS away) it waits and tries again from the checkpoint.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut appended = self.store.subscribe();
        let mut reconciled = false;
        loop {
            if !reconciled {
                reconciled = self.reconcile().await.is_ok();
            }
            let published = match reconciled {
                true => self.catch_up().await.map(|_| ()),
                false => Err(PublishError::Nats("not reconciled yet".into())),
            };
            if let Err(error) = published {
                tracing::warn!(%error, "publisher: trying again in a second");
                reconciled = false;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = appended.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Wakes the store's listeners (the projectors of `rdv project`) as soon as
/// JetStream carries an event under `prefix`, until `shutdown`: projectors
/// then need not poll the store. A lost message only delays them until
/// their next (slow) poll; the store stays the source of truth.
pub async fn wake_on_published(
    client: async_nats::Client,
    store: EventStore,
    prefix: String,
    shutdown: CancellationToken,
) {
    use futures::StreamExt;
    loop {
        let mut messages = match client.subscribe(format!("{prefix}.>")).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(%error, "cannot follow JetStream: trying again in a second");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return,
                message = messages.next() => message,
            };
            let Some(message) = message else { break };
            let position = message
                .headers
                .as_ref()
                .and_then(|h| h.get(POSITION_HEADER))
                .and_then(|p| p.as_str().parse::<i64>().ok());
            if let Some(position) = position {
                store.observe_append(position);
            }
        }
    }
}
