use super::*;
use crate::ErrorKind;
use cqrs_es::test::TestFramework;

const NOW: &str = "2026-01-12T08:00:00Z";

fn services() -> Services {
    Services::at(NOW)
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

fn paris() -> TimeZone {
    TimeZone::PARIS
}

fn change(status: RdvStatus) -> RdvCommand {
    RdvCommand::ChangeRdvStatus {
        agent_id: AgentId::default(),
        status,
        zone: paris(),
    }
}

#[test]
fn the_status_menu_follows_the_rdv_day() {
    let now: DateTime<Utc> = NOW.parse().unwrap(); // 09:00 in Paris, Monday 12 January
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    use RdvStatus::*;
    assert_eq!(
        status_menu(t("2026-01-13T09:00:00Z"), now, paris()),
        [Unknown, Excused, Revoked],
        "future"
    );
    assert_eq!(
        status_menu(t("2026-01-12T10:00:00Z"), now, paris()),
        [Unknown, Excused, Revoked],
        "today, not started"
    );
    assert_eq!(
        status_menu(t("2026-01-12T07:30:00Z"), now, paris()),
        [Unknown, Excused, Revoked, Seen, Noshow],
        "today, started"
    );
    assert_eq!(
        status_menu(t("2026-01-09T09:00:00Z"), now, paris()),
        [Unknown, Excused, Revoked, Seen, Noshow],
        "past"
    );
}

#[tokio::test]
async fn status_changes_set_and_clear_cancelled_at() {
    let by = Actor::Agent {
        agent_id: AgentId::default(),
    };
    let now: DateTime<Utc> = NOW.parse().unwrap();
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T07:00:00Z")])
        .when_async(change(RdvStatus::Noshow))
        .await
        .then_expect_events(vec![RdvEvent::RdvStatusChanged {
            status: RdvStatus::Noshow,
            by,
            cancelled_at: Some(now),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![
            booked("2026-01-12T07:00:00Z"),
            RdvEvent::RdvStatusChanged {
                status: RdvStatus::Noshow,
                by,
                cancelled_at: Some(now),
            },
        ])
        .when_async(change(RdvStatus::Unknown))
        .await
        .then_expect_events(vec![RdvEvent::RdvStatusChanged {
            status: RdvStatus::Unknown,
            by,
            cancelled_at: None,
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T07:00:00Z")])
        .when_async(change(RdvStatus::Seen))
        .await
        .then_expect_events(vec![RdvEvent::RdvStatusChanged {
            status: RdvStatus::Seen,
            by,
            cancelled_at: None,
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-13T09:00:00Z")])
        .when_async(change(RdvStatus::Seen))
        .await
        .then_expect_error(DomainError::invalid(
            "status",
            "this status is not possible at this point of the RDV",
        ));
}

#[tokio::test]
async fn usagers_move_their_own_rdvs_more_than_two_days_ahead() {
    let move_to = |by| RdvCommand::RescheduleRdv {
        by,
        starts_at: "2026-01-20T09:00:00Z".parse().unwrap(),
        ends_at: "2026-01-20T09:30:00Z".parse().unwrap(),
        usager_may_reschedule: true,
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-14T08:01:00Z")])
        .when_async(move_to(Actor::Usager))
        .await
        .then_expect_events(vec![RdvEvent::RdvRescheduled {
            by: Actor::Usager,
            starts_at: "2026-01-20T09:00:00Z".parse().unwrap(),
            ends_at: "2026-01-20T09:30:00Z".parse().unwrap(),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-14T08:00:00Z")])
        .when_async(move_to(Actor::Usager))
        .await
        .then_expect_error_message("an RDV can be moved online only more than 2 days ahead");
    let mut by_agent = booking("2026-01-20T09:00:00Z", "2026-01-20T09:30:00Z");
    by_agent.created_by = Actor::Agent {
        agent_id: AgentId::default(),
    };
    let err = TestFramework::<Rdv>::with(services())
        .given(vec![RdvEvent::RdvBooked {
            booking: Box::new(by_agent),
        }])
        .when_async(move_to(Actor::Usager))
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Forbidden, "never an RDV an agent created");
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T09:00:00Z")])
        .when_async(move_to(Actor::Agent {
            agent_id: AgentId::default(),
        }))
        .await
        .then_expect_events(vec![RdvEvent::RdvRescheduled {
            by: Actor::Agent {
                agent_id: AgentId::default(),
            },
            starts_at: "2026-01-20T09:00:00Z".parse().unwrap(),
            ends_at: "2026-01-20T09:30:00Z".parse().unwrap(),
        }]);
}

#[tokio::test]
async fn the_waiting_room_takes_rdvs_of_today_once() {
    let arrived = RdvCommand::MarkUsagerArrived {
        agent_id: AgentId::default(),
        zone: paris(),
    };
    let by = Actor::Agent {
        agent_id: AgentId::default(),
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-12T10:00:00Z")])
        .when_async(arrived.clone())
        .await
        .then_expect_events(vec![RdvEvent::UsagerArrived {
            by,
            at: NOW.parse().unwrap(),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![
            booked("2026-01-12T10:00:00Z"),
            RdvEvent::UsagerArrived {
                by,
                at: NOW.parse().unwrap(),
            },
        ])
        .when_async(arrived.clone())
        .await
        .then_expect_error_message("the usager is already marked arrived");
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-13T10:00:00Z")])
        .when_async(arrived)
        .await
        .then_expect_error_message("only an RDV of today, not yet closed, has a waiting room");
}
