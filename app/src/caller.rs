//! Who is calling, and what the rights matrix ([`rdv_domain::rights`])
//! lets them do where. The gateway turns a bearer token into a [`Caller`];
//! every use case asks it before acting.

use crate::error::Error;
use rdv_domain::{
    DomainError,
    agent::AgentState,
    ids::{AgentId, OrganisationId, TerritoryId},
    rights::{Holding, Permission},
    values::{Role, TerritoryRights, TokenHash},
};

/// Where an action takes place, for the rights matrix
/// ([`rdv_domain::rights`]).
#[derive(Debug, Clone, Copy)]
pub enum Place {
    Platform,
    Territory(TerritoryId),
    Organisation(OrganisationId, TerritoryId),
    /// An agent's agenda, in one of the agent's organisations.
    Agenda {
        agent: AgentId,
        organisation: OrganisationId,
        territory: TerritoryId,
    },
}

/// The authenticated caller.
pub enum Caller {
    PlatformAdmin {
        token: TokenHash,
    },
    Agent {
        id: AgentId,
        state: Box<AgentState>,
        token: TokenHash,
    },
}

impl Caller {
    /// How events record the caller: `platform-admin` or `agent:<id>`.
    pub fn actor(&self) -> String {
        match self {
            Caller::PlatformAdmin { .. } => "platform-admin".into(),
            Caller::Agent { id, .. } => format!("agent:{id}"),
        }
    }

    fn rights_in(&self, territory: TerritoryId) -> TerritoryRights {
        match self {
            Caller::PlatformAdmin { .. } => TerritoryRights::default(),
            Caller::Agent { state, .. } => state.territory_rights.get(&territory).copied().unwrap_or_default(),
        }
    }

    /// What the caller holds at a place, read against the rights matrix.
    pub fn holdings(&self, place: Place) -> Vec<Holding> {
        let Caller::Agent { id, state, .. } = self else {
            return vec![Holding::PlatformAdmin];
        };
        let mut holdings = Vec::new();
        let territory = match place {
            Place::Platform => return holdings,
            Place::Territory(t) | Place::Organisation(_, t) | Place::Agenda { territory: t, .. } => t,
        };
        let rights = self.rights_in(territory);
        for (held, holding) in [
            (rights.admin, Holding::TerritoryAdmin),
            (rights.manage_configuration, Holding::ConfigurationRight),
            (rights.manage_webhooks, Holding::WebhooksRight),
            (rights.audit, Holding::AuditRight),
            (
                state.memberships.values().any(|m| m.territory_id == territory),
                Holding::TerritoryMember,
            ),
        ] {
            if held {
                holdings.push(holding);
            }
        }
        let organisation = match place {
            Place::Organisation(o, _) | Place::Agenda { organisation: o, .. } => o,
            _ => return holdings,
        };
        match state.memberships.get(&organisation).map(|m| m.role) {
            Some(Role::Admin) => holdings.push(Holding::OrganisationAdmin),
            Some(_) => holdings.push(Holding::OrganisationAgent),
            None => {}
        }
        if let Place::Agenda { agent, .. } = place
            && agent == *id
            && state.memberships.contains_key(&organisation)
        {
            holdings.push(Holding::Oneself);
        }
        holdings
    }

    /// Whether the rights matrix lets the caller do this here.
    pub fn may(&self, permission: Permission, place: Place) -> bool {
        permission.allows(&self.holdings(place))
    }

    /// 403 unless the rights matrix lets the caller do this here.
    pub fn require(&self, permission: Permission, place: Place) -> Result<(), Error> {
        if self.may(permission, place) {
            Ok(())
        } else {
            let (_, covers, _) = permission.row();
            Err(DomainError::forbidden(format!("you may not {covers} here")).into())
        }
    }

    /// The agent's organisations where the caller may manage its agenda
    /// (absences, plages, the agenda view); the agent's own included.
    pub fn agenda_organisations(&self, agent: AgentId, state: &AgentState) -> Vec<OrganisationId> {
        state
            .memberships
            .iter()
            .filter(|(organisation, membership)| {
                let place = Place::Agenda {
                    agent,
                    organisation: **organisation,
                    territory: membership.territory_id,
                };
                self.may(Permission::Agenda, place)
            })
            .map(|(organisation, _)| *organisation)
            .collect()
    }

    pub fn is_platform_admin(&self) -> bool {
        matches!(self, Caller::PlatformAdmin { .. })
    }

    /// Whether the caller has any footing in the territory. Callers without
    /// it get 404 for the territory's records: they learn nothing of them.
    pub fn require_territory_visibility(&self, territory: TerritoryId, what: &str) -> Result<(), Error> {
        let member = match self {
            Caller::PlatformAdmin { .. } => true,
            Caller::Agent { state, .. } => state.memberships.values().any(|m| m.territory_id == territory),
        };
        if member || !self.rights_in(territory).is_empty() {
            Ok(())
        } else {
            Err(Error::not_found(what))
        }
    }

    pub fn token(&self) -> &TokenHash {
        match self {
            Caller::PlatformAdmin { token } | Caller::Agent { token, .. } => token,
        }
    }

    pub fn agent_id(&self) -> Option<AgentId> {
        match self {
            Caller::Agent { id, .. } => Some(*id),
            Caller::PlatformAdmin { .. } => None,
        }
    }
}
