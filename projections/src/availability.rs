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

/// What an event changes in an availability calendar: shared by the
/// documents ([`Availability`]) and the in-memory index
/// ([`crate::availability_index`]), so both read events the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum AvailabilityChange {
    PlageSaved(PlageView),
    PlageDeleted(Uuid),
    AbsenceSaved(AbsenceView),
    AbsenceDeleted(Uuid),
    TimeReserved { agent_id: Uuid, busy: BusyView },
    TimeReleased { agent_id: Uuid, rdv_id: Uuid },
}

impl AvailabilityChange {
    /// The aggregates whose events change availability.
    pub const AGGREGATES: &'static [&'static str] = &["AgentAgenda", "AgentDay"];

    /// The change an event makes, if it concerns availability.
    pub fn of(event: &StoredEvent) -> Result<Option<Self>, ProjectionError> {
        let uuid = |id: &str| id.parse::<Uuid>().map_err(|e| ProjectionError::event(event, e));
        Ok(Some(match event.aggregate_type.as_str() {
            "AgentDay" => {
                // Stream `{agent}:{day}`.
                let agent_id = uuid(event.aggregate_id.split(':').next().unwrap_or_default())?;
                match Decoder::<AgentDay>::default().decode(event)? {
                    AgentDayEvent::TimeReserved {
                        rdv_id,
                        starts_at,
                        ends_at,
                    } => Self::TimeReserved {
                        agent_id,
                        busy: BusyView {
                            rdv_id: rdv_id.0,
                            starts_at,
                            ends_at,
                        },
                    },
                    AgentDayEvent::TimeReleased { rdv_id } => Self::TimeReleased {
                        agent_id,
                        rdv_id: rdv_id.0,
                    },
                }
            }
            "AgentAgenda" => {
                let agent_id = uuid(&event.aggregate_id)?;
                match Decoder::<AgentAgenda>::default().decode(event)? {
                    AgentAgendaEvent::PlageCreated { plage_id, plage }
                    | AgentAgendaEvent::PlageUpdated { plage_id, plage } => Self::PlageSaved(PlageView {
                        id: plage_id.0,
                        agent_id,
                        plage: *plage,
                    }),
                    AgentAgendaEvent::PlageDeleted { plage_id } => Self::PlageDeleted(plage_id.0),
                    AgentAgendaEvent::AbsenceCreated { absence_id, absence }
                    | AgentAgendaEvent::AbsenceUpdated { absence_id, absence } => Self::AbsenceSaved(AbsenceView {
                        id: absence_id.0,
                        agent_id,
                        absence,
                    }),
                    AgentAgendaEvent::AbsenceDeleted { absence_id } => Self::AbsenceDeleted(absence_id.0),
                    // Calendars keep the history the agenda's state leaves out.
                    AgentAgendaEvent::HistoryArchived { .. } => return Ok(None),
                }
            }
            _ => return Ok(None),
        }))
    }
}

pub struct Availability;

#[async_trait::async_trait]
impl Projection for Availability {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        AvailabilityChange::AGGREGATES
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let Some(change) = AvailabilityChange::of(event)? else {
            return Ok(());
        };
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        match change {
            AvailabilityChange::PlageSaved(view) => {
                let parent = view.plage.organisation_id.to_string();
                docs.save(PLAGES, &view.id.to_string(), Some(&parent), &view).await
            }
            AvailabilityChange::PlageDeleted(id) => docs.delete(PLAGES, &id.to_string()).await,
            AvailabilityChange::AbsenceSaved(view) => {
                let parent = view.agent_id.to_string();
                docs.save(ABSENCES, &view.id.to_string(), Some(&parent), &view).await
            }
            AvailabilityChange::AbsenceDeleted(id) => docs.delete(ABSENCES, &id.to_string()).await,
            AvailabilityChange::TimeReserved { agent_id, busy } => {
                let (id, parent) = (format!("{}:{agent_id}", busy.rdv_id), agent_id.to_string());
                docs.save(BUSY, &id, Some(&parent), &busy).await
            }
            AvailabilityChange::TimeReleased { agent_id, rdv_id } => {
                docs.delete(BUSY, &format!("{rdv_id}:{agent_id}")).await
            }
        }
    }
}
