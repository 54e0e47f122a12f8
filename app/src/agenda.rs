//! An agent's agenda: plages d'ouverture ([`CreatePlage`], [`UpdatePlage`],
//! [`DeletePlage`]) and absences ([`RecordAbsence`], [`UpdateAbsence`],
//! [`DeleteAbsence`]). The agent manages its own; an organisation's admin
//! manages the part of a shared agent's agenda that belongs to that
//! organisation, and nothing of the others' (see [`absence_scope`]).

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Changed, Respond, change_record},
};
use chrono::{NaiveDate, NaiveTime};
use rdv_domain::{
    DomainError, FieldError,
    agenda::{Absence, AgentAgenda, AgentAgendaCommand, Plage},
    agent::Agent,
    availability::recurrence::Recurrence,
    ids::{AbsenceId, AgentId, LieuId, MotifId, OrganisationId, PlageId, TerritoryId},
    lieu::{Availability, Lieu},
    motif::{LocationType, Motif},
    organisation::Organisation,
    rights::Permission,
    values::TimeZone,
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome};
use rdv_projections::availability::{self, AbsenceView, PlageView};
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

fn once() -> Recurrence {
    Recurrence::Once
}

// A plage as an agent or an admin gives it, for creation or replacement
// (no doc comment: the API schema has none).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PlageRequest {
    pub organisation_id: OrganisationId,
    pub lieu_id: Option<LieuId>,
    pub motif_ids: BTreeSet<MotifId>,
    pub title: Option<String>,
    pub first_day: NaiveDate,
    #[schema(value_type = String, example = "09:00")]
    pub start_time: NaiveTime,
    #[schema(value_type = String, example = "12:00")]
    pub end_time: NaiveTime,
    #[serde(default = "once")]
    pub recurrence: Recurrence,
}

// An absence as an agent or an admin gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AbsenceRequest {
    pub title: String,
    pub first_day: NaiveDate,
    #[schema(value_type = String, example = "14:00")]
    pub start_time: NaiveTime,
    /// Defaults to the first day.
    pub end_day: Option<NaiveDate>,
    #[schema(value_type = String, example = "18:00")]
    pub end_time: NaiveTime,
    #[serde(default = "once")]
    pub recurrence: Recurrence,
}

/// A plage saved, with the agent's other plages it overlaps (accepted, as
/// in RDV Service Public, and told as warnings).
#[derive(Debug, Clone)]
pub struct PlageSaved {
    pub agent_id: AgentId,
    pub plage_id: PlageId,
    pub overlapping: Vec<PlageId>,
}

/// An absence recorded.
#[derive(Debug, Clone, Copy)]
pub struct AbsenceRecorded {
    pub agent_id: AgentId,
    pub absence_id: AbsenceId,
}

/// The agent's own agenda, or one the caller administers in `organisation`.
fn require_agenda_right(
    caller: &Caller,
    agent: AgentId,
    organisation: OrganisationId,
    territory: TerritoryId,
) -> Result<(), Error> {
    let place = Place::Agenda {
        agent,
        organisation,
        territory,
    };
    caller.require(Permission::Agenda, place)
}

/// A document of the availability projection; if missing, waits until the
/// projection has caught up with the store (a record created a moment ago).
async fn fresh_doc<T: serde::de::DeserializeOwned>(
    app: &Context,
    collection: &str,
    id: &str,
    what: &str,
) -> Result<T, Error> {
    let mut doc = app.store.doc(availability::NAME, collection, id).await?;
    if doc.is_none() {
        app.wait_for(availability::NAME, Some(app.store.head().await?)).await?;
        doc = app.store.doc(availability::NAME, collection, id).await?;
    }
    doc.and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| Error::not_found(what))
}

