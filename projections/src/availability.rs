//! What slot searches read: every plage by organisation and every absence by
//! agent, so a search never replays history. (RDVs join with booking.)

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use rdv_domain::{
    agenda::{Absence, AgentAgenda, AgentAgendaEvent, Plage},
    agent_day::{AgentDay, AgentDayEvent},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "availability";
pub const PLAGES: &str = "plages";
pub const ABSENCES: &str = "absences";
/// Time reserved by RDVs, by agent.
pub const BUSY: &str = "busy";

/// An RDV's hold on an agent's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BusyView {
    pub rdv_id: Uuid,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlageView {
    pub id: Uuid,
    pub agent_id: Uuid,
    #[serde(flatten)]
    pub plage: Plage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AbsenceView {
    pub id: Uuid,
    pub agent_id: Uuid,
    #[serde(flatten)]
    pub absence: Absence,
}

pub struct Availability;

#[async_trait::async_trait]
impl Projection for Availability {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        match event.aggregate_type.as_str() {
            "AgentDay" => return busy(&mut docs).await,
            "AgentAgenda" => {}
            _ => return Ok(()),
        }
        let agent_id = docs.aggregate_uuid()?;
        match Decoder::<AgentAgenda>::default().decode(event)? {
            AgentAgendaEvent::PlageCreated { plage_id, plage } | AgentAgendaEvent::PlageUpdated { plage_id, plage } => {
                let parent = plage.organisation_id.to_string();
                let view = PlageView {
                    id: plage_id.0,
                    agent_id,
                    plage: *plage,
                };
                docs.save(PLAGES, &plage_id.to_string(), Some(&parent), &view).await
            }
            AgentAgendaEvent::PlageDeleted { plage_id } => docs.delete(PLAGES, &plage_id.to_string()).await,
            AgentAgendaEvent::AbsenceCreated { absence_id, absence }
            | AgentAgendaEvent::AbsenceUpdated { absence_id, absence } => {
                let view = AbsenceView {
                    id: absence_id.0,
                    agent_id,
                    absence,
                };
                docs.save(ABSENCES, &absence_id.to_string(), Some(&agent_id.to_string()), &view)
                    .await
            }
            AgentAgendaEvent::AbsenceDeleted { absence_id } => docs.delete(ABSENCES, &absence_id.to_string()).await,
        }
    }
}

/// Reservations of an agent's day become (or stop being) busy times.
async fn busy(docs: &mut Documents<'_>) -> Result<(), ProjectionError> {
    let agent = docs
        .event
        .aggregate_id
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    match Decoder::<AgentDay>::default().decode(docs.event)? {
        AgentDayEvent::TimeReserved {
            rdv_id,
            starts_at,
            ends_at,
        } => {
            let view = BusyView {
                rdv_id: rdv_id.0,
                starts_at,
                ends_at,
            };
            docs.save(BUSY, &format!("{rdv_id}:{agent}"), Some(&agent), &view).await
        }
        AgentDayEvent::TimeReleased { rdv_id } => docs.delete(BUSY, &format!("{rdv_id}:{agent}")).await,
    }
}
