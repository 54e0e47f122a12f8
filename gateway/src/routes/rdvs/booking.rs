//! Booking an RDV: by an agent (warnings, never refused for overlaps) or
//! by an usager (offered slots only, never two RDVs on one agent's time).

use super::*;
use crate::routes::invitations::invited_follow_up;
use rdv_app::availability::PublicCaller;
use rdv_app::caller::Place;
use rdv_domain::rights::Permission;

#[derive(Deserialize, ToSchema)]
pub struct BookRdvRequest {
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    agent_ids: BTreeSet<AgentId>,
    usager_ids: BTreeSet<UsagerId>,
    /// RFC 3339.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Defaults to the motif's duration.
    duration_in_min: Option<u32>,
    /// Internal "Contexte" note.
    context: Option<String>,
    /// Collective motifs only: the atelier's title.
    name: Option<String>,
    /// Collective motifs only: seats (default: the motif's); none means
    /// unlimited.
    max_participants_count: Option<u32>,
}

/// RDV Service Public's duplicate rules, among the RDVs already on the
/// agents' day: an identical RDV (organisation, lieu, motif, times, usagers
/// and agents, not cancelled) is refused; one with the same usager and motif
/// that day is a "suspected duplicate" warning.
async fn duplicates(
    unit: &mut UnitOfWork<'_>,
    booking: &Booking,
    organisation: &OrganisationState,
) -> Result<Vec<Value>, CommandError> {
    let day = booking.starts_at.with_timezone(&organisation.timezone.0).date_naive();
    let mut seen = BTreeSet::new();
    let mut warnings = Vec::new();
    for agent in &booking.agent_ids {
        let (agent_day, _) = unit.load::<AgentDay>(&AgentDay::stream_id(*agent, day)).await?;
        for other_id in agent_day.reservations.keys().filter(|id| seen.insert(**id)) {
            let (other, _) = unit.load::<Rdv>(&other_id.to_string()).await?;
            let Some(other) = other.0.filter(|o| !o.status.is_cancelled()) else {
                continue;
            };
            let b = &other.booking;
            let identical = (b.organisation_id, b.lieu_id, b.motif_id, b.starts_at, b.ends_at)
                == (
                    booking.organisation_id,
                    booking.lieu_id,
                    booking.motif_id,
                    booking.starts_at,
                    booking.ends_at,
                )
                && b.usager_ids == booking.usager_ids
                && b.agent_ids == booking.agent_ids;
            if identical {
                return Err(DomainError::conflict("an identical RDV already exists").into());
            }
            if b.motif_id == booking.motif_id && !b.usager_ids.is_disjoint(&booking.usager_ids) {
                warnings.push(json!({"code": "suspected_duplicate", "rdv_id": other_id,
                                     "message": "the usager already has an RDV for this motif that day"}));
            }
        }
    }
    Ok(warnings)
}

