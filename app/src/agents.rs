//! Agents and their organisations: [`InviteAgent`] (a new agent gets an
//! invitation e-mail; a known one, from another territory, a sharing
//! proposal to accept), [`ReinviteAgent`], [`AcceptAgentInvitation`]
//! (which hands out the agent's API token), [`ChangeAgentRole`],
//! [`RemoveAgentFromOrganisation`], and [`RevokeToken`] for any caller.

use crate::{
    Context, Error,
    caller::Caller,
    notifications,
    respond::{Changed, Respond, change_record},
    tokens,
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    DomainError,
    agent::{Agent, AgentCommand, AgentEvent, AgentStatus, NewAgent},
    agent_email::{AgentEmail, AgentEmailCommand},
    ids::{AgentId, OrganisationId},
    organisation::OrganisationState,
    platform::{PLATFORM_ID, Platform, PlatformCommand},
    rights::Permission,
    territory::Territory,
    values::{Email, Role, ServiceKind, Text},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, UnitOfWork};
use rdv_projections::directory::AgentStatusView;
use serde::Serialize;
use utoipa::ToSchema;

/// An organisation admin invites an agent into the organisation. A known
/// e-mail only gets the new role (or, from another territory, a sharing
/// proposal the agent accepts); the invitation e-mail goes to the outbox.
#[derive(Debug, Clone)]
pub struct InviteAgent {
    pub organisation_id: OrganisationId,
    /// Absent only for an intervenant.
    pub email: Option<Email>,
    pub first_name: Text,
    pub last_name: Text,
    /// As given, so that an error names `services[i]`; each must be active
    /// in the organisation's territory.
    pub services: Vec<ServiceKind>,
    pub role: Role,
}

/// The answer to an invitation, beside `{id, version, events}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteAgentAnswer {
    pub agent_id: AgentId,
    pub status: AgentStatusView,
    pub invitation_expires_at: Option<DateTime<Utc>>,
}

