//! Participants of an RDV: agents add and remove usagers (an atelier may be
//! overbooked, with a warning, as in RDV Service Public) and set one
//! participation's status; usagers sign up to ateliers themselves while
//! seats remain. Seats are counted on the `Rdv` stream, so of concurrent
//! sign-ups for the last seat one wins and the others find the atelier full.

use super::*;

#[derive(Deserialize, ToSchema)]
pub struct AddParticipantRequest {
    usager_id: UsagerId,
}

/// Who joins an RDV: an existing usager, or one created with the sign-up.
#[derive(Clone)]
enum Joiner {
    Existing(UsagerId),
    New(UsagerId, Box<UsagerProfile>),
}

impl Joiner {
    fn id(&self) -> UsagerId {
        match self {
            Joiner::Existing(id) | Joiner::New(id, _) => *id,
        }
    }
}

/// What an usager signing up gets back: their participation and its link.
#[derive(Serialize, ToSchema)]
pub struct SignUpAnswer {
    rdv_id: RdvId,
    usager_id: UsagerId,
    participation_token: String,
    #[schema(value_type = Vec<Value>)]
    warnings: Vec<Warning>,
}

/// Adds the participation (and the usager when new), tells them with their
/// own link, and warns when an atelier is over its seats.
async fn join(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    rdv_id: RdvId,
    rdv: &RdvState,
    joiner: Joiner,
    by: Actor,
) -> Result<CommandReply, ApiError> {
    let notice = notice_context(state, &rdv.booking).await?;
    let token = tokens::new_participation_token(rdv_id);
    let organisation_id = rdv.booking.organisation_id;
    let usager_id = joiner.id();
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (joiner, notice, token) = (joiner.clone(), notice.clone(), token.clone());
                Box::pin(async move {
                    if let Joiner::New(id, profile) = &joiner {
                        unit.new_stream::<Usager>(&id.to_string());
                        let create = UsagerCommand::CreateUsager {
                            organisation_ids: [organisation_id].into(),
                            profile: (**profile).clone(),
                        };
                        unit.handle::<Usager>(&id.to_string(), create).await?;
                    }
                    let command = RdvCommand::AddParticipant {
                        usager_id,
                        by,
                        participation_token: Some((tokens::hash(&token), unit.now() + participation_token_ttl())),
                    };
                    let (_, after) = handle_rdv(unit, rdv_id, command).await?;
                    let to = match &joiner {
                        Joiner::New(id, profile) => Some(Recipient {
                            id: *id,
                            profile: (**profile).clone(),
                        }),
                        Joiner::Existing(id) => recipient(unit, *id).await?,
                    };
                    if let Some(to) = to {
                        let start = after.booking.starts_at;
                        queue_notice(unit, &notice, RdvNotice::Created, &to, start, Some(&token), true);
                    }
                    let over = after.seats_left().is_some_and(|left| left < 0);
                    Ok::<_, CommandError>(SignUpAnswer {
                        rdv_id,
                        usager_id,
                        participation_token: token,
                        warnings: if over {
                            vec![Warning::TooManyParticipants]
                        } else {
                            Vec::new()
                        },
                    })
                })
            },
            reply(StatusCode::CREATED, "Rdv", move |_| rdv_id.to_string(), |a| json!(a)),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Adds an usager of the organisation to an RDV as an agent. An atelier may
