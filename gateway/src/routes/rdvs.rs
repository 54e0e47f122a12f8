use crate::{
    auth::Principal,
    availability::{self as engine, SlotSearch, SlotView},
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, path_id},
    notifications::{self, RdvMessage, RdvNotice},
    reply::{CommandAnswer, CommandReply, reply},
    state::AppState,
    tokens,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rdv_domain::{
    DomainError, ErrorKind, FieldError,
    agent::Agent,
    agent_day::{AgentDay, AgentDayCommand},
    availability::slots::{Interval, Slot},
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    motif::{BookableBy, Visibility},
    organisation::OrganisationState,
    rdv::{Actor, Booking, Rdv, RdvCommand, RdvState, RdvStatus, participation_token_ttl},
    usager::{Usager, UsagerCommand, UsagerProfile},
    values::{Email, Text},
};
use rdv_eventstore::{CommandError, UnitOfWork};
use rdv_projections::{rdvs::RdvDoc, usagers::UsagerDoc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// An usager's identity and contact, as forms send it.
#[derive(Deserialize, ToSchema)]
pub struct UsagerFields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    birth_date: Option<NaiveDate>,
    /// Values of the espace's custom fields, by key.
    #[serde(default)]
    #[schema(value_type = Object)]
    custom_fields: std::collections::BTreeMap<String, Value>,
}

