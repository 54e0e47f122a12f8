//! RDVs by organisation, for lists and filters (agenda screens, SI exports),
//! and the RDVs due for a reminder. Each document keeps the RDV's state so
//! the next event is folded by the domain's own `apply`: one set of rules.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cqrs_es::Aggregate;
use rdv_domain::rdv::{Actor, Rdv, RdvEvent, RdvState, RdvStatus};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "rdvs";
pub const RDVS: &str = "rdvs";
/// Each usager's RDVs (id `{usager}:{rdv}`, parent the usager).
pub const BY_USAGER: &str = "by_usager";
/// RDVs waiting for their reminder, grouped by the UTC day it falls due
/// ([`reminder_day`]).
pub const REMINDERS: &str = "reminders";

/// How long before an RDV its reminder goes (RDV Service Public: 48 h).
pub fn reminder_lead() -> Duration {
    Duration::hours(48)
}

/// The partition of reminders falling due on a UTC day.
pub fn reminder_day(day: NaiveDate) -> String {
    format!("due:{day}")
}

/// An RDV whose reminder falls due at `due`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderDoc {
    pub rdv_id: Uuid,
    pub due: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
}

/// An atelier's title and seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AtelierView {
    pub name: Option<String>,
    pub max_participants_count: Option<u32>,
    /// Participations holding a seat (not excused nor revoked).
    pub users_count: usize,
}

impl AtelierView {
    /// Seats left (none: unlimited); negative when overbooked.
    pub fn seats_left(&self) -> Option<i64> {
        self.max_participants_count
            .map(|max| i64::from(max) - self.users_count as i64)
    }
}

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
    /// Each usager's participation status.
    pub participations: BTreeMap<Uuid, RdvStatus>,
    /// Set for a collective RDV.
    pub collective: Option<AtelierView>,
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
            participations: rdv.participations.iter().map(|(u, p)| (u.0, p.status)).collect(),
            collective: b.collective.as_ref().map(|a| AtelierView {
                name: a.name.clone(),
                max_participants_count: a.max_participants,
                users_count: rdv.active_participants().len(),
            }),
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

/// The stored document: the list view plus the state it was made from.
#[derive(Serialize, Deserialize)]
struct RdvRecord {
    #[serde(flatten)]
    doc: RdvDoc,
    state: RdvState,
    /// Booked or last moved more than the reminder lead ahead: an RDV
    /// booked for tomorrow has just had its confirmation, no reminder.
    reminder_wanted: bool,
    /// The reminder partition the RDV sits in, if any.
    reminder: Option<String>,
}

pub struct Rdvs;

#[async_trait::async_trait]
impl Projection for Rdvs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["Rdv"]
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
        let decoded = Decoder::<Rdv>::default().decode(event)?;
        let timed = matches!(decoded, RdvEvent::RdvBooked { .. } | RdvEvent::RdvRescheduled { .. });
        let previous: Option<RdvRecord> = match decoded {
            RdvEvent::RdvBooked { .. } => None,
            _ => Some(docs.load(RDVS, &id).await?),
        };
        let (old_reminder, mut reminder_wanted) = previous
            .as_ref()
            .map_or((None, false), |r| (r.reminder.clone(), r.reminder_wanted));
        let old_usagers = previous.as_ref().map(|r| r.doc.usager_ids.clone()).unwrap_or_default();
        let mut rdv = Rdv(previous.map(|r| r.state));
        rdv.apply(decoded);
        let state = rdv
            .0
            .ok_or_else(|| ProjectionError::event(event, "an RDV event before RdvBooked"))?;
        let rdv_id = docs.aggregate_uuid()?;
        if timed {
            reminder_wanted = state.booking.starts_at - event.metadata.occurred_at > reminder_lead();
        }
        let reminder =
            (reminder_wanted && !state.status.is_cancelled() && state.reminded_for != Some(state.booking.starts_at))
                .then(|| ReminderDoc {
                    rdv_id,
                    due: state.booking.starts_at - reminder_lead(),
                    starts_at: state.booking.starts_at,
                });
        let record = RdvRecord {
            doc: RdvDoc::new(rdv_id, &state),
            reminder: reminder.as_ref().map(|r| reminder_day(r.due.date_naive())),
            reminder_wanted,
            state,
        };
        match (&reminder, &record.reminder) {
            (Some(doc), Some(parent)) => docs.save(REMINDERS, &id, Some(parent), doc).await?,
            _ if old_reminder.is_some() => docs.delete(REMINDERS, &id).await?,
            _ => {}
        }
        for gone in old_usagers.difference(&record.doc.usager_ids) {
            docs.delete(BY_USAGER, &format!("{gone}:{id}")).await?;
        }
        for usager in &record.doc.usager_ids {
            let parent = usager.to_string();
            docs.save(BY_USAGER, &format!("{usager}:{id}"), Some(&parent), &record.doc)
                .await?;
        }
        let parent = record.doc.organisation_id.to_string();
        docs.save(RDVS, &id, Some(&parent), &record).await
    }
}
