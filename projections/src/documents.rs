//! Typed access to one projection's documents while it applies one event,
//! so every error names the event that caused it.

use crate::projector::ProjectionError;
use rdv_eventstore::{ProjectionTx, StoreError, StoredEvent};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The aggregate ids of a batch's events of one aggregate type, which key
/// the documents most projections read first (for a prefetch).
pub(crate) fn ids_of<'a>(events: &'a [StoredEvent], aggregate_type: &'a str) -> impl Iterator<Item = String> + 'a {
    events
        .iter()
        .filter(move |e| e.aggregate_type == aggregate_type)
        .map(|e| e.aggregate_id.clone())
}

pub(crate) struct Documents<'a> {
    pub(crate) tx: &'a mut ProjectionTx,
    pub(crate) projection: &'static str,
    pub(crate) event: &'a StoredEvent,
}

impl Documents<'_> {
    /// A document that may not exist yet.
    pub(crate) async fn find<T: DeserializeOwned>(
        &mut self,
        collection: &str,
        id: &str,
    ) -> Result<Option<T>, ProjectionError> {
        self.tx
            .get(self.projection, collection, id)
            .await
            .map_err(|e| self.naming_event(e))
    }

    /// A document that does not read as expected is the event's failure.
    fn naming_event(&self, error: StoreError) -> ProjectionError {
        match error {
            StoreError::Corrupt(reason) => ProjectionError::event(self.event, reason),
            other => other.into(),
        }
    }

    /// A document an earlier event must have written.
    pub(crate) async fn load<T: DeserializeOwned>(&mut self, collection: &str, id: &str) -> Result<T, ProjectionError> {
        self.find(collection, id)
            .await?
            .ok_or_else(|| ProjectionError::event(self.event, format!("no {collection} document {id}")))
    }

    pub(crate) async fn save<T: Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        parent: Option<&str>,
        doc: &T,
    ) -> Result<(), ProjectionError> {
        self.tx
            .put(self.projection, collection, id, parent, doc)
            .await
            .map_err(|e| self.naming_event(e))
    }

    /// Saves a document whose key the projection knows is new
    /// ([`ProjectionTx::put_new`]).
    pub(crate) async fn save_new<T: Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        doc: &T,
    ) -> Result<(), ProjectionError> {
        self.tx
            .put_new(self.projection, collection, id, doc)
            .await
            .map_err(|e| self.naming_event(e))
    }

    pub(crate) async fn delete(&mut self, collection: &str, id: &str) -> Result<(), ProjectionError> {
        Ok(self.tx.delete(self.projection, collection, id).await?)
    }

    /// The event's aggregate id as a UUID.
    pub(crate) fn aggregate_uuid(&self) -> Result<Uuid, ProjectionError> {
        self.event
            .aggregate_id
            .parse()
            .map_err(|e| ProjectionError::event(self.event, e))
    }
}
