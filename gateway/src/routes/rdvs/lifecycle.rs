//! Cancel, change status, reschedule, waiting room, and the usager's own
//! view of an RDV.

use super::*;

/// Cancels the RDV and frees its agents' time, in one transaction.
async fn cancel(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    rdv_id: RdvId,
    rdv: &RdvState,
    by: Actor,
    status: RdvStatus,
) -> Result<CommandReply, ApiError> {
    let notice = notice_context(state, &rdv.booking).await?;
    let usager_may_cancel = notice.usager_may_cancel;
    let organisation = rdv_organisation(state, rdv).await?;
    let interval = Interval::new(rdv.booking.starts_at, rdv.booking.ends_at);
    let agents = rdv.booking.agent_ids.clone();
    let id = rdv_id.to_string();
    let (usagers, starts_at) = (rdv.active_participants(), rdv.booking.starts_at);
    // RDV Service Public texts a cancellation only when the service cancelled.
    let agent_cancelled = matches!(by, Actor::Agent { .. });
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (agents, usagers, notice, organisation) =
                    (agents.clone(), usagers.clone(), notice.clone(), organisation.clone());
                Box::pin(async move {
                    let cancel = RdvCommand::CancelRdv {
                        by,
                        status,
                        usager_may_cancel,
                    };
                    change_rdv(unit, rdv_id, cancel).await?;
                    let cancelled = RdvNotice::Cancelled;
                    notify_all(unit, &notice, cancelled, usagers, starts_at, None, agent_cancelled).await?;
                    release(unit, rdv_id, &agents, interval, &organisation).await
                })
            },
            reply(StatusCode::OK, "Rdv", |_| id.clone(), |_| json!({})),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Cancels an RDV as an agent.
#[utoipa::path(post, path = "/v1/rdvs/{id}/cancel", tag = "rdvs", params(("id" = String, Path)), request_body = StatusRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn cancel_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let by = Actor::Agent {
        agent_id: principal.agent_id().unwrap_or_default(),
    };
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/cancel"), &body.hash);
    cancel(&state, &ctx, rdv_id, &rdv, by, body.value.status).await
}

/// Cancels an RDV as its usager, with the participation token: more than
/// 4 h ahead and when the motif allows it; the status becomes `excused`.
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/cancel", tag = "rdvs", params(("id" = String, Path)), request_body = TokenRequest,
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem), (status = 410, body = crate::error::Problem)))]
pub async fn public_cancel(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<TokenRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv, usager) = usager_rdv(&state, &id, &body.value.token).await?;
    let ctx = crate::auth::anonymous_context(format!("usager:{usager}"), &headers);
    if rdv.is_collective() {
        let status = RdvStatus::Excused;
        return participants::change_participation(&state, &ctx, rdv_id, &rdv, usager, Actor::Usager, status).await;
    }
    cancel(&state, &ctx, rdv_id, &rdv, Actor::Usager, RdvStatus::Excused).await
}

/// Changes an RDV's status from the agent's menu (before its day: excused,
/// revoked; on its day, once started, and after it: also seen, noshow; any
/// status back to unknown). Cancelling frees the agents' time; going back
/// from a cancellation takes it again (with warnings on overlaps).
#[utoipa::path(post, path = "/v1/rdvs/{id}/status", tag = "rdvs", params(("id" = String, Path)), request_body = StatusRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn change_status(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let organisation = rdv_organisation(&state, &rdv).await?;
    let status = body.value.status;
    let agent_id = principal.agent_id().unwrap_or_default();
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/status"), &body.hash);
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let organisation = organisation.clone();
                Box::pin(async move {
                    let zone = organisation.timezone;
                    let command = RdvCommand::ChangeRdvStatus { agent_id, status, zone };
                    let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                    follow_cancellation(unit, rdv_id, &before, &after, &organisation).await
                })
            },
            answer_with_warnings(StatusCode::OK, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Moves an RDV and its agents' reservations in one transaction, and tells
/// its usagers the new time.
async fn move_rdv(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    rdv_id: RdvId,
    rdv: &RdvState,
    by: Actor,
    to: Interval,
    usager_may_reschedule: bool,
) -> Result<CommandReply, ApiError> {
    let organisation = rdv_organisation(state, rdv).await?;
    let notice = notice_context(state, &rdv.booking).await?;
    let from = Interval::new(rdv.booking.starts_at, rdv.booking.ends_at);
    let (agents, usagers) = (rdv.booking.agent_ids.clone(), rdv.active_participants());
    let exclusive = by == Actor::Usager;
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (agents, usagers, organisation, notice) =
                    (agents.clone(), usagers.clone(), organisation.clone(), notice.clone());
                Box::pin(async move {
                    let command = RdvCommand::RescheduleRdv {
                        by,
                        starts_at: to.start,
                        ends_at: to.end,
                        usager_may_reschedule,
                    };
                    change_rdv(unit, rdv_id, command).await?;
                    release(unit, rdv_id, &agents, from, &organisation).await?;
                    if to.start != from.start {
                        notify_all(unit, &notice, RdvNotice::Updated, usagers, to.start, None, true).await?;
                    }
                    reserve(unit, rdv_id, &agents, to, &organisation, exclusive).await
                })
            },
            answer_with_warnings(StatusCode::OK, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
}

#[derive(Deserialize, ToSchema)]
pub struct RescheduleRequest {
    /// RFC 3339.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Defaults to the RDV's current duration.
    duration_in_min: Option<u32>,
}

/// Moves an RDV as an agent: any time, overlaps are warnings.
#[utoipa::path(post, path = "/v1/rdvs/{id}/reschedule", tag = "rdvs", params(("id" = String, Path)), request_body = RescheduleRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn reschedule(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<RescheduleRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let start = requested_start(&state, body.value.starts_at)?;
    let minutes = requested_duration(body.value.duration_in_min, rdv.booking.ends_at - rdv.booking.starts_at)?;
    let by = Actor::Agent {
        agent_id: principal.agent_id().unwrap_or_default(),
    };
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/reschedule"), &body.hash);
    move_rdv(
        &state,
        &ctx,
        rdv_id,
        &rdv,
        by,
        Interval::new(start, start + minutes),
        false,
    )
    .await
}

