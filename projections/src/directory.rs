//! The directory: territories, organisations and their agents, as the
//! back-office lists them.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    agent::{Agent, AgentEvent},
    organisation::{Organisation, OrganisationEvent},
    territory::{Territory, TerritoryEvent},
    values::{Role, ServiceKind, TerritoryRights},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "directory";
pub const TERRITORIES: &str = "territories";
pub const ORGANISATIONS: &str = "organisations";
pub const AGENTS: &str = "agents";
pub const ORGANISATION_AGENTS: &str = "organisation_agents";
/// The parent under which every territory is listed.
pub const ALL: &str = "all";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TerritoryView {
    pub id: Uuid,
    pub name: String,
    pub departement_number: String,
    pub timezone: String,
    pub services: BTreeSet<ServiceKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganisationView {
    pub id: Uuid,
    pub territory_id: Uuid,
    pub name: String,
    pub timezone: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
}

/// `invited` until the invitation is accepted; intervenants are `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatusView {
    Invited,
    Active,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub services: BTreeSet<ServiceKind>,
    pub status: AgentStatusView,
    pub invitation_expires_at: Option<DateTime<Utc>>,
    /// Role per organisation id.
    pub roles: BTreeMap<Uuid, Role>,
    pub territory_rights: BTreeMap<Uuid, TerritoryRights>,
}

impl AgentView {
    /// The view of an agent's state as its aggregate folds it (the state as
    /// of an instant, for history reads); the same shape the projection keeps.
    pub fn of_state(id: Uuid, agent: &rdv_domain::agent::AgentState) -> Self {
        let invitation = match &agent.status {
            rdv_domain::agent::AgentStatus::Invited(invitation) => Some(invitation.expires_at),
            rdv_domain::agent::AgentStatus::Active => None,
        };
        Self {
            id,
            email: agent.email.as_ref().map(|e| e.to_string()),
            first_name: agent.first_name.to_string(),
            last_name: agent.last_name.to_string(),
            services: agent.services.clone(),
            status: match invitation {
                Some(_) => AgentStatusView::Invited,
                None => AgentStatusView::Active,
            },
            invitation_expires_at: invitation,
            roles: agent.memberships.iter().map(|(o, m)| (o.0, m.role)).collect(),
            territory_rights: agent.territory_rights.iter().map(|(t, r)| (t.0, *r)).collect(),
        }
    }
}

/// One agent as listed in one organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganisationAgentView {
    pub agent_id: Uuid,
    pub organisation_id: Uuid,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub services: BTreeSet<ServiceKind>,
    pub role: Role,
    pub status: AgentStatusView,
    pub invitation_expires_at: Option<DateTime<Utc>>,
}

fn docs<'a>(tx: &'a mut ProjectionTx, event: &'a StoredEvent) -> Documents<'a> {
    Documents {
        tx,
        projection: NAME,
        event,
    }
}

/// The directory projection.
pub struct Directory;

#[async_trait::async_trait]
impl Projection for Directory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["Territory", "Organisation", "Agent"]
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        match event.aggregate_type.as_str() {
            "Territory" => territory(&mut docs(tx, event), Decoder::<Territory>::default().decode(event)?).await,
            "Organisation" => {
                organisation(&mut docs(tx, event), Decoder::<Organisation>::default().decode(event)?).await
            }
            "Agent" => agent(&mut docs(tx, event), Decoder::<Agent>::default().decode(event)?).await,
            _ => Ok(()),
        }
    }
}

async fn territory(docs: &mut Documents<'_>, payload: TerritoryEvent) -> Result<(), ProjectionError> {
    let id = &docs.event.aggregate_id.clone();
    let view = match payload {
        TerritoryEvent::TerritoryCreated {
            name,
            departement_number,
            timezone,
        } => TerritoryView {
            id: docs.aggregate_uuid()?,
            name: name.to_string(),
            departement_number: departement_number.as_str().into(),
            timezone: timezone.0.name().into(),
            services: BTreeSet::new(),
        },
        TerritoryEvent::ServiceActivated { service } => {
            let mut view: TerritoryView = docs.load(TERRITORIES, id).await?;
            view.services.insert(service);
            view
        }
        TerritoryEvent::ServiceDeactivated { service } => {
            let mut view: TerritoryView = docs.load(TERRITORIES, id).await?;
            view.services.remove(&service);
            view
        }
        // Settings are the configuration projection's.
        TerritoryEvent::UsagerFieldsConfigured { .. }
        | TerritoryEvent::RdvFieldsConfigured { .. }
        | TerritoryEvent::WaitingRoomConfigured { .. }
        | TerritoryEvent::ClosedDaysConfigured { .. } => return Ok(()),
    };
    docs.save(TERRITORIES, id, Some(ALL), &view).await
}

