use crate::{
    DomainError,
    ids::{OrganisationId, TerritoryId},
    values::{Email, Role, ServiceKind, TerritoryRights, Text, TokenHash},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Who is being invited: what the invitation form holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewAgent {
    /// Absent only for an intervenant.
    pub email: Option<Email>,
    pub first_name: Text,
    pub last_name: Text,
    pub services: BTreeSet<ServiceKind>,
    pub role: Role,
}

impl NewAgent {
    /// An intervenant has no e-mail; everybody else needs one to log in.
    pub fn check_role_and_email(&self) -> Result<(), DomainError> {
        match (self.role, &self.email) {
            (Role::Intervenant, Some(_)) => Err(DomainError::invalid(
                "email",
                "an intervenant has no e-mail and no login",
            )),
            (Role::Basic | Role::Admin, None) => {
                Err(DomainError::invalid("email", "is required for a basic or admin agent"))
            }
            _ if self.services.is_empty() => {
                Err(DomainError::invalid("services", "an agent needs at least one service"))
            }
            _ => Ok(()),
        }
    }
}

/// Commands on an agent. Secrets arrive already hashed: the domain never
/// sees a token it could leak into an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentCommand {
    /// Invite a new agent, or add a known one to another organisation.
    InviteAgent {
        agent: NewAgent,
        organisation_id: OrganisationId,
        territory_id: TerritoryId,
        invitation_token: TokenHash,
    },
    /// The agent follows the e-mailed link; `api_token` becomes its login.
    AcceptInvitation {
        token_hash: TokenHash,
        api_token: TokenHash,
    },
    /// A new token and a new validity window; the old link stops working.
    ReinviteAgent {
        token_hash: TokenHash,
    },
    ChangeAgentRole {
        organisation_id: OrganisationId,
        role: Role,
    },
    /// Replaces the agent's rights in the territory; all false revokes them.
    GrantTerritoryRights {
        territory_id: TerritoryId,
        rights: TerritoryRights,
    },
    RemoveAgentFromOrganisation {
        organisation_id: OrganisationId,
    },
    RevokeApiToken {
        token_hash: TokenHash,
    },
}
