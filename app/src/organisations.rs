//! Organisations of a territory: [`CreateOrganisation`] (territorial
//! configuration right) and [`UpdateOrganisation`] (its admins).

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Changed, Respond, change_record},
};
use rdv_domain::{
    ids::{OrganisationId, TerritoryId},
    organisation::{Organisation, OrganisationCommand, OrganisationDetails, OrganisationPatch},
    rights::Permission,
    territory::Territory,
    values::TimeZone,
};
use rdv_eventstore::{CommandContext, CommandOutcome};

/// Creates an organisation in a territory, in the territory's time zone
/// unless another is given.
#[derive(Debug, Clone)]
pub struct CreateOrganisation {
    pub territory_id: TerritoryId,
    pub details: OrganisationDetails,
    pub timezone: Option<TimeZone>,
}

impl CreateOrganisation {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let territory_id = self.territory_id;
        caller.require(Permission::ConfigureTerritory, Place::Territory(territory_id))?;
        let territory = app.load::<Territory>(&territory_id.to_string()).await?;
        let create = OrganisationCommand::CreateOrganisation {
            territory_id,
            timezone: self.timezone.unwrap_or(territory.state()?.timezone),
            details: self.details,
        };
        change_record::<Organisation>(app, command, OrganisationId::new(), create, None, respond).await
    }
}

/// Changes an organisation's details; absent fields stay.
#[derive(Debug, Clone)]
pub struct UpdateOrganisation {
    pub organisation_id: OrganisationId,
    pub patch: OrganisationPatch,
    pub if_match: Option<i64>,
}

impl UpdateOrganisation {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::UpdateOrganisation, organisation_id)
            .await?;
        let update = OrganisationCommand::UpdateOrganisation { patch: self.patch };
        change_record::<Organisation>(app, command, organisation_id, update, self.if_match, respond).await
    }
}
