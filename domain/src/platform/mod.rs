//! The platform itself: who administers it. Its admin tokens are stored as
//! hashes in this one stream, so revoking one is an event like any other.

use crate::{DomainError, Services, VersionedAggregate, values::TokenHash};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The single platform stream's id.
pub const PLATFORM_ID: &str = "platform";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Platform {
    pub admin_tokens: BTreeSet<TokenHash>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PlatformCommand {
    IssueAdminToken { token_hash: TokenHash },
    RevokeAdminToken { token_hash: TokenHash },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PlatformEvent {
    AdminTokenIssued { token_hash: TokenHash },
    AdminTokenRevoked { token_hash: TokenHash },
}

crate::versioned_events!(PlatformEvent {
    AdminTokenIssued => "1.0",
    AdminTokenRevoked => "1.0",
});

impl Aggregate for Platform {
    const TYPE: &'static str = "Platform";
    type Command = PlatformCommand;
    type Event = PlatformEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: PlatformCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            PlatformCommand::IssueAdminToken { token_hash } => PlatformEvent::AdminTokenIssued { token_hash },
            PlatformCommand::RevokeAdminToken { token_hash } => {
                if !self.admin_tokens.contains(&token_hash) {
                    return Err(DomainError::not_found("token"));
                }
                PlatformEvent::AdminTokenRevoked { token_hash }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PlatformEvent) {
        match event {
            PlatformEvent::AdminTokenIssued { token_hash } => {
                self.admin_tokens.insert(token_hash);
            }
            PlatformEvent::AdminTokenRevoked { token_hash } => {
                self.admin_tokens.remove(&token_hash);
            }
        }
    }
}

impl VersionedAggregate for Platform {}
