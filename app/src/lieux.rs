//! The lieux of an organisation, managed by its admins: [`CreateLieu`],
//! [`UpdateLieu`] and [`SetLieuEnabled`].

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Changed, Respond, change_record},
};
use rdv_domain::{
    ids::{LieuId, OrganisationId},
    lieu::{Lieu, LieuCommand, LieuDetails, LieuPatch},
    rights::Permission,
};
use rdv_eventstore::{CommandContext, CommandOutcome};

/// The lieu's organisation, once the caller is checked as its admin (404
/// for a caller outside the territory).
pub async fn managed_lieu(app: &Context, caller: &Caller, lieu_id: LieuId) -> Result<OrganisationId, Error> {
    let lieu = app
        .load::<Lieu>(&lieu_id.to_string())
        .await?
        .0
        .ok_or_else(|| Error::not_found("lieu"))?;
    let organisation = app.organisation(lieu.organisation_id).await?;
    caller.require_territory_visibility(organisation.territory_id, "lieu")?;
    let place = Place::Organisation(lieu.organisation_id, organisation.territory_id);
    caller.require(Permission::ConfigureOrganisation, place)?;
    Ok(lieu.organisation_id)
}

/// Creates a lieu of the organisation, or an ad-hoc place for one RDV
/// (`single_use`, never a regular lieu).
#[derive(Debug, Clone)]
pub struct CreateLieu {
    pub organisation_id: OrganisationId,
    pub details: LieuDetails,
    pub single_use: bool,
}

impl CreateLieu {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        app.organisation_for(caller, Permission::ConfigureOrganisation, self.organisation_id)
            .await?;
        let create = LieuCommand::CreateLieu {
            organisation_id: self.organisation_id,
            details: self.details,
            single_use: self.single_use,
        };
        change_record::<Lieu>(app, command, LieuId::new(), create, None, respond).await
    }
}

/// Changes a lieu's name, address or phone; absent fields stay.
#[derive(Debug, Clone)]
pub struct UpdateLieu {
    pub lieu_id: LieuId,
    pub patch: LieuPatch,
    pub if_match: Option<i64>,
}

impl UpdateLieu {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        managed_lieu(app, caller, self.lieu_id).await?;
        let update = LieuCommand::UpdateLieu { patch: self.patch };
        change_record::<Lieu>(app, command, self.lieu_id, update, self.if_match, respond).await
    }
}

/// Disables a lieu (kept for past RDVs) or enables it again.
#[derive(Debug, Clone)]
pub struct SetLieuEnabled {
    pub lieu_id: LieuId,
    pub enabled: bool,
    pub if_match: Option<i64>,
}

impl SetLieuEnabled {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        managed_lieu(app, caller, self.lieu_id).await?;
        let change = match self.enabled {
            true => LieuCommand::EnableLieu,
            false => LieuCommand::DisableLieu,
        };
        change_record::<Lieu>(app, command, self.lieu_id, change, self.if_match, respond).await
    }
}
