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
        collective: None,
        prescripteur: None,
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
        status_menu(t("2026-01-13T09:00:00Z"), now, paris(), false),
        [Unknown, Excused, Revoked],
        "future"
    );
    assert_eq!(
        status_menu(t("2026-01-12T10:00:00Z"), now, paris(), false),
        [Unknown, Excused, Revoked],
        "today, not started"
    );
    assert_eq!(
        status_menu(t("2026-01-12T07:30:00Z"), now, paris(), false),
        [Unknown, Excused, Revoked, Seen, Noshow],
        "today, started"
    );
    assert_eq!(
        status_menu(t("2026-01-09T09:00:00Z"), now, paris(), false),
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

fn atelier(starts: &str, seats: Option<u32>) -> RdvEvent {
    let start: DateTime<Utc> = starts.parse().unwrap();
    let mut b = booking(starts, &(start + Duration::hours(2)).to_rfc3339());
    b.usager_ids.clear();
    b.created_by = Actor::Agent {
        agent_id: AgentId::default(),
    };
    b.collective = Some(Atelier {
        name: Some("Atelier CV".into()),
        max_participants: seats,
    });
    RdvEvent::RdvBooked { booking: Box::new(b) }
}

fn joined(usager_id: UsagerId, by: Actor) -> RdvEvent {
    RdvEvent::ParticipantAdded {
        usager_id,
        by,
        status: RdvStatus::Unknown,
        participation_token: None,
    }
}

fn sign_up(usager_id: UsagerId) -> RdvCommand {
    RdvCommand::AddParticipant {
        usager_id,
        by: Actor::Usager,
        participation_token: None,
    }
}

const AGENT: Actor = Actor::Agent {
    agent_id: AgentId(uuid::Uuid::nil()),
};

#[tokio::test]
async fn an_atelier_takes_sign_ups_while_seats_remain_and_agents_may_overbook() {
    let (a, b) = (UsagerId::new(), UsagerId::new());
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-20T09:00:00Z", Some(2)), joined(a, Actor::Usager)])
        .when_async(sign_up(b))
        .await
        .then_expect_events(vec![joined(b, Actor::Usager)]);
    TestFramework::<Rdv>::with(services())
        .given(vec![
            atelier("2026-01-20T09:00:00Z", Some(2)),
            joined(a, Actor::Usager),
            joined(b, Actor::Usager),
        ])
        .when_async(sign_up(UsagerId::new()))
        .await
        .then_expect_error_message("this atelier is full");
    let c = UsagerId::new();
    TestFramework::<Rdv>::with(services())
        .given(vec![
            atelier("2026-01-20T09:00:00Z", Some(2)),
            joined(a, Actor::Usager),
            joined(b, Actor::Usager),
        ])
        .when_async(RdvCommand::AddParticipant {
            usager_id: c,
            by: AGENT,
            participation_token: None,
        })
        .await
        .then_expect_events(vec![joined(c, AGENT)]);
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-20T09:00:00Z", None), joined(a, Actor::Usager)])
        .when_async(sign_up(a))
        .await
        .then_expect_error_message("the usager already takes part in this RDV");
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-12T07:00:00Z", None)])
        .when_async(sign_up(a))
        .await
        .then_expect_error_message("this atelier has already started");
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-20T09:00:00Z")])
        .when_async(sign_up(a))
        .await
        .then_expect_error_message("usagers sign up only to ateliers");
}

#[tokio::test]
async fn an_excused_participation_frees_its_seat() {
    let (a, b) = (UsagerId::new(), UsagerId::new());
    let excuse = RdvCommand::ChangeParticipationStatus {
        usager_id: a,
        by: Actor::Usager,
        status: RdvStatus::Excused,
        zone: paris(),
        usager_may_cancel: true,
    };
    let excused = RdvEvent::ParticipationStatusChanged {
        usager_id: a,
        status: RdvStatus::Excused,
        by: Actor::Usager,
        rdv_status: RdvStatus::Unknown,
        cancelled_at: None,
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-20T09:00:00Z", Some(1)), joined(a, Actor::Usager)])
        .when_async(excuse)
        .await
        .then_expect_events(vec![excused.clone()]);
    TestFramework::<Rdv>::with(services())
        .given(vec![
            atelier("2026-01-20T09:00:00Z", Some(1)),
            joined(a, Actor::Usager),
            excused,
        ])
        .when_async(sign_up(b))
        .await
        .then_expect_events(vec![joined(b, Actor::Usager)]);
}

#[tokio::test]
async fn an_usager_cancels_only_their_participation_in_an_atelier_and_four_hours_ahead() {
    let a = UsagerId::new();
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-20T09:00:00Z", None), joined(a, Actor::Usager)])
        .when_async(RdvCommand::CancelRdv {
            by: Actor::Usager,
            status: RdvStatus::Excused,
            usager_may_cancel: true,
        })
        .await
        .then_expect_error_message("in an atelier, an usager cancels only their own participation");
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-12T11:00:00Z", None), joined(a, Actor::Usager)])
        .when_async(RdvCommand::ChangeParticipationStatus {
            usager_id: a,
            by: Actor::Usager,
            status: RdvStatus::Excused,
            zone: paris(),
            usager_may_cancel: true,
        })
        .await
        .then_expect_error_message("a participation can be cancelled online only more than 4 hours ahead");
    TestFramework::<Rdv>::with(services())
        .given(vec![atelier("2026-01-20T09:00:00Z", None), joined(a, Actor::Usager)])
        .when_async(RdvCommand::CancelRdv {
            by: AGENT,
            status: RdvStatus::Excused,
            usager_may_cancel: true,
        })
        .await
        .then_expect_error_message("an atelier is cancelled by the service: revoked");
}

#[test]
fn the_collective_menu_offers_revoked_before_its_day_and_seen_from_it() {
    let now: DateTime<Utc> = NOW.parse().unwrap();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    use RdvStatus::*;
    assert_eq!(
        status_menu(t("2026-01-13T09:00:00Z"), now, paris(), true),
        [Unknown, Revoked]
    );
    assert_eq!(
        status_menu(t("2026-01-12T15:00:00Z"), now, paris(), true),
        [Unknown, Revoked, Seen]
    );
}

#[tokio::test]
async fn participation_statuses_lead_the_rdv_status() {
    let (a, b) = (UsagerId::new(), UsagerId::new());
    let mut two = booked("2026-01-09T09:00:00Z");
    if let RdvEvent::RdvBooked { booking } = &mut two {
        booking.usager_ids = [a, b].into();
    }
    let noshow = |u, rdv_status, cancelled_at| RdvEvent::ParticipationStatusChanged {
        usager_id: u,
        status: RdvStatus::Noshow,
        by: AGENT,
        rdv_status,
        cancelled_at,
    };
    let mark = |u| RdvCommand::ChangeParticipationStatus {
        usager_id: u,
        by: AGENT,
        status: RdvStatus::Noshow,
        zone: paris(),
        usager_may_cancel: false,
    };
    // One noshow of two: still unknown; both: the RDV is a noshow.
    TestFramework::<Rdv>::with(services())
        .given(vec![two.clone()])
        .when_async(mark(a))
        .await
        .then_expect_events(vec![noshow(a, RdvStatus::Unknown, None)]);
    TestFramework::<Rdv>::with(services())
        .given(vec![two.clone(), noshow(a, RdvStatus::Unknown, None)])
        .when_async(mark(b))
        .await
        .then_expect_events(vec![noshow(b, RdvStatus::Noshow, Some(NOW.parse().unwrap()))]);
    // A seen participation makes the RDV seen.
    TestFramework::<Rdv>::with(services())
        .given(vec![two.clone(), noshow(a, RdvStatus::Unknown, None)])
        .when_async(RdvCommand::ChangeParticipationStatus {
            usager_id: b,
            by: AGENT,
            status: RdvStatus::Seen,
            zone: paris(),
            usager_may_cancel: false,
        })
        .await
        .then_expect_events(vec![RdvEvent::ParticipationStatusChanged {
            usager_id: b,
            status: RdvStatus::Seen,
            by: AGENT,
            rdv_status: RdvStatus::Seen,
            cancelled_at: None,
        }]);
}

#[test]
fn an_rdv_status_reaches_its_participations() {
    let (a, b) = (UsagerId::new(), UsagerId::new());
    let mut rdv = Rdv::default();
    let mut two = booked("2026-01-09T09:00:00Z");
    if let RdvEvent::RdvBooked { booking } = &mut two {
        booking.usager_ids = [a, b].into();
    }
    rdv.apply(two);
    rdv.apply(RdvEvent::ParticipationStatusChanged {
        usager_id: a,
        status: RdvStatus::Excused,
        by: Actor::Usager,
        rdv_status: RdvStatus::Unknown,
        cancelled_at: None,
    });
    rdv.apply(RdvEvent::RdvStatusChanged {
        status: RdvStatus::Seen,
        by: AGENT,
        cancelled_at: None,
    });
    let statuses = |rdv: &Rdv| {
        let s = rdv.state().unwrap();
        (s.participations[&a].status, s.participations[&b].status)
    };
    assert_eq!(statuses(&rdv), (RdvStatus::Excused, RdvStatus::Seen));
    rdv.apply(RdvEvent::RdvStatusChanged {
        status: RdvStatus::Unknown,
        by: AGENT,
        cancelled_at: None,
    });
    assert_eq!(statuses(&rdv), (RdvStatus::Unknown, RdvStatus::Unknown));
}

#[tokio::test]
async fn an_individual_rdv_keeps_one_usager() {
    let u = UsagerId::default();
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-20T09:00:00Z")])
        .when_async(RdvCommand::RemoveParticipant {
            usager_id: u,
            agent_id: AgentId::default(),
        })
        .await
        .then_expect_error_message("an individual RDV keeps at least one usager: cancel it instead");
}

#[tokio::test]
async fn one_reminder_per_start_time() {
    let reminded = RdvEvent::ReminderSent {
        starts_at: "2026-01-14T09:00:00Z".parse().unwrap(),
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-14T09:00:00Z")])
        .when_async(RdvCommand::SendReminder)
        .await
        .then_expect_events(vec![reminded.clone()]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-14T09:00:00Z"), reminded.clone()])
        .when_async(RdvCommand::SendReminder)
        .await
        .then_expect_error_message("the reminder was already sent");
    let moved = RdvEvent::RdvRescheduled {
        by: AGENT,
        starts_at: "2026-01-14T10:00:00Z".parse().unwrap(),
        ends_at: "2026-01-14T10:30:00Z".parse().unwrap(),
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-14T09:00:00Z"), reminded, moved])
        .when_async(RdvCommand::SendReminder)
        .await
        .then_expect_events(vec![RdvEvent::ReminderSent {
            starts_at: "2026-01-14T10:00:00Z".parse().unwrap(),
        }]);
}

#[tokio::test]
async fn details_change_agents_lieu_and_contexte_and_an_unchanged_edit_records_nothing() {
    let other = AgentId::new();
    let lieu = LieuId::new();
    let update = |agents: BTreeSet<AgentId>, lieu_id, context: Option<&str>| RdvCommand::UpdateRdvDetails {
        agent_id: AgentId::default(),
        agent_ids: agents,
        lieu_id,
        context: context.map(str::to_string),
    };
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-20T09:00:00Z")])
        .when_async(update([other].into(), Some(lieu), Some("  apporter le dossier ")))
        .await
        .then_expect_events(vec![RdvEvent::RdvDetailsUpdated {
            by: AGENT,
            agent_ids: [other].into(),
            lieu_id: Some(lieu),
            context: Some("apporter le dossier".into()),
        }]);
    TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-20T09:00:00Z")])
        .when_async(update([AgentId::default()].into(), None, Some(" ")))
        .await
        .then_expect_events(vec![]);
    let err = TestFramework::<Rdv>::with(services())
        .given(vec![booked("2026-01-20T09:00:00Z")])
        .when_async(update(BTreeSet::new(), None, None))
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.errors[0].field, "agent_ids");
}