#[derive(Deserialize, ToSchema)]
pub struct PublicRescheduleRequest {
    token: String,
    /// RFC 3339; a slot the search offers now, with the RDV's agent.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
}

/// Moves an RDV as its usager: more than 2 days ahead, when the motif lets
/// usagers edit and book it, never an RDV an agent created, and only to a
/// slot offered now with the same agent (409 with `next_slots` otherwise).
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/reschedule", tag = "rdvs", params(("id" = String, Path)),
    request_body = PublicRescheduleRequest,
    responses((status = 200, body = CommandAnswer), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn public_reschedule(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PublicRescheduleRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv, usager) = usager_rdv(&state, &id, &body.value.token).await?;
    let organisation = rdv.booking.organisation_id.to_string();
    let mut search = SlotSearch::prepare(&state, &organisation, |_, _| Ok(()), rdv.booking.motif_id, None).await?;
    let rules = search.motif.config.booking.clone();
    let usager_may_reschedule = rules.usager_can_reschedule && rules.bookable_by.is_public();
    search.public_window(state.services().now());
    search.agent_id = rdv.booking.agent_ids.first().copied();
    let start = requested_start(&state, body.value.starts_at)?;
    let day = start.with_timezone(&search.zone()).date_naive();
    search.from = day;
    search.to = day;
    let Some(slot) = engine::search(&state, &search)
        .await?
        .into_iter()
        .find(|s| s.starts_at == start)
    else {
        let next = next_slots(&state, &mut search, day).await?;
        return Err(ApiError::from(DomainError::conflict("this slot is not offered")).with("next_slots", json!(next)));
    };
    let ctx = crate::auth::anonymous_context(format!("usager:{usager}"), &headers);
    move_rdv(
        &state,
        &ctx,
        rdv_id,
        &rdv,
        Actor::Usager,
        Interval::new(slot.starts_at, slot.ends_at),
        usager_may_reschedule,
    )
    .await
}

/// Salle d'attente: marks the usager of an RDV of today as arrived. In the
/// espace's e-mail mode, each agent of the RDV gets an e-mail (without the
/// usager's name); in visual mode, agendas show `arrived_at`.
#[utoipa::path(post, path = "/v1/rdvs/{id}/arrived", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn mark_arrived(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let organisation = rdv_organisation(&state, &rdv).await?;
    let territory = state
        .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
        .await?;
    let email_mode = territory.state()?.settings.waiting_room.email;
    let agent_id = principal.agent_id().unwrap_or_default();
    let agents = rdv.booking.agent_ids.clone();
    let when = rdv
        .booking
        .starts_at
        .with_timezone(&organisation.timezone.0)
        .format("%H:%M")
        .to_string();
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/arrived"), "");
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (id, agents, when, zone) = (id.clone(), agents.clone(), when.clone(), organisation.timezone);
                Box::pin(async move {
                    unit.handle::<Rdv>(&id, RdvCommand::MarkUsagerArrived { agent_id, zone })
                        .await?;
                    if email_mode {
                        for agent in agents {
                            let (agent, _) = unit.load::<Agent>(&agent.to_string()).await?;
                            if let Some(email) = agent.0.and_then(|a| a.email) {
                                unit.send(notifications::usager_arrived(&email, &when));
                            }
                        }
                    }
                    Ok::<_, CommandError>(())
                })
            },
            reply(StatusCode::OK, "Rdv", |_| rdv_id.to_string(), |_| json!({})),
        )
        .await?;
    Ok(CommandReply(outcome))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PublicRdvQuery {
    /// The participation token from the booking or its notification.
    token: String,
}

