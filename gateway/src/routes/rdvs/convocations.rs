//! Convoquer: rdv-insertion sends the agent to RDV Service Public to book;
//! here one command books the RDV (individual: the category's convocation
//! motif at a slot; collective: the next atelier of the category with
//! seats), marks the participation convocable and queues the convocation
//! notices, in one transaction, with the agents' time reserved exclusively
//! (no double booking).

use super::*;
use crate::{
    extract::Query,
    routes::{
        follow_ups::{category_rules, visible_follow_up},
        invitations::{category_motifs, configured_category},
        territories::MinPosition,
    },
};
use rdv_app::caller::Place;
use rdv_app::insertion_messages::reachable;
use rdv_domain::rights::Permission;
use rdv_domain::{
    category::{InvitationFormat, is_convocation_motif},
    follow_up::sms_and_email,
    ids::{FollowUpId, ParticipationId},
    motif::LocationType,
};
use rdv_projections::rdvs::{self as rdv_views, AtelierView, RdvDoc};
use uuid::Uuid;

/// Individual (the category's convocation motif) or collective (its next
/// atelier with seats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConvocationMode {
    #[default]
    Individual,
    Collective,
}

#[derive(Deserialize, ToSchema)]
pub struct ConvocationRequest {
    organisation_id: OrganisationId,
    #[serde(default)]
    mode: ConvocationMode,
    /// Individual: RFC 3339 start chosen by the agent; absent, the next
    /// free slot of the convocation motif.
    #[schema(value_type = Option<String>)]
    starts_at: Option<DateTime<FixedOffset>>,
    /// Individual: the agent; absent, one free at that time.
    agent_id: Option<AgentId>,
    /// Individual: the lieu (the slot's when computed).
    lieu_id: Option<LieuId>,
    /// Channels of the convocation (default: SMS and e-mail, those the
    /// usager can receive); each asked for must reach the usager.
    formats: Option<BTreeSet<InvitationFormat>>,
}

#[derive(Serialize, ToSchema)]
pub struct ConvocationAnswer {
    rdv_id: RdvId,
    follow_up_id: FollowUpId,
    /// For the convocation letter (`/v1/participations/{id}/convocation.pdf`).
    participation_id: ParticipationId,
    mode: ConvocationMode,
    starts_at: DateTime<Utc>,
}

/// The channels of a convocation: those asked for, each reachable (422
/// naming the bad one), or by default the usager's SMS and e-mail.
fn convocation_formats(
    asked: Option<BTreeSet<InvitationFormat>>,
    usager: &UsagerProfile,
) -> Result<BTreeSet<InvitationFormat>, ApiError> {
    let reachable = reachable(usager);
    let formats = match asked {
        Some(asked) => {
            let mut errors = Vec::new();
            for (i, format) in asked.iter().enumerate() {
                let message = match format {
                    InvitationFormat::Postal => Some("a convocation letter is downloaded, not sent: ask sms or email"),
                    InvitationFormat::Sms if !reachable.contains(format) => {
                        Some("the usager has no mobile phone number for an SMS")
                    }
                    InvitationFormat::Email if !reachable.contains(format) => Some("the usager has no e-mail address"),
                    _ => None,
                };
                if let Some(message) = message {
                    errors.push(FieldError::new(format!("formats[{i}]"), message));
                }
            }
            if !errors.is_empty() {
                return Err(DomainError::invalid_fields(errors).into());
            }
            asked
        }
        None => sms_and_email().intersection(&reachable).copied().collect(),
    };
    if formats.is_empty() {
        return Err(DomainError::invalid(
            "formats",
            "the usager can be reached neither by SMS (a mobile) nor by e-mail",
        )
        .into());
    }
    Ok(formats)
}