impl UsagerFields {
    /// Parses the fields (`prefix` names them in errors, e.g. `usager.`).
    fn parse(self, prefix: &str) -> Result<UsagerProfile, ApiError> {
        let mut form = Form::default();
        let first_name = form.required(&format!("{prefix}first_name"), self.first_name.as_deref(), Text::parse);
        let last_name = form.required(&format!("{prefix}last_name"), self.last_name.as_deref(), Text::parse);
        let email = form.optional(&format!("{prefix}email"), self.email.as_deref(), Email::parse);
        let phone = self.phone.filter(|p| !p.trim().is_empty());
        let phone = form.optional(
            &format!("{prefix}phone"),
            phone.as_deref(),
            rdv_domain::phone::PhoneE164::parse,
        );
        form.finish(|| {
            Some(UsagerProfile {
                first_name: first_name?,
                last_name: last_name?,
                email: email?,
                phone: phone?,
                birth_date: self.birth_date,
                custom: self.custom_fields,
                responsible_id: None,
            })
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUsagerRequest {
    organisation_ids: BTreeSet<OrganisationId>,
    /// Makes this usager a relative of another, who books and is notified
    /// for them; the relative joins the responsible's organisations.
    responsible_id: Option<UsagerId>,
    #[serde(flatten)]
    fields: UsagerFields,
}

/// Creates an usager in organisations the agent works in (or a relative of
/// an usager, with `responsible_id`).
#[utoipa::path(post, path = "/v1/usagers", tag = "rdvs", request_body = CreateUsagerRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<CreateUsagerRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    for organisation_id in &r.organisation_ids {
        let organisation = super::organisations::organisation(&state, &organisation_id.to_string()).await?;
        principal.require_organisation_member(organisation.0, organisation.1.territory_id)?;
    }
    let mut profile = r.fields.parse("")?;
    let mut organisation_ids = r.organisation_ids.clone();
    if let Some(responsible_id) = r.responsible_id {
        let responsible = state.load::<Usager>(&responsible_id.to_string()).await?.0;
        let responsible = responsible
            .filter(|u| !u.organisation_ids.is_disjoint(&r.organisation_ids))
            .ok_or_else(|| DomainError::invalid("responsible_id", "no such usager in these organisations"))?;
        if responsible.profile.responsible_id.is_some() {
            return Err(DomainError::invalid("responsible_id", "a relative cannot be responsible for another").into());
        }
        organisation_ids.extend(responsible.organisation_ids);
        profile.responsible_id = Some(responsible_id);
    }
    let first = r
        .organisation_ids
        .first()
        .copied()
        .ok_or_else(|| DomainError::invalid("organisation_ids", "give at least one"))?;
    usager_field_settings(&state, first)
        .await?
        .check_values(&profile.custom)?;
    let command = UsagerCommand::CreateUsager {
        organisation_ids,
        profile,
    };
    let ctx = principal.context(&headers, "POST /v1/usagers", &body.hash);
    state
        .command::<Usager>(&ctx, &UsagerId::new().to_string(), command, None, StatusCode::CREATED)
        .await
}

/// The usager field settings of an organisation's espace.
async fn usager_field_settings(
    state: &AppState,
    organisation: OrganisationId,
) -> Result<rdv_domain::territory::UsagerFieldSettings, ApiError> {
    let organisation = super::organisations::organisation(state, &organisation.to_string())
        .await?
        .1;
    let territory = state
        .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
        .await?;
    Ok(territory.state()?.settings.usager_fields.clone())
}

/// An usager as the espace's forms show it now.
#[derive(Serialize, ToSchema)]
pub struct UsagerView {
    id: UsagerId,
    organisation_ids: BTreeSet<OrganisationId>,
    #[serde(flatten)]
    profile: UsagerProfile,
    /// Usagers this one is responsible for (on the usager's own page).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relatives: Vec<UsagerId>,
}

/// An usager, with the fields the espace shows (hidden or removed fields
/// keep their values and show again when they come back).
#[utoipa::path(get, path = "/v1/usagers/{id}", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UsagerView), (status = 404, body = crate::error::Problem)))]
pub async fn get_usager(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UsagerView>, ApiError> {
    let (usager_id, usager, organisation) = visible_usager(&state, &principal, &id).await?;
    let profile = usager_field_settings(&state, organisation)
        .await?
        .shown(&usager.profile);
    let docs = state
        .store
        .docs(
            rdv_projections::usagers::NAME,
            rdv_projections::usagers::USAGERS,
            &organisation.to_string(),
        )
        .await?;
    let relatives = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<UsagerDoc>(d).ok())
        .filter(|u| u.profile.responsible_id == Some(usager_id))
        .map(|u| UsagerId(u.id))
        .collect();
    Ok(Json(UsagerView {
        id: usager_id,
        organisation_ids: usager.organisation_ids,
        profile,
        relatives,
    }))
}

/// The usager and one of its organisations the caller works in (404 when
/// there is none: the caller learns nothing of usagers elsewhere).
async fn visible_usager(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(UsagerId, rdv_domain::usager::UsagerState, OrganisationId), ApiError> {
    let usager_id: UsagerId = path_id(id, "usager")?;
    let usager = state
        .load::<Usager>(id)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("usager"))?;
    for organisation_id in &usager.organisation_ids {
        let (o, organisation) = super::organisations::organisation(state, &organisation_id.to_string()).await?;
        if principal
            .require_organisation_member(o, organisation.territory_id)
            .is_ok()
        {
            return Ok((usager_id, usager, o));
        }
    }
    Err(ApiError::not_found("usager"))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct UsagerSearch {
    /// Words matched against names, e-mail, phone and birth date, ignoring
    /// case and accents ("helene 06 12" finds Hélène with 06 12 34 56 78).
    search: Option<String>,
    min_position: Option<i64>,
}

/// The usagers of an organisation matching a search, by last then first name
/// (at most 100), with the fields the espace shows.
#[utoipa::path(get, path = "/v1/organisations/{id}/usagers", tag = "rdvs", params(("id" = String, Path), UsagerSearch),
    security(("bearer" = [])), responses((status = 200, body = Vec<UsagerView>)))]
pub async fn search_usagers(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<UsagerSearch>,
) -> Result<Json<Vec<UsagerView>>, ApiError> {
    let (organisation_id, organisation) = super::organisations::organisation(&state, &id).await?;
    principal.require_organisation_member(organisation_id, organisation.territory_id)?;
    state.wait_for(rdv_projections::usagers::NAME, q.min_position).await?;
    let words: Vec<String> = rdv_projections::usagers::fold(q.search.as_deref().unwrap_or_default())
        .split_whitespace()
        .map(|w| w.replace(['.', '-'], ""))
        .collect();
    let settings = usager_field_settings(&state, organisation_id).await?;
    let docs = state
        .store
        .docs(rdv_projections::usagers::NAME, rdv_projections::usagers::USAGERS, &id)
        .await?;
    let mut found: Vec<UsagerDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<UsagerDoc>(d).ok())
        .filter(|u| {
            let text = u.search.replace(['.', '-'], "");
            let compact = text.replace(' ', "");
            words
                .iter()
                .all(|w| text.contains(w.as_str()) || compact.contains(w.as_str()))
        })
        .collect();
    found.sort_by(|a, b| {
        (a.profile.last_name.as_str(), a.profile.first_name.as_str(), a.id).cmp(&(
            b.profile.last_name.as_str(),
            b.profile.first_name.as_str(),
            b.id,
        ))
    });
    Ok(Json(
        found
            .into_iter()
            .take(100)
            .map(|u| UsagerView {
                id: UsagerId(u.id),
                organisation_ids: [organisation_id].into(),
                profile: settings.shown(&u.profile),
                relatives: Vec::new(),
            })
            .collect(),
    ))
}

