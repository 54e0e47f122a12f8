//! Inviting an usager to take an RDV of a category (rdv-insertion's
//! InviteUser), and the short link the invitation carries.

use super::{organisations::organisation, territories::MinPosition};
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, Query},
    reply::{CommandReply, reply},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Duration, Utc};
use rdv_app::caller::Place;
use rdv_app::insertion::{category_motifs, configured_category};
use rdv_app::{
    follow_ups::help_phone,
    insertion_messages::{self, InvitationWording},
    tokens,
};
use rdv_domain::rights::Permission;
use rdv_domain::{
    DomainError,
    category::InvitationFormat,
    follow_up::{FollowUp, FollowUpCommand, InvitationFacts, NewInvitation},
    ids::{FollowUpId, InvitationId, OrganisationId, UsagerId},
    usager::{Usager, UsagerState},
};
use rdv_projections::{
    configuration::{self},
    follow_ups::{self, INVITATIONS, InvitationRef},
};
use serde::{Deserialize, Serialize};
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

/// One invitation as sent.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: InvitationId,
    format: InvitationFormat,
    /// The short link (`/i/{code}`).
    link: String,
    valid_until: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteAnswer {
    follow_up_id: FollowUpId,
    invitations: Vec<InvitationView>,
}

/// The usager, who must belong to the organisation.
pub async fn usager_of(
    state: &AppState,
    organisation_id: OrganisationId,
    id: &str,
) -> Result<(UsagerId, UsagerState), ApiError> {
    let usager_id: UsagerId = crate::extract::path_id(id, "usager")?;
    let usager = state
        .load::<Usager>(id)
        .await?
        .0
        .filter(|u| u.organisation_ids.contains(&organisation_id))
        .ok_or_else(|| ApiError::not_found("usager"))?;
    Ok((usager_id, usager))
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
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::Insertion,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(configuration::NAME, q.min_position).await?;
    let (usager_id, usager) = usager_of(&state, organisation_id, &usager_id).await?;
    if usager.archived_at.is_some() {
        return Err(DomainError::conflict("this usager is archived: unarchive them to invite them").into());
    }
    let r = body.value;
    let category = configured_category(&state, organisation_id, r.motif_category.trim()).await?;
    let settings = &category.settings;
    let motifs = category_motifs(&state, organisation_id, &category.short_name).await?;
    let facts = InvitationFacts {
        has_title: usager.profile.title.is_some(),
        reachable: insertion_messages::reachable(&usager.profile),
        allowed: settings.invitation_formats.clone(),
        motif_exists: !motifs.is_empty(),
        with_referents: settings.rdv_with_referents,
        referent_motif_exists: motifs.iter().any(|m| m.config.informations.follow_up),
    };
    let formats: BTreeSet<InvitationFormat> = r.formats.iter().copied().collect();
    if formats.len() != r.formats.len() {
        return Err(DomainError::invalid("formats", "each format at most once").into());
    }
    let now = state.services().now();
    let valid_until = now + Duration::days(settings.number_of_days_before_action_required.into());
    let follow_up_id = FollowUpId::of(usager_id, &category.short_name);
    let token = tokens::new_follow_up_token(follow_up_id);
    let phone = help_phone(&category, &organisation);
    let mut codes = Vec::new();
    for _ in &formats {
        let code = tokens::unused_short_code(&state.store, &codes, tokens::new_short_code).await?;
        codes.push(code);
    }
    let invitations: Vec<NewInvitation> = formats
        .iter()
        .zip(codes)
        .map(|(format, code)| NewInvitation {
            id: InvitationId::new(),
            code,
            format: *format,
            valid_until,
            organisation_ids: [organisation_id].into(),
            help_phone: phone.clone(),
            token: tokens::hash(&token),
            sealed_token: state.master_key.seal(&token),
        })
        .collect();
    let messages: Vec<_> = invitations
        .iter()
        .filter_map(|i| {
            let link = insertion_messages::short_link(&state.public_url, &i.code);
            let phone = phone.as_deref().unwrap_or_default();
            insertion_messages::invitation(
                i.format,
                &usager.profile,
                &InvitationWording::of(&category, &organisation, phone, None),
                &link,
            )
            .map(|m| m.about(usager_id))
        })
        .collect();
    let answer = InviteAnswer {
        follow_up_id,
        invitations: invitations
            .iter()
            .map(|i| InvitationView {
                id: i.id,
                format: i.format,
                link: insertion_messages::short_link(&state.public_url, &i.code),
                valid_until,
            })
            .collect(),
    };
    let answer = json!(answer);
    let command = FollowUpCommand::InviteUsager {
        usager_id,
        category: category.short_name.clone(),
        invitations,
        facts,
    };
    let ctx = principal.context(
        &headers,
        &format!("POST /v1/organisations/{id}/usagers/{usager_id}/invitations"),
        &body.hash,
    );
    let stream = follow_up_id.to_string();
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (command, messages, stream) = (command.clone(), messages.clone(), stream.clone());
                Box::pin(async move {
                    unit.handle::<FollowUp>(&stream, command).await?;
                    for message in messages {
                        unit.send(message);
                    }
                    Ok::<_, rdv_eventstore::CommandError>(())
                })
            },
            reply(
                StatusCode::CREATED,
                "FollowUp",
                |_| follow_up_id.to_string(),
                move |_| answer.clone(),
            ),
        )
        .await?;
    Ok(CommandReply(outcome))
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