/// Convokes the usager of a convocable follow-up (no-show, excused, or
/// invited past the window) to an RDV of its category, in one step.
/// `min_position` waits for the motifs and ateliers read models.
#[utoipa::path(post, path = "/v1/follow-ups/{id}/convocations", tag = "insertion", params(("id" = String, Path), MinPosition),
    request_body = ConvocationRequest, security(("bearer" = [])),
    responses((status = 201, body = ConvocationAnswer), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn convoke(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
    body: JsonBody<ConvocationRequest>,
) -> Result<CommandReply, ApiError> {
    let (follow_up_id, follow_up, _) = visible_follow_up(&state, &principal, &id, None).await?;
    state
        .wait_for(rdv_projections::configuration::NAME, q.min_position)
        .await?;
    state.wait_for(rdv_views::NAME, q.min_position).await?;
    let r = body.value;
    let (organisation_id, organisation) =
        crate::routes::organisations::organisation(&state, &r.organisation_id.to_string()).await?;
    principal.require(
        Permission::Insertion,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    let usager = state
        .load::<Usager>(&follow_up.usager_id.to_string())
        .await?
        .0
        .filter(|u| u.organisation_ids.contains(&organisation_id))
        .ok_or_else(|| DomainError::invalid("organisation_id", "the usager is not in this organisation"))?;
    let category = configured_category(&state, organisation_id, &follow_up.category).await?;
    if !category.settings.convene_user {
        return Err(DomainError::invalid("motif_category", "this category does not convene usagers").into());
    }
    if usager.profile.title.is_none() {
        return Err(DomainError::invalid("usager.title", "the usager's civility is needed for a convocation").into());
    }
    let formats = convocation_formats(r.formats.clone(), &usager.profile)?;
    let (days, _) = category_rules(&state, organisation_id, &follow_up.category).await?;
    let now = state.services().now();
    if !follow_up.convocable(now, days) {
        return Err(DomainError::conflict(format!(
            "this follow-up is not convocable: its status is {} (convoke after a no-show, an excused RDV or an unanswered invitation)",
            follow_up.status(now).as_str()
        ))
        .into());
    }
    let motifs = category_motifs(&state, organisation_id, &category.short_name).await?;
    let ctx = principal.context(&headers, &format!("POST /v1/follow-ups/{id}/convocations"), &body.hash);
    let agent = principal.agent_id().unwrap_or_default();
    let usager_id = follow_up.usager_id;
    let outcome = match r.mode {
        ConvocationMode::Individual => {
            let motif = motifs
                .iter()
                .filter(|m| {
                    !m.config.informations.collective && is_convocation_motif(m.config.informations.name.as_str())
                })
                .min_by(|a, b| a.config.informations.name.cmp(&b.config.informations.name))
                .ok_or_else(|| {
                    DomainError::invalid(
                        "motif_category",
                        "Aucun motif de convocation n'a été retrouvé pour cette catégorie dans l'organisation",
                    )
                })?;
            let plans = individual_plans(&state, &r, (organisation_id, MotifId(motif.id))).await?;
            let booking = |plan: &Plan| Booking {
                organisation_id,
                motif_id: MotifId(motif.id),
                lieu_id: plan.lieu_id,
                agent_ids: [plan.agent_id].into(),
                usager_ids: [usager_id].into(),
                starts_at: plan.interval.start,
                ends_at: plan.interval.end,
                context: None,
                created_by: Actor::Agent { agent_id: agent },
                participation_token: None,
                collective: None,
                prescripteur: None,
            };
            let on_site = motif.config.informations.location_type == LocationType::PublicOffice;
            if on_site && plans.iter().any(|p| p.lieu_id.is_none()) {
                return Err(DomainError::invalid("lieu_id", "a convocation on site needs a lieu").into());
            }
            // A slot another booking took since the search was made is a
            // lost race, not a reason to fail: the next free one is taken.
            let mut outcome = Err(DomainError::conflict("no free slot of the convocation motif").into());
            for plan in &plans {
                outcome = book_convocation(&state, &ctx, booking(plan), (follow_up_id, &organisation), &formats).await;
                if !outcome.as_ref().is_err_and(ApiError::is_conflict) {
                    break;
                }
            }
            outcome?
        }
        ConvocationMode::Collective => {
            let collective: BTreeSet<Uuid> = motifs
                .iter()
                .filter(|m| m.config.informations.collective)
                .map(|m| m.id)
                .collect();
            let candidates = open_ateliers(&state, organisation_id, &collective, usager_id, now).await?;
            join_atelier(&state, &ctx, candidates, (follow_up_id, usager_id, agent), &formats).await?
        }
    };
    Ok(CommandReply(outcome))
}

/// Where and when an individual convocation goes.
struct Plan {
    agent_id: AgentId,
    lieu_id: Option<LieuId>,
    interval: Interval,
}

/// How many of the next free slots a convocation tries, one after the other,
/// when concurrent bookings take them first.
const CANDIDATE_SLOTS: usize = 5;

/// The agent's choice (start and agent), or slots the engine offers: at the
/// given start, or the next ones (up to [`CANDIDATE_SLOTS`], in order)
/// within eight weeks after the motif's minimum booking delay.
async fn individual_plans(
    state: &AppState,
    r: &ConvocationRequest,
    (organisation_id, motif_id): (OrganisationId, MotifId),
) -> Result<Vec<Plan>, ApiError> {
    if let Some(error) = lieu_error(state, organisation_id, r.lieu_id).await? {
        return Err(DomainError::invalid_fields(vec![error]).into());
    }
    let mut search = SlotSearch::prepare(state, &organisation_id.to_string(), |_, _| Ok(()), motif_id, None).await?;
    let minutes = search.motif.config.informations.default_duration_in_min;
    if let Some(starts_at) = r.starts_at {
        requested_start(state, starts_at)?;
    }
    if let (Some(starts_at), Some(agent_id)) = (r.starts_at, r.agent_id) {
        if agent_errors(state, organisation_id, &[agent_id].into())
            .await?
            .is_empty()
        {
            let start = starts_at.with_timezone(&Utc);
            return Ok(vec![Plan {
                agent_id,
                lieu_id: r.lieu_id,
                interval: Interval::new(start, start + Duration::minutes(minutes.into())),
            }]);
        }
        return Err(DomainError::invalid("agent_id", "no such agent in this organisation").into());
    }
    search.lieu_id = r.lieu_id;
    search.agent_id = r.agent_id;
    // A computed slot leaves the usager the motif's booking delay to learn
    // of it; the agent's own choice of time is not held to it.
    let min_delay = search.motif.config.booking.min_booking_delay_in_min;
    search.earliest = state.services().now() + Duration::minutes(min_delay.into());
    let wanted = r.starts_at.map(|s| s.with_timezone(&Utc));
    let first_day = match wanted {
        Some(start) => start.with_timezone(&search.zone()).date_naive(),
        None => search.from,
    };
    for week in 0..8 {
        search.from = first_day + Duration::weeks(week);
        search.to = search.from + Duration::days(6);
        let found: Vec<Plan> = engine::search(state, &search)
            .await?
            .into_iter()
            .filter(|s| wanted.is_none_or(|w| s.starts_at == w))
            .take(CANDIDATE_SLOTS)
            .map(|slot| Plan {
                agent_id: slot.agent,
                lieu_id: slot.lieu,
                interval: Interval::new(slot.starts_at, slot.ends_at),
            })
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        if wanted.is_some() {
            break;
        }
    }
    Err(DomainError::conflict("no free slot of the convocation motif: give a start and an agent").into())
}

async fn book_convocation(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    booking: Booking,
    (follow_up_id, organisation): (FollowUpId, &OrganisationState),
    formats: &BTreeSet<InvitationFormat>,
) -> Result<rdv_eventstore::CommandOutcome, ApiError> {
    let rdv_id = RdvId::new();
    let token = tokens::new_participation_token(rdv_id);
    let booking = Booking {
        participation_token: Some((tokens::hash(&token), state.services().now() + participation_token_ttl())),
        ..booking
    };
    let usager_id = booking.usager_ids.first().copied().unwrap_or_default();
    let answer = ConvocationAnswer {
        rdv_id,
        follow_up_id,
        participation_id: ParticipationId::of(rdv_id, usager_id),
        mode: ConvocationMode::Individual,
        starts_at: booking.starts_at,
    };
    let answer = json!(answer);
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (booking, organisation, formats) = (booking.clone(), organisation.clone(), formats.clone());
                Box::pin(async move {
                    let interval = Interval::new(booking.starts_at, booking.ends_at);
                    let agents = booking.agent_ids.clone();
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    let book = RdvCommand::BookRdv {
                        booking: Box::new(booking),
                    };
                    change_rdv_notifying(unit, rdv_id, book, &formats).await?;
                    reserve(unit, rdv_id, &agents, interval, &organisation, true).await?;
                    Ok::<_, CommandError>(())
                })
            },
            reply(
                StatusCode::CREATED,
                "Rdv",
                move |_| rdv_id.to_string(),
                move |_| answer.clone(),
            ),
        )
        .await?;
    Ok(outcome)
}