/// Builds a plage from a request, checking it against the organisation: the
/// agent works there, the lieu is its own and enabled, the motifs are enabled
/// there, and a lieu is given when a motif takes place on site.
async fn plage_from(app: &Context, caller: &Caller, agent: AgentId, r: PlageRequest) -> Result<Plage, Error> {
    let organisation = app.load::<Organisation>(&r.organisation_id.to_string()).await?;
    let organisation = organisation
        .0
        .ok_or_else(|| DomainError::invalid("organisation_id", "no such organisation"))?;
    require_agenda_right(caller, agent, r.organisation_id, organisation.territory_id)?;
    let agent_state = app.load::<Agent>(&agent.to_string()).await?;
    if !agent_state.state()?.memberships.contains_key(&r.organisation_id) {
        return Err(DomainError::invalid("organisation_id", "the agent does not work in this organisation").into());
    }
    let mut errors = Vec::new();
    let mut on_site = false;
    for (i, motif_id) in r.motif_ids.iter().enumerate() {
        match app.load::<Motif>(&motif_id.to_string()).await?.0 {
            Some(m) if !m.archived && m.config.organisation_ids.contains(&r.organisation_id) => {
                on_site |= m.config.informations.location_type == LocationType::PublicOffice;
            }
            _ => errors.push(FieldError::new(
                format!("motif_ids[{i}]"),
                "no such motif enabled in this organisation",
            )),
        }
    }
    match r.lieu_id {
        Some(lieu_id) => match app.load::<Lieu>(&lieu_id.to_string()).await?.0 {
            Some(l) if l.organisation_id == r.organisation_id && l.availability == Availability::Enabled => {}
            _ => errors.push(FieldError::new("lieu_id", "no such enabled lieu in this organisation")),
        },
        None if on_site => errors.push(FieldError::new("lieu_id", "a motif on site needs a lieu")),
        None => {}
    }
    if !errors.is_empty() {
        return Err(DomainError::invalid_fields(errors).into());
    }
    Ok(Plage {
        organisation_id: r.organisation_id,
        lieu_id: r.lieu_id,
        motif_ids: r.motif_ids,
        title: r.title.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        first_day: r.first_day,
        start_time: r.start_time,
        end_time: r.end_time,
        recurrence: r.recurrence,
        timezone: organisation.timezone,
    })
}

/// Handles a plage command, then looks for overlaps among the agenda as it
/// was (the command is validated first).
async fn save_plage(
    app: &Context,
    command: &CommandContext,
    saved: (AgentId, PlageId, Plage),
    create: bool,
    if_match: Option<i64>,
    respond: impl Respond<PlageSaved>,
) -> Result<CommandOutcome, Error> {
    let (agent_id, plage_id, plage) = saved;
    let stream = agent_id.to_string();
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (stream, plage) = (stream.clone(), plage.clone());
                Box::pin(async move {
                    let boxed = Box::new(plage.clone());
                    let command = if create {
                        AgentAgendaCommand::CreatePlage { plage_id, plage: boxed }
                    } else {
                        AgentAgendaCommand::UpdatePlage { plage_id, plage: boxed }
                    };
                    unit.handle_expecting::<AgentAgenda>(&stream, command, if_match).await?;
                    let (agenda, _) = unit.load::<AgentAgenda>(&stream).await?;
                    let overlapping = agenda.overlapping_plages(plage_id, &plage, unit.now().date_naive());
                    Ok::<_, CommandError>(PlageSaved {
                        agent_id,
                        plage_id,
                        overlapping,
                    })
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// The agent, or an admin of the plage's organisation, opens a plage
/// d'ouverture on the agent's agenda.
#[derive(Debug, Clone)]
pub struct CreatePlage {
    pub agent_id: AgentId,
    pub plage: PlageRequest,
}

impl CreatePlage {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<PlageSaved>,
    ) -> Result<CommandOutcome, Error> {
        let plage = plage_from(app, caller, self.agent_id, self.plage).await?;
        save_plage(
            app,
            command,
            (self.agent_id, PlageId::new(), plage),
            true,
            None,
            respond,
        )
        .await
    }
}

/// Replaces a plage (the whole plage, as for creation).
#[derive(Debug, Clone)]
pub struct UpdatePlage {
    pub plage_id: PlageId,
    pub plage: PlageRequest,
    /// The agenda's version the caller saw (412 when it moved on).
    pub if_match: Option<i64>,
}

impl UpdatePlage {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<PlageSaved>,
    ) -> Result<CommandOutcome, Error> {
        let current: PlageView = fresh_doc(app, availability::PLAGES, &self.plage_id.to_string(), "plage").await?;
        let agent = AgentId(current.agent_id);
        let plage = plage_from(app, caller, agent, self.plage).await?;
        save_plage(
            app,
            command,
            (agent, self.plage_id, plage),
            false,
            self.if_match,
            respond,
        )
        .await
    }
}

/// Deletes a plage.
#[derive(Debug, Clone)]
pub struct DeletePlage {
    pub plage_id: PlageId,
    pub if_match: Option<i64>,
}

impl DeletePlage {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let current: PlageView = fresh_doc(app, availability::PLAGES, &self.plage_id.to_string(), "plage").await?;
        let organisation = app.organisation(current.plage.organisation_id).await?;
        let agent = AgentId(current.agent_id);
        require_agenda_right(caller, agent, current.plage.organisation_id, organisation.territory_id)?;
        let delete = AgentAgendaCommand::DeletePlage {
            plage_id: self.plage_id,
        };
        change_record::<AgentAgenda>(app, command, agent, delete, self.if_match, respond).await
    }
}

