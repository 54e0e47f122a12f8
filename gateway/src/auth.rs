//! Who is calling, and what they may do.
//!
//! A bearer token names its owner; the owner's stream holds the digests of
//! the tokens it accepts, so a revocation takes effect on the next request.
//! Rights follow RDV Service Public: an organisation admin manages its
//! organisation, a territorial admin the whole territory, the platform admin
//! everything.

use crate::{
    error::ApiError,
    extract::CommandHeaders,
    state::AppState,
    tokens::{self, Owner},
};
use axum::{extract::FromRequestParts, http::request::Parts};
use rdv_domain::{
    agent::{Agent, AgentState, AgentStatus},
    ids::{AgentId, OrganisationId, TerritoryId},
    platform::{PLATFORM_ID, Platform},
    rights::{Holding, Permission},
    values::{Role, TerritoryRights, TokenHash},
};
use rdv_eventstore::{CommandContext, IdempotencyClaim};
use uuid::Uuid;

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
pub enum Principal {
    PlatformAdmin {
        token: TokenHash,
    },
    Agent {
        id: AgentId,
        state: Box<AgentState>,
        token: TokenHash,
    },
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let digest = tokens::hash(token);
        if state.admin_token.as_ref() == Some(&digest) {
            return Ok(Principal::PlatformAdmin { token: digest });
        }
        let invalid = || ApiError::unauthorized("this token is not valid or was revoked");
        match tokens::api_token_owner(token).ok_or_else(invalid)? {
            Owner::PlatformAdmin => {
                let platform: Platform = state.load(PLATFORM_ID).await?;
                platform
                    .admin_tokens
                    .contains(&digest)
                    .then_some(Principal::PlatformAdmin { token: digest })
                    .ok_or_else(invalid)
            }
            Owner::Agent(id) => {
                let agent: Agent = state.load(&id.to_string()).await?;
                let state = agent.0.ok_or_else(invalid)?;
                if state.status != AgentStatus::Active || !state.api_tokens.contains(&digest) {
                    return Err(invalid());
                }
                Ok(Principal::Agent {
                    id,
                    state: Box::new(state),
                    token: digest,
                })
            }
        }
    }
}

impl Principal {
    /// How events record the caller: `platform-admin` or `agent:<id>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::PlatformAdmin { .. } => "platform-admin".into(),
            Principal::Agent { id, .. } => format!("agent:{id}"),
        }
    }

    /// The command context of a request, with its idempotency claim scoped
    /// to this caller and route.
    pub fn context(&self, headers: &CommandHeaders, route: &str, request_hash: &str) -> CommandContext {
        let mut ctx = CommandContext::new(self.actor());
        if let Some(id) = headers.correlation_id {
            ctx.correlation_id = id;
        }
        ctx.idempotency = headers.idempotency_key.as_ref().map(|key| IdempotencyClaim {
            scope: format!("{} {route}", self.actor()),
            key: key.clone(),
            request_hash: request_hash.into(),
        });
        ctx
    }

    fn rights_in(&self, territory: TerritoryId) -> TerritoryRights {
        match self {
            Principal::PlatformAdmin { .. } => TerritoryRights::default(),
            Principal::Agent { state, .. } => state.territory_rights.get(&territory).copied().unwrap_or_default(),
        }
    }

    /// What the caller holds at a place, read against the rights matrix.
    pub fn holdings(&self, place: Place) -> Vec<Holding> {
        let Principal::Agent { id, state, .. } = self else {
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
    pub fn require(&self, permission: Permission, place: Place) -> Result<(), ApiError> {
        if self.may(permission, place) {
            Ok(())
        } else {
            let (_, covers, _) = permission.row();
            Err(ApiError::forbidden(format!("you may not {covers} here")))
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        matches!(self, Principal::PlatformAdmin { .. })
    }

    /// Whether the caller has any footing in the territory. Callers without
    /// it get 404 for the territory's records: they learn nothing of them.
    pub fn require_territory_visibility(&self, territory: TerritoryId, what: &str) -> Result<(), ApiError> {
        let member = match self {
            Principal::PlatformAdmin { .. } => true,
            Principal::Agent { state, .. } => state.memberships.values().any(|m| m.territory_id == territory),
        };
        if member || !self.rights_in(territory).is_empty() {
            Ok(())
        } else {
            Err(ApiError::not_found(what))
        }
    }

    pub fn token(&self) -> &TokenHash {
        match self {
            Principal::PlatformAdmin { token } | Principal::Agent { token, .. } => token,
        }
    }

    pub fn agent_id(&self) -> Option<AgentId> {
        match self {
            Principal::Agent { id, .. } => Some(*id),
            Principal::PlatformAdmin { .. } => None,
        }
    }
}

/// A context for calls without a logged-in caller (accepting an invitation).
pub fn anonymous_context(actor: String, headers: &CommandHeaders) -> CommandContext {
    let mut ctx = CommandContext::new(actor);
    ctx.correlation_id = headers.correlation_id.unwrap_or_else(Uuid::now_v7);
    ctx
}
