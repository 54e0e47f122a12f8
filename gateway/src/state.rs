//! What every handler shares: the use cases' [`Context`] and what only the
//! HTTP edge needs (the admin token, secrets, the NATS client for `/ready`).

use rdv_app::Context;
use rdv_domain::values::TokenHash;
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
}