/// Every change of an usager: who, when, which fields (for the agents of
/// its organisations).
#[utoipa::path(get, path = "/v1/usagers/{id}/history", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::history::HistoryEntry>), (status = 404, body = crate::error::Problem)))]
pub async fn usager_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::history::HistoryEntry>>, ApiError> {
    visible_usager(&state, &principal, &id).await?;
    let events = state.store.load_stream("Usager", &id).await?;
    Ok(Json(crate::history::of::<Usager>(&events, |u| {
        u.0.as_ref().map_or(
            Value::Null,
            |s| json!({"organisation_ids": s.organisation_ids, "profile": s.profile}),
        )
    })?))
}

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
}

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

/// What RDV e-mails need to know beyond the RDV itself.
#[derive(Clone)]
struct NoticeContext {
    organisation: String,
    zone: rdv_domain::values::TimeZone,
    motif: String,
    instructions: Option<String>,
    place: Option<String>,
    /// Only motifs `visible_and_notified` notify usagers (RDV Service Public).
    notify: bool,
    /// The motif lets usagers cancel online.
    usager_may_cancel: bool,
    public_url: String,
}

async fn notice_context(state: &AppState, booking: &Booking) -> Result<NoticeContext, ApiError> {
    notice_context_of(state, booking.organisation_id, booking.motif_id, booking.lieu_id).await
}

async fn notice_context_of(
    state: &AppState,
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
) -> Result<NoticeContext, ApiError> {
    let organisation = state
        .load::<rdv_domain::organisation::Organisation>(&organisation_id.to_string())
        .await?;
    let organisation = organisation.state()?;
    let motif = state.load::<rdv_domain::motif::Motif>(&motif_id.to_string()).await?;
    let motif = motif.state()?;
    let place = match lieu_id {
        Some(lieu) => state
            .load::<rdv_domain::lieu::Lieu>(&lieu.to_string())
            .await?
            .0
            .map(|l| format!("{}, {}", l.details.name, l.details.address)),
        None => None,
    };
    Ok(NoticeContext {
        organisation: organisation.details.name.to_string(),
        zone: organisation.timezone,
        motif: motif.config.informations.name.to_string(),
        instructions: motif.config.instructions.after_booking.clone(),
        place,
        notify: motif.config.informations.visibility == Visibility::VisibleAndNotified,
        usager_may_cancel: motif.config.booking.usager_can_cancel,
        public_url: state.public_url.clone(),
    })
}

