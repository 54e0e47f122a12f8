//! RDVs: booking, lifecycle and participants, over the `Rdv` aggregate and
//! the agents' day streams ([`rdv_domain::agent_day`]) in one transaction.
//! This module holds what the routes share: reserving and releasing time,
//! notices to usagers, access checks, and the read routes.

use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
pub mod booking;
pub mod convocations;
pub mod lifecycle;
pub mod participants;

use crate::routes::usagers::{UsagerFields, usager_field_settings};
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, path_id},
    reply::{CommandAnswer, CommandReply, reply},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rdv_app::rdv_notices::{Recipient, notice_context, notice_context_of, notify_all, queue_notice, recipient};
use rdv_app::{
    availability::{self as engine, SlotSearch, SlotView},
    notifications::{self, RdvNotice},
    tokens,
};
use rdv_domain::{
    DomainError, ErrorKind, FieldError,
    agent::Agent,
    agent_day::{AgentDay, AgentDayCommand},
    availability::slots::{Interval, Slot},
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    lieu::Availability,
    motif::{BookableBy, Motif, MotifConfig, Visibility},
    organisation::OrganisationState,
    rdv::{Actor, Atelier, Booking, Prescripteur, Rdv, RdvCommand, RdvState, RdvStatus, participation_token_ttl},
    usager::{Usager, UsagerCommand, UsagerProfile},
    values::{Email, Text},
};
use rdv_eventstore::{CommandError, UnitOfWork};
use rdv_projections::rdvs::RdvDoc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Reserves each agent's time on the RDV's local day; returns a warning per
/// overlapping RDV (agents may double-book, usagers may not).
async fn reserve(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    agents: &BTreeSet<AgentId>,
    interval: Interval,
    organisation: &OrganisationState,
    exclusive: bool,
) -> Result<Vec<Value>, CommandError> {
    let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
    let mut warnings = Vec::new();
    for agent in agents {
        let stream = AgentDay::stream_id(*agent, day);
        let (agent_day, _) = unit.load::<AgentDay>(&stream).await?;
        for other in agent_day.overlapping(rdv_id, interval) {
            warnings.push(json!({"code": "overlapping_rdv", "agent_id": agent, "rdv_id": other, "message": "the agent has another RDV at this time"}));
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

/// The RDV, after checking the caller works in its organisation.
async fn agent_rdv(state: &AppState, principal: &Principal, id: &str) -> Result<(RdvId, RdvState), ApiError> {
    let rdv_id: RdvId = path_id(id, "rdv")?;
    let rdv = state
        .load::<Rdv>(id)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("rdv"))?;
    let organisation =
        crate::routes::organisations::organisation(state, &rdv.booking.organisation_id.to_string()).await?;
    principal.require_territory_visibility(organisation.1.territory_id, "rdv")?;
    principal.require(
        Permission::Rdvs,
        Place::Organisation(organisation.0, organisation.1.territory_id),
    )?;
    Ok((rdv_id, rdv))
}

/// Whether the espace shows the internal Contexte field. When it is off,
/// views hide the stored value, which shows again when it is turned back on.
async fn context_shown(state: &AppState, organisation: &OrganisationState) -> Result<bool, ApiError> {
    let territory = state
        .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
        .await?;
    Ok(territory.state()?.settings.rdv_fields.context_enabled)
}

/// An RDV with its history.
#[derive(Serialize, ToSchema)]
pub struct RdvWithHistory {
    #[serde(flatten)]
    rdv: RdvDoc,
    /// Every change: who, when, which fields.
    history: Vec<rdv_app::history::HistoryEntry>,
}

/// An RDV (read from its stream: always current) and its history, or as it
/// stood at `as_of` (its events until then). The Contexte note is left out
/// of both while the espace has it turned off.
#[utoipa::path(get, path = "/v1/rdvs/{id}", tag = "rdvs", params(("id" = String, Path), crate::extract::AsOf),
    security(("bearer" = [])),
    responses((status = 200, body = RdvWithHistory), (status = 404, body = crate::error::Problem)))]