/// Books an RDV as an agent: any time, any agent of the organisation.
/// Overlaps and a start in the past are warnings, as in RDV Service Public.
#[utoipa::path(post, path = "/v1/rdvs", tag = "rdvs", request_body = BookRdvRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer, description = "also holds warnings"), (status = 422, body = crate::error::Problem)))]
pub async fn book_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<BookRdvRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let organisation_path = r.organisation_id.to_string();
    let authorize =
        |o, org: &OrganisationState| principal.require(Permission::Rdvs, Place::Organisation(o, org.territory_id));
    let search = SlotSearch::prepare(&state, &organisation_path, authorize, r.motif_id, None).await?;
    let mut errors = agent_errors(&state, r.organisation_id, &r.agent_ids).await?;
    errors.extend(lieu_error(&state, r.organisation_id, r.lieu_id).await?);
    for (i, usager) in r.usager_ids.iter().enumerate() {
        if !usager_in(&state, *usager, r.organisation_id).await? {
            errors.push(FieldError::new(
                format!("usager_ids[{i}]"),
                "no such usager in this organisation",
            ));
        }
    }
    let informations = &search.motif.config.informations;
    let collective = if informations.collective {
        Some(Atelier {
            name: r.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            max_participants: r.max_participants_count.or(informations.max_participants),
        })
    } else {
        for (field, given) in [
            ("name", r.name.is_some()),
            ("max_participants_count", r.max_participants_count.is_some()),
        ] {
            if given {
                errors.push(FieldError::new(field, "only for a collective motif"));
            }
        }
        None
    };
    if !errors.is_empty() {
        return Err(DomainError::invalid_fields(errors).into());
    }
    let mut atelier_warnings = Vec::new();
    if let Some(atelier) = &collective {
        if atelier.name.as_ref().is_some_and(|n| n.chars().count() > 50) {
            atelier_warnings.push(json!({"code": "long_name", "message": "the atelier's name is over 50 characters"}));
        }
        if atelier
            .max_participants
            .is_some_and(|max| r.usager_ids.len() > max as usize)
        {
            atelier_warnings.push(too_many_participants());
        }
    }
    let starts_at = requested_start(&state, r.starts_at)?;
    let default = Duration::minutes(search.motif.config.informations.default_duration_in_min.into());
    let interval = Interval::new(starts_at, starts_at + requested_duration(r.duration_in_min, default)?);
    let booking = Booking {
        organisation_id: r.organisation_id,
        motif_id: r.motif_id,
        lieu_id: r.lieu_id,
        agent_ids: r.agent_ids.clone(),
        usager_ids: r.usager_ids,
        starts_at: interval.start,
        ends_at: interval.end,
        context: r.context.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
        created_by: Actor::Agent {
            agent_id: principal.agent_id().unwrap_or_default(),
        },
        participation_token: None,
        collective,
        prescripteur: None,
    };
    let rdv_id = RdvId::new();
    let token = tokens::new_participation_token(rdv_id);
    let booking = Booking {
        participation_token: Some((tokens::hash(&token), state.services().now() + participation_token_ttl())),
        ..booking
    };
    let notice = notice_context(&state, &booking).await?;
    let ctx = principal.context(&headers, "POST /v1/rdvs", &body.hash);
    let organisation = search.organisation.clone();
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (booking, organisation, notice, token, mut warnings) = (
                    booking.clone(),
                    organisation.clone(),
                    notice.clone(),
                    token.clone(),
                    atelier_warnings.clone(),
                );
                Box::pin(async move {
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    let usagers = booking.usager_ids.iter().copied();
                    let start = booking.starts_at;
                    notify_all(unit, &notice, RdvNotice::Created, usagers, start, Some(&token), true).await?;
                    let agents = booking.agent_ids.clone();
                    warnings.extend(duplicates(unit, &booking, &organisation).await?);
                    let book = RdvCommand::BookRdv {
                        booking: Box::new(booking),
                    };
                    change_rdv(unit, rdv_id, book).await?;
                    warnings.extend(reserve(unit, rdv_id, &agents, interval, &organisation, false).await?);
                    if interval.start < unit.now() {
                        warnings.push(json!({"code": "start_in_the_past", "message": "the RDV starts in the past"}));
                    }
                    Ok::<_, CommandError>(warnings)
                })
            },
            answer_with_warnings(StatusCode::CREATED, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
}

#[derive(Deserialize, ToSchema)]
pub struct PublicBookingRequest {
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    /// RFC 3339; must be a slot the search offers now.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Who books, when not invited.
    usager: Option<UsagerFields>,
    /// The token of an invitation link: the invited usager books (the
    /// category's motifs open to invited usagers, no usager fields).
    invitation_token: Option<String>,
    /// A professional booking for the usager (RDV Service Public's
    /// prescripteur): allowed for motifs naming prescripteurs too.
    prescripteur: Option<PrescripteurFields>,
}

/// Who the prescripteur is (kept with the RDV; personal data: never logged).
#[derive(Deserialize, ToSchema)]
pub struct PrescripteurFields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl PrescripteurFields {
    fn parse(self) -> Result<Prescripteur, ApiError> {
        let mut form = Form::default();
        let first_name = form.required("prescripteur.first_name", self.first_name.as_deref(), Text::parse);
        let last_name = form.required("prescripteur.last_name", self.last_name.as_deref(), Text::parse);
        let email = form.required("prescripteur.email", self.email.as_deref(), Email::parse);
        let phone = self.phone.filter(|p| !p.trim().is_empty());
        let phone = form.optional(
            "prescripteur.phone",
            phone.as_deref(),
            rdv_domain::phone::PhoneE164::parse,
        );
        form.finish(|| {
            Some(Prescripteur {
                first_name: first_name?,
                last_name: last_name?,
                email: email?,
                phone: phone?,
            })
        })
    }
}

