//! Territories (espaces): [`CreateTerritory`] (platform admin),
//! [`SetServiceActive`], [`ConfigureEspace`] (its settings) and
//! [`GrantTerritoryRights`] to an agent.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Changed, Respond, change_record},
};
use chrono::NaiveDate;
use rdv_domain::{
    agent::{Agent, AgentCommand},
    ids::{AgentId, TerritoryId},
    rights::Permission,
    territory::{RdvFieldSettings, Territory, TerritoryCommand, UsagerFieldSettings, WaitingRoomSettings},
    values::{DepartementNumber, ServiceKind, TerritoryRights, Text, TimeZone},
};
use rdv_eventstore::{CommandContext, CommandOutcome};
use std::collections::BTreeSet;

/// The platform admin creates a territory.
#[derive(Debug, Clone)]
pub struct CreateTerritory {
    pub name: Text,
    pub departement_number: DepartementNumber,
    pub timezone: TimeZone,
}

impl CreateTerritory {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        caller.require(Permission::CreateTerritory, Place::Platform)?;
        let create = TerritoryCommand::CreateTerritory {
            name: self.name,
            departement_number: self.departement_number,
            timezone: self.timezone,
        };
        change_record::<Territory>(app, command, TerritoryId::new(), create, None, respond).await
    }
}

/// Offers a service of the catalogue in the territory, or stops offering
/// it (agents who have it keep it).
#[derive(Debug, Clone)]
pub struct SetServiceActive {
    pub territory_id: TerritoryId,
    pub service: ServiceKind,
    pub active: bool,
    pub if_match: Option<i64>,
}

impl SetServiceActive {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        caller.require(Permission::ManageServices, Place::Territory(self.territory_id))?;
        let service = self.service;
        let change = match self.active {
            true => TerritoryCommand::ActivateService { service },
            false => TerritoryCommand::DeactivateService { service },
        };
        change_record::<Territory>(app, command, self.territory_id, change, self.if_match, respond).await
    }
}

/// One of the espace's settings. Hiding or removing an usager field never
/// deletes usagers' stored values; turning the Contexte off keeps notes.
#[derive(Debug, Clone)]
pub enum EspaceSetting {
    UsagerFields(UsagerFieldSettings),
    RdvFields(RdvFieldSettings),
    WaitingRoom(WaitingRoomSettings),
    /// Local days the whole espace is closed (no slot is offered).
    ClosedDays(BTreeSet<NaiveDate>),
}

/// Replaces one of the espace's settings (territorial configuration right).
#[derive(Debug, Clone)]
pub struct ConfigureEspace {
    pub territory_id: TerritoryId,
    pub setting: EspaceSetting,
    pub if_match: Option<i64>,
}

impl ConfigureEspace {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let territory_id = self.territory_id;
        caller.require_territory_visibility(territory_id, "territory")?;
        caller.require(Permission::ConfigureTerritory, Place::Territory(territory_id))?;
        let configure = match self.setting {
            EspaceSetting::UsagerFields(settings) => TerritoryCommand::ConfigureUsagerFields { settings },
            EspaceSetting::RdvFields(settings) => TerritoryCommand::ConfigureRdvFields { settings },
            EspaceSetting::WaitingRoom(settings) => TerritoryCommand::ConfigureWaitingRoom { settings },
            EspaceSetting::ClosedDays(days) => TerritoryCommand::ConfigureClosedDays { days },
        };
        change_record::<Territory>(app, command, territory_id, configure, self.if_match, respond).await
    }
}

/// Sets an agent's rights over a whole territory (territorial admin,
/// configuration, webhooks, audit); all false revokes them. A right
/// grants exactly its row of the rights matrix, never membership.
#[derive(Debug, Clone)]
pub struct GrantTerritoryRights {
    pub territory_id: TerritoryId,
    pub agent_id: AgentId,
    pub rights: TerritoryRights,
    pub if_match: Option<i64>,
}

impl GrantTerritoryRights {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let territory_id = self.territory_id;
        caller.require(Permission::GrantTerritoryRights, Place::Territory(territory_id))?;
        app.load::<Territory>(&territory_id.to_string()).await?.state()?;
        let grant = AgentCommand::GrantTerritoryRights {
            territory_id,
            rights: self.rights,
        };
        change_record::<Agent>(app, command, self.agent_id, grant, self.if_match, respond).await
    }
}
