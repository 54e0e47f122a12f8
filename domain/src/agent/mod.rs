//! An agent: invitation lifecycle, roles per organisation, territory rights
//! and API tokens. RDV Service Public: a known e-mail only gets the new role
//! (no second invitation); an intervenant has no e-mail and cannot log in;
//! invitations last one week by default (devise_invitable `invite_for`).

mod commands;
mod events;
#[cfg(test)]
mod tests;

pub use commands::{AgentCommand, NewAgent};
pub use events::{AgentEvent, Invitation};

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::{OrganisationId, TerritoryId},
    values::{Email, Role, ServiceKind, TerritoryRights, Text, TokenHash},
};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Agent(pub Option<AgentState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentState {
    pub email: Option<Email>,
    pub first_name: Text,
    pub last_name: Text,
    pub services: BTreeSet<ServiceKind>,
    pub status: AgentStatus,
    pub memberships: BTreeMap<OrganisationId, Membership>,
    pub territory_rights: BTreeMap<TerritoryId, TerritoryRights>,
    pub api_tokens: BTreeSet<TokenHash>,
    /// Organisations of other territories waiting for the agent to accept.
    #[serde(default)]
    pub pending_memberships: BTreeMap<OrganisationId, PendingMembership>,
}

/// An organisation's proposal to share a known agent, until accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingMembership {
    pub territory_id: TerritoryId,
    pub role: Role,
    pub invitation: Invitation,
}

/// Where the agent stands in the invitation lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentStatus {
    /// Waiting for the agent to accept; only the latest invitation counts.
    Invited(Invitation),
    /// Accepted (or an intervenant, who needs no acceptance).
    Active,
}

/// The agent's place in one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub territory_id: TerritoryId,
    pub role: Role,
}

impl Agent {
    pub fn state(&self) -> Result<&AgentState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("agent"))
    }
}

impl AgentState {
    fn membership(&self, organisation_id: OrganisationId) -> Result<&Membership, DomainError> {
        self.memberships
            .get(&organisation_id)
            .ok_or_else(|| DomainError::not_found("agent in this organisation"))
    }
}

