//! Who may open an RDV: an agent working on the RDVs of its organisation
//! ([`agent_rdv`]), or its usager with a participation token
//! ([`usager_rdv`]). Every RDV use case starts here.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    tokens,
};
use rdv_domain::{
    DomainError,
    ids::{RdvId, UsagerId},
    organisation::OrganisationState,
    rdv::{Rdv, RdvState},
    rights::Permission,
};

/// An RDV a caller opened, with its organisation.
#[derive(Debug, Clone)]
pub struct OpenRdv {
    pub id: RdvId,
    pub rdv: RdvState,
    pub organisation: OrganisationState,
}

/// The RDV, if the caller may work on the RDVs of its organisation; a
/// caller with no footing in its territory learns nothing of it (404).
pub async fn agent_rdv(app: &Context, caller: &Caller, rdv_id: RdvId) -> Result<OpenRdv, Error> {
    let rdv = app
        .load::<Rdv>(&rdv_id.to_string())
        .await?
        .0
        .ok_or_else(|| Error::not_found("rdv"))?;
    let organisation_id = rdv.booking.organisation_id;
    let organisation = app.organisation(organisation_id).await?;
    caller.require_territory_visibility(organisation.territory_id, "rdv")?;
    caller.require(
        Permission::Rdvs,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    Ok(OpenRdv {
        id: rdv_id,
        rdv,
        organisation,
    })
}

/// The RDV a participation token opens, and the usager it names: 422 for a
/// wrong token, 410 once the link has expired.
pub async fn usager_rdv(app: &Context, rdv_id: RdvId, token: &str) -> Result<(OpenRdv, UsagerId), Error> {
    let rdv = app
        .load::<Rdv>(&rdv_id.to_string())
        .await?
        .0
        .ok_or_else(|| Error::not_found("rdv"))?;
    let token = token.trim();
    let invalid = || DomainError::invalid("token", "this participation token is not valid");
    if tokens::participation_rdv(token) != Some(rdv_id) {
        return Err(invalid().into());
    }
    let usager = rdv.participant_of_token(&tokens::hash(token)).ok_or_else(invalid)?;
    let until = rdv.participations[&usager].token.as_ref().map(|(_, until)| *until);
    if until.is_some_and(|until| until <= app.services().now()) {
        return Err(DomainError::gone("this participation link has expired").into());
    }
    let organisation = app.organisation(rdv.booking.organisation_id).await?;
    let open = OpenRdv {
        id: rdv_id,
        rdv,
        organisation,
    };
    Ok((open, usager))
}
