//! What every handler shares: the use cases' [`Context`] and what only the
//! HTTP edge needs (the admin token, secrets, the NATS client for `/ready`).

use crate::{
    error::ApiError,
    reply::{CommandReply, reply},
};
use axum::http::StatusCode;
use rdv_app::Context;
use rdv_domain::{DomainError, Services, VersionedAggregate, values::TokenHash};
use rdv_eventstore::CommandContext;
use std::sync::Arc;

pub use rdv_app::context::MIN_POSITION_WAIT;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// What the use cases share; its fields read as the state's own.
    pub app: Context,
    /// Digest of `RDV_ADMIN_TOKEN`, when set.
    pub admin_token: Option<TokenHash>,
    /// The NATS client, when `NATS_URL` is set (for `/ready`).
    pub nats: Option<async_nats::Client>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::ops::Deref for Inner {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.app
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// Runs one command on one aggregate and answers `{id, version, events}`.
    pub async fn command<A>(
        &self,
        ctx: &CommandContext,
        id: &str,
        command: A::Command,
        if_match: Option<i64>,
        status: StatusCode,
    ) -> Result<CommandReply, ApiError>
    where
        A: VersionedAggregate<Error = DomainError, Services = Services>,
        A::Command: Clone + Send + Sync + 'static,
    {
        let respond = reply(status, A::TYPE, |_| id.to_string(), |_| serde_json::json!({}));
        Ok(CommandReply(
            self.commands
                .execute::<A, _>(ctx, id, command, if_match, respond)
                .await?,
        ))
    }
}