impl Aggregate for Agent {
    const TYPE: &'static str = "Agent";
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: AgentCommand,
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        for event in self.decide(command, svc)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AgentEvent) {
        if let AgentEvent::AgentInvited {
            agent,
            organisation_id,
            territory_id,
            invitation,
        } = event
        {
            let mut memberships = BTreeMap::new();
            memberships.insert(
                organisation_id,
                Membership {
                    territory_id,
                    role: agent.role,
                },
            );
            self.0 = Some(AgentState {
                email: agent.email,
                first_name: agent.first_name,
                last_name: agent.last_name,
                services: agent.services,
                status: invitation.map_or(AgentStatus::Active, AgentStatus::Invited),
                memberships,
                territory_rights: BTreeMap::new(),
                api_tokens: BTreeSet::new(),
                pending_memberships: BTreeMap::new(),
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            AgentEvent::AgentInvited { .. } => {}
            AgentEvent::AgentAddedToOrganisation {
                organisation_id,
                territory_id,
                role,
            } => {
                state
                    .memberships
                    .insert(organisation_id, Membership { territory_id, role });
            }
            AgentEvent::InvitationAccepted => state.status = AgentStatus::Active,
            AgentEvent::AgentSharingProposed {
                organisation_id,
                territory_id,
                typed,
                invitation,
            } => {
                let pending = PendingMembership {
                    territory_id,
                    role: typed.role,
                    invitation,
                };
                state.pending_memberships.insert(organisation_id, pending);
            }
            AgentEvent::AgentSharingAccepted {
                organisation_id,
                territory_id,
                role,
            } => {
                state.pending_memberships.remove(&organisation_id);
                state
                    .memberships
                    .insert(organisation_id, Membership { territory_id, role });
            }
            AgentEvent::AgentReinvited { invitation } => state.status = AgentStatus::Invited(invitation),
            AgentEvent::AgentRoleChanged { organisation_id, role } => {
                if let Some(m) = state.memberships.get_mut(&organisation_id) {
                    m.role = role;
                }
            }
            AgentEvent::TerritoryRightsGranted { territory_id, rights } => {
                if rights.is_empty() {
                    state.territory_rights.remove(&territory_id);
                } else {
                    state.territory_rights.insert(territory_id, rights);
                }
            }
            AgentEvent::AgentRemovedFromOrganisation { organisation_id } => {
                state.memberships.remove(&organisation_id);
            }
            AgentEvent::ApiTokenIssued { token_hash } => {
                state.api_tokens.insert(token_hash);
            }
            AgentEvent::ApiTokenRevoked { token_hash } => {
                state.api_tokens.remove(&token_hash);
            }
        }
    }
}

impl Agent {
    /// Decides the events of a command from the current state.
    fn decide(&self, command: AgentCommand, svc: &Services) -> Result<Vec<AgentEvent>, DomainError> {
        let invitation = |token_hash| Invitation {
            token_hash,
            expires_at: svc.now() + svc.invitation_ttl,
        };
        Ok(match command {
            AgentCommand::InviteAgent {
                agent,
                organisation_id,
                territory_id,
                invitation_token,
            } => match &self.0 {
                Some(state) => {
                    if state.memberships.contains_key(&organisation_id) {
                        return Err(DomainError::conflict("the agent already belongs to this organisation"));
                    }
                    if state.memberships.values().any(|m| m.territory_id == territory_id) {
                        vec![AgentEvent::AgentAddedToOrganisation {
                            organisation_id,
                            territory_id,
                            role: agent.role,
                        }]
                    } else {
                        agent.check_role_and_email()?;
                        vec![AgentEvent::AgentSharingProposed {
                            organisation_id,
                            territory_id,
                            typed: agent,
                            invitation: invitation(invitation_token),
                        }]
                    }
                }
                None => {
                    agent.check_role_and_email()?;
                    let invitation = (agent.role != Role::Intervenant).then(|| invitation(invitation_token));
                    vec![AgentEvent::AgentInvited {
                        agent,
                        organisation_id,
                        territory_id,
                        invitation,
                    }]
                }
            },
            AgentCommand::AcceptInvitation { token_hash, api_token } => {
                let state = self.state()?;
                let proposal = state
                    .pending_memberships
                    .iter()
                    .find(|(_, p)| p.invitation.token_hash == token_hash);
                if let Some((organisation_id, pending)) = proposal {
                    check_not_expired(&pending.invitation, svc)?;
                    return Ok(vec![
                        AgentEvent::AgentSharingAccepted {
                            organisation_id: *organisation_id,
                            territory_id: pending.territory_id,
                            role: pending.role,
                        },
                        AgentEvent::ApiTokenIssued { token_hash: api_token },
                    ]);
                }
                let AgentStatus::Invited(current) = &state.status else {
                    return Err(DomainError::gone("this invitation has already been used"));
                };
                if current.token_hash != token_hash {
                    return Err(DomainError::invalid("token", "this invitation token is not valid"));
                }
                check_not_expired(current, svc)?;
                vec![
                    AgentEvent::InvitationAccepted,
                    AgentEvent::ApiTokenIssued { token_hash: api_token },
                ]
            }
            AgentCommand::ReinviteAgent { token_hash } => match &self.state()?.status {
                AgentStatus::Invited(_) => vec![AgentEvent::AgentReinvited {
                    invitation: invitation(token_hash),
                }],
                AgentStatus::Active => {
                    return Err(DomainError::conflict("the agent is already active"));
                }
            },
            AgentCommand::ChangeAgentRole { organisation_id, role } => {
                let state = self.state()?;
                let current = state.membership(organisation_id)?.role;
                if (current == Role::Intervenant) != (role == Role::Intervenant) {
                    return Err(DomainError::invalid(
                        "role",
                        "an intervenant cannot become a basic or admin agent, nor the reverse",
                    ));
                }
                if current == role {
                    return Ok(Vec::new());
                }
                vec![AgentEvent::AgentRoleChanged { organisation_id, role }]
            }
            AgentCommand::GrantTerritoryRights { territory_id, rights } => {
                let state = self.state()?;
                if state.territory_rights.get(&territory_id).copied().unwrap_or_default() == rights {
                    return Ok(Vec::new());
                }
                vec![AgentEvent::TerritoryRightsGranted { territory_id, rights }]
            }
            AgentCommand::RemoveAgentFromOrganisation { organisation_id } => {
                self.state()?.membership(organisation_id)?;
                vec![AgentEvent::AgentRemovedFromOrganisation { organisation_id }]
            }
            AgentCommand::RevokeApiToken { token_hash } => {
                if !self.state()?.api_tokens.contains(&token_hash) {
                    return Err(DomainError::not_found("token"));
                }
                vec![AgentEvent::ApiTokenRevoked { token_hash }]
            }
        })
    }
}

/// 410 once an invitation's deadline has passed.
fn check_not_expired(invitation: &Invitation, svc: &Services) -> Result<(), DomainError> {
    if svc.now() >= invitation.expires_at {
        return Err(DomainError::gone(format!(
            "this invitation expired on {}; ask an administrator to send a new one",
            invitation.expires_at.to_rfc3339()
        )));
    }
    Ok(())
}

impl VersionedAggregate for Agent {}