/// Who hears about an usager's RDVs: the usager, or their responsible for
/// a relative (RDV Service Public).
async fn recipient(unit: &mut UnitOfWork<'_>, usager_id: UsagerId) -> Result<Option<UsagerProfile>, CommandError> {
    let (usager, _) = unit.load::<Usager>(&usager_id.to_string()).await?;
    let Some(usager) = usager.0 else { return Ok(None) };
    match usager.profile.responsible_id {
        Some(responsible) => Ok(unit
            .load::<Usager>(&responsible.to_string())
            .await?
            .0
            .0
            .map(|r| r.profile)),
        None => Ok(Some(usager.profile)),
    }
}

/// Queues the e-mail of an RDV notice to an usager, unless the motif does
/// not notify, the usager has no e-mail, or the RDV has already started.
fn queue_notice(
    unit: &mut UnitOfWork<'_>,
    ctx: &NoticeContext,
    notice: RdvNotice,
    usager: &UsagerProfile,
    starts_at: DateTime<Utc>,
    token: Option<&str>,
    sms: bool,
) {
    if !ctx.notify || starts_at <= unit.now() {
        return;
    }
    let link = token.map(|t| notifications::participation_link(&ctx.public_url, t));
    if let Some(phone) = usager.phone.as_ref().filter(|p| sms && p.is_mobile()) {
        unit.send(notifications::rdv_sms(
            notice,
            phone,
            &ctx.organisation,
            starts_at,
            ctx.zone,
            link.as_deref(),
        ));
    }
    let Some(email) = usager.email.as_ref() else { return };
    unit.send(notifications::rdv_email(RdvMessage {
        notice,
        to: email,
        first_name: usager.first_name.as_str(),
        organisation: &ctx.organisation,
        motif: &ctx.motif,
        starts_at,
        timezone: ctx.zone,
        place: ctx.place.clone(),
        link,
        instructions: ctx.instructions.as_deref(),
    }));
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
    let authorize = |o, org: &OrganisationState| principal.require_organisation_member(o, org.territory_id);
    let search = SlotSearch::prepare(&state, &organisation_path, authorize, r.motif_id, None).await?;
    let mut errors = Vec::new();
    for (i, agent) in r.agent_ids.iter().enumerate() {
        let member = state
            .load::<Agent>(&agent.to_string())
            .await?
            .0
            .is_some_and(|a| a.memberships.contains_key(&r.organisation_id));
        if !member {
            errors.push(FieldError::new(
                format!("agent_ids[{i}]"),
                "no such agent in this organisation",
            ));
        }
    }
    for (i, usager) in r.usager_ids.iter().enumerate() {
        let member = state
            .load::<Usager>(&usager.to_string())
            .await?
            .0
            .is_some_and(|u| u.organisation_ids.contains(&r.organisation_id));
        if !member {
            errors.push(FieldError::new(
                format!("usager_ids[{i}]"),
                "no such usager in this organisation",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::invalid_fields(errors).into());
    }
    let starts_at = r.starts_at.with_timezone(&Utc);
    let minutes = r
        .duration_in_min
        .unwrap_or(search.motif.config.informations.default_duration_in_min);
    let interval = Interval::new(starts_at, starts_at + Duration::minutes(minutes.into()));
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
                let (booking, organisation, notice, token) =
                    (booking.clone(), organisation.clone(), notice.clone(), token.clone());
                Box::pin(async move {
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    for usager_id in &booking.usager_ids {
                        if let Some(to) = recipient(unit, *usager_id).await? {
                            queue_notice(
                                unit,
                                &notice,
                                RdvNotice::Created,
                                &to,
                                booking.starts_at,
                                Some(&token),
                                true,
                            );
                        }
                    }
                    let agents = booking.agent_ids.clone();
                    let mut warnings = duplicates(unit, &booking, &organisation).await?;
                    unit.handle::<Rdv>(
                        &rdv_id.to_string(),
                        RdvCommand::BookRdv {
                            booking: Box::new(booking),
                        },
                    )
                    .await?;
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
    usager: UsagerFields,
}

/// What an usager gets back: the RDV and its magic link token (12 weeks).
#[derive(Serialize, ToSchema)]
pub struct PublicBookingAnswer {
    rdv_id: RdvId,
    usager_id: UsagerId,
    agent_id: AgentId,
    participation_token: String,
}

/// Up to five slots the usager could book instead, from the requested day.
async fn next_slots(state: &AppState, search: &mut SlotSearch, day: NaiveDate) -> Result<Vec<SlotView>, ApiError> {
    search.from = day;
    search.to = day + Duration::days(13);
    let mut slots = engine::search(state, search).await?;
    slots.dedup_by(|a, b| a.starts_at == b.starts_at);
    Ok(slots.iter().take(5).map(|s| SlotView::new(s, search.zone())).collect())
}

/// Books an offered slot as an usager (no login). The agent is chosen among
/// those free at that time: the one with the fewest RDVs that day, then the
/// lowest id. A slot taken meanwhile is 409 with `next_slots`. Never two
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
    let profile = r.usager.parse("usager.")?;
    usager_field_settings(&state, r.organisation_id)
        .await?
        .check_values(&profile.custom)?;
    let organisation_path = r.organisation_id.to_string();
    let mut search = SlotSearch::prepare(&state, &organisation_path, |_, _| Ok(()), r.motif_id, None).await?;
    let booking_rules = search.motif.config.booking.clone();
    if booking_rules.bookable_by != BookableBy::Everyone
        || search.motif.config.informations.visibility == Visibility::Invisible
    {
        return Err(DomainError::invalid("motif_id", "this motif is not bookable online without an invitation").into());
    }
    let now = state.services().now();
    search.lieu_id = r.lieu_id;
    search.earliest = now + Duration::minutes(booking_rules.min_booking_delay_in_min.into());
    search.latest = Some(now + Duration::minutes(booking_rules.max_booking_delay_in_min.into()));
    let starts_at = r.starts_at.with_timezone(&Utc);
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
    let candidates: Vec<AgentId> = offered.iter().map(|s| s.agent).collect();
    let interval = Interval::new(first.starts_at, first.ends_at);
    let (rdv_id, usager_id) = (RdvId::new(), UsagerId::new());
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
                let (candidates, organisation, profile, token, token_hash, notice) = (
                    candidates.clone(),
                    organisation.clone(),
                    profile.clone(),
                    token.clone(),
                    token_hash.clone(),
                    notice.clone(),
                );
                let (motif_id, lieu_id, organisation_id) = (r.motif_id, first.lieu, r.organisation_id);
                Box::pin(async move {
                    let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
                    let mut free = Vec::new();
                    for agent in candidates {
                        let (agent_day, _) = unit.load::<AgentDay>(&AgentDay::stream_id(agent, day)).await?;
                        if agent_day.overlapping(rdv_id, interval).is_empty() {
                            free.push((agent_day.reservations.len(), agent));
                        }
                    }
                    free.sort();
                    let Some((_, agent)) = free.first().copied() else {
                        return Err(DomainError::conflict("this slot was just taken").into());
                    };
                    unit.new_stream::<Usager>(&usager_id.to_string());
                    let create = UsagerCommand::CreateUsager {
                        organisation_ids: [organisation_id].into(),
                        profile: profile.clone(),
                    };
                    unit.handle::<Usager>(&usager_id.to_string(), create).await?;
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
                    };
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    unit.handle::<Rdv>(
                        &rdv_id.to_string(),
                        RdvCommand::BookRdv {
                            booking: Box::new(booking),
                        },
                    )
                    .await?;
                    reserve(unit, rdv_id, &[agent].into(), interval, &organisation, true).await?;
                    queue_notice(
                        unit,
                        &notice,
                        RdvNotice::Created,
                        &profile,
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

/// The RDV, after checking the caller works in its organisation.
async fn agent_rdv(state: &AppState, principal: &Principal, id: &str) -> Result<(RdvId, RdvState), ApiError> {
    let rdv_id: RdvId = path_id(id, "rdv")?;
    let rdv = state
        .load::<Rdv>(id)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("rdv"))?;
    let organisation = super::organisations::organisation(state, &rdv.booking.organisation_id.to_string()).await?;
    principal.require_territory_visibility(organisation.1.territory_id, "rdv")?;
    principal.require_organisation_member(organisation.0, organisation.1.territory_id)?;
    Ok((rdv_id, rdv))
}

/// Hides the internal Contexte field when the espace has turned it off
/// (the stored value stays and shows again when it is turned back on).
async fn apply_rdv_fields(
    state: &AppState,
    organisation: &OrganisationState,
    docs: &mut [RdvDoc],
) -> Result<(), ApiError> {
    let territory = state
        .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
        .await?;
    if !territory.state()?.settings.rdv_fields.context_enabled {
        docs.iter_mut().for_each(|d| d.context = None);
    }
    Ok(())
}

/// An RDV (read from its stream: always current).
#[utoipa::path(get, path = "/v1/rdvs/{id}", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = RdvDoc), (status = 404, body = crate::error::Problem)))]
pub async fn get_rdv(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RdvDoc>, ApiError> {
    let (rdv_id, rdv) = agent_rdv(&state, &principal, &id).await?;
    let organisation = super::organisations::organisation(&state, &rdv.booking.organisation_id.to_string())
        .await?
        .1;
    let mut doc = [RdvDoc::new(rdv_id.0, &rdv)];
    apply_rdv_fields(&state, &organisation, &mut doc).await?;
    let [doc] = doc;
    Ok(Json(doc))
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
    let (organisation_id, organisation) = super::organisations::organisation(&state, &id).await?;
    principal.require_organisation_member(organisation_id, organisation.territory_id)?;
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
    apply_rdv_fields(&state, &organisation, &mut rdvs).await?;
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
    let (usagers, starts_at) = (rdv.booking.usager_ids.clone(), rdv.booking.starts_at);
    // RDV Service Public texts a cancellation only when the service cancelled.
    let agent_cancelled = matches!(by, Actor::Agent { .. });
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (id, agents, usagers, notice, organisation) = (
                    id.clone(),
                    agents.clone(),
                    usagers.clone(),
                    notice.clone(),
                    organisation.clone(),
                );
                Box::pin(async move {
                    unit.handle::<Rdv>(
                        &id,
                        RdvCommand::CancelRdv {
                            by,
                            status,
                            usager_may_cancel,
                        },
                    )
                    .await?;
                    for usager_id in &usagers {
                        if let Some(to) = recipient(unit, *usager_id).await? {
                            queue_notice(
                                unit,
                                &notice,
                                RdvNotice::Cancelled,
                                &to,
                                starts_at,
                                None,
                                agent_cancelled,
                            );
                        }
                    }
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

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The participation token from the booking or its notification.
    token: String,
}

/// The RDV a participation token opens: 422 for a wrong token, 410 once
/// the link has expired.
async fn usager_rdv(state: &AppState, id: &str, token: &str) -> Result<(RdvId, RdvState), ApiError> {
    let rdv_id: RdvId = path_id(id, "rdv")?;
    let rdv = state
        .load::<Rdv>(id)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("rdv"))?;
    let token = token.trim();
    let issued = rdv.booking.participation_token.as_ref();
    if tokens::participation_rdv(token) != Some(rdv_id) || issued.is_none_or(|(hash, _)| *hash != tokens::hash(token)) {
        return Err(DomainError::invalid("token", "this participation token is not valid").into());
    }
    if issued.is_some_and(|(_, until)| *until <= state.services().now()) {
        return Err(DomainError::gone("this participation link has expired").into());
    }
    Ok((rdv_id, rdv))
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
    let (rdv_id, rdv) = usager_rdv(&state, &id, &body.value.token).await?;
    let usager = rdv.booking.usager_ids.first().copied().unwrap_or_default();
    let ctx = crate::auth::anonymous_context(format!("usager:{usager}"), &headers);
    cancel(&state, &ctx, rdv_id, &rdv, Actor::Usager, RdvStatus::Excused).await
}

/// A status to set. To cancel: `excused` (the usager's reason) or
/// `revoked` (the service's).
#[derive(Deserialize, ToSchema)]
pub struct StatusRequest {
    status: RdvStatus,
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
    let interval = Interval::new(rdv.booking.starts_at, rdv.booking.ends_at);
    let (agents, was_cancelled) = (rdv.booking.agent_ids.clone(), rdv.status.is_cancelled());
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/status"), &body.hash);
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (id, agents, organisation) = (id.clone(), agents.clone(), organisation.clone());
                Box::pin(async move {
                    let zone = organisation.timezone;
                    unit.handle::<Rdv>(&id, RdvCommand::ChangeRdvStatus { agent_id, status, zone })
                        .await?;
                    match (was_cancelled, status.is_cancelled()) {
                        (false, true) => release(unit, rdv_id, &agents, interval, &organisation)
                            .await
                            .map(|_| Vec::new()),
                        (true, false) => reserve(unit, rdv_id, &agents, interval, &organisation, false).await,
                        _ => Ok(Vec::new()),
                    }
                })
            },
            answer_with_warnings(StatusCode::OK, rdv_id),
        )
        .await?;
    Ok(CommandReply(outcome))
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

/// Moves an RDV and its agents' reservations in one transaction.
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
    let from = Interval::new(rdv.booking.starts_at, rdv.booking.ends_at);
    let agents = rdv.booking.agent_ids.clone();
    let exclusive = by == Actor::Usager;
    let outcome = state
        .commands
        .run(
            ctx,
            |unit| {
                let (agents, organisation) = (agents.clone(), organisation.clone());
                Box::pin(async move {
                    let command = RdvCommand::RescheduleRdv {
                        by,
                        starts_at: to.start,
                        ends_at: to.end,
                        usager_may_reschedule,
                    };
                    unit.handle::<Rdv>(&rdv_id.to_string(), command).await?;
                    release(unit, rdv_id, &agents, from, &organisation).await?;
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
    let start = body.value.starts_at.with_timezone(&Utc);
    let minutes = body
        .value
        .duration_in_min
        .map_or(rdv.booking.ends_at - rdv.booking.starts_at, |m| {
            Duration::minutes(m.into())
        });
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
    let (rdv_id, rdv) = usager_rdv(&state, &id, &body.value.token).await?;
    let organisation = rdv.booking.organisation_id.to_string();
    let mut search = SlotSearch::prepare(&state, &organisation, |_, _| Ok(()), rdv.booking.motif_id, None).await?;
    let rules = search.motif.config.booking.clone();
    let usager_may_reschedule = rules.usager_can_reschedule && rules.bookable_by.is_public();
    let now = state.services().now();
    search.earliest = now + Duration::minutes(rules.min_booking_delay_in_min.into());
    search.latest = Some(now + Duration::minutes(rules.max_booking_delay_in_min.into()));
    search.agent_id = rdv.booking.agent_ids.first().copied();
    let start = body.value.starts_at.with_timezone(&Utc);
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
    let usager = rdv.booking.usager_ids.first().copied().unwrap_or_default();
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
    let (rdv_id, rdv) = usager_rdv(&state, &rdv_id.to_string(), &q.token).await?;
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
        status: rdv.status,
        can_cancel: may_cancel
            && !rdv.status.is_cancelled()
            && rdv.booking.starts_at - now > rdv_domain::rdv::usager_cancellation_notice(),
        instructions: notice.instructions,
    }))
}
