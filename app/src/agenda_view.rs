//! Reading an agent's agenda ([`ReadAgenda`]): its plages, absences and
//! RDVs between two days, for the agent or an admin of one of its
//! organisations. A caller who manages only some of a shared agent's
//! organisations sees the others' items as busy times, without ids,
//! titles or places.

use crate::{Context, Error, availability::check_range, caller::Caller};
use chrono::{DateTime, NaiveDate, Utc};
use rdv_domain::{
    DomainError,
    agenda::AgentAgenda,
    agent::{Agent, AgentState},
    agent_day::AgentDay,
    ids::{AbsenceId, AgentId, OrganisationId, PlageId},
    organisation::Organisation,
    rdv::Rdv,
};
use rdv_projections::availability::{self, AbsenceView, PlageView};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgendaEntry {
    /// `plage`, `absence` or `rdv`; `busy` for another organisation's item
    /// of a shared agent (times only).
    pub kind: &'static str,
    /// None for a `busy` entry.
    pub id: Option<uuid::Uuid>,
    pub title: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub organisation_id: Option<uuid::Uuid>,
    pub lieu_id: Option<uuid::Uuid>,
    /// For an RDV: its status, and when its usager arrived (salle d'attente).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<rdv_domain::rdv::RdvStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<chrono::DateTime<Utc>>,
}

impl AgendaEntry {
    /// An entry of `kind` over `(start, end)`, RFC 3339 with the offset of
    /// the zone it is shown in.
    fn new(
        kind: &'static str,
        id: Option<Uuid>,
        (start, end): (String, String),
        organisation_id: Option<Uuid>,
    ) -> Self {
        Self {
            kind,
            id,
            title: None,
            starts_at: start,
            ends_at: end,
            organisation_id,
            lieu_id: None,
            status: None,
            arrived_at: None,
        }
    }

    /// The same times, and nothing else.
    fn busy(&mut self) {
        let (start, end) = (std::mem::take(&mut self.starts_at), std::mem::take(&mut self.ends_at));
        *self = Self::new("busy", None, (start, end), None);
    }
}

/// An agent's agenda between two local days (at most six months).
#[derive(Debug, Clone)]
pub struct ReadAgenda {
    pub agent_id: AgentId,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl ReadAgenda {
    /// The entries by start; 403 for a caller who neither is the agent nor
    /// manages its agenda in one of its organisations.
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<Vec<AgendaEntry>, Error> {
        let agent = self.agent_id;
        check_range(self.from, self.to)?;
        let agent_state = app.load::<Agent>(&agent.to_string()).await?;
        let agent_state = agent_state.0.ok_or_else(|| Error::not_found("agent"))?;
        let managed = caller.agenda_organisations(agent, &agent_state);
        if managed.is_empty() {
            let message = "only the agent or an admin of its organisations reads its agenda";
            return Err(DomainError::forbidden(message).into());
        }
        let mut entries = self.plages_and_absences(app, &agent_state).await?;
        entries.extend(self.rdvs(app).await?);
        if managed.len() < agent_state.memberships.len() && caller.agent_id() != Some(agent) {
            let foreign = |o: &Uuid| !managed.contains(&OrganisationId(*o));
            entries
                .iter_mut()
                .filter(|e| e.organisation_id.as_ref().is_some_and(foreign))
                .for_each(AgendaEntry::busy);
        }
        entries.sort_by(|a, b| a.starts_at.cmp(&b.starts_at));
        Ok(entries)
    }

    /// Plages and absences, read from the agent's agenda stream and, for
    /// those archived out of it, from the availability calendars.
    async fn plages_and_absences(&self, app: &Context, agent_state: &AgentState) -> Result<Vec<AgendaEntry>, Error> {
        let agent = self.agent_id;
        let AgentAgenda {
            mut plages,
            mut absences,
            archived_before,
        } = app.load::<AgentAgenda>(&agent.to_string()).await?;
        if archived_before.is_some_and(|before| self.from < before) {
            for view in calendar_docs::<AbsenceView>(app, availability::ABSENCES, &agent.to_string()).await? {
                absences.entry(AbsenceId(view.id)).or_insert(view.absence);
            }
            for organisation in agent_state.memberships.keys() {
                let organisation = organisation.to_string();
                for view in calendar_docs::<PlageView>(app, availability::PLAGES, &organisation).await? {
                    if view.agent_id == agent.0 {
                        plages.entry(PlageId(view.id)).or_insert(view.plage);
                    }
                }
            }
        }
        let shown = |start: DateTime<Utc>, end: DateTime<Utc>, zone: chrono_tz::Tz| {
            (
                start.with_timezone(&zone).to_rfc3339(),
                end.with_timezone(&zone).to_rfc3339(),
            )
        };
        let mut entries = Vec::new();
        for (id, plage) in &plages {
            for o in plage.occurrences(self.from, self.to) {
                let times = shown(o.start, o.end, plage.timezone.0);
                let mut entry = AgendaEntry::new("plage", Some(id.0), times, Some(plage.organisation_id.0));
                entry.title = plage.title.clone();
                entry.lieu_id = plage.lieu_id.map(|l| l.0);
                entries.push(entry);
            }
        }
        for (id, absence) in &absences {
            for o in absence.occurrences(self.from, self.to) {
                let times = shown(o.start, o.end, absence.timezone.0);
                let mut entry = AgendaEntry::new("absence", Some(id.0), times, absence.organisation_id.map(|o| o.0));
                entry.title = Some(absence.title.clone());
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// RDVs, from the agent's day streams (the guard against double
    /// booking), in their organisation's zone.
    async fn rdvs(&self, app: &Context) -> Result<Vec<AgendaEntry>, Error> {
        let mut entries = Vec::new();
        for day in self.from.iter_days().take_while(|d| *d <= self.to) {
            let agent_day = app.load::<AgentDay>(&AgentDay::stream_id(self.agent_id, day)).await?;
            for rdv_id in agent_day.reservations.keys() {
                let Some(rdv) = app.load::<Rdv>(&rdv_id.to_string()).await?.0 else {
                    continue;
                };
                let b = &rdv.booking;
                let organisation = app.load::<Organisation>(&b.organisation_id.to_string()).await?;
                let zone = organisation.state()?.timezone.0;
                let times = (
                    b.starts_at.with_timezone(&zone).to_rfc3339(),
                    b.ends_at.with_timezone(&zone).to_rfc3339(),
                );
                let mut entry = AgendaEntry::new("rdv", Some(rdv_id.0), times, Some(b.organisation_id.0));
                entry.lieu_id = b.lieu_id.map(|l| l.0);
                entry.status = Some(rdv.status);
                entry.arrived_at = rdv.arrived_at;
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

/// The availability calendars' documents of a collection under one parent.
async fn calendar_docs<T: serde::de::DeserializeOwned>(
    app: &Context,
    collection: &str,
    parent: &str,
) -> Result<Vec<T>, Error> {
    let docs = app.store.docs(availability::NAME, collection, parent).await?;
    docs.into_iter()
        .map(|doc| serde_json::from_value(doc).map_err(Error::internal))
        .collect()
}