impl InviteAgent {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<InviteAgentAnswer>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        let organisation = app
            .organisation_for(caller, Permission::ManageAgents, organisation_id)
            .await?;
        let territory = app.load::<Territory>(&organisation.territory_id.to_string()).await?;
        let active = &territory.state()?.services;
        if let Some(i) = self.services.iter().position(|s| !active.contains(s)) {
            let message = format!("service {} is not active in this territory", self.services[i].slug());
            return Err(DomainError::invalid(&format!("services[{i}]"), message).into());
        }
        if self.services.is_empty() {
            return Err(DomainError::invalid("services", "an agent needs at least one service").into());
        }
        let agent = NewAgent {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            services: self.services.into_iter().collect(),
            role: self.role,
        };
        agent.check_role_and_email()?;
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (agent, organisation, public_url) =
                        (agent.clone(), organisation.clone(), app.public_url.clone());
                    Box::pin(async move { invite(unit, agent, organisation_id, &organisation, &public_url).await })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// A new agent id, whose stream the unit knows to be empty.
fn fresh_agent(unit: &mut UnitOfWork<'_>) -> AgentId {
    let id = AgentId::new();
    unit.new_stream::<Agent>(&id.to_string());
    id
}

/// Handles the invitation inside a unit of work: claims the e-mail (or finds
/// the agent who owns it), invites or adds the role, and queues the e-mail.
async fn invite(
    unit: &mut UnitOfWork<'_>,
    agent: NewAgent,
    organisation_id: OrganisationId,
    organisation: &OrganisationState,
    public_url: &str,
) -> Result<InviteAgentAnswer, CommandError> {
    let agent_id = match &agent.email {
        Some(email) => {
            let stream = AgentEmail::stream_id(email);
            unit.presume_new::<AgentEmail>(&stream);
            let (owner, _) = unit.load::<AgentEmail>(&stream).await?;
            let agent_id = owner.0.unwrap_or_else(|| fresh_agent(unit));
            unit.handle::<AgentEmail>(&stream, AgentEmailCommand::ClaimEmail { agent_id })
                .await?;
            agent_id
        }
        None => fresh_agent(unit),
    };
    let token = tokens::new_invitation_token(agent_id);
    let command = AgentCommand::InviteAgent {
        agent: agent.clone(),
        organisation_id,
        territory_id: organisation.territory_id,
        invitation_token: tokens::hash(&token),
    };
    let events = unit.handle::<Agent>(&agent_id.to_string(), command).await?;
    let invitation = events.iter().find_map(|e| match e {
        AgentEvent::AgentInvited { invitation, .. } => invitation.clone(),
        AgentEvent::AgentSharingProposed { invitation, .. } => Some(invitation.clone()),
        _ => None,
    });
    if let (Some(invitation), Some(email)) = (&invitation, &agent.email) {
        let link = notifications::invitation_link(public_url, &token);
        let (first_name, name) = (agent.first_name.as_str(), organisation.details.name.as_str());
        let expires_at = invitation.expires_at;
        let mail = notifications::agent_invitation(email, first_name, name, &link, expires_at, organisation.timezone);
        unit.send(mail);
    }
    // A known agent keeps its own status; a new one is invited unless intervenant.
    let (status, invitation_expires_at) = match (&invitation, events.first()) {
        (Some(i), _) => (AgentStatusView::Invited, Some(i.expires_at)),
        (None, Some(AgentEvent::AgentInvited { .. })) => (AgentStatusView::Active, None),
        _ => {
            let (known, _) = unit.load::<Agent>(&agent_id.to_string()).await?;
            match known.state()?.status {
                AgentStatus::Invited(ref i) => (AgentStatusView::Invited, Some(i.expires_at)),
                AgentStatus::Active => (AgentStatusView::Active, None),
            }
        }
    };
    Ok(InviteAgentAnswer {
        agent_id,
        status,
        invitation_expires_at,
    })
}

/// An organisation admin sends a new invitation (new token, new validity
/// window) to an agent who has not accepted yet; the previous link stops
/// working.
#[derive(Debug, Clone)]
pub struct ReinviteAgent {
    pub organisation_id: OrganisationId,
    pub agent_id: AgentId,
}

impl ReinviteAgent {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<InviteAgentAnswer>,
    ) -> Result<CommandOutcome, Error> {
        let organisation = app
            .organisation_for(caller, Permission::ManageAgents, self.organisation_id)
            .await?;
        let agent = self.agent_id;
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (organisation, public_url) = (organisation.clone(), app.public_url.clone());
                    Box::pin(async move {
                        let token = tokens::new_invitation_token(agent);
                        let command = AgentCommand::ReinviteAgent {
                            token_hash: tokens::hash(&token),
                        };
                        let events = unit.handle::<Agent>(&agent.to_string(), command).await?;
                        let (known, _) = unit.load::<Agent>(&agent.to_string()).await?;
                        let known = known.state()?;
                        let Some(AgentEvent::AgentReinvited { invitation }) = events.into_iter().next() else {
                            return Err(DomainError::conflict("the agent is already active").into());
                        };
                        if let Some(email) = &known.email {
                            let link = notifications::invitation_link(&public_url, &token);
                            let (first_name, name) = (known.first_name.as_str(), organisation.details.name.as_str());
                            let (expires_at, zone) = (invitation.expires_at, organisation.timezone);
                            unit.send(notifications::agent_invitation(
                                email, first_name, name, &link, expires_at, zone,
                            ));
                        }
                        Ok(InviteAgentAnswer {
                            agent_id: agent,
                            status: AgentStatusView::Invited,
                            invitation_expires_at: Some(invitation.expires_at),
                        })
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// An invited agent accepts with the token of the link and gets its API
/// token. A wrong token is 422, an expired or already used invitation 410.
/// Being a one-time exchange of secrets, it takes no idempotency key.
#[derive(Debug, Clone)]
pub struct AcceptAgentInvitation {
    pub token: String,
}

/// The answer to an accepted invitation: the agent's API token, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcceptInvitationAnswer {
    pub agent_id: AgentId,
    pub api_token: String,
}

impl AcceptAgentInvitation {
    /// The events name the agent as their actor (`agent:<id>`).
    pub async fn run(
        self,
        app: &Context,
        mut command: CommandContext,
        respond: impl Respond<AcceptInvitationAnswer>,
    ) -> Result<CommandOutcome, Error> {
        let token = self.token.trim();
        let invalid = || Error::from(DomainError::invalid("token", "this invitation token is not valid"));
        let agent_id = tokens::invitation_agent(token).ok_or_else(invalid)?;
        if app.load::<Agent>(&agent_id.to_string()).await?.0.is_none() {
            return Err(invalid());
        }
        let api_token = tokens::new_api_token(agent_id);
        let accept = AgentCommand::AcceptInvitation {
            token_hash: tokens::hash(token),
            api_token: tokens::hash(&api_token),
        };
        command.actor = format!("agent:{agent_id}");
        command.idempotency = None;
        let answer = AcceptInvitationAnswer { agent_id, api_token };
        let outcome = app
            .commands
            .run(
                &command,
                |unit| {
                    let (accept, answer) = (accept.clone(), answer.clone());
                    Box::pin(async move {
                        unit.handle::<Agent>(&agent_id.to_string(), accept).await?;
                        Ok(answer)
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// An organisation admin changes an agent's role there (basic ⇄ admin).
#[derive(Debug, Clone)]
pub struct ChangeAgentRole {
    pub organisation_id: OrganisationId,
    pub agent_id: AgentId,
    pub role: Role,
    pub if_match: Option<i64>,
}

impl ChangeAgentRole {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::ManageAgents, organisation_id)
            .await?;
        let change = AgentCommand::ChangeAgentRole {
            organisation_id,
            role: self.role,
        };
        change_record::<Agent>(app, command, self.agent_id, change, self.if_match, respond).await
    }
}

/// An organisation admin removes an agent from the organisation; its other
/// organisations keep it.
#[derive(Debug, Clone)]
pub struct RemoveAgentFromOrganisation {
    pub organisation_id: OrganisationId,
    pub agent_id: AgentId,
    pub if_match: Option<i64>,
}

impl RemoveAgentFromOrganisation {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::ManageAgents, organisation_id)
            .await?;
        let remove = AgentCommand::RemoveAgentFromOrganisation { organisation_id };
        change_record::<Agent>(app, command, self.agent_id, remove, self.if_match, respond).await
    }
}

/// The caller revokes the token it calls with: it stops working at once.
/// A platform admin token set by configuration (`RDV_ADMIN_TOKEN`) cannot
/// be revoked here: the caller says whether it is that one.
#[derive(Debug, Clone)]
pub struct RevokeToken {
    pub set_by_configuration: bool,
}

impl RevokeToken {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let token_hash = caller.token().clone();
        match caller.agent_id() {
            Some(agent) => {
                let revoke = AgentCommand::RevokeApiToken { token_hash };
                change_record::<Agent>(app, command, agent, revoke, None, respond).await
            }
            None if self.set_by_configuration => {
                let message = "RDV_ADMIN_TOKEN is set by configuration; unset it to revoke it";
                Err(DomainError::conflict(message).into())
            }
            None => {
                let revoke = PlatformCommand::RevokeAdminToken { token_hash };
                change_record::<Platform>(app, command, PLATFORM_ID, revoke, None, respond).await
            }
        }
    }
}
