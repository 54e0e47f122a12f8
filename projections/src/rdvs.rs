//! RDVs by organisation, for lists and filters (agenda screens, SI exports).

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use chrono::{DateTime, Utc};
use rdv_domain::rdv::{Actor, Rdv, RdvEvent, RdvState, RdvStatus};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "rdvs";
pub const RDVS: &str = "rdvs";

/// An RDV as lists show it. `context` is stored whatever the espace's
/// settings; queries hide it when the Contexte field is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RdvDoc {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub motif_id: Uuid,
    pub lieu_id: Option<Uuid>,
    pub agent_ids: BTreeSet<Uuid>,
    pub usager_ids: BTreeSet<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_in_min: i64,
    pub status: RdvStatus,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub context: Option<String>,
    pub created_by: Actor,
}

impl RdvDoc {
    /// The document of an RDV's current state.
    pub fn new(id: Uuid, rdv: &RdvState) -> Self {
        let b = &rdv.booking;
        Self {
            id,
            organisation_id: b.organisation_id.0,
            motif_id: b.motif_id.0,
            lieu_id: b.lieu_id.map(|l| l.0),
            agent_ids: b.agent_ids.iter().map(|a| a.0).collect(),
            usager_ids: b.usager_ids.iter().map(|u| u.0).collect(),
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            duration_in_min: (b.ends_at - b.starts_at).num_minutes(),
            status: rdv.status,
            cancelled_at: rdv.cancelled_at,
            arrived_at: rdv.arrived_at,
            context: b.context.clone(),
            created_by: b.created_by,
        }
    }
}

pub struct Rdvs;

#[async_trait::async_trait]
impl Projection for Rdvs {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Rdv" {
            return Ok(());
        }
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let id = event.aggregate_id.clone();
        let doc = match Decoder::<Rdv>::default().decode(event)? {
            RdvEvent::RdvBooked { booking } => {
                let state = RdvState {
                    booking: *booking,
                    status: RdvStatus::Unknown,
                    cancelled_at: None,
                    arrived_at: None,
                };
                RdvDoc::new(docs.aggregate_uuid()?, &state)
            }
            other => {
                let mut doc: RdvDoc = docs.load(RDVS, &id).await?;
                match other {
                    RdvEvent::RdvBooked { .. } => {}
                    RdvEvent::RdvCancelled {
                        status, cancelled_at, ..
                    } => {
                        doc.status = status;
                        doc.cancelled_at = Some(cancelled_at);
                    }
                    RdvEvent::RdvStatusChanged {
                        status, cancelled_at, ..
                    } => {
                        doc.status = status;
                        doc.cancelled_at = cancelled_at;
                    }
                    RdvEvent::RdvRescheduled { starts_at, ends_at, .. } => {
                        doc.starts_at = starts_at;
                        doc.ends_at = ends_at;
                        doc.duration_in_min = (ends_at - starts_at).num_minutes();
                    }
                    RdvEvent::UsagerArrived { at, .. } => doc.arrived_at = Some(at),
                }
                doc
            }
        };
        let parent = doc.organisation_id.to_string();
        docs.save(RDVS, &id, Some(&parent), &doc).await
    }
}