pub async fn get_rdv(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<crate::extract::AsOf>,
) -> Result<Json<RdvWithHistory>, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let rdv = match q.as_of {
        Some(_) => state
            .load_as_of::<Rdv>(&id, q.as_of)
            .await?
            .0
            .ok_or_else(|| ApiError::not_found("rdv as of this instant"))?,
        None => rdv,
    };
    let organisation = crate::routes::organisations::organisation(&state, &rdv.booking.organisation_id.to_string())
        .await?
        .1;
    let show_context = context_shown(&state, &organisation).await?;
    let view = |s: &RdvState| {
        let mut doc = RdvDoc::new(rdv_id.0, s);
        doc.context = doc.context.filter(|_| show_context);
        doc
    };
    let mut events = state.store.load_stream("Rdv", &id).await?.to_vec();
    events.retain(|e| q.as_of.is_none_or(|at| e.metadata.occurred_at <= at));
    let history = rdv_app::history::of::<Rdv>(&events, |r| r.0.as_ref().map_or(Value::Null, |s| json!(view(s))))?;
    Ok(Json(RdvWithHistory {
        rdv: view(&rdv),
        history,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RdvFilters {
    starts_after: Option<DateTime<FixedOffset>>,
    starts_before: Option<DateTime<FixedOffset>>,
    status: Option<RdvStatus>,
    agent_id: Option<AgentId>,
    lieu_id: Option<LieuId>,
    motif_id: Option<MotifId>,
    /// 1-based (default 1).
    page: Option<usize>,
    /// Default 100, at most 500.
    per_page: Option<usize>,
    min_position: Option<i64>,
}

/// Pagination as RDV Service Public's API gives it.
#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    current_page: usize,
    next_page: Option<usize>,
    prev_page: Option<usize>,
    total_pages: usize,
    total_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RdvPage {
    rdvs: Vec<RdvDoc>,
    meta: PageMeta,
}

/// The RDVs of an organisation, filtered, ordered by start then id.
#[utoipa::path(get, path = "/v1/organisations/{id}/rdvs", tag = "rdvs", params(("id" = String, Path), RdvFilters),
    security(("bearer" = [])), responses((status = 200, body = RdvPage)))]
pub async fn list_rdvs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<RdvFilters>,
) -> Result<Json<RdvPage>, ApiError> {
    let (organisation_id, organisation) = crate::routes::organisations::organisation(&state, &id).await?;
    principal.require(
        Permission::Rdvs,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    let per_page = q.per_page.unwrap_or(100);
    if !(1..=500).contains(&per_page) {
        return Err(DomainError::invalid("per_page", "must be between 1 and 500").into());
    }
    let page = q.page.unwrap_or(1).max(1);
    state.wait_for(rdv_projections::rdvs::NAME, q.min_position).await?;
    let docs = state
        .store
        .docs(rdv_projections::rdvs::NAME, rdv_projections::rdvs::RDVS, &id)
        .await?;
    let mut rdvs: Vec<RdvDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
        .filter(|r| {
            q.starts_after.is_none_or(|t| r.starts_at >= t)
                && q.starts_before.is_none_or(|t| r.starts_at < t)
                && q.status.is_none_or(|s| r.status == s)
                && q.agent_id.is_none_or(|a| r.agent_ids.contains(&a.0))
                && q.lieu_id.is_none_or(|l| r.lieu_id == Some(l.0))
                && q.motif_id.is_none_or(|m| r.motif_id == m.0)
        })
        .collect();
    rdvs.sort_by_key(|r| (r.starts_at, r.id));
    let total_count = rdvs.len();
    let total_pages = total_count.div_ceil(per_page).max(1);
    let mut rdvs: Vec<RdvDoc> = rdvs.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    if !context_shown(&state, &organisation).await? {
        rdvs.iter_mut().for_each(|d| d.context = None);
    }
    let meta = PageMeta {
        current_page: page,
        next_page: (page < total_pages).then_some(page + 1),
        prev_page: (page > 1).then_some(page - 1),
        total_pages,
        total_count,
    };
    Ok(Json(RdvPage { rdvs, meta }))
}

/// The answer of an RDV command whose result is a list of warnings.
fn answer_with_warnings(
    status: StatusCode,
    rdv_id: RdvId,
) -> impl Fn(&Vec<Value>, &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(
        status,
        "Rdv",
        move |_| rdv_id.to_string(),
        |warnings: &Vec<Value>| json!({"warnings": warnings}),
    )
}

/// The organisation of an RDV.
async fn rdv_organisation(state: &AppState, rdv: &RdvState) -> Result<OrganisationState, ApiError> {
    let organisation = state
        .load::<rdv_domain::organisation::Organisation>(&rdv.booking.organisation_id.to_string())
        .await?;
    Ok(organisation.state()?.clone())
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The participation token from the booking or its notification.
    token: String,
}

/// The RDV a participation token opens: 422 for a wrong token, 410 once
/// the link has expired.
async fn usager_rdv(state: &AppState, id: &str, token: &str) -> Result<(RdvId, RdvState, UsagerId), ApiError> {
    let rdv_id: RdvId = path_id(id, "rdv")?;
    let rdv = state
        .load::<Rdv>(id)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("rdv"))?;
    let token = token.trim();
    let invalid = || DomainError::invalid("token", "this participation token is not valid");
    if tokens::participation_rdv(token) != Some(rdv_id) {
        return Err(invalid().into());
    }
    let usager = rdv.participant_of_token(&tokens::hash(token)).ok_or_else(invalid)?;
    let until = rdv.participations[&usager].token.as_ref().map(|(_, until)| *until);
    if until.is_some_and(|until| until <= state.services().now()) {
        return Err(DomainError::gone("this participation link has expired").into());
    }
    Ok((rdv_id, rdv, usager))
}

