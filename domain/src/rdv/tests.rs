use super::*;
use crate::{ErrorKind, FixedClock};
use cqrs_es::test::TestFramework;
use std::sync::Arc;

const NOW: &str = "2026-01-12T08:00:00Z";

fn services() -> Services {
    Services::new(Arc::new(FixedClock::at(NOW.parse().unwrap())), Duration::days(7))
}

fn booking(starts: &str, ends: &str) -> Booking {
    Booking {
        organisation_id: OrganisationId::default(),
        motif_id: MotifId::default(),
        lieu_id: None,
        agent_ids: [AgentId::default()].into(),
        usager_ids: [UsagerId::default()].into(),
        starts_at: starts.parse().unwrap(),
        ends_at: ends.parse().unwrap(),
        context: None,
        created_by: Actor::Usager,
        participation_token: None,
    }
}

fn booked(starts: &str) -> RdvEvent {
    let start: DateTime<Utc> = starts.parse().unwrap();
    RdvEvent::RdvBooked {
        booking: Box::new(booking(starts, &(start + Duration::minutes(30)).to_rfc3339())),
    }
}

#[tokio::test]
async fn booking_checks_times_and_people() {
    TestFramework::<Rdv>::with(services())
        .given_no_previous_events()
        .when_async(RdvCommand::BookRdv {
            booking: Box::new(booking("2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z")),
        })
        .await
        .then_expect_events(vec![booked("2026-01-12T09:00:00Z")]);
    let err = TestFramework::<Rdv>::with(services())
        .given_no_previous_events()
        .when_async(RdvCommand::BookRdv {
            booking: Box::new(booking("2026-01-12T09:30:00Z", "2026-01-12T09:00:00Z")),
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.errors[0].field, "ends_at");
    let err = TestFramework::<Rdv>::with(services())
        .given_no_previous_events()
        .when_async(RdvCommand::BookRdv {
            booking: Box::new(booking("2032-01-12T09:00:00Z", "2032-01-12T09:30:00Z")),
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.errors[0].field, "starts_at");
}

#[tokio::test]
async fn an_usager_cancels_more_than_four_hours_ahead_when_the_motif_allows() {
    let cancel = |may| RdvCommand::CancelRdv {
        by: Actor::Usager,
        status: RdvStatus::Excused,
        usager_may_cancel: may,
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T12:01:00Z")])
        .when_async(cancel(true))
        .await
        .then_expect_events(vec![RdvEvent::RdvCancelled {
            status: RdvStatus::Excused,
            by: Actor::Usager,
            cancelled_at: NOW.parse().unwrap(),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T12:00:00Z")])
        .when_async(cancel(true))
        .await
        .then_expect_error_message("an RDV can be cancelled online only more than 4 hours ahead");
    let err = TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-13T12:00:00Z")])
        .when_async(cancel(false))
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Forbidden);
}

#[tokio::test]
async fn an_agent_excuses_or_revokes_once() {
    let by = Actor::Agent {
        agent_id: AgentId::default(),
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T09:00:00Z")])
        .when_async(RdvCommand::CancelRdv {
            by,
            status: RdvStatus::Revoked,
            usager_may_cancel: false,
        })
        .await
        .then_expect_events(vec![RdvEvent::RdvCancelled {
            status: RdvStatus::Revoked,
            by,
            cancelled_at: NOW.parse().unwrap(),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T09:00:00Z")])
        .when_async(RdvCommand::CancelRdv {
            by,
            status: RdvStatus::Seen,
            usager_may_cancel: false,
        })
        .await
        .then_expect_error(DomainError::invalid("status", "a cancellation is excused or revoked"));
    TestFramework::<Rdv>::with(services())
        .given(vec![
            booked("2026-01-12T09:00:00Z"),
            RdvEvent::RdvCancelled {
                status: RdvStatus::Revoked,
                by,
                cancelled_at: NOW.parse().unwrap(),
            },
        ])
        .when_async(RdvCommand::CancelRdv {
            by,
            status: RdvStatus::Excused,
            usager_may_cancel: false,
        })
        .await
        .then_expect_error_message("the RDV is already cancelled");
}
