//! The projector runner: feed → projection → documents + checkpoint.

use rdv_eventstore::{EventStore, ProjectionTx, StoreError, StoredEvent};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How many events one projection transaction covers.
const BATCH: i64 = 500;
/// How often a projector looks for events written by other processes.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event the projection cannot make sense of: the projector stops
    /// rather than skip it.
    #[error("event at position {position} ({event_type}): {reason}")]
    Event {
        position: i64,
        event_type: String,
        reason: String,
    },
}

impl ProjectionError {
    pub fn event(event: &StoredEvent, reason: impl std::fmt::Display) -> Self {
        Self::Event {
            position: event.position,
            event_type: event.event_type.clone(),
            reason: reason.to_string(),
        }
    }
}

/// A read model: how one event changes its documents.
#[async_trait::async_trait]
pub trait Projection: Send + Sync {
    /// Names the projection's documents and checkpoint.
    fn name(&self) -> &'static str;

    /// The aggregate types whose events the projection reads: the projector
    /// fetches only those from the feed.
    fn aggregates(&self) -> &'static [&'static str];

    /// Applies one event inside the batch's transaction. Events the
    /// projection does not care about are ignored.
    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError>;
}

/// Where a projector stands, as its watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectorStatus {
    /// Caught up to this position (or working towards the head).
    Running(i64),
    /// Stopped at this position on an error, which is also recorded in the store.
    Failed(i64, String),
}

impl ProjectorStatus {
    pub fn position(&self) -> i64 {
        match self {
            ProjectorStatus::Running(p) | ProjectorStatus::Failed(p, _) => *p,
        }
    }
}

/// Runs one projection over the feed.
pub struct Projector {
    store: EventStore,
    projection: Arc<dyn Projection>,
    status: watch::Sender<ProjectorStatus>,
}

impl Projector {
    pub fn new(store: EventStore, projection: Arc<dyn Projection>) -> Self {
        Self {
            store,
            projection,
            status: watch::channel(ProjectorStatus::Running(0)).0,
        }
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Follows the projector's progress (for `min_position` waits).
    pub fn status(&self) -> watch::Receiver<ProjectorStatus> {
        self.status.subscribe()
    }

    /// Applies everything after the checkpoint, batch by batch, and returns
    /// the new checkpoint.
    pub async fn catch_up(&self) -> Result<i64, ProjectionError> {
        let name = self.projection.name();
        loop {
            let mut tx = self.store.begin_projection().await?;
            let checkpoint = tx.lock_checkpoint(name).await?;
            let (batch, scanned) = self
                .store
                .read_feed_of(checkpoint, BATCH, self.projection.aggregates())
                .await?;
            if scanned == checkpoint {
                self.status.send_replace(ProjectorStatus::Running(checkpoint));
                return Ok(checkpoint);
            }
            for event in &batch {
                self.projection.apply(&mut tx, event).await?;
            }
            tx.set_checkpoint(name, scanned).await?;
            tx.commit().await?;
            self.status.send_replace(ProjectorStatus::Running(scanned));
        }
    }

    /// Forgets the read model and projects the whole feed again.
    pub async fn rebuild(&self) -> Result<i64, ProjectionError> {
        self.store.reset_projection(self.projection.name()).await?;
        self.catch_up().await
    }

    /// Keeps the projection up to date until `shutdown`, woken by appends in
    /// this process and polling for other writers. On an error the projector
    /// records it, reports it and stops: no event is silently skipped.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut appended = self.store.subscribe();
        loop {
            if let Err(error) = self.catch_up().await {
                let position = self.status.borrow().position();
                tracing::error!(projection = self.name(), position, %error, "projector stopped");
                if let Err(e) = self
                    .store
                    .record_projection_error(self.name(), &error.to_string())
                    .await
                {
                    tracing::error!(projection = self.name(), error = %e, "could not record the projector error");
                }
                self.status
                    .send_replace(ProjectorStatus::Failed(position, error.to_string()));
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = appended.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