/// What an usager sees of their RDV: never the internal Contexte, nor the
/// agents' identities.
#[derive(Serialize, ToSchema)]
pub struct PublicRdvView {
    id: RdvId,
    organisation: String,
    motif: String,
    /// Name and address of the lieu, when on site.
    place: Option<String>,
    /// RFC 3339 with the organisation's offset.
    starts_at: String,
    ends_at: String,
    timezone: String,
    status: RdvStatus,
    /// What the usager may still do online.
    can_cancel: bool,
    instructions: Option<String>,
}

/// The usager's own RDV, opened with its participation token.
#[utoipa::path(get, path = "/v1/public/rdvs", tag = "rdvs", params(PublicRdvQuery),
    responses((status = 200, body = PublicRdvView), (status = 410, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_rdv(
    State(state): State<AppState>,
    crate::extract::Query(q): crate::extract::Query<PublicRdvQuery>,
) -> Result<Json<PublicRdvView>, ApiError> {
    let rdv_id = tokens::participation_rdv(q.token.trim())
        .ok_or_else(|| DomainError::invalid("token", "this participation token is not valid"))?;
    let (rdv_id, rdv, usager) = usager_rdv(&state, &rdv_id.to_string(), &q.token).await?;
    let notice = notice_context(&state, &rdv.booking).await?;
    let may_cancel = notice.usager_may_cancel;
    let now = state.services().now();
    Ok(Json(PublicRdvView {
        id: rdv_id,
        organisation: notice.organisation,
        motif: notice.motif,
        place: notice.place,
        starts_at: rdv.booking.starts_at.with_timezone(&notice.zone.0).to_rfc3339(),
        ends_at: rdv.booking.ends_at.with_timezone(&notice.zone.0).to_rfc3339(),
        timezone: notice.zone.0.name().to_string(),
        status: rdv.participations[&usager].status,
        can_cancel: may_cancel
            && !rdv.participations[&usager].status.is_cancelled()
            && rdv.booking.starts_at - now > rdv_domain::rdv::usager_cancellation_notice(),
        instructions: notice.instructions,
    }))
}

/// The details of an RDV an agent may edit.
#[derive(Deserialize)]
struct RdvDetails {
    agent_ids: BTreeSet<AgentId>,
    lieu_id: Option<LieuId>,
    context: Option<String>,
}

/// Changes an RDV's agents, lieu or internal Contexte note: the body is a
/// JSON merge patch of `{agent_ids, lieu_id, context}`. New agents' time is
/// reserved (overlaps are warnings), removed agents' time is freed; a new
/// lieu is told to the usagers (RDV Service Public notifies an update when
/// the start or the lieu changes).
#[utoipa::path(patch, path = "/v1/rdvs/{id}", tag = "rdvs", params(("id" = String, Path)),
    request_body(content = Object, description = "JSON merge patch of {agent_ids, lieu_id, context}"), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<Value>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let b = &rdv.booking;
    let current = json!({"agent_ids": b.agent_ids, "lieu_id": b.lieu_id, "context": b.context});
    let details = JsonBody::<RdvDetails>::patched(current, body.value)?;
    let mut errors = agent_errors(&state, b.organisation_id, &details.agent_ids).await?;
    let changed_lieu = details.lieu_id.filter(|l| Some(*l) != b.lieu_id);
    errors.extend(lieu_error(&state, b.organisation_id, changed_lieu).await?);
    if !errors.is_empty() {
        return Err(DomainError::invalid_fields(errors).into());
    }
    let organisation = rdv_organisation(&state, &rdv).await?;
    let notice = notice_context_of(&state, b.organisation_id, b.motif_id, details.lieu_id).await?;
    let usagers = rdv.active_participants();
    let agent_id = principal.agent_id().unwrap_or_default();
    let ctx = principal.context(&headers, &format!("PATCH /v1/rdvs/{id}"), &body.hash);
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (organisation, notice, usagers) = (organisation.clone(), notice.clone(), usagers.clone());
                let command = RdvCommand::UpdateRdvDetails {
                    agent_id,
                    agent_ids: details.agent_ids.clone(),
                    lieu_id: details.lieu_id,
                    context: details.context.clone(),
                };
                Box::pin(async move {
                    let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                    if after.status.is_cancelled() {
                        return Ok(Vec::new());
                    }
                    let (old, new) = (&before.booking.agent_ids, &after.booking.agent_ids);
                    let interval = Interval::new(after.booking.starts_at, after.booking.ends_at);
                    let gone = old.difference(new).copied().collect();
                    release(unit, rdv_id, &gone, interval, &organisation).await?;
                    let added = new.difference(old).copied().collect();
                    let warnings = reserve(unit, rdv_id, &added, interval, &organisation, false).await?;
                    if before.booking.lieu_id != after.booking.lieu_id {
                        let start = interval.start;
                        notify_all(unit, &notice, RdvNotice::Updated, usagers, start, None, true).await?;
                    }
                    Ok(warnings)
                })
            },
            answer_with_warnings(StatusCode::OK, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
}