async fn organisation(docs: &mut Documents<'_>, payload: OrganisationEvent) -> Result<(), ProjectionError> {
    let id = &docs.event.aggregate_id.clone();
    let view = match payload {
        OrganisationEvent::OrganisationCreated {
            territory_id,
            timezone,
            details,
        } => OrganisationView {
            id: docs.aggregate_uuid()?,
            territory_id: territory_id.0,
            name: details.name.to_string(),
            timezone: timezone.0.name().into(),
            address: details.address,
            phone: details.phone,
            email: details.email.map(|e| e.to_string()),
            website: details.website,
            opening_hours: details.opening_hours,
        },
        OrganisationEvent::OrganisationUpdated { changes } => {
            let mut view: OrganisationView = docs.load(ORGANISATIONS, id).await?;
            if let Some(name) = changes.name {
                view.name = name.to_string();
            }
            if let Some(address) = changes.address {
                view.address = address;
            }
            if let Some(phone) = changes.phone {
                view.phone = phone;
            }
            if let Some(email) = changes.email {
                view.email = email.map(|e| e.to_string());
            }
            if let Some(website) = changes.website {
                view.website = website;
            }
            if let Some(opening_hours) = changes.opening_hours {
                view.opening_hours = opening_hours;
            }
            view
        }
    };
    let parent = view.territory_id.to_string();
    docs.save(ORGANISATIONS, id, Some(&parent), &view).await
}

async fn agent(docs: &mut Documents<'_>, payload: AgentEvent) -> Result<(), ProjectionError> {
    let id = &docs.event.aggregate_id.clone();
    let mut removed_from = None;
    let view = match payload {
        AgentEvent::AgentInvited {
            agent,
            organisation_id,
            invitation,
            ..
        } => AgentView {
            id: docs.aggregate_uuid()?,
            email: agent.email.map(|e| e.to_string()),
            first_name: agent.first_name.to_string(),
            last_name: agent.last_name.to_string(),
            services: agent.services,
            status: if invitation.is_some() {
                AgentStatusView::Invited
            } else {
                AgentStatusView::Active
            },
            invitation_expires_at: invitation.map(|i| i.expires_at),
            roles: [(organisation_id.0, agent.role)].into(),
            territory_rights: BTreeMap::new(),
        },
        AgentEvent::AgentSharingProposed {
            organisation_id,
            typed,
            invitation,
            ..
        } => {
            // The proposing organisation lists what it typed, nothing of
            // the agent's own record, until the agent accepts.
            let listed = OrganisationAgentView {
                agent_id: docs.aggregate_uuid()?,
                organisation_id: organisation_id.0,
                email: typed.email.map(|e| e.to_string()),
                first_name: typed.first_name.to_string(),
                last_name: typed.last_name.to_string(),
                services: typed.services,
                role: typed.role,
                status: AgentStatusView::Invited,
                invitation_expires_at: Some(invitation.expires_at),
            };
            let parent = organisation_id.to_string();
            let key = format!("{organisation_id}:{id}");
            return docs.save(ORGANISATION_AGENTS, &key, Some(&parent), &listed).await;
        }
        other => {
            let mut view: AgentView = docs.load(AGENTS, id).await?;
            match other {
                AgentEvent::AgentInvited { .. } | AgentEvent::AgentSharingProposed { .. } => {}
                AgentEvent::AgentAddedToOrganisation {
                    organisation_id, role, ..
                }
                | AgentEvent::AgentSharingAccepted {
                    organisation_id, role, ..
                }
                | AgentEvent::AgentRoleChanged { organisation_id, role } => {
                    view.roles.insert(organisation_id.0, role);
                }
                AgentEvent::InvitationAccepted => {
                    view.status = AgentStatusView::Active;
                    view.invitation_expires_at = None;
                }
                AgentEvent::AgentReinvited { invitation } => view.invitation_expires_at = Some(invitation.expires_at),
                AgentEvent::TerritoryRightsGranted { territory_id, rights } => {
                    if rights.is_empty() {
                        view.territory_rights.remove(&territory_id.0);
                    } else {
                        view.territory_rights.insert(territory_id.0, rights);
                    }
                }
                AgentEvent::AgentRemovedFromOrganisation { organisation_id } => {
                    view.roles.remove(&organisation_id.0);
                    removed_from = Some(organisation_id.0);
                }
                // Tokens are secrets: they never reach a read model.
                AgentEvent::ApiTokenIssued { .. } | AgentEvent::ApiTokenRevoked { .. } => return Ok(()),
            }
            view
        }
    };
    docs.save(AGENTS, id, None, &view).await?;
    if let Some(organisation_id) = removed_from {
        docs.delete(ORGANISATION_AGENTS, &format!("{organisation_id}:{id}"))
            .await?;
    }
    for (organisation_id, role) in &view.roles {
        let listed = OrganisationAgentView {
            agent_id: view.id,
            organisation_id: *organisation_id,
            email: view.email.clone(),
            first_name: view.first_name.clone(),
            last_name: view.last_name.clone(),
            services: view.services.clone(),
            role: *role,
            status: view.status,
            invitation_expires_at: view.invitation_expires_at,
        };
        let parent = organisation_id.to_string();
        docs.save(
            ORGANISATION_AGENTS,
            &format!("{organisation_id}:{id}"),
            Some(&parent),
            &listed,
        )
        .await?;
    }
    Ok(())
}
