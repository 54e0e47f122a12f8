use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, path_id},
    reply::{CommandAnswer, CommandReply, reply},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{NaiveDate, NaiveTime};
use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
use rdv_domain::{
    DomainError, FieldError,
    agenda::{Absence, AgentAgenda, AgentAgendaCommand, Plage},
    agent::Agent,
    availability::recurrence::Recurrence,
    ids::{AbsenceId, AgentId, LieuId, MotifId, OrganisationId, PlageId},
    lieu::{Availability, Lieu},
    motif::{LocationType, Motif},
    organisation::Organisation,
};
use rdv_eventstore::CommandError;
use rdv_projections::availability::{self, AbsenceView, PlageView};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

fn once() -> Recurrence {
    Recurrence::Once
}

#[derive(Deserialize, ToSchema)]
pub struct PlageRequest {
    organisation_id: OrganisationId,
    lieu_id: Option<LieuId>,
    motif_ids: BTreeSet<MotifId>,
    title: Option<String>,
    first_day: NaiveDate,
    #[schema(value_type = String, example = "09:00")]
    start_time: NaiveTime,
    #[schema(value_type = String, example = "12:00")]
    end_time: NaiveTime,
    #[serde(default = "once")]
    recurrence: Recurrence,
}

/// The agent's own agenda, or one the caller administers in `organisation`.
fn require_agenda_right(
    principal: &Principal,
    agent: AgentId,
    organisation: OrganisationId,
    territory: rdv_domain::ids::TerritoryId,
) -> Result<(), ApiError> {
    let place = Place::Agenda {
        agent,
        organisation,
        territory,
    };
    Ok(principal.require(Permission::Agenda, place)?)
}

