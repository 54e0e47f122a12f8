//! Changing RDVs, the protocol every RDV use case follows: the RDV and its
//! agents' day streams ([`rdv_domain::agent_day`]) change in one unit of
//! work, so time is reserved (or freed) with the RDV or not at all, and
//! every change reaches the usagers' follow-ups in the same commit. Also
//! the checks of what a request names (agents, usagers, lieu, start and
//! duration) shared by booking, moving and convoking.

use crate::{
    Context, Error,
    availability::{self as engine, SlotSearch},
    slot_views::SlotView,
};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rdv_domain::{
    DomainError, FieldError,
    agent::Agent,
    agent_day::{AgentDay, AgentDayCommand},
    availability::slots::Interval,
    ids::{AgentId, LieuId, OrganisationId, RdvId, UsagerId},
    lieu::Availability,
    organisation::OrganisationState,
    rdv::{Rdv, RdvCommand, RdvState},
    usager::Usager,
};
use rdv_eventstore::{CommandError, UnitOfWork};
use serde_json::json;
use std::collections::BTreeSet;

/// What an agent is told but not stopped by: RDV Service Public books
/// anyway and shows these. Serialized as `{code, message, …ids}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The agent has another RDV at this time.
    OverlappingRdv {
        agent_id: AgentId,
        rdv_id: RdvId,
    },
    /// The usager already has an RDV for this motif that day.
    SuspectedDuplicate {
        rdv_id: RdvId,
    },
    StartInThePast,
    /// An atelier's name over 50 characters.
    LongName,
    /// An atelier with more participants than seats.
    TooManyParticipants,
}

impl Warning {
    pub fn code(&self) -> &'static str {
        match self {
            Warning::OverlappingRdv { .. } => "overlapping_rdv",
            Warning::SuspectedDuplicate { .. } => "suspected_duplicate",
            Warning::StartInThePast => "start_in_the_past",
            Warning::LongName => "long_name",
            Warning::TooManyParticipants => "too_many_participants",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Warning::OverlappingRdv { .. } => "the agent has another RDV at this time",
            Warning::SuspectedDuplicate { .. } => "the usager already has an RDV for this motif that day",
            Warning::StartInThePast => "the RDV starts in the past",
            Warning::LongName => "the atelier's name is over 50 characters",
            Warning::TooManyParticipants => "the atelier has more participants than seats",
        }
    }
}

impl serde::Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = json!({"code": self.code(), "message": self.message()});
        match self {
            Warning::OverlappingRdv { agent_id, rdv_id } => {
                value["agent_id"] = json!(agent_id);
                value["rdv_id"] = json!(rdv_id);
            }
            Warning::SuspectedDuplicate { rdv_id } => value["rdv_id"] = json!(rdv_id),
            _ => {}
        }
        value.serialize(serializer)
    }
}

/// The longest RDV: a day.
pub const MAX_DURATION_IN_MIN: u32 = 24 * 60;

/// Reserves each agent's time on the RDV's local day; returns a warning per
/// overlapping RDV (agents may double-book, usagers may not).
pub async fn reserve(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    agents: &BTreeSet<AgentId>,
    interval: Interval,
    organisation: &OrganisationState,
    exclusive: bool,
) -> Result<Vec<Warning>, CommandError> {
    let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
    let mut warnings = Vec::new();
    for agent in agents {
        let stream = AgentDay::stream_id(*agent, day);
        let (agent_day, _) = unit.load::<AgentDay>(&stream).await?;
        for other in agent_day.overlapping(rdv_id, interval) {
            warnings.push(Warning::OverlappingRdv {
                agent_id: *agent,
                rdv_id: other,
            });
        }
        let command = AgentDayCommand::ReserveTime {
            rdv_id,
            starts_at: interval.start,
            ends_at: interval.end,
            exclusive,
        };
        unit.handle::<AgentDay>(&stream, command).await?;
    }
    Ok(warnings)
}

/// Handles a command on an existing RDV within the unit and returns its
/// state before and after (see [`change_rdv`]).
pub async fn handle_rdv(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    command: RdvCommand,
) -> Result<(RdvState, RdvState), CommandError> {
    let (before, after) = change_rdv(unit, rdv_id, command).await?;
    Ok((before.ok_or_else(|| DomainError::not_found("rdv"))?, after))
}

/// Handles a command on an RDV (new or not) within the unit, records the
/// change on its usagers' follow-ups, and returns the RDV before (none when
/// new) and after. Every RDV change goes through here.
pub async fn change_rdv(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    command: RdvCommand,
) -> Result<(Option<RdvState>, RdvState), CommandError> {
    change_rdv_notifying(unit, rdv_id, command, &rdv_domain::follow_up::sms_and_email()).await
}

