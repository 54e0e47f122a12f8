use super::organisations::organisation;
use crate::{
    auth::Principal,
    availability::{self as engine, SlotSearch, SlotView, check_range},
    error::ApiError,
    extract::{Query, path_id},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{Duration, NaiveDate, Utc};
use rdv_domain::{
    DomainError,
    agenda::AgentAgenda,
    ids::{AgentId, LieuId, MotifId, OrganisationId},
    motif::{Motif, MotifState, Visibility},
    organisation::OrganisationState,
    territory::Territory,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub struct SlotQuery {
    /// Wait (up to 5 s) until plages and absences up to this position are seen.
    min_position: Option<i64>,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    agent_id: Option<AgentId>,
    /// First local day (default: today in the organisation's zone).
    from: Option<NaiveDate>,
    /// Last local day, inclusive (default: from + 6 days; at most ~6 months).
    to: Option<NaiveDate>,
}

/// The motif of a search, enabled in the organisation and not archived.
async fn searchable_motif(
    state: &AppState,
    organisation_id: OrganisationId,
    motif_id: MotifId,
) -> Result<MotifState, ApiError> {
    match state.load::<Motif>(&motif_id.to_string()).await?.0 {
        Some(m) if !m.archived && m.config.organisation_ids.contains(&organisation_id) => Ok(m),
        _ => Err(DomainError::invalid("motif_id", "no such motif enabled in this organisation").into()),
    }
}

async fn departement(state: &AppState, organisation: &OrganisationState) -> Result<String, ApiError> {
    let territory = state.load::<Territory>(&organisation.territory_id.to_string()).await?;
    Ok(territory.state()?.departement_number.as_str().to_string())
}

/// Free slots of a motif in an organisation, for agents: no booking delays,
/// starts from now, one slot per (start, agent), sorted.
#[utoipa::path(get, path = "/v1/organisations/{id}/slots", tag = "slots", params(("id" = String, Path), SlotQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<SlotView>), (status = 422, body = crate::error::Problem)))]
pub async fn agent_slots(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<SlotQuery>,
) -> Result<Json<Vec<SlotView>>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require_organisation_member(organisation_id, organisation.territory_id)?;
    let motif = searchable_motif(&state, organisation_id, q.motif_id).await?;
    state
        .wait_for(rdv_projections::availability::NAME, q.min_position)
        .await?;
    let now = state.services().now();
    let zone = organisation.timezone;
    let from = q.from.unwrap_or_else(|| now.with_timezone(&zone.0).date_naive());
    let to = q.to.unwrap_or(from + Duration::days(6));
    check_range(from, to)?;
    let departement = departement(&state, &organisation).await?;
    let search = SlotSearch {
        organisation_id: &id,
        organisation: &organisation,
        departement: &departement,
        motif_id: q.motif_id,
        motif: &motif,
        lieu_id: q.lieu_id,
        agent_id: q.agent_id,
        from,
        to,
        earliest: now,
        latest: None,
    };
    let slots = engine::search(&state, &search, now).await?;
    Ok(Json(slots.iter().map(|s| SlotView::new(s, zone.0)).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct PublicSlotQuery {
    /// Wait (up to 5 s) until plages and absences up to this position are seen.
    min_position: Option<i64>,
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// Free slots an usager may book online: only motifs bookable by everyone
/// and visible, within [now + min delay, now + max delay], one slot per start
/// time (the agent is chosen at booking). No token needed.
#[utoipa::path(get, path = "/v1/public/slots", tag = "slots", params(PublicSlotQuery),
    responses((status = 200, body = Vec<SlotView>), (status = 422, body = crate::error::Problem)))]
pub async fn public_slots(
    State(state): State<AppState>,
    Query(q): Query<PublicSlotQuery>,
) -> Result<Json<Vec<SlotView>>, ApiError> {
    let organisation_path = q.organisation_id.to_string();
    let (organisation_id, organisation) = organisation(&state, &organisation_path).await?;
    let motif = searchable_motif(&state, organisation_id, q.motif_id).await?;
    state
        .wait_for(rdv_projections::availability::NAME, q.min_position)
        .await?;
    let booking = &motif.config.booking;
    if booking.bookable_by != rdv_domain::motif::BookableBy::Everyone
        || motif.config.informations.visibility == Visibility::Invisible
    {
        return Err(DomainError::invalid("motif_id", "this motif is not bookable online without an invitation").into());
    }
    let now = state.services().now();
    let zone = organisation.timezone;
    let earliest = now + Duration::minutes(booking.min_booking_delay_in_min.into());
    let latest = now + Duration::minutes(booking.max_booking_delay_in_min.into());
    let from = q.from.unwrap_or_else(|| earliest.with_timezone(&zone.0).date_naive());
    let to = q.to.unwrap_or(from + Duration::days(6));
    check_range(from, to)?;
    let departement = departement(&state, &organisation).await?;
    let search = SlotSearch {
        organisation_id: &organisation_path,
        organisation: &organisation,
        departement: &departement,
        motif_id: q.motif_id,
        motif: &motif,
        lieu_id: q.lieu_id,
        agent_id: None,
        from,
        to,
        earliest,
        latest: Some(latest),
    };
    let mut slots = engine::search(&state, &search, now).await?;
    slots.dedup_by(|a, b| a.starts_at == b.starts_at);
    Ok(Json(slots.iter().map(|s| SlotView::new(s, zone.0)).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct NextAvailabilityQuery {
    /// Wait (up to 5 s) until plages and absences up to this position are seen.
    min_position: Option<i64>,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    /// First local day to look at (default: today).
    from: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct NextAvailability {
    /// The earliest slot within six months, or null.
    slot: Option<SlotView>,
}

/// The earliest free slot from a day, searching up to six months ahead in
/// 7-day windows.
#[utoipa::path(get, path = "/v1/organisations/{id}/next-availability", tag = "slots", params(("id" = String, Path), NextAvailabilityQuery),
    security(("bearer" = [])), responses((status = 200, body = NextAvailability)))]
pub async fn next_availability(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<NextAvailabilityQuery>,
) -> Result<Json<NextAvailability>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require_organisation_member(organisation_id, organisation.territory_id)?;
    let motif = searchable_motif(&state, organisation_id, q.motif_id).await?;
    state
        .wait_for(rdv_projections::availability::NAME, q.min_position)
        .await?;
    let now = state.services().now();
    let zone = organisation.timezone;
    let start = q.from.unwrap_or_else(|| now.with_timezone(&zone.0).date_naive());
    let departement = departement(&state, &organisation).await?;
    let mut from = start;
    while (from - start).num_days() < engine::MAX_RANGE_DAYS {
        let search = SlotSearch {
            organisation_id: &id,
            organisation: &organisation,
            departement: &departement,
            motif_id: q.motif_id,
            motif: &motif,
            lieu_id: q.lieu_id,
            agent_id: None,
            from,
            to: from + Duration::days(6),
            earliest: now,
            latest: None,
        };
        if let Some(first) = engine::search(&state, &search, now).await?.first() {
            return Ok(Json(NextAvailability {
                slot: Some(SlotView::new(first, zone.0)),
            }));
        }
        from += Duration::days(7);
    }
    Ok(Json(NextAvailability { slot: None }))
}

#[derive(Deserialize, IntoParams)]
pub struct AgendaQuery {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Serialize, ToSchema)]
pub struct AgendaEntry {
    /// `plage` or `absence`.
    kind: &'static str,
    id: uuid::Uuid,
    title: Option<String>,
    starts_at: String,
    ends_at: String,
    organisation_id: Option<uuid::Uuid>,
    lieu_id: Option<uuid::Uuid>,
}

/// The agent's plages and absences between two days, read from its stream.
async fn agenda_entries(
    state: &AppState,
    principal: &Principal,
    id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AgendaEntry>, ApiError> {
    let agent: AgentId = path_id(id, "agent")?;
    check_range(from, to)?;
    let agent_state = state.load::<rdv_domain::agent::Agent>(id).await?;
    let agent_state = agent_state.0.ok_or_else(|| ApiError::not_found("agent"))?;
    let visible = principal.agent_id() == Some(agent)
        || agent_state
            .memberships
            .iter()
            .any(|(o, m)| principal.require_organisation_admin(*o, m.territory_id).is_ok());
    if !visible {
        return Err(ApiError::forbidden(
            "only the agent or an admin of its organisations reads its agenda",
        ));
    }
    let agenda = state.load::<AgentAgenda>(id).await?;
    let mut entries = Vec::new();
    for (plage_id, plage) in &agenda.plages {
        for occurrence in plage.occurrences(from, to) {
            entries.push(AgendaEntry {
                kind: "plage",
                id: plage_id.0,
                title: plage.title.clone(),
                starts_at: occurrence.start.with_timezone(&plage.timezone.0).to_rfc3339(),
                ends_at: occurrence.end.with_timezone(&plage.timezone.0).to_rfc3339(),
                organisation_id: Some(plage.organisation_id.0),
                lieu_id: plage.lieu_id.map(|l| l.0),
            });
        }
    }
    for (absence_id, absence) in &agenda.absences {
        for occurrence in absence.occurrences(from, to) {
            entries.push(AgendaEntry {
                kind: "absence",
                id: absence_id.0,
                title: Some(absence.title.clone()),
                starts_at: occurrence.start.with_timezone(&absence.timezone.0).to_rfc3339(),
                ends_at: occurrence.end.with_timezone(&absence.timezone.0).to_rfc3339(),
                organisation_id: None,
                lieu_id: None,
            });
        }
    }
    entries.sort_by(|a, b| a.starts_at.cmp(&b.starts_at));
    Ok(entries)
}

/// The agent's agenda: plages and absences between two days.
#[utoipa::path(get, path = "/v1/agents/{id}/agenda", tag = "agenda", params(("id" = String, Path), AgendaQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<AgendaEntry>)))]
pub async fn agenda(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<AgendaQuery>,
) -> Result<Json<Vec<AgendaEntry>>, ApiError> {
    Ok(Json(agenda_entries(&state, &principal, &id, q.from, q.to).await?))
}

/// The agent's absences (and, with booking, RDVs) as an iCalendar feed for
/// the next six months; no personal data in the summaries.
#[utoipa::path(get, path = "/v1/agents/{id}/agenda.ics", tag = "agenda", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, content_type = "text/calendar", body = String)))]
pub async fn agenda_ics(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = state.services().now();
    let today = now.date_naive();
    let entries = agenda_entries(
        &state,
        &principal,
        &id,
        today - Duration::days(30),
        today + Duration::days(150),
    )
    .await?;
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let utc = |rfc3339: &str| {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default()
    };
    let mut ics =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//rdv-events//agenda//FR\r\nCALSCALE:GREGORIAN\r\n");
    for entry in entries.iter().filter(|e| e.kind == "absence") {
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{}-{}@rdv-events\r\nDTSTAMP:{stamp}\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Absence\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n",
            entry.id,
            utc(&entry.starts_at),
            utc(&entry.starts_at),
            utc(&entry.ends_at),
        ));
    }
    ics.push_str("END:VCALENDAR\r\n");
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], ics).into_response())
}
