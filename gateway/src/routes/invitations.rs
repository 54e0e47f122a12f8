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
use rdv_app::invitation_links::{FollowInvitation, InvitationLanding};
use rdv_domain::{
    category::InvitationFormat,
    ids::{OrganisationId, UsagerId},
};
use rdv_projections::configuration::{self};
use serde::Deserialize;
use serde_json::json;
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

/// The short link of an invitation: records the click and redirects (302)
/// to the booking pages filtered to the category; once the invitation has
/// expired, a page (410) says "Désolé, votre invitation n'est plus valide !"
/// with the phone to call, and nothing is recorded.
#[utoipa::path(get, path = "/i/{code}", tag = "insertion", params(("code" = String, Path)),
    responses((status = 302, description = "to the booking pages"), (status = 410, description = "expired: an HTML page"),
              (status = 404, body = crate::error::Problem)))]
pub async fn follow_invitation(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, ApiError> {
    match (FollowInvitation { code }).run(&state).await? {
        InvitationLanding::Booking { url } => Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response()),
        InvitationLanding::Expired { help_phone } => {
            let page = format!(
                "<!doctype html><html lang=\"fr\"><meta charset=\"utf-8\"><title>Invitation expirée</title>\
                 <h1>Désolé, votre invitation n'est plus valide !</h1>\
                 <p>Pour prendre rendez-vous, appelez le {}.</p></html>",
                html_escape(&help_phone)
            );
            Ok((StatusCode::GONE, Html(page)).into_response())
        }
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