/// Builds a plage from a request, checking it against the organisation: the
/// agent works there, the lieu is its own and enabled, the motifs are enabled
/// there, and a lieu is given when a motif takes place on site.
async fn plage_from(
    state: &AppState,
    principal: &Principal,
    agent: AgentId,
    r: PlageRequest,
) -> Result<Plage, ApiError> {
    let organisation = state.load::<Organisation>(&r.organisation_id.to_string()).await?;
    let organisation = organisation
        .0
        .ok_or_else(|| DomainError::invalid("organisation_id", "no such organisation"))?;
    require_agenda_right(principal, agent, r.organisation_id, organisation.territory_id)?;
    let agent_state = state.load::<Agent>(&agent.to_string()).await?;
    if !agent_state.state()?.memberships.contains_key(&r.organisation_id) {
        return Err(DomainError::invalid("organisation_id", "the agent does not work in this organisation").into());
    }
    let mut errors = Vec::new();
    let mut on_site = false;
    for (i, motif_id) in r.motif_ids.iter().enumerate() {
        match state.load::<Motif>(&motif_id.to_string()).await?.0 {
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
        Some(lieu_id) => match state.load::<Lieu>(&lieu_id.to_string()).await?.0 {
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

/// Handles a plage command and answers, with a warning for each of the
/// agent's other plages it overlaps (accepted, as in RDV Service Public).
async fn save_plage(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    agent: AgentId,
    plage_id: PlageId,
    plage: Plage,
    create: bool,
    if_match: Option<i64>,
) -> Result<CommandReply, ApiError> {
    let agent_id = agent.to_string();
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (agent_id, plage) = (agent_id.clone(), plage.clone());
                Box::pin(async move {
                    let command = if create {
                        AgentAgendaCommand::CreatePlage { plage_id, plage: Box::new(plage.clone()) }
                    } else {
                        AgentAgendaCommand::UpdatePlage { plage_id, plage: Box::new(plage.clone()) }
                    };
                    // Handled (so validated) first; overlaps are then looked
                    // for among the agenda as it was.
                    unit.handle_expecting::<AgentAgenda>(&agent_id, command, if_match).await?;
                    let (agenda, _) = unit.load::<AgentAgenda>(&agent_id).await?;
                    Ok::<_, CommandError>(agenda.overlapping_plages(plage_id, &plage, unit.now().date_naive()))
                })
            },
            reply(
                if create { StatusCode::CREATED } else { StatusCode::OK },
                "AgentAgenda",
                |_| agent_id.clone(),
                |overlapping: &Vec<PlageId>| {
                    let warnings: Vec<Value> = overlapping
                        .iter()
                        .map(|id| json!({"code": "overlapping_plage", "plage_id": id, "message": "overlaps another plage of the agent"}))
                        .collect();
                    json!({"plage_id": plage_id, "warnings": warnings})
                },
            ),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Creates a plage d'ouverture for an agent (the agent or an organisation
/// admin). Overlaps with the agent's other plages come back as warnings.
#[utoipa::path(post, path = "/v1/agents/{id}/plages", tag = "agenda", params(("id" = String, Path)), request_body = PlageRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer, description = "also holds plage_id and warnings"), (status = 422, body = crate::error::Problem)))]
pub async fn create_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PlageRequest>,
) -> Result<CommandReply, ApiError> {
    let agent: AgentId = path_id(&id, "agent")?;
    let plage = plage_from(&state, &principal, agent, body.value).await?;
    let ctx = principal.context(&headers, &format!("POST /v1/agents/{id}/plages"), &body.hash);
    save_plage(&state, &ctx, agent, PlageId::new(), plage, true, None).await
}

/// A document of the availability projection; if missing, waits until the
/// projection has caught up with the store (a record created a moment ago).
async fn fresh_doc<T: serde::de::DeserializeOwned>(
    state: &AppState,
    collection: &str,
    id: &str,
    what: &str,
) -> Result<T, ApiError> {
    let mut doc = state.store.doc(availability::NAME, collection, id).await?;
    if doc.is_none() {
        state
            .wait_for(availability::NAME, Some(state.store.head().await?))
            .await?;
        doc = state.store.doc(availability::NAME, collection, id).await?;
    }
    doc.and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| ApiError::not_found(what))
}

/// Replaces a plage (the body is a whole plage, as for creation).
#[utoipa::path(patch, path = "/v1/plages/{id}", tag = "agenda", params(("id" = String, Path)), request_body = PlageRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn update_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PlageRequest>,
) -> Result<CommandReply, ApiError> {
    let plage_id: PlageId = path_id(&id, "plage")?;
    let current: PlageView = fresh_doc(&state, availability::PLAGES, &id, "plage").await?;
    let agent = AgentId(current.agent_id);
    let plage = plage_from(&state, &principal, agent, body.value).await?;
    let ctx = principal.context(&headers, &format!("PATCH /v1/plages/{id}"), &body.hash);
    save_plage(&state, &ctx, agent, plage_id, plage, false, headers.if_match).await
}

/// Deletes a plage.
#[utoipa::path(delete, path = "/v1/plages/{id}", tag = "agenda", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn delete_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let plage_id: PlageId = path_id(&id, "plage")?;
    let current: PlageView = fresh_doc(&state, availability::PLAGES, &id, "plage").await?;
    let organisation = state
        .load::<Organisation>(&current.plage.organisation_id.to_string())
        .await?;
    let territory = organisation.state()?.territory_id;
    require_agenda_right(
        &principal,
        AgentId(current.agent_id),
        current.plage.organisation_id,
        territory,
    )?;
    let ctx = principal.context(&headers, &format!("DELETE /v1/plages/{id}"), "");
    let command = AgentAgendaCommand::DeletePlage { plage_id };
    state
        .command::<AgentAgenda>(
            &ctx,
            &current.agent_id.to_string(),
            command,
            headers.if_match,
            StatusCode::OK,
        )
        .await
}

#[derive(Deserialize, ToSchema)]
pub struct AbsenceRequest {
    title: String,
    first_day: NaiveDate,
    #[schema(value_type = String, example = "14:00")]
    start_time: NaiveTime,
    /// Defaults to the first day.
    end_day: Option<NaiveDate>,
    #[schema(value_type = String, example = "18:00")]
    end_time: NaiveTime,
    #[serde(default = "once")]
    recurrence: Recurrence,
}

