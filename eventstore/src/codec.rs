//! Turning domain events into stored JSON and back, through the upcasters of
//! their aggregate, so events stored under an older version still load.

use crate::{error::StoreError, model::StoredEvent};
use cqrs_es::{
    Aggregate, DomainEvent,
    persist::{EventUpcaster, SerializedEvent},
};
use rdv_domain::VersionedAggregate;
use serde_json::Value;

/// The stored form of an event: its type, version and payload.
pub fn encode<A: Aggregate>(event: &A::Event) -> Result<(String, String, Value), StoreError> {
    let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((event.event_type(), event.event_version(), payload))
}

/// Decodes stored events of one aggregate type, upcasting old versions.
pub struct Decoder<A: VersionedAggregate> {
    upcasters: Vec<Box<dyn EventUpcaster>>,
    _aggregate: std::marker::PhantomData<A>,
}

impl<A: VersionedAggregate> Default for Decoder<A> {
    fn default() -> Self {
        Self {
            upcasters: A::upcasters(),
            _aggregate: std::marker::PhantomData,
        }
    }
}

impl<A: VersionedAggregate> Decoder<A> {
    pub fn decode(&self, stored: &StoredEvent) -> Result<A::Event, StoreError> {
        let corrupt = |e: serde_json::Error| {
            StoreError::Corrupt(format!(
                "{} {} v{} at position {}: {e}",
                stored.aggregate_type, stored.event_type, stored.event_version, stored.position
            ))
        };
        let (kind, version) = (&stored.event_type, &stored.event_version);
        if !self.upcasters.iter().any(|u| u.can_upcast(kind, version)) {
            // The current version (nearly every event): read in place, where
            // an upcaster needs its own copy of the payload.
            return <A::Event as serde::Deserialize>::deserialize(&stored.payload).map_err(corrupt);
        }
        let mut event = SerializedEvent {
            aggregate_id: stored.aggregate_id.clone(),
            sequence: stored.sequence as usize,
            aggregate_type: stored.aggregate_type.clone(),
            event_type: stored.event_type.clone(),
            event_version: stored.event_version.clone(),
            payload: stored.payload.clone(),
            metadata: Value::Null,
        };
        for upcaster in &self.upcasters {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                event = upcaster.upcast(event);
            }
        }
        serde_json::from_value(event.payload).map_err(corrupt)
    }

    /// Rebuilds an aggregate from its stream.
    pub fn fold(&self, events: &[StoredEvent]) -> Result<A, StoreError> {
        self.fold_onto(A::default(), events)
    }

    /// Applies `events` to an aggregate already folded up to them (from a
    /// snapshot, say).
    pub fn fold_onto(&self, mut aggregate: A, events: &[StoredEvent]) -> Result<A, StoreError> {
        for stored in events {
            aggregate.apply(self.decode(stored)?);
        }
        Ok(aggregate)
    }
}
