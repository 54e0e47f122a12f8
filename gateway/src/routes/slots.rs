//! Slot searches (agents' and public), the next availability, and an
//! agent's agenda and ICS feed ([`rdv_app::agenda_view`]).

use crate::{
    auth::Principal,
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
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rdv_app::agenda_view::{AgendaEntry, ReadAgenda};
use rdv_app::availability::{self as engine, PublicCaller, SlotSearch};
use rdv_app::caller::Place;
use rdv_app::rdv_participants::open_to_usagers;
use rdv_app::slot_views::{AtelierSlot, SlotView};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::{AgentId, LieuId, MotifId, OrganisationId},
    organisation::OrganisationState,
};
use rdv_projections::{
    availability::{self},
    rdvs::{self, AtelierView, RdvDoc},
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
    let authorize =
        |o, org: &OrganisationState| principal.require(Permission::Rdvs, Place::Organisation(o, org.territory_id));
    let mut search = SlotSearch::prepare(&state, &id, authorize, q.motif_id, q.min_position)
        .await?
        .days(q.from, q.to)?;
    search.lieu_id = q.lieu_id;
    search.agent_id = q.agent_id;
    let slots = engine::search(&state, &search).await?;
    Ok(Json(slots.iter().map(|s| SlotView::new(s, search.zone())).collect()))
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
    /// A prescripteur's search: also motifs bookable by prescripteurs.
    prescripteur: Option<bool>,
    /// An invited usager's search (the token of their invitation link):
    /// also the category's motifs open to invited usagers.
    invitation_token: Option<String>,
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
    let organisation = q.organisation_id.to_string();
    let mut search = SlotSearch::prepare(&state, &organisation, |_, _| Ok(()), q.motif_id, q.min_position).await?;
    let caller = match &q.invitation_token {
        Some(token) => PublicCaller::Invited {
            category: rdv_app::booking::invited_follow_up(&state, token, q.organisation_id)
                .await?
                .category,
        },
        None if q.prescripteur.unwrap_or(false) => PublicCaller::Prescripteur,
        None => PublicCaller::Usager,
    };
    search.check_public(&caller)?;
    search.lieu_id = q.lieu_id;
    let now = search.earliest;
    search.public_window(now);
    search.from = search.earliest.with_timezone(&search.zone()).date_naive();
    let search = search.days(q.from, q.to)?;
    if search.motif.config.informations.collective {
        state.wait_for(rdvs::NAME, q.min_position).await?;
        return Ok(Json(open_ateliers(&state, &search, now).await?));
    }
    let mut slots = engine::search(&state, &search).await?;
    slots.dedup_by(|a, b| a.starts_at == b.starts_at);
    Ok(Json(slots.iter().map(|s| SlotView::new(s, search.zone())).collect()))
}

/// A collective motif's open ateliers in the search's days, as slots (RDV
/// Service Public lists them instead of computed créneaux), by start.
async fn open_ateliers(state: &AppState, search: &SlotSearch, now: DateTime<Utc>) -> Result<Vec<SlotView>, ApiError> {
    let docs = state
        .store
        .docs(rdvs::NAME, rdvs::RDVS, &search.organisation_id.to_string())
        .await?;
    let zone = search.zone();
    let mut ateliers: Vec<RdvDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
        .filter(|r| {
            let day = r.starts_at.with_timezone(&zone).date_naive();
            let seats_left = r.collective.as_ref().and_then(AtelierView::seats_left);
            r.motif_id == search.motif_id.0
                && r.collective.is_some()
                && search.lieu_id.is_none_or(|l| r.lieu_id == Some(l.0))
                && (search.from..=search.to).contains(&day)
                && open_to_usagers(r.status, r.starts_at, seats_left, &search.motif.config, now)
        })
        .collect();
    ateliers.sort_by_key(|r| (r.starts_at, r.id));
    Ok(ateliers
        .iter()
        .map(|r| SlotView {
            starts_at: r.starts_at.with_timezone(&zone).to_rfc3339(),
            ends_at: r.ends_at.with_timezone(&zone).to_rfc3339(),
            timezone: zone.name().to_string(),
            agent_id: r.agent_ids.first().copied().unwrap_or_default(),
            lieu_id: r.lieu_id,
            atelier: r.collective.as_ref().map(|a| AtelierSlot {
                rdv_id: r.id,
                name: a.name.clone(),
                seats_left: a.seats_left(),
            }),
        })
        .collect())
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
    let authorize =
        |o, org: &OrganisationState| principal.require(Permission::Rdvs, Place::Organisation(o, org.territory_id));
    let mut search = SlotSearch::prepare(&state, &id, authorize, q.motif_id, q.min_position)
        .await?
        .days(q.from, None)?;
    search.lieu_id = q.lieu_id;
    let start = search.from;
    while (search.from - start).num_days() < engine::MAX_RANGE_DAYS {
        if let Some(first) = engine::search(&state, &search).await?.first() {
            return Ok(Json(NextAvailability {
                slot: Some(SlotView::new(first, search.zone())),
            }));
        }
        search.from += Duration::days(7);
        search.to = search.from + Duration::days(6);
    }
    Ok(Json(NextAvailability { slot: None }))
}

#[derive(Deserialize, IntoParams)]
pub struct AgendaQuery {
    from: NaiveDate,
    to: NaiveDate,
    /// Plages and absences that ended over a year ago are read from the
    /// availability calendars: wait until they hold this position.
    min_position: Option<i64>,
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
    state.wait_for(availability::NAME, q.min_position).await?;
    let query = ReadAgenda {
        agent_id: path_id(&id, "agent")?,
        from: q.from,
        to: q.to,
    };
    Ok(Json(query.run(&state, &principal).await?))
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
    let query = ReadAgenda {
        agent_id: path_id(&id, "agent")?,
        from: today - Duration::days(30),
        to: today + Duration::days(150),
    };
    let ics = ics_feed(&query.run(&state, &principal).await?, now);
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], ics).into_response())
}

/// Absences, RDVs and busy times as iCalendar events in UTC; the summary
/// says only what kind of time it is.
fn ics_feed(entries: &[AgendaEntry], now: DateTime<Utc>) -> String {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let utc = |rfc3339: &str| {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default()
    };
    let mut ics =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//rdv-events//agenda//FR\r\nCALSCALE:GREGORIAN\r\n");
    for entry in entries.iter().filter(|e| e.kind != "plage") {
        let summary = match entry.kind {
            "rdv" => "Rendez-vous",
            "busy" => "Occupé",
            _ => "Absence",
        };
        let uid = entry.id.map_or_else(|| entry.kind.to_string(), |id| id.to_string());
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{}-{}@rdv-events\r\nDTSTAMP:{stamp}\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:{summary}\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n",
            uid,
            utc(&entry.starts_at),
            utc(&entry.starts_at),
            utc(&entry.ends_at),
        ));
    }
    ics.push_str("END:VCALENDAR\r\n");
    ics
}
