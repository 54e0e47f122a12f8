//! Read models of rdv-events, each built by a checkpointed projector from
//! the global feed.
//!
//! A projector reads the feed after its checkpoint and, for each batch,
//! writes the documents it changes and its new checkpoint in one
//! transaction: a crash loses nothing and applies nothing twice, a restart
//! resumes, and a rebuild starts again from position 0.

pub mod availability;
pub mod availability_index;
pub mod chain;
pub mod configuration;
pub mod directory;
mod documents;
pub mod follow_ups;
pub mod insertion_stats;
pub mod projector;
pub mod rdvs;
pub mod replay;
pub mod rgpd;
pub mod usagers;
pub mod webhook_dispatch;
pub mod webhooks;

pub use projector::{Projection, ProjectionError, Projector, ProjectorStatus};

use std::sync::Arc;

/// Every projection of the system, by name (`rdv project --rebuild NAME`).
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(directory::Directory),
        Arc::new(configuration::Configuration),
        Arc::new(availability::Availability),
        Arc::new(rdvs::Rdvs),
        Arc::new(usagers::Usagers),
        Arc::new(follow_ups::FollowUps),
        Arc::new(chain::Chain::default()),
        Arc::new(webhooks::Webhooks),
        Arc::new(webhook_dispatch::WebhookDispatch),
        Arc::new(rgpd::Rgpd),
    ]
}

/// The projection called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Arc<dyn Projection>> {
    all().into_iter().find(|p| p.name() == name)
}