/// Where the caller's absences for an agent apply, and the zone they are
/// read in. The agent, or a caller who manages the agenda in every one of
/// its organisations, records absences for all of them (`None`); an admin
/// of only some records them for the first of those, so an organisation
/// sharing the agent cannot take time from another's plages. 403 for
/// anyone else.
async fn absence_scope(
    state: &AppState,
    principal: &Principal,
    agent: AgentId,
) -> Result<(rdv_domain::values::TimeZone, Option<OrganisationId>), ApiError> {
    let agent_state = state.load::<Agent>(&agent.to_string()).await?;
    let agent_state = agent_state.0.ok_or_else(|| ApiError::not_found("agent"))?;
    let managed = principal.agenda_organisations(agent, &agent_state);
    let Some(first) = managed.first().copied() else {
        return Err(ApiError::forbidden(
            "only the agent or an admin of its organisations manages its absences",
        ));
    };
    let everywhere = principal.agent_id() == Some(agent) || managed.len() == agent_state.memberships.len();
    let zone = state
        .load::<Organisation>(&first.to_string())
        .await?
        .0
        .map(|o| o.timezone)
        .unwrap_or_default();
    Ok((zone, (!everywhere).then_some(first)))
}

/// An existing absence may be changed by whoever could record it with the
/// same scope: the agent (or a manager of all its organisations) for any,
/// an organisation's admin for that organisation's only.
async fn check_absence_scope(state: &AppState, principal: &Principal, current: &AbsenceView) -> Result<(), ApiError> {
    let (_, scope) = absence_scope(state, principal, AgentId(current.agent_id)).await?;
    if scope.is_some() && scope != current.absence.organisation_id {
        return Err(ApiError::forbidden(
            "this absence was recorded by the agent or another organisation",
        ));
    }
    Ok(())
}

fn absence_from(
    r: AbsenceRequest,
    (zone, organisation_id): (rdv_domain::values::TimeZone, Option<OrganisationId>),
) -> Absence {
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

/// Records an absence of an agent; it applies in all its organisations.
#[utoipa::path(post, path = "/v1/agents/{id}/absences", tag = "agenda", params(("id" = String, Path)), request_body = AbsenceRequest,
    security(("bearer" = [])), responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AbsenceRequest>,
) -> Result<CommandReply, ApiError> {
    let agent: AgentId = path_id(&id, "agent")?;
    let scope = absence_scope(&state, &principal, agent).await?;
    let absence_id = AbsenceId::new();
    let command = AgentAgendaCommand::CreateAbsence {
        absence_id,
        absence: absence_from(body.value, scope),
    };
    let ctx = principal.context(&headers, &format!("POST /v1/agents/{id}/absences"), &body.hash);
    let respond = reply(
        StatusCode::CREATED,
        "AgentAgenda",
        |_| id.clone(),
        |_| json!({"absence_id": absence_id}),
    );
    Ok(CommandReply(
        state
            .commands
            .execute::<AgentAgenda, _>(&ctx, &id, command, None, respond)
            .await?,
    ))
}

/// Replaces an absence.
#[utoipa::path(patch, path = "/v1/absences/{id}", tag = "agenda", params(("id" = String, Path)), request_body = AbsenceRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn update_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AbsenceRequest>,
) -> Result<CommandReply, ApiError> {
    let absence_id: AbsenceId = path_id(&id, "absence")?;
    let current: AbsenceView = fresh_doc(&state, availability::ABSENCES, &id, "absence").await?;
    check_absence_scope(&state, &principal, &current).await?;
    let (zone, _) = absence_scope(&state, &principal, AgentId(current.agent_id)).await?;
    let command = AgentAgendaCommand::UpdateAbsence {
        absence_id,
        absence: absence_from(body.value, (zone, current.absence.organisation_id)),
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/absences/{id}"), &body.hash);
    state
        .command::<AgentAgenda>(
            &ctx,
            &current.agent_id.to_string(),
            command,
            headers.if_match,
            StatusCode::OK,
        )
        .await
}

/// Deletes an absence.
#[utoipa::path(delete, path = "/v1/absences/{id}", tag = "agenda", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn delete_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let absence_id: AbsenceId = path_id(&id, "absence")?;
    let current: AbsenceView = fresh_doc(&state, availability::ABSENCES, &id, "absence").await?;
    check_absence_scope(&state, &principal, &current).await?;
    let ctx = principal.context(&headers, &format!("DELETE /v1/absences/{id}"), "");
    let command = AgentAgendaCommand::DeleteAbsence { absence_id };
    state
        .command::<AgentAgenda>(
            &ctx,
            &current.agent_id.to_string(),
            command,
            headers.if_match,
            StatusCode::OK,
        )
        .await
}