/// Handles a command on an existing RDV within the unit and returns its
/// state before and after (see [`change_rdv`]).
async fn handle_rdv(
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
async fn change_rdv(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    command: RdvCommand,
) -> Result<(Option<RdvState>, RdvState), CommandError> {
    change_rdv_notifying(unit, rdv_id, command, &rdv_domain::follow_up::sms_and_email()).await
}

/// As [`change_rdv`], with the channels of the convocation notices of new
/// participations (a convocation may ask for fewer).
pub(crate) async fn change_rdv_notifying(
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
    rdv_app::follow_ups::track(unit, (before.as_ref(), &after), rdv_id, formats).await?;
    Ok((before, after))
}

/// Frees the agents' time when the RDV became cancelled, and takes it again
/// (with overlap warnings) when it no longer is.
async fn follow_cancellation(
    unit: &mut UnitOfWork<'_>,
    rdv_id: RdvId,
    before: &RdvState,
    after: &RdvState,
    organisation: &OrganisationState,
) -> Result<Vec<Value>, CommandError> {
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
async fn agent_errors(
    state: &AppState,
    organisation_id: OrganisationId,
    agents: &BTreeSet<AgentId>,
) -> Result<Vec<FieldError>, ApiError> {
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
fn requested_start(state: &AppState, starts_at: DateTime<FixedOffset>) -> Result<DateTime<Utc>, ApiError> {
    let today = state.services().now().date_naive();
    rdv_domain::values::check_horizon(starts_at.date_naive(), today, "starts_at")?;
    Ok(starts_at.with_timezone(&Utc))
}

/// The longest RDV: a day.
const MAX_DURATION_IN_MIN: u32 = 24 * 60;

/// A requested duration (`duration_in_min`, else `default`): from one minute
/// to a day, refused naming the field.
fn requested_duration(minutes: Option<u32>, default: Duration) -> Result<Duration, ApiError> {
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
async fn lieu_error(
    state: &AppState,
    organisation_id: OrganisationId,
    lieu: Option<LieuId>,
) -> Result<Option<FieldError>, ApiError> {
    let Some(lieu) = lieu else { return Ok(None) };
    let usable = state
        .load::<rdv_domain::lieu::Lieu>(&lieu.to_string())
        .await?
        .0
        .is_some_and(|l| l.organisation_id == organisation_id && l.availability != Availability::Disabled);
    Ok((!usable).then(|| FieldError::new("lieu_id", "no such enabled lieu in this organisation")))
}

/// Whether the usager belongs to the organisation.
async fn usager_in(state: &AppState, usager: UsagerId, organisation_id: OrganisationId) -> Result<bool, ApiError> {
    Ok(state
        .load::<Usager>(&usager.to_string())
        .await?
        .0
        .is_some_and(|u| u.organisation_ids.contains(&organisation_id)))
}

/// The warning of an atelier with more participants than seats.
fn too_many_participants() -> Value {
    json!({"code": "too_many_participants", "message": "the atelier has more participants than seats"})
}

/// Frees each agent's time on the RDV's local day.
async fn release(
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
async fn next_slots(state: &AppState, search: &mut SlotSearch, day: NaiveDate) -> Result<Vec<SlotView>, ApiError> {
    search.from = day;
    search.to = day + Duration::days(13);
    let mut slots = engine::search(state, search).await?;
    slots.dedup_by(|a, b| a.starts_at == b.starts_at);
    Ok(slots.iter().take(5).map(|s| SlotView::new(s, search.zone())).collect())
}

/// A status to set. To cancel: `excused` (the usager's reason) or
/// `revoked` (the service's).
#[derive(Deserialize, ToSchema)]
pub struct StatusRequest {
    status: RdvStatus,
}