/// What an usager gets back: the RDV and its magic link token (12 weeks).
#[derive(Serialize, ToSchema)]
pub struct PublicBookingAnswer {
    rdv_id: RdvId,
    usager_id: UsagerId,
    agent_id: AgentId,
    participation_token: String,
}

/// The order in which an usager's booking tries the agents offering the
/// slot: the least busy that day first (spreading the work), agents within
/// [`LOAD_STEP`] RDVs of each other drawn at random (as RDV Service
/// Public's `.sample`) so that concurrent bookings of one time rarely race
/// for the same agent's day. The draw comes from the new RDV's id; the
/// counts from the availability index.
fn agent_preference(mut candidates: Vec<(usize, AgentId)>, rdv_id: RdvId) -> Vec<AgentId> {
    let seed = rdv_id.0.as_u128() as u64;
    candidates.sort_by_key(|(count, agent)| (*count / LOAD_STEP, mix(seed ^ agent.0.as_u128() as u64)));
    candidates.into_iter().map(|(_, agent)| agent).collect()
}

/// Day loads this close count as equal when choosing an agent: with exact
/// counts, every booking running at once would pick the one least busy
/// agent and all but one would retry.
const LOAD_STEP: usize = 4;

/// SplitMix64's finaliser: a well-spread hash of a 64-bit value.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Books an offered slot as an usager (no login). The agent is chosen among
/// those free at that time by [`agent_preference`]. A slot taken meanwhile is 409 with `next_slots`. Never two
/// RDVs on one agent's time: the agent's day is reserved in the same
/// transaction as the RDV is created.
#[utoipa::path(post, path = "/v1/public/rdvs", tag = "rdvs", request_body = PublicBookingRequest,
    responses((status = 201, body = PublicBookingAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_book(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<PublicBookingRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let prescripteur = r.prescripteur.map(|p| p.parse()).transpose()?;
    let (profile, existing, caller) = match (&r.invitation_token, r.usager) {
        (Some(token), None) => {
            let follow_up = invited_follow_up(&state, token, r.organisation_id).await?;
            let usager = state.load::<Usager>(&follow_up.usager_id.to_string()).await?;
            let profile = usager.state()?.profile.clone();
            let caller = PublicCaller::Invited {
                category: follow_up.category,
            };
            (profile, Some(follow_up.usager_id), caller)
        }
        (Some(_), Some(_)) => {
            return Err(DomainError::invalid("usager", "an invited usager books as themself: no usager fields").into());
        }
        (None, Some(fields)) => {
            let profile = fields.parse("usager.", state.services().now().date_naive())?;
            usager_field_settings(&state, r.organisation_id)
                .await?
                .check_values(&profile.custom)?;
            let caller = match prescripteur {
                Some(_) => PublicCaller::Prescripteur,
                None => PublicCaller::Usager,
            };
            (profile, None, caller)
        }
        (None, None) => return Err(DomainError::invalid("usager", "who books: the usager's fields").into()),
    };
    let organisation_path = r.organisation_id.to_string();
    let mut search = SlotSearch::prepare(&state, &organisation_path, |_, _| Ok(()), r.motif_id, None).await?;
    search.check_public(&caller)?;
    if let Some(error) = lieu_error(&state, r.organisation_id, r.lieu_id).await? {
        return Err(DomainError::invalid_fields(vec![error]).into());
    }
    if search.motif.config.informations.collective {
        return Err(DomainError::invalid(
            "motif_id",
            "a collective motif: sign up to one of its ateliers (POST /v1/public/rdvs/{id}/participants)",
        )
        .into());
    }
    search.lieu_id = r.lieu_id;
    search.public_window(state.services().now());
    let starts_at = requested_start(&state, r.starts_at)?;
    let day = starts_at.with_timezone(&search.zone()).date_naive();
    search.from = day;
    search.to = day;
    let offered: Vec<Slot> = engine::search(&state, &search)
        .await?
        .into_iter()
        .filter(|s| s.starts_at == starts_at)
        .collect();
    let Some(first) = offered.first().copied() else {
        let next = next_slots(&state, &mut search, day).await?;
        return Err(ApiError::from(DomainError::conflict("this slot is not offered")).with("next_slots", json!(next)));
    };
    let (day_start, day_end) = search.day_bounds(day);
    let counts = state.availability.read(|c| {
        offered
            .iter()
            .map(|s| (c.reservations_between(s.agent.0, day_start, day_end), s.agent))
            .collect()
    });
    let interval = Interval::new(first.starts_at, first.ends_at);
    let (rdv_id, usager_id) = (RdvId::new(), existing.unwrap_or_else(UsagerId::new));
    let candidates = agent_preference(counts, rdv_id);
    let token = tokens::new_participation_token(rdv_id);
    let token_hash = tokens::hash(&token);
    let organisation = search.organisation.clone();
    let notice = notice_context_of(&state, r.organisation_id, r.motif_id, first.lieu).await?;
    let ctx = {
        let mut ctx = crate::auth::anonymous_context(format!("usager:{usager_id}"), &headers);
        ctx.idempotency = None;
        ctx
    };
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (candidates, organisation, profile, token, token_hash, notice, prescripteur) = (
                    candidates.clone(),
                    organisation.clone(),
                    profile.clone(),
                    token.clone(),
                    token_hash.clone(),
                    notice.clone(),
                    prescripteur.clone(),
                );
                let (motif_id, lieu_id, organisation_id) = (r.motif_id, first.lieu, r.organisation_id);
                Box::pin(async move {
                    let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
                    let mut chosen = None;
                    for agent in candidates {
                        let (agent_day, _) = unit.load::<AgentDay>(&AgentDay::stream_id(agent, day)).await?;
                        if agent_day.overlapping(rdv_id, interval).is_empty() {
                            chosen = Some(agent);
                            break;
                        }
                    }
                    let Some(agent) = chosen else {
                        return Err(DomainError::conflict("this slot was just taken").into());
                    };
                    if existing.is_none() {
                        unit.new_stream::<Usager>(&usager_id.to_string());
                        let create = UsagerCommand::CreateUsager {
                            organisation_ids: [organisation_id].into(),
                            profile: profile.clone(),
                        };
                        unit.handle::<Usager>(&usager_id.to_string(), create).await?;
                    }
                    let booking = Booking {
                        organisation_id,
                        motif_id,
                        lieu_id,
                        agent_ids: [agent].into(),
                        usager_ids: [usager_id].into(),
                        starts_at: interval.start,
                        ends_at: interval.end,
                        context: None,
                        created_by: Actor::Usager,
                        participation_token: Some((token_hash, unit.now() + participation_token_ttl())),
                        collective: None,
                        prescripteur,
                    };
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    let book = RdvCommand::BookRdv {
                        booking: Box::new(booking),
                    };
                    change_rdv(unit, rdv_id, book).await?;
                    reserve(unit, rdv_id, &[agent].into(), interval, &organisation, true).await?;
                    queue_notice(
                        unit,
                        &notice,
                        RdvNotice::Created,
                        &Recipient {
                            id: usager_id,
                            profile: profile.clone(),
                        },
                        interval.start,
                        Some(&token),
                        true,
                    );
                    Ok::<_, CommandError>(PublicBookingAnswer {
                        rdv_id,
                        usager_id,
                        agent_id: agent,
                        participation_token: token,
                    })
                })
            },
            reply(
                StatusCode::CREATED,
                "Rdv",
                |a: &PublicBookingAnswer| a.rdv_id.to_string(),
                |a| json!(a),
            ),
        )
        .await;
    match outcome {
        Ok(outcome) => Ok(CommandReply(outcome)),
        Err(CommandError::Domain(e)) if e.kind == ErrorKind::Conflict => {
            let next = next_slots(&state, &mut search, day).await?;
            Err(ApiError::from(e).with("next_slots", json!(next)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_busy_agent_comes_first_and_ties_are_drawn() {
        let (a, b, c) = (AgentId::new(), AgentId::new(), AgentId::new());
        assert_eq!(agent_preference(vec![(9, a), (1, b), (5, c)], RdvId::new()), [b, c, a]);
        let firsts: BTreeSet<AgentId> = (0..64)
            .map(|_| agent_preference(vec![(1, a), (2, b), (5, c)], RdvId::new())[0])
            .collect();
        assert_eq!(
            firsts,
            [a, b].into(),
            "agents within LOAD_STEP RDVs are drawn first, never the busier one"
        );
    }
}
