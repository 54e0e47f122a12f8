//! Organisations of a territory: [`CreateOrganisation`] (territorial
//! configuration right) and [`UpdateOrganisation`] (its admins).

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::Respond,
};
use rdv_domain::{
    ids::{OrganisationId, TerritoryId},
    organisation::{Organisation, OrganisationCommand, OrganisationDetails, OrganisationPatch},
    rights::Permission,
    territory::Territory,
    values::TimeZone,
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome};

/// Which organisation a command changed.
#[derive(Debug, Clone, Copy)]
pub struct OrganisationChanged {
    pub organisation_id: OrganisationId,
}

/// Runs one command on the organisation's stream.
async fn change_organisation(
    app: &Context,
    command: &CommandContext,
    organisation_id: OrganisationId,
    change: OrganisationCommand,
    if_match: Option<i64>,
    respond: impl Respond<OrganisationChanged>,
) -> Result<CommandOutcome, Error> {
    let stream = organisation_id.to_string();
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (stream, change) = (stream.clone(), change.clone());
                Box::pin(async move {
                    unit.handle_expecting::<Organisation>(&stream, change, if_match).await?;
                    Ok::<_, CommandError>(OrganisationChanged { organisation_id })
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

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
        respond: impl Respond<OrganisationChanged>,
    ) -> Result<CommandOutcome, Error> {
        let territory_id = self.territory_id;
        caller.require(Permission::ConfigureTerritory, Place::Territory(territory_id))?;
        let territory = app.load::<Territory>(&territory_id.to_string()).await?;
        let create = OrganisationCommand::CreateOrganisation {
            territory_id,
            timezone: self.timezone.unwrap_or(territory.state()?.timezone),
            details: self.details,
        };
        change_organisation(app, command, OrganisationId::new(), create, None, respond).await
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
        respond: impl Respond<OrganisationChanged>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        let organisation = app.organisation(organisation_id).await?;
        caller.require(
            Permission::UpdateOrganisation,
            Place::Organisation(organisation_id, organisation.territory_id),
        )?;
        let update = OrganisationCommand::UpdateOrganisation { patch: self.patch };
        change_organisation(app, command, organisation_id, update, self.if_match, respond).await
    }
}
