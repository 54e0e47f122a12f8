use super::NewAgent;
use crate::{
    ids::{OrganisationId, TerritoryId},
    values::{Role, TerritoryRights, TokenHash},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pending invitation: the hash of the e-mailed token and its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invitation {
    pub token_hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

/// Events of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentEvent {
    /// A new agent; `invitation` is `None` for an intervenant.
    AgentInvited {
        agent: NewAgent,
        organisation_id: OrganisationId,
        territory_id: TerritoryId,
        invitation: Option<Invitation>,
    },
    AgentAddedToOrganisation {
        organisation_id: OrganisationId,
        territory_id: TerritoryId,
        role: Role,
    },
    InvitationAccepted,
    /// A known agent is asked to join an organisation of a territory where
    /// it does not work yet: it joins only once it accepts the e-mailed
    /// link, so no territory can annex another's agent. `typed` is what
    /// the inviting organisation entered, all it sees until then.
    AgentSharingProposed {
        organisation_id: OrganisationId,
        territory_id: TerritoryId,
        typed: NewAgent,
        invitation: Invitation,
    },
    /// The agent accepted: its membership of the organisation starts.
    AgentSharingAccepted {
        organisation_id: OrganisationId,
        territory_id: TerritoryId,
        role: Role,
    },
    AgentReinvited {
        invitation: Invitation,
    },
    AgentRoleChanged {
        organisation_id: OrganisationId,
        role: Role,
    },
    TerritoryRightsGranted {
        territory_id: TerritoryId,
        rights: TerritoryRights,
    },
    AgentRemovedFromOrganisation {
        organisation_id: OrganisationId,
    },
    ApiTokenIssued {
        token_hash: TokenHash,
    },
    ApiTokenRevoked {
        token_hash: TokenHash,
    },
}

crate::versioned_events!(AgentEvent {
    AgentInvited => "1.0",
    AgentAddedToOrganisation => "1.0",
    InvitationAccepted => "1.0",
    AgentSharingProposed => "1.0",
    AgentSharingAccepted => "1.0",
    AgentReinvited => "1.0",
    AgentRoleChanged => "1.0",
    TerritoryRightsGranted => "1.0",
    AgentRemovedFromOrganisation => "1.0",
    ApiTokenIssued => "1.0",
    ApiTokenRevoked => "1.0",
});
