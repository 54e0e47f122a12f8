//! The short link an invitation carries (`/i/{code}`): [`FollowInvitation`]
//! records the click and says where the usager goes next, or that the
//! invitation has expired (then nothing is recorded).

use crate::{Context, Error};
use rdv_domain::{
    follow_up::{FollowUp, FollowUpCommand},
    ids::OrganisationId,
};
use rdv_eventstore::{CommandContext, StoredResponse};
use rdv_projections::follow_ups::{self, INVITATIONS, InvitationRef};
use std::collections::BTreeSet;

/// An usager opens the short link of an invitation.
#[derive(Debug, Clone)]
pub struct FollowInvitation {
    /// As typed: case and surrounding spaces do not matter.
    pub code: String,
}

/// Where a followed invitation leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationLanding {
    /// The booking pages filtered to the category and organisations, with
    /// the invitation's booking token.
    Booking { url: String },
    /// The invitation is no longer valid: the phone to call instead.
    Expired { help_phone: String },
}

impl FollowInvitation {
    pub async fn run(self, app: &Context) -> Result<InvitationLanding, Error> {
        let code = self.code.trim().to_uppercase();
        let valid_shape = code.len() == 8 && code.chars().all(|c| c.is_ascii_alphanumeric());
        let found = match valid_shape {
            true => app.recent_doc(follow_ups::NAME, INVITATIONS, &code).await?,
            false => None,
        };
        let reference: InvitationRef = found
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| Error::not_found("invitation"))?;
        let stream = reference.follow_up_id.to_string();
        let follow_up = app.load::<FollowUp>(&stream).await?;
        let follow_up = follow_up.state()?;
        let invitation = follow_up
            .invitations
            .iter()
            .find(|i| i.id == reference.invitation_id)
            .ok_or_else(|| Error::not_found("invitation"))?;
        if !invitation.is_valid(app.services().now()) {
            let help_phone = invitation.help_phone.clone();
            return Ok(InvitationLanding::Expired { help_phone });
        }
        let token = app
            .master_key
            .open(&invitation.sealed_token)
            .map_err(|e| Error::internal(format!("invitation token: {e}")))?;
        let organisations = &invitation.organisation_ids;
        let url = booking_link(&app.public_url, &follow_up.category, organisations, &token);
        let command = CommandContext::new(format!("usager:{}", follow_up.usager_id));
        let click = FollowUpCommand::RecordClick {
            invitation_id: invitation.id,
        };
        let stored = |_: &(), _: &rdv_eventstore::CommitSummary<'_>| StoredResponse {
            status: 200,
            body: serde_json::json!({}),
        };
        app.commands
            .execute::<FollowUp, _>(&command, &stream, click, None, stored)
            .await?;
        Ok(InvitationLanding::Booking { url })
    }
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
