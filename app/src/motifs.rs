//! The motifs of a territory: [`ConfigureMotif`] creates or changes one
//! (territorial configuration right), [`SetMotifArchived`] archives or
//! restores it, [`SetMotifEnabled`] turns it on or off in an organisation
//! (that organisation's admin). Each keeps the motif's uniqueness keys in
//! step in the same append, so two motifs never share a name.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::Respond,
};
use rdv_domain::{
    DomainError, FieldError,
    ids::{MotifId, OrganisationId, TerritoryId},
    motif::{Motif, MotifCommand, MotifConfig, MotifState},
    motif_key::{MotifKey, MotifKeyCommand},
    organisation::Organisation,
    rights::Permission,
    territory::Territory,
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, UnitOfWork};

/// A motif changed, and what its configuration should still get (a
/// convocation motif missing what convocations need, say).
#[derive(Debug, Clone)]
pub struct MotifChanged {
    pub motif_id: MotifId,
    /// `(field, message)`.
    pub setup_warnings: Vec<(&'static str, &'static str)>,
}

/// The motif, if the caller may read its territory's catalogue; a caller
/// with no footing in the territory learns nothing of it (404).
pub async fn visible_motif(app: &Context, caller: &Caller, motif_id: MotifId) -> Result<MotifState, Error> {
    let motif = app
        .load::<Motif>(&motif_id.to_string())
        .await?
        .0
        .ok_or_else(|| Error::not_found("motif"))?;
    caller.require_territory_visibility(motif.territory_id, "motif")?;
    caller.require(Permission::ReadTerritoryCatalogue, Place::Territory(motif.territory_id))?;
    Ok(motif)
}

/// The motif, if the caller may configure its territory.
async fn configurable_motif(app: &Context, caller: &Caller, motif_id: MotifId) -> Result<MotifState, Error> {
    let motif = visible_motif(app, caller, motif_id).await?;
    caller.require(Permission::ConfigureTerritory, Place::Territory(motif.territory_id))?;
    Ok(motif)
}

/// Creates a motif of a territory (`motif_id` none) or replaces the
/// configuration of one (its three tabs and the organisations where it is
/// enabled, which must be of the territory).
#[derive(Debug, Clone)]
pub struct ConfigureMotif {
    pub territory_id: TerritoryId,
    pub motif_id: Option<MotifId>,
    pub config: MotifConfig,
    /// The motif's version the caller saw (412 when it moved on).
    pub if_match: Option<i64>,
}

impl ConfigureMotif {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<MotifChanged>,
    ) -> Result<CommandOutcome, Error> {
        let territory_id = self.territory_id;
        let motif_id = match self.motif_id {
            Some(motif_id) => {
                let motif = configurable_motif(app, caller, motif_id).await?;
                if motif.territory_id != territory_id {
                    return Err(Error::not_found("motif"));
                }
                motif_id
            }
            None => {
                caller.require_territory_visibility(territory_id, "territory")?;
                caller.require(Permission::ConfigureTerritory, Place::Territory(territory_id))?;
                MotifId::new()
            }
        };
        let territory = app.load::<Territory>(&territory_id.to_string()).await?;
        let mut errors = Vec::new();
        for (i, organisation_id) in self.config.organisation_ids.iter().enumerate() {
            let organisation = app.load::<Organisation>(&organisation_id.to_string()).await?;
            if organisation.0.is_none_or(|o| o.territory_id != territory_id) {
                let message = "no such organisation in this territory";
                errors.push(FieldError::new(format!("organisation_ids[{i}]"), message));
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::invalid_fields(errors).into());
        }
        let configure = MotifCommand::ConfigureMotif {
            territory_id,
            config: Box::new(self.config),
            active_services: territory.state()?.services.clone(),
        };
        run_motif_command(app, command, motif_id, configure, self.if_match, respond).await
    }
}

/// Archives a motif (no longer offered, kept for history, its name free
/// again) or restores it (422 if another motif took its name meanwhile).
#[derive(Debug, Clone)]
pub struct SetMotifArchived {
    pub motif_id: MotifId,
    pub archived: bool,
    pub if_match: Option<i64>,
}

impl SetMotifArchived {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<MotifChanged>,
    ) -> Result<CommandOutcome, Error> {
        configurable_motif(app, caller, self.motif_id).await?;
        let change = if self.archived {
            MotifCommand::ArchiveMotif
        } else {
            MotifCommand::RestoreMotif
        };
        run_motif_command(app, command, self.motif_id, change, self.if_match, respond).await
    }
}

/// Enables a territory motif in an organisation, or disables it there
/// (the organisation's admin).
#[derive(Debug, Clone)]
pub struct SetMotifEnabled {
    pub organisation_id: OrganisationId,
    pub motif_id: MotifId,
    pub enabled: bool,
    pub if_match: Option<i64>,
}

impl SetMotifEnabled {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<MotifChanged>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        let organisation = app
            .organisation_for(caller, Permission::ConfigureOrganisation, organisation_id)
            .await?;
        let motif = visible_motif(app, caller, self.motif_id).await?;
        if motif.territory_id != organisation.territory_id {
            return Err(Error::not_found("motif"));
        }
        let change = MotifCommand::SetEnabledInOrganisation {
            organisation_id,
            enabled: self.enabled,
        };
        run_motif_command(app, command, self.motif_id, change, self.if_match, respond).await
    }
}

async fn run_motif_command(
    app: &Context,
    command: &CommandContext,
    motif_id: MotifId,
    change: MotifCommand,
    if_match: Option<i64>,
    respond: impl Respond<MotifChanged>,
) -> Result<CommandOutcome, Error> {
    let setup_warnings = match &change {
        MotifCommand::ConfigureMotif { config, .. } => rdv_domain::category::convocation_setup_warnings(config),
        _ => Vec::new(),
    };
    let changed = MotifChanged {
        motif_id,
        setup_warnings,
    };
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (change, changed) = (change.clone(), changed.clone());
                Box::pin(async move {
                    change_motif(unit, motif_id, change, if_match).await?;
                    Ok(changed)
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// Runs a motif command and keeps its uniqueness keys in step: claims the
/// keys it now needs, releases those it no longer holds, in one append.
async fn change_motif(
    unit: &mut UnitOfWork<'_>,
    motif_id: MotifId,
    command: MotifCommand,
    if_match: Option<i64>,
) -> Result<(), CommandError> {
    let id = motif_id.to_string();
    let (motif, _) = unit.load::<Motif>(&id).await?;
    let before = motif.held_keys();
    let events = unit.handle_expecting::<Motif>(&id, command, if_match).await?;
    let after = motif.after(events).held_keys();
    for key in after.difference(&before) {
        unit.handle::<MotifKey>(&MotifKey::stream_id(key), MotifKeyCommand::Claim { motif_id })
            .await?;
    }
    for key in before.difference(&after) {
        unit.handle::<MotifKey>(&MotifKey::stream_id(key), MotifKeyCommand::Release { motif_id })
            .await?;
    }
    Ok(())
}