/// The category's ateliers an usager could join, earliest first: to come,
/// not cancelled, with seats by the read model, without the usager.
async fn open_ateliers(
    state: &AppState,
    organisation_id: OrganisationId,
    motifs: &BTreeSet<Uuid>,
    usager_id: UsagerId,
    now: DateTime<Utc>,
) -> Result<Vec<RdvId>, ApiError> {
    let docs = state
        .store
        .docs(rdv_views::NAME, rdv_views::RDVS, &organisation_id.to_string())
        .await?;
    let mut ateliers: Vec<RdvDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
        .filter(|r| {
            let seats = r.collective.as_ref().map(AtelierView::seats_left);
            motifs.contains(&r.motif_id)
                && r.starts_at > now
                && !r.status.is_cancelled()
                && seats.is_some_and(|left| left.is_none_or(|l| l > 0))
                && !r.usager_ids.contains(&usager_id.0)
        })
        .collect();
    ateliers.sort_by_key(|r| (r.starts_at, r.id));
    if ateliers.is_empty() {
        return Err(DomainError::conflict("Aucun atelier à venir de cette catégorie n'a de place disponible").into());
    }
    Ok(ateliers.into_iter().map(|r| RdvId(r.id)).collect())
}

/// Adds the usager to the first candidate atelier that still has a seat
/// when the transaction reads it.
async fn join_atelier(
    state: &AppState,
    ctx: &rdv_eventstore::CommandContext,
    candidates: Vec<RdvId>,
    (follow_up_id, usager_id, agent_id): (FollowUpId, UsagerId, AgentId),
    formats: &BTreeSet<InvitationFormat>,
) -> Result<rdv_eventstore::CommandOutcome, ApiError> {
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (candidates, formats) = (candidates.clone(), formats.clone());
                Box::pin(async move {
                    for rdv_id in candidates {
                        let rdv = unit.current::<Rdv>(&rdv_id.to_string()).await?;
                        let Some(rdv) = rdv.0 else { continue };
                        let full = rdv.seats_left().is_some_and(|left| left <= 0);
                        if full || rdv.status.is_cancelled() || rdv.participations.contains_key(&usager_id) {
                            continue;
                        }
                        let token = tokens::new_participation_token(rdv_id);
                        let command = RdvCommand::AddParticipant {
                            usager_id,
                            by: Actor::Agent { agent_id },
                            participation_token: Some((tokens::hash(&token), unit.now() + participation_token_ttl())),
                        };
                        let (_, after) = change_rdv_notifying(unit, rdv_id, command, &formats).await?;
                        return Ok::<_, CommandError>(ConvocationAnswer {
                            rdv_id,
                            follow_up_id,
                            participation_id: ParticipationId::of(rdv_id, usager_id),
                            mode: ConvocationMode::Collective,
                            starts_at: after.booking.starts_at,
                        });
                    }
                    Err(
                        DomainError::conflict("Aucun atelier à venir de cette catégorie n'a de place disponible")
                            .into(),
                    )
                })
            },
            reply(
                StatusCode::CREATED,
                "Rdv",
                |a: &ConvocationAnswer| a.rdv_id.to_string(),
                |a| json!(a),
            ),
        )
        .await?;
    Ok(outcome)
}
