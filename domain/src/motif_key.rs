//! The guard that keeps motif names unique per organisation, service and
//! location type: one stream per key, claimed in the same transaction as the
//! motif's change, released when the motif moves away from it or is archived.

use crate::{DomainError, Services, VersionedAggregate, ids::MotifId};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which motif holds a key, if any.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct MotifKey(pub Option<MotifId>);

impl MotifKey {
    /// The stream id of a key (a digest: names stay out of stream ids).
    pub fn stream_id(key: &str) -> String {
        Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MotifKeyCommand {
    Claim { motif_id: MotifId },
    Release { motif_id: MotifId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MotifKeyEvent {
    MotifKeyClaimed { motif_id: MotifId },
    MotifKeyReleased { motif_id: MotifId },
}

crate::versioned_events!(MotifKeyEvent {
    MotifKeyClaimed => "1.0",
    MotifKeyReleased => "1.0",
});

impl Aggregate for MotifKey {
    const TYPE: &'static str = "MotifKey";
    type Command = MotifKeyCommand;
    type Event = MotifKeyEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: MotifKeyCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match (command, self.0) {
            (MotifKeyCommand::Claim { motif_id }, None) => MotifKeyEvent::MotifKeyClaimed { motif_id },
            (MotifKeyCommand::Claim { motif_id }, Some(holder)) if holder == motif_id => return Ok(()),
            (MotifKeyCommand::Claim { .. }, Some(_)) => {
                return Err(DomainError::invalid(
                    "informations.name",
                    "a motif with this name, service and location type already exists in one of these organisations",
                ));
            }
            (MotifKeyCommand::Release { motif_id }, Some(holder)) if holder == motif_id => {
                MotifKeyEvent::MotifKeyReleased { motif_id }
            }
            (MotifKeyCommand::Release { .. }, _) => return Ok(()),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: MotifKeyEvent) {
        self.0 = match event {
            MotifKeyEvent::MotifKeyClaimed { motif_id } => Some(motif_id),
            MotifKeyEvent::MotifKeyReleased { .. } => None,
        };
    }
}

impl VersionedAggregate for MotifKey {}

#[cfg(test)]
mod tests {
    use super::*;

    use cqrs_es::test::TestFramework;

    fn services() -> Services {
        Services::at("2026-01-05T09:00:00Z")
    }

    #[tokio::test]
    async fn a_key_is_held_by_one_motif_until_released() {
        let (a, b) = (MotifId::new(), MotifId::new());
        let claimed = MotifKeyEvent::MotifKeyClaimed { motif_id: a };
        TestFramework::<MotifKey>::with(services())
            .given_no_previous_events()
            .when_async(MotifKeyCommand::Claim { motif_id: a })
            .await
            .then_expect_events(vec![claimed.clone()]);
        let taken = TestFramework::<MotifKey>::with(services())
            .given(vec![claimed.clone()])
            .when_async(MotifKeyCommand::Claim { motif_id: b })
            .await
            .inspect_result()
            .unwrap_err();
        assert_eq!(taken.errors[0].field, "informations.name");
        TestFramework::<MotifKey>::with(services())
            .given(vec![claimed.clone(), MotifKeyEvent::MotifKeyReleased { motif_id: a }])
            .when_async(MotifKeyCommand::Claim { motif_id: b })
            .await
            .then_expect_events(vec![MotifKeyEvent::MotifKeyClaimed { motif_id: b }]);
        TestFramework::<MotifKey>::with(services())
            .given(vec![claimed])
            .when_async(MotifKeyCommand::Release { motif_id: b })
            .await
            .then_expect_events(vec![]);
    }
}
