//! How an organisation works with a motif category (rdv-insertion's
//! "configuration"): [`ConfigureCategory`], by the organisation's admins.
//! Motifs join the category by their `informations.category`.

use crate::{
    Context, Error,
    caller::Caller,
    respond::{Changed, Respond, change_record},
};
use rdv_domain::{
    category::{CategoryCommand, CategoryConfiguration, CategorySettings},
    ids::OrganisationId,
    rights::Permission,
};
use rdv_eventstore::{CommandContext, CommandOutcome};

/// Sets an organisation's configuration of a category.
#[derive(Debug, Clone)]
pub struct ConfigureCategory {
    pub organisation_id: OrganisationId,
    /// Checked by the caller: e.g. `rsa_orientation`.
    pub short_name: String,
    pub settings: CategorySettings,
    pub if_match: Option<i64>,
}

impl ConfigureCategory {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::ConfigureOrganisation, organisation_id)
            .await?;
        let stream = CategoryConfiguration::stream_id(organisation_id, &self.short_name);
        let configure = CategoryCommand::ConfigureCategory {
            organisation_id,
            short_name: self.short_name,
            settings: Box::new(self.settings),
        };
        change_record::<CategoryConfiguration>(app, command, stream, configure, self.if_match, respond).await
    }
}
