//! What slot searches read: every plage by organisation and every absence by
//! agent, so a search never replays history. (RDVs join with booking.)

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use rdv_domain::agenda::{Absence, AgentAgenda, AgentAgendaEvent, Plage};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "availability";
pub const PLAGES: &str = "plages";
pub const ABSENCES: &str = "absences";

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
        if event.aggregate_type != "AgentAgenda" {
            return Ok(());
        }
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
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
