//! The guard that keeps agent e-mails unique: one stream per e-mail digest,
//! claimed in the same transaction as the agent's creation. Two concurrent
//! invitations of one address conflict on this stream, and the retry finds
//! the agent already there (RDV Service Public: a known e-mail only gets the
//! new role).

use crate::{DomainError, Services, VersionedAggregate, ids::AgentId, values::Email};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which agent owns an e-mail address, if any.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AgentEmail(pub Option<AgentId>);

impl AgentEmail {
    /// The stream id for an address: a digest, so the address itself never
    /// appears in stream ids, feeds or logs.
    pub fn stream_id(email: &Email) -> String {
        hex_digest(email.as_str())
    }
}

fn hex_digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentEmailCommand {
    ClaimEmail { agent_id: AgentId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentEmailEvent {
    AgentEmailClaimed { agent_id: AgentId },
}

crate::versioned_events!(AgentEmailEvent { AgentEmailClaimed => "1.0" });

impl Aggregate for AgentEmail {
    const TYPE: &'static str = "AgentEmail";
    type Command = AgentEmailCommand;
    type Event = AgentEmailEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: AgentEmailCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let AgentEmailCommand::ClaimEmail { agent_id } = command;
        match self.0 {
            Some(owner) if owner == agent_id => Ok(()),
            Some(_) => Err(DomainError::conflict("this e-mail belongs to another agent")),
            None => {
                sink.write(AgentEmailEvent::AgentEmailClaimed { agent_id }, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: AgentEmailEvent) {
        let AgentEmailEvent::AgentEmailClaimed { agent_id } = event;
        self.0 = Some(agent_id);
    }
}

impl VersionedAggregate for AgentEmail {}

#[cfg(test)]
mod tests {
    use super::*;

    use cqrs_es::test::TestFramework;

    fn services() -> Services {
        Services::at("2026-01-05T09:00:00Z")
    }

    #[tokio::test]
    async fn an_email_is_claimed_once() {
        let a = AgentId::new();
        let b = AgentId::new();
        TestFramework::<AgentEmail>::with(services())
            .given_no_previous_events()
            .when_async(AgentEmailCommand::ClaimEmail { agent_id: a })
            .await
            .then_expect_events(vec![AgentEmailEvent::AgentEmailClaimed { agent_id: a }]);
        TestFramework::<AgentEmail>::with(services())
            .given(vec![AgentEmailEvent::AgentEmailClaimed { agent_id: a }])
            .when_async(AgentEmailCommand::ClaimEmail { agent_id: b })
            .await
            .then_expect_error_message("this e-mail belongs to another agent");
    }

    #[test]
    fn stream_ids_do_not_reveal_the_address() {
        let email = Email::parse("Marie@CMS.fr", "email").unwrap();
        let id = AgentEmail::stream_id(&email);
        assert_eq!(id.len(), 64);
        assert!(!id.contains("marie"));
        assert_eq!(
            id,
            AgentEmail::stream_id(&Email::parse("marie@cms.fr", "email").unwrap())
        );
    }
}
