//! Letters to print: the convocation of a participation and the postal
//! invitation. Downloading a convocation records it as a postal notice on
//! the follow-up, in the same transaction that reads what it prints.

use super::organisations::organisation;
use crate::{
    auth::Principal, error::ApiError, extract::CommandHeaders, routes::follow_ups::visible_follow_up, state::AppState,
};
use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use rdv_app::{
    follow_ups::{ConvocationFacts, category_of, help_phone},
    insertion_messages::short_link,
    letters::{self, LetterContext},
};
use rdv_domain::{
    DomainError,
    category::{CategoryConfiguration, InvitationFormat},
    follow_up::{FollowUp, FollowUpCommand, NoticeEvent},
    ids::{InvitationId, ParticipationId},
    motif::Motif,
    rdv::{Rdv, RdvStatus},
    usager::Usager,
};
use rdv_eventstore::{CommandError, StoredResponse};
use rdv_projections::follow_ups::{self, PARTICIPATIONS, ParticipationRef};
use serde_json::json;
use std::sync::Mutex;

/// A PDF download named `file_name`.
fn pdf(bytes: Vec<u8>, file_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The participation behind an id, once the read model knows it.
async fn participation(state: &AppState, id: &str) -> Result<ParticipationRef, ApiError> {
    let _: ParticipationId = crate::extract::path_id(id, "participation")?;
    state
        .recent_doc(follow_ups::NAME, PARTICIPATIONS, id)
        .await?
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| ApiError::not_found("participation"))
}

/// The convocation letter of a convocable participation (its cancellation
/// once revoked), named `Convocation_de_{first}_{last}_le_{dd-mm-yyyy}.pdf`.
/// Each download is recorded as a postal notice of the follow-up.
#[utoipa::path(get, path = "/v1/participations/{id}/convocation.pdf", tag = "insertion", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", description = "the letter"),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn convocation_pdf(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let reference = participation(&state, &id).await?;
    visible_follow_up(&state, &principal, &reference.follow_up_id.to_string(), None).await?;
    let ctx = principal.context(&headers, &format!("GET /v1/participations/{id}/convocation.pdf"), "");
    let letter: Mutex<Option<(Vec<u8>, String)>> = Mutex::new(None);
    let keep = |rendered: &(Vec<u8>, String), _: &rdv_eventstore::CommitSummary<'_>| {
        *letter.lock().unwrap_or_else(|e| e.into_inner()) = Some(rendered.clone());
        StoredResponse {
            status: 200,
            body: json!({}),
        }
    };
    state
        .commands
        .run(
            &ctx,
            |unit| {
                let reference = reference.clone();
                Box::pin(async move {
                    let rdv = unit.current::<Rdv>(&reference.rdv_id.to_string()).await?;
                    let rdv = rdv.state()?.clone();
                    let tracked = rdv
                        .participations
                        .get(&reference.usager_id)
                        .ok_or_else(|| DomainError::not_found("participation"))?;
                    let (motif, _) = unit.load::<Motif>(&rdv.booking.motif_id.to_string()).await?;
                    let motif = motif.state()?.clone();
                    let category = category_of(unit, rdv.booking.organisation_id, &motif)
                        .await?
                        .ok_or_else(|| DomainError::not_found("motif category"))?;
                    let stream = reference.follow_up_id.to_string();
                    let convocable = unit
                        .current::<FollowUp>(&stream)
                        .await?
                        .state()?
                        .participations
                        .get(&reference.rdv_id)
                        .is_some_and(|p| p.convocable);
                    if !convocable {
                        return Err(DomainError::conflict("this participation is not a convocation").into());
                    }
                    let cancelled = tracked.status == RdvStatus::Revoked;
                    let facts = ConvocationFacts::read(unit, &category, &motif, &rdv).await?;
                    let usager = unit.current::<Usager>(&reference.usager_id.to_string()).await?;
                    let usager = usager.state()?.profile.clone();
                    let context = LetterContext {
                        texts: &category.settings.texts,
                        organisation: &facts.organisation,
                        help_phone: &facts.help_phone,
                        zone: facts.organisation.timezone,
                        today: unit.now().with_timezone(&facts.organisation.timezone.0).date_naive(),
                    };
                    let letter = letters::convocation_letter(
                        &context,
                        &usager,
                        rdv.booking.starts_at,
                        facts.place.as_deref(),
                        facts.instructions.as_deref(),
                        cancelled,
                    );
                    let event = if cancelled {
                        NoticeEvent::ParticipationCancelled
                    } else {
                        NoticeEvent::ParticipationCreated
                    };
                    let record = FollowUpCommand::RecordNotice {
                        rdv_id: reference.rdv_id,
                        event,
                        format: InvitationFormat::Postal,
                    };
                    unit.handle::<FollowUp>(&stream, record).await?;
                    let day = rdv.booking.starts_at.with_timezone(&facts.organisation.timezone.0);
                    let name = format!(
                        "Convocation_de_{}_{}_le_{}.pdf",
                        letters::file_name_part(usager.first_name.as_str()),
                        letters::file_name_part(usager.last_name.as_str()),
                        day.format("%d-%m-%Y")
                    );
                    Ok::<_, CommandError>((letter.render(), name))
                })
            },
            keep,
        )
        .await?;
    let (bytes, name) = letter
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .ok_or_else(|| ApiError::internal("the letter was not rendered"))?;
    Ok(pdf(bytes, &name))
}

/// The letter of a postal invitation, with its short link.
#[utoipa::path(get, path = "/v1/follow-ups/{id}/invitations/{invitation_id}/letter.pdf", tag = "insertion",
    params(("id" = String, Path), ("invitation_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", description = "the letter"),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn invitation_pdf(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, follow_up, _) = visible_follow_up(&state, &principal, &id, None).await?;
    let invitation_id: InvitationId = crate::extract::path_id(&invitation_id, "invitation")?;
    let invitation = follow_up
        .invitations
        .iter()
        .find(|i| i.id == invitation_id)
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if invitation.format != InvitationFormat::Postal {
        return Err(DomainError::invalid("invitation_id", "only a postal invitation has a letter").into());
    }
    let organisation_id = *invitation
        .organisation_ids
        .first()
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    let (_, organisation) = organisation(&state, &organisation_id.to_string()).await?;
    let stream = CategoryConfiguration::stream_id(organisation_id, &follow_up.category);
    let category = state
        .load::<CategoryConfiguration>(&stream)
        .await?
        .0
        .ok_or_else(|| ApiError::not_found("motif category"))?;
    let usager = state.load::<Usager>(&follow_up.usager_id.to_string()).await?;
    let usager = usager.state()?.profile.clone();
    let phone = help_phone(&category, &organisation).unwrap_or_default();
    let context = LetterContext {
        texts: &category.settings.texts,
        organisation: &organisation,
        help_phone: &phone,
        zone: organisation.timezone,
        today: invitation
            .created_at
            .with_timezone(&organisation.timezone.0)
            .date_naive(),
    };
    let link = short_link(&state.public_url, &invitation.code);
    let letter = letters::invitation_letter(&context, &usager, &link, !category.settings.optional_rdv_subscription);
    let name = format!(
        "Invitation_de_{}_{}.pdf",
        letters::file_name_part(usager.first_name.as_str()),
        letters::file_name_part(usager.last_name.as_str()),
    );
    Ok(pdf(letter.render(), &name))
}
