//! Who is calling: the bearer token turned into a [`Caller`].
//!
//! A bearer token names its owner; the owner's stream holds the digests of
//! the tokens it accepts, so a revocation takes effect on the next request.
//! What the caller may do is decided by the rights matrix, through
//! [`Caller`].

use crate::{error::ApiError, extract::CommandHeaders, state::AppState};
use axum::{extract::FromRequestParts, http::request::Parts};
use rdv_app::{
    caller::Caller,
    tokens::{self, Owner},
};
use rdv_domain::{
    agent::{Agent, AgentStatus},
    platform::{PLATFORM_ID, Platform},
};
use rdv_eventstore::{CommandContext, IdempotencyClaim};
use uuid::Uuid;

/// The authenticated caller, read from the `Authorization` header; what it
/// may do is the [`Caller`]'s business.
pub struct Principal(pub Caller);

impl std::ops::Deref for Principal {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
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
            return Ok(Principal(Caller::PlatformAdmin { token: digest }));
        }
        let invalid = || ApiError::unauthorized("this token is not valid or was revoked");
        match tokens::api_token_owner(token).ok_or_else(invalid)? {
            Owner::PlatformAdmin => {
                let platform: Platform = state.load(PLATFORM_ID).await?;
                platform
                    .admin_tokens
                    .contains(&digest)
                    .then_some(Principal(Caller::PlatformAdmin { token: digest }))
                    .ok_or_else(invalid)
            }
            Owner::Agent(id) => {
                let agent: Agent = state.load(&id.to_string()).await?;
                let state = agent.0.ok_or_else(invalid)?;
                if state.status != AgentStatus::Active || !state.api_tokens.contains(&digest) {
                    return Err(invalid());
                }
                Ok(Principal(Caller::Agent {
                    id,
                    state: Box::new(state),
                    token: digest,
                }))
            }
        }
    }
}

impl Principal {
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
}

/// A context for calls without a logged-in caller (accepting an invitation).
pub fn anonymous_context(actor: String, headers: &CommandHeaders) -> CommandContext {
    let mut ctx = CommandContext::new(actor);
    ctx.correlation_id = headers.correlation_id.unwrap_or_else(Uuid::now_v7);
    ctx
}
