//! Inviting an usager to take an RDV of a category (rdv-insertion's
//! InviteUser), and the short link the invitation carries.

use super::territories::MinPosition;
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, Query, path_id},
    reply::{CommandReply, reply},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use rdv_app::insertion::{InviteAnswer, InviteUsager};
use rdv_domain::{
    category::InvitationFormat,
    follow_up::{FollowUp, FollowUpCommand},
    ids::{OrganisationId, UsagerId},
};
use rdv_projections::{
    configuration::{self},
    follow_ups::{self, INVITATIONS, InvitationRef},
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    /// Short name of the category, e.g. `rsa_orientation`.
    motif_category: String,
    /// One invitation per format, sent together or not at all.
    formats: Vec<InvitationFormat>,
}

/// Invites an usager of the organisation to book an RDV of a category, by
/// SMS, e-mail and/or letter (rdv-insertion's rules: one per format per
/// 24 h except letters, a civility and a contact for the format, no RDV to
/// come, a motif of the category, letters valid over 5 days). The link is
/// valid for the category's "Délai d'expiration"; its short form `/i/{code}`
/// leads to the booking pages filtered to the category.
#[utoipa::path(post, path = "/v1/organisations/{id}/usagers/{usager_id}/invitations", tag = "insertion",
    params(("id" = String, Path), ("usager_id" = String, Path), MinPosition), request_body = InviteRequest, security(("bearer" = [])),
    responses((status = 201, body = InviteAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn invite_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, usager_id)): Path<(String, String)>,
    Query(q): Query<MinPosition>,
    body: JsonBody<InviteRequest>,
) -> Result<CommandReply, ApiError> {
    let organisation_id: OrganisationId = path_id(&id, "organisation")?;
    let usager_id: UsagerId = path_id(&usager_id, "usager")?;
    state.wait_for(configuration::NAME, q.min_position).await?;
    let r = body.value;
    let command = InviteUsager {
        organisation_id,
        usager_id,
        motif_category: r.motif_category,
        formats: r.formats,
    };
    let route = format!("POST /v1/organisations/{id}/usagers/{usager_id}/invitations");
    let ctx = principal.context(&headers, &route, &body.hash);
    let respond = reply(
        StatusCode::CREATED,
        "FollowUp",
        |a: &InviteAnswer| a.follow_up_id.to_string(),
        |a| json!(a),
    );
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Where a valid invitation leads: the usager booking pages filtered to
/// the category and organisations, with the invitation's booking token.
fn booking_link(public_url: &str, category: &str, organisations: &BTreeSet<OrganisationId>, token: &str) -> String {
    let organisations: String = organisations
        .iter()
        .map(|o| format!("&organisation_ids[]={o}"))
        .collect();
    format!(
        "{}/prendre_rdv?motif_category_short_name={category}{organisations}&invitation_token={token}",
        public_url.trim_end_matches('/')
    )
}

/// The short link of an invitation: records the click and redirects (302)
/// to the booking pages filtered to the category; once the invitation has
/// expired, a page (410) says "Désolé, votre invitation n'est plus valide !"
/// with the phone to call, and nothing is recorded.
#[utoipa::path(get, path = "/i/{code}", tag = "insertion", params(("code" = String, Path)),
    responses((status = 302, description = "to the booking pages"), (status = 410, description = "expired: an HTML page"),
              (status = 404, body = crate::error::Problem)))]
pub async fn follow_invitation(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, ApiError> {
    let code = code.trim().to_uppercase();
    let valid_shape = code.len() == 8 && code.chars().all(|c| c.is_ascii_alphanumeric());
    let found = match valid_shape {
        true => state.recent_doc(follow_ups::NAME, INVITATIONS, &code).await?,
        false => None,
    };
    let reference: InvitationRef = found
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    let stream = reference.follow_up_id.to_string();
    let follow_up = state.load::<FollowUp>(&stream).await?;
    let follow_up = follow_up.state()?;
    let invitation = follow_up
        .invitations
        .iter()
        .find(|i| i.id == reference.invitation_id)
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if !invitation.is_valid(state.services().now()) {
        let page = format!(
            "<!doctype html><html lang=\"fr\"><meta charset=\"utf-8\"><title>Invitation expirée</title>\
             <h1>Désolé, votre invitation n'est plus valide !</h1>\
             <p>Pour prendre rendez-vous, appelez le {}.</p></html>",
            html_escape(&invitation.help_phone)
        );
        return Ok((StatusCode::GONE, Html(page)).into_response());
    }
    let token = state
        .master_key
        .open(&invitation.sealed_token)
        .map_err(|e| ApiError::internal(format!("invitation token: {e}")))?;
    let target = booking_link(
        &state.public_url,
        &follow_up.category,
        &invitation.organisation_ids,
        &token,
    );
    let ctx = rdv_eventstore::CommandContext::new(format!("usager:{}", follow_up.usager_id));
    let click = FollowUpCommand::RecordClick {
        invitation_id: invitation.id,
    };
    state
        .commands
        .execute::<FollowUp, _>(&ctx, &stream, click, None, |_, _| rdv_eventstore::StoredResponse {
            status: 200,
            body: json!({}),
        })
        .await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, target)]).into_response())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