/// As [`change_rdv`], with the channels of the convocation notices of new
/// participations (a convocation may ask for fewer).
pub async fn change_rdv_notifying(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    command: RdvCommand,
    formats: &BTreeSet<rdv_domain::category::InvitationFormat>,
) -> Result<(Option<RdvState>, RdvState), CommandError> {
    let id = rdv_id.to_string();
    let mut rdv = unit.current::<Rdv>(&id).await?;
    let before = rdv.0.clone();
    for event in unit.handle::<Rdv>(&id, command).await? {
        cqrs_es::Aggregate::apply(&mut rdv, event);
    }
    let after = rdv.state()?.clone();
    crate::follow_ups::track(unit, (before.as_ref(), &after), rdv_id, formats).await?;
    Ok((before, after))
}

/// Frees the agents' time when the RDV became cancelled, and takes it again
/// (with overlap warnings) when it no longer is.
pub async fn follow_cancellation(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    before: &RdvState,
    after: &RdvState,
    organisation: &OrganisationState,
) -> Result<Vec<Warning>, CommandError> {
    let interval = Interval::new(after.booking.starts_at, after.booking.ends_at);
    let agents = &after.booking.agent_ids;
    match (before.status.is_cancelled(), after.status.is_cancelled()) {
        (false, true) => release(unit, rdv_id, agents, interval, organisation)
            .await
            .map(|_| Vec::new()),
        (true, false) => reserve(unit, rdv_id, agents, interval, organisation, false).await,
        _ => Ok(Vec::new()),
    }
}

/// A field error for each agent (`agent_ids[i]`) not in the organisation.
pub async fn agent_errors(
    state: &Context,
    organisation_id: OrganisationId,
    agents: &BTreeSet<AgentId>,
) -> Result<Vec<FieldError>, Error> {
    let mut errors = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let member = state
            .load::<Agent>(&agent.to_string())
            .await?
            .0
            .is_some_and(|a| a.memberships.contains_key(&organisation_id));
        if !member {
            errors.push(FieldError::new(
                format!("agent_ids[{i}]"),
                "no such agent in this organisation",
            ));
        }
    }
    Ok(errors)
}

/// A requested start, within the platform's horizon (422 on `starts_at`).
pub fn requested_start(state: &Context, starts_at: DateTime<FixedOffset>) -> Result<DateTime<Utc>, Error> {
    let today = state.services().now().date_naive();
    rdv_domain::values::check_horizon(starts_at.date_naive(), today, "starts_at")?;
    Ok(starts_at.with_timezone(&Utc))
}

/// A requested duration (`duration_in_min`, else `default`): from one minute
/// to a day, refused naming the field.
pub fn requested_duration(minutes: Option<u32>, default: Duration) -> Result<Duration, Error> {
    match minutes {
        None => Ok(default),
        Some(m) if (1..=MAX_DURATION_IN_MIN).contains(&m) => Ok(Duration::minutes(m.into())),
        Some(_) => Err(DomainError::invalid(
            "duration_in_min",
            format!("must be between 1 and {MAX_DURATION_IN_MIN} minutes"),
        )
        .into()),
    }
}

/// A lieu named in a body must exist, belong to the organisation and be in
/// use (enabled or single use): a foreign or unknown lieu is the field's
/// error, never taken.
pub async fn lieu_error(
    state: &Context,
    organisation_id: OrganisationId,
    lieu: Option<LieuId>,
) -> Result<Option<FieldError>, Error> {
    let Some(lieu) = lieu else { return Ok(None) };
    let usable = state
        .load::<rdv_domain::lieu::Lieu>(&lieu.to_string())
        .await?
        .0
        .is_some_and(|l| l.organisation_id == organisation_id && l.availability != Availability::Disabled);
    Ok((!usable).then(|| FieldError::new("lieu_id", "no such enabled lieu in this organisation")))
}

/// Whether the usager belongs to the organisation.
pub async fn usager_in(state: &Context, usager: UsagerId, organisation_id: OrganisationId) -> Result<bool, Error> {
    Ok(state
        .load::<Usager>(&usager.to_string())
        .await?
        .0
        .is_some_and(|u| u.organisation_ids.contains(&organisation_id)))
}

/// Frees each agent's time on the RDV's local day.
pub async fn release(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    agents: &BTreeSet<AgentId>,
    interval: Interval,
    organisation: &OrganisationState,
) -> Result<(), CommandError> {
    let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
    for agent in agents {
        unit.handle::<AgentDay>(
            &AgentDay::stream_id(*agent, day),
            AgentDayCommand::ReleaseTime { rdv_id },
        )
        .await?;
    }
    Ok(())
}

/// Up to five slots the usager could book instead, from the requested day.
pub async fn next_slots(state: &Context, search: &mut SlotSearch, day: NaiveDate) -> Result<Vec<SlotView>, Error> {
    search.from = day;
    search.to = day + Duration::days(13);
    let mut slots = engine::search(state, search).await?;
    slots.dedup_by(|a, b| a.starts_at == b.starts_at);
    Ok(slots.iter().take(5).map(|s| SlotView::new(s, search.zone())).collect())
}