/// go over its seats: a `too_many_participants` warning says so. The usager
/// gets their own participation link.
#[utoipa::path(post, path = "/v1/rdvs/{id}/participants", tag = "rdvs", params(("id" = String, Path)),
    request_body = AddParticipantRequest, security(("bearer" = [])),
    responses((status = 201, body = SignUpAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn add_participant(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AddParticipantRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let usager_id = body.value.usager_id;
    if !usager_in(&state, usager_id, rdv.booking.organisation_id).await? {
        return Err(DomainError::invalid("usager_id", "no such usager in this organisation").into());
    }
    let by = Actor::Agent {
        agent_id: principal.agent_id().unwrap_or_default(),
    };
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/participants"), &body.hash);
    join(&state, &ctx, rdv_id, &rdv, Joiner::Existing(usager_id), by).await
}

/// Removes an usager from an RDV (an individual RDV keeps at least one: to
/// end it, cancel it). The usager is told, as for a cancellation.
#[utoipa::path(delete, path = "/v1/rdvs/{id}/participants/{usager_id}", tag = "rdvs",
    params(("id" = String, Path), ("usager_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn remove_participant(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, usager)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let usager_id: UsagerId = path_id(&usager, "participant")?;
    let notice = notice_context(&state, &rdv.booking).await?;
    let agent_id = principal.agent_id().unwrap_or_default();
    let was_active = rdv.active_participants().contains(&usager_id);
    let ctx = principal.context(&headers, &format!("DELETE /v1/rdvs/{id}/participants/{usager}"), "");
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let notice = notice.clone();
                Box::pin(async move {
                    let command = RdvCommand::RemoveParticipant { usager_id, agent_id };
                    let (_, after) = handle_rdv(unit, rdv_id, command).await?;
                    if let Some(to) = recipient(unit, usager_id).await?.filter(|_| was_active) {
                        let start = after.booking.starts_at;
                        queue_notice(unit, &notice, RdvNotice::Cancelled, &to, start, None, true);
                    }
                    Ok::<_, CommandError>(())
                })
            },
            reply(StatusCode::OK, "Rdv", move |_| rdv_id.to_string(), |_| json!({})),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Sets one participation's status and lets the RDV's status follow (RDV
/// Service Public's propagation); when the RDV becomes cancelled its agents'
/// time is freed, and taken again when it no longer is.
pub(super) async fn change_participation(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    rdv_id: RdvId,
    rdv: &RdvState,
    usager_id: UsagerId,
    by: Actor,
    status: RdvStatus,
) -> Result<CommandReply, ApiError> {
    let organisation = rdv_organisation(state, rdv).await?;
    let usager_may_cancel = notice_context(state, &rdv.booking).await?.usager_may_cancel;
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let organisation = organisation.clone();
                Box::pin(async move {
                    let command = RdvCommand::ChangeParticipationStatus {
                        usager_id,
                        by,
                        status,
                        zone: organisation.timezone,
                        usager_may_cancel,
                    };
                    let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                    follow_cancellation(unit, rdv_id, &before, &after, &organisation).await
                })
            },
            answer_with_warnings(StatusCode::OK, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
}

/// Sets one participation's status as an agent, from the individual status
/// menu (seen and noshow once the RDV has started).
#[utoipa::path(post, path = "/v1/rdvs/{id}/participants/{usager_id}/status", tag = "rdvs",
    params(("id" = String, Path), ("usager_id" = String, Path)), request_body = StatusRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn participation_status(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, usager)): Path<(String, String)>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let usager_id: UsagerId = path_id(&usager, "participant")?;
    let by = Actor::Agent {
        agent_id: principal.agent_id().unwrap_or_default(),
    };
    let path = format!("POST /v1/rdvs/{id}/participants/{usager}/status");
    let ctx = principal.context(&headers, &path, &body.hash);
    change_participation(&state, &ctx, rdv_id, &rdv, usager_id, by, body.value.status).await
}

#[derive(Deserialize, ToSchema)]
pub struct SignUpRequest {
    usager: UsagerFields,
}

/// Signs an usager up to an atelier (no login): a collective motif bookable
/// by everyone and visible, an atelier not revoked, starting inside the
/// motif's booking window, with a seat left (409 `this atelier is full`
/// otherwise, also when the last seat went to a concurrent sign-up).
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/participants", tag = "rdvs", params(("id" = String, Path)),
    request_body = SignUpRequest,
    responses((status = 201, body = SignUpAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_sign_up(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<SignUpRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id: RdvId = path_id(&id, "rdv")?;
    let rdv = state
        .load::<Rdv>(&id)
        .await?
        .0
        .filter(RdvState::is_collective)
        .ok_or_else(|| ApiError::not_found("atelier"))?;
    let motif = state.load::<Motif>(&rdv.booking.motif_id.to_string()).await?;
    let config = &motif.state()?.config;
    let now = state.services().now();
    // Seats are counted by the aggregate, under concurrency ("this atelier is full").
    if !open_to_usagers(rdv.status, rdv.booking.starts_at, None, config, now) {
        return Err(DomainError::conflict("this atelier is not open to online sign-ups").into());
    }
    let profile = body
        .value
        .usager
        .parse("usager.", state.services().now().date_naive())?;
    usager_field_settings(&state, rdv.booking.organisation_id)
        .await?
        .check_values(&profile.custom)?;
    let usager_id = UsagerId::new();
    let mut ctx = crate::auth::anonymous_context(format!("usager:{usager_id}"), &headers);
    ctx.idempotency = None;
    let joiner = Joiner::New(usager_id, Box::new(profile));
    join(&state, &ctx, rdv_id, &rdv, joiner, Actor::Usager).await
}

/// An atelier usagers may sign up to now: its motif bookable by everyone
/// and visible, not revoked, starting inside [now + min delay, now + max
/// delay], with a seat left (RDV Service Public lists only those).
pub fn open_to_usagers(
    status: RdvStatus,
    starts_at: DateTime<Utc>,
    seats_left: Option<i64>,
    motif: &MotifConfig,
    now: DateTime<Utc>,
) -> bool {
    let rules = &motif.booking;
    let window = (now + Duration::minutes(rules.min_booking_delay_in_min.into()))
        ..=(now + Duration::minutes(rules.max_booking_delay_in_min.into()));
    rules.bookable_by == BookableBy::Everyone
        && motif.informations.visibility != Visibility::Invisible
        && !status.is_cancelled()
        && window.contains(&starts_at)
        && seats_left.is_none_or(|left| left > 0)
}