/// Where the caller's absences for an agent apply, and the zone they are
/// read in. The agent, or a caller who manages the agenda in every one of
/// its organisations, records absences for all of them (`None`); an admin
/// of only some records them for the first of those, so an organisation
/// sharing the agent cannot take time from another's plages. 403 for
/// anyone else.
pub async fn absence_scope(
    app: &Context,
    caller: &Caller,
    agent: AgentId,
) -> Result<(TimeZone, Option<OrganisationId>), Error> {
    let agent_state = app.load::<Agent>(&agent.to_string()).await?;
    let agent_state = agent_state.0.ok_or_else(|| Error::not_found("agent"))?;
    let managed = caller.agenda_organisations(agent, &agent_state);
    let Some(first) = managed.first().copied() else {
        let message = "only the agent or an admin of its organisations manages its absences";
        return Err(DomainError::forbidden(message).into());
    };
    let everywhere = caller.agent_id() == Some(agent) || managed.len() == agent_state.memberships.len();
    let zone = app
        .load::<Organisation>(&first.to_string())
        .await?
        .0
        .map(|o| o.timezone)
        .unwrap_or_default();
    Ok((zone, (!everywhere).then_some(first)))
}

/// An existing absence, if the caller could record it with the same scope:
/// the agent (or a manager of all its organisations) for any, an
/// organisation's admin for that organisation's only. Returns it with the
/// zone the caller's absences are read in.
async fn changeable_absence(
    app: &Context,
    caller: &Caller,
    absence_id: AbsenceId,
) -> Result<(AbsenceView, TimeZone), Error> {
    let current: AbsenceView = fresh_doc(app, availability::ABSENCES, &absence_id.to_string(), "absence").await?;
    let (zone, scope) = absence_scope(app, caller, AgentId(current.agent_id)).await?;
    if scope.is_some() && scope != current.absence.organisation_id {
        let message = "this absence was recorded by the agent or another organisation";
        return Err(DomainError::forbidden(message).into());
    }
    Ok((current, zone))
}

fn absence_from(r: AbsenceRequest, (zone, organisation_id): (TimeZone, Option<OrganisationId>)) -> Absence {
    Absence {
        organisation_id,
        title: r.title.trim().to_string(),
        end_day: r.end_day.unwrap_or(r.first_day),
        first_day: r.first_day,
        start_time: r.start_time,
        end_time: r.end_time,
        recurrence: r.recurrence,
        timezone: zone,
    }
}

/// Records an absence of an agent, in the caller's scope (see
/// [`absence_scope`]).
#[derive(Debug, Clone)]
pub struct RecordAbsence {
    pub agent_id: AgentId,
    pub absence: AbsenceRequest,
}

impl RecordAbsence {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<AbsenceRecorded>,
    ) -> Result<CommandOutcome, Error> {
        let agent_id = self.agent_id;
        let scope = absence_scope(app, caller, agent_id).await?;
        let absence_id = AbsenceId::new();
        let create = AgentAgendaCommand::CreateAbsence {
            absence_id,
            absence: absence_from(self.absence, scope),
        };
        let recorded = AbsenceRecorded { agent_id, absence_id };
        let respond = move |_: &Changed, summary: &rdv_eventstore::CommitSummary<'_>| respond(&recorded, summary);
        change_record::<AgentAgenda>(app, command, agent_id, create, None, respond).await
    }
}

/// Replaces an absence; it keeps the scope it was recorded with.
#[derive(Debug, Clone)]
pub struct UpdateAbsence {
    pub absence_id: AbsenceId,
    pub absence: AbsenceRequest,
    pub if_match: Option<i64>,
}

impl UpdateAbsence {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let (current, zone) = changeable_absence(app, caller, self.absence_id).await?;
        let update = AgentAgendaCommand::UpdateAbsence {
            absence_id: self.absence_id,
            absence: absence_from(self.absence, (zone, current.absence.organisation_id)),
        };
        let agent = AgentId(current.agent_id);
        change_record::<AgentAgenda>(app, command, agent, update, self.if_match, respond).await
    }
}

/// Deletes an absence.
#[derive(Debug, Clone)]
pub struct DeleteAbsence {
    pub absence_id: AbsenceId,
    pub if_match: Option<i64>,
}

impl DeleteAbsence {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let (current, _) = changeable_absence(app, caller, self.absence_id).await?;
        let delete = AgentAgendaCommand::DeleteAbsence {
            absence_id: self.absence_id,
        };
        let agent = AgentId(current.agent_id);
        change_record::<AgentAgenda>(app, command, agent, delete, self.if_match, respond).await
    }
}
