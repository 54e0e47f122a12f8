//! rdv-insertion's acceptance cases (reference §7) on the follow-up, with
//! the clock injected.

use super::*;
use crate::ids::InvitationId;

const NOW: &str = "2026-03-10T10:00:00Z";

fn at(offset: Duration) -> DateTime<Utc> {
    NOW.parse::<DateTime<Utc>>().unwrap() + offset
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn state() -> FollowUpState {
    FollowUpState::new(UsagerId::new(), "rsa_orientation".into())
}

fn invitation(created: Duration, format: InvitationFormat, trigger: InvitationTrigger) -> Invitation {
    Invitation {
        id: InvitationId::new(),
        code: "ABCD1234".into(),
        format,
        trigger,
        created_at: at(created),
        valid_until: at(created + days(10)),
        organisation_ids: BTreeSet::new(),
        help_phone: "0147200001".into(),
        token: TokenHash("h".into()),
        sealed_token: String::new(),
        clicked: false,
    }
}

fn participation(created: Duration, starts: Duration, status: RdvStatus) -> TrackedParticipation {
    TrackedParticipation {
        rdv_id: RdvId::new(),
        organisation_id: OrganisationId::new(),
        motif_id: MotifId::new(),
        lieu_id: None,
        created_at: at(created),
        created_by: Actor::Usager,
        starts_at: at(starts),
        status,
        convocable: false,
        notice_formats: sms_and_email(),
    }
}

fn with(mut s: FollowUpState, p: TrackedParticipation) -> FollowUpState {
    s.participations.insert(p.rdv_id, p);
    s
}

#[test]
fn case_1_nothing_is_not_invited_and_closing_wins() {
    let now = at(Duration::zero());
    assert_eq!(state().status(now), FollowUpStatus::NotInvited);
    let mut closed = with(state(), participation(-days(3), -days(1), RdvStatus::Seen));
    closed.closed_at = Some(now);
    assert_eq!(closed.status(now), FollowUpStatus::Closed);
}

#[test]
fn case_2_an_invitation_after_the_last_participation_is_pending() {
    let now = at(Duration::zero());
    let mut invited = state();
    invited
        .invitations
        .push(invitation(-days(2), InvitationFormat::Sms, InvitationTrigger::Manual));
    assert_eq!(invited.status(now), FollowUpStatus::InvitationPending);
    let older = with(invited.clone(), participation(-days(4), -days(3), RdvStatus::Seen));
    assert_eq!(older.status(now), FollowUpStatus::InvitationPending);
    let newer = with(invited, participation(-days(1), -Duration::hours(2), RdvStatus::Seen));
    assert_eq!(newer.status(now), FollowUpStatus::RdvSeen);
}

#[test]
fn a_pending_rdv_compares_by_its_start_and_becomes_an_outcome_to_enter() {
    let mut s = state();
    s.invitations
        .push(invitation(-days(2), InvitationFormat::Sms, InvitationTrigger::Manual));
    // Booked 5 days ago for tomorrow: the invitation of 2 days ago is older
    // than the RDV's start, so the RDV is what stands.
    let s = with(s, participation(-days(5), days(1), RdvStatus::Unknown));
    assert_eq!(s.status(at(Duration::zero())), FollowUpStatus::RdvPending);
    // Once it has started, the creation date counts: the later invitation wins.
    assert_eq!(s.status(at(days(2))), FollowUpStatus::InvitationPending);
    let booked_after = with(state(), participation(-days(1), days(1), RdvStatus::Unknown));
    assert_eq!(booked_after.status(at(days(2))), FollowUpStatus::RdvNeedsStatusUpdate);
}

#[test]
fn the_last_cancelled_participation_names_the_status_unless_one_was_seen_later() {
    let now = at(Duration::zero());
    for (status, expected) in [
        (RdvStatus::Noshow, FollowUpStatus::RdvNoshow),
        (RdvStatus::Revoked, FollowUpStatus::RdvRevoked),
        (RdvStatus::Excused, FollowUpStatus::RdvExcused),
    ] {
        let s = with(state(), participation(-days(3), -days(2), status));
        assert_eq!(s.status(now), expected);
        let seen_later = with(s, participation(-days(5), -days(1), RdvStatus::Seen));
        assert_eq!(seen_later.status(now), FollowUpStatus::RdvSeen);
    }
}

#[test]
fn action_is_required_for_the_action_statuses_and_a_stale_manual_invitation() {
    let now = at(Duration::zero());
    let noshow = with(state(), participation(-days(3), -days(2), RdvStatus::Noshow));
    assert_eq!(
        noshow.action_required(now, 10),
        Some(ActionReason::RdvCancelledOrNoshow)
    );
    let mut invited = state();
    invited
        .invitations
        .push(invitation(-days(11), InvitationFormat::Sms, InvitationTrigger::Manual));
    assert_eq!(
        invited.action_required(now, 10),
        Some(ActionReason::InvitationWindowExceeded)
    );
    // A reminder does not reset the window; a new manual invitation does.
    invited
        .invitations
        .push(invitation(-days(8), InvitationFormat::Sms, InvitationTrigger::Reminder));
    assert_eq!(
        invited.action_required(now, 10),
        Some(ActionReason::InvitationWindowExceeded)
    );
    invited
        .invitations
        .push(invitation(-days(1), InvitationFormat::Email, InvitationTrigger::Manual));
    assert_eq!(invited.action_required(now, 10), None);
    let (due, reason) = invited.next_action(now, 10).unwrap();
    assert_eq!((due, reason), (at(days(9)), ActionReason::InvitationWindowExceeded));
}

#[test]
fn a_pending_rdv_needs_action_from_its_start_on() {
    let now = at(Duration::zero());
    let s = with(state(), participation(-days(1), days(2), RdvStatus::Unknown));
    assert_eq!(s.action_required(now, 10), None);
    assert_eq!(
        s.next_action(now, 10),
        Some((at(days(2)), ActionReason::RdvOutcomeMissing))
    );
    let seen = with(state(), participation(-days(3), -days(1), RdvStatus::Seen));
    assert_eq!(seen.next_action(now, 10), None);
}

#[test]
fn convocable_after_a_noshow_an_excuse_or_an_unanswered_invitation() {
    let now = at(Duration::zero());
    assert!(with(state(), participation(-days(3), -days(2), RdvStatus::Noshow)).convocable(now, 10));
    assert!(with(state(), participation(-days(3), -days(2), RdvStatus::Excused)).convocable(now, 10));
    assert!(!with(state(), participation(-days(3), -days(2), RdvStatus::Revoked)).convocable(now, 10));
    let mut invited = state();
    invited
        .invitations
        .push(invitation(-days(4), InvitationFormat::Sms, InvitationTrigger::Manual));
    assert!(!invited.convocable(now, 10));
    assert!(invited.convocable(at(days(7)), 10));
}

fn facts() -> InvitationFacts {
    InvitationFacts {
        has_title: true,
        reachable: [InvitationFormat::Sms, InvitationFormat::Email, InvitationFormat::Postal].into(),
        allowed: [InvitationFormat::Sms, InvitationFormat::Email, InvitationFormat::Postal].into(),
        motif_exists: true,
        with_referents: false,
        referent_motif_exists: false,
    }
}

fn new_invitation(format: InvitationFormat, valid: Duration) -> NewInvitation {
    NewInvitation {
        id: InvitationId::new(),
        code: "ZX12CV34".into(),
        format,
        valid_until: at(valid),
        organisation_ids: BTreeSet::new(),
        help_phone: Some("0147200001".into()),
        token: TokenHash("t".into()),
        sealed_token: String::new(),
    }
}

async fn run(follow_up: &mut FollowUp, command: FollowUpCommand) -> Result<Vec<FollowUpEvent>, DomainError> {
    let sink = EventSink::default();
    follow_up.handle(command, &Services::at(NOW), &sink).await?;
    let events = sink.collect().await;
    for event in events.clone() {
        follow_up.apply(event);
    }
    Ok(events)
}

fn invite(usager_id: UsagerId, formats: &[(InvitationFormat, i64)]) -> FollowUpCommand {
    FollowUpCommand::InviteUsager {
        usager_id,
        category: "rsa_orientation".into(),
        invitations: formats.iter().map(|(f, d)| new_invitation(*f, days(*d))).collect(),
        facts: facts(),
    }
}

fn messages(err: DomainError) -> Vec<String> {
    err.errors.into_iter().map(|e| e.message).collect()
}

#[tokio::test]
async fn case_7_invitation_rules() {
    let usager = UsagerId::new();
    let mut f = FollowUp::default();
    let postal = run(&mut f, invite(usager, &[(InvitationFormat::Postal, 2)]))
        .await
        .unwrap_err();
    assert!(messages(postal)[0].contains("supérieure à 5 jours"));
    let events = run(&mut f, invite(usager, &[(InvitationFormat::Sms, 10)]))
        .await
        .unwrap();
    assert!(matches!(events[0], FollowUpEvent::FollowUpOpened { .. }));
    let again = run(&mut f, invite(usager, &[(InvitationFormat::Sms, 10)]))
        .await
        .unwrap_err();
    assert_eq!(
        messages(again),
        ["Une invitation sms a déjà été envoyée aujourd'hui à cet usager"]
    );
    // Postal is exempt from the 24 h rule.
    run(&mut f, invite(usager, &[(InvitationFormat::Postal, 10)]))
        .await
        .unwrap();
    run(&mut f, invite(usager, &[(InvitationFormat::Postal, 10)]))
        .await
        .unwrap();
    let pending = participation(Duration::zero(), days(3), RdvStatus::Unknown);
    f.0.as_mut().unwrap().participations.insert(pending.rdv_id, pending);
    let err = run(&mut f, invite(usager, &[(InvitationFormat::Email, 10)]))
        .await
        .unwrap_err();
    assert_eq!(err.message, "Cet usager a déjà un rendez-vous à venir pour ce motif");
}

#[tokio::test]
async fn invitations_need_a_title_a_contact_and_a_motif() {
    let usager = UsagerId::new();
    let mut f = FollowUp::default();
    let command = FollowUpCommand::InviteUsager {
        usager_id: usager,
        category: "rsa_orientation".into(),
        invitations: vec![new_invitation(InvitationFormat::Sms, days(10))],
        facts: InvitationFacts {
            has_title: false,
            reachable: [InvitationFormat::Email].into(),
            motif_exists: false,
            ..facts()
        },
    };
    let err = run(&mut f, command).await.unwrap_err();
    let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["usager.title", "motif_category", "formats[0]"]);
    assert!(f.0.is_none(), "nothing recorded");
}

#[tokio::test]
async fn case_12_a_new_rdv_invalidates_valid_invitations_unless_the_category_is_optional() {
    let usager = UsagerId::new();
    for optional in [false, true] {
        let mut f = FollowUp::default();
        run(&mut f, invite(usager, &[(InvitationFormat::Sms, 3)]))
            .await
            .unwrap();
        let p = participation(Duration::zero(), days(5), RdvStatus::Unknown);
        let track = FollowUpCommand::TrackParticipation {
            usager_id: usager,
            category: "rsa_orientation".into(),
            participation: Box::new(p.clone()),
            optional,
        };
        let events = run(&mut f, track.clone()).await.unwrap();
        let invalidated = events
            .iter()
            .any(|e| matches!(e, FollowUpEvent::InvitationsInvalidated { .. }));
        assert_eq!(invalidated, !optional);
        let invitation = &f.state().unwrap().invitations[0];
        assert_eq!(invitation.is_valid(at(Duration::zero())), optional);
        assert!(
            run(&mut f, track).await.unwrap().is_empty(),
            "an unchanged participation records nothing"
        );
    }
}

#[tokio::test]
async fn closing_invalidates_invitations_and_reopening_restores_the_status() {
    let usager = UsagerId::new();
    let mut f = FollowUp::default();
    run(&mut f, invite(usager, &[(InvitationFormat::Email, 10)]))
        .await
        .unwrap();
    run(&mut f, FollowUpCommand::CloseFollowUp).await.unwrap();
    let now = at(Duration::zero());
    let state = f.state().unwrap();
    assert_eq!(state.status(now), FollowUpStatus::Closed);
    assert!(!state.invitations[0].is_valid(now));
    assert!(
        run(&mut f, invite(usager, &[(InvitationFormat::Sms, 10)]))
            .await
            .is_err()
    );
    run(&mut f, FollowUpCommand::ReopenFollowUp).await.unwrap();
    assert_eq!(f.state().unwrap().status(now), FollowUpStatus::InvitationPending);
}

fn convocable(starts: Duration, status: RdvStatus) -> TrackedParticipation {
    TrackedParticipation {
        convocable: true,
        ..participation(Duration::zero(), starts, status)
    }
}

#[test]
fn case_15_convocation_notices() {
    let now = at(Duration::zero());
    let created = convocable(days(2), RdvStatus::Unknown);
    assert_eq!(notice_for(None, &created, now), Some(NoticeEvent::ParticipationCreated));
    let revoked = TrackedParticipation {
        status: RdvStatus::Revoked,
        ..created.clone()
    };
    assert_eq!(
        notice_for(Some(&created), &revoked, now),
        Some(NoticeEvent::ParticipationCancelled)
    );
    assert_eq!(notice_for(Some(&revoked), &revoked, now), None, "already revoked");
    let excused = TrackedParticipation {
        status: RdvStatus::Excused,
        ..created.clone()
    };
    assert_eq!(notice_for(Some(&created), &excused, now), None);
    assert_eq!(
        notice_for(None, &convocable(-days(1), RdvStatus::Unknown), now),
        None,
        "past"
    );
    let not_convocable = TrackedParticipation {
        convocable: false,
        ..created.clone()
    };
    assert_eq!(notice_for(None, &not_convocable, now), None);
    let moved = TrackedParticipation {
        starts_at: at(days(3)),
        ..created.clone()
    };
    assert_eq!(
        notice_for(Some(&created), &moved, now),
        Some(NoticeEvent::ParticipationUpdated)
    );
    assert_eq!(
        notice_for(Some(&revoked), &created, now),
        Some(NoticeEvent::ParticipationCreated),
        "back from cancelled"
    );
}

#[test]
fn case_15_duplicate_notices_are_skipped_and_updates_capped_at_two_an_hour() {
    let now = at(Duration::zero());
    let rdv_id = RdvId::new();
    let mut s = state();
    let notice = |event, minutes_ago| SentNotice {
        rdv_id,
        event,
        format: InvitationFormat::Sms,
        at: now - Duration::minutes(minutes_ago),
    };
    assert!(s.may_notify(rdv_id, NoticeEvent::ParticipationCreated, InvitationFormat::Sms, now));
    s.notices.push(notice(NoticeEvent::ParticipationCreated, 5));
    assert!(!s.may_notify(rdv_id, NoticeEvent::ParticipationCreated, InvitationFormat::Sms, now));
    assert!(s.may_notify(rdv_id, NoticeEvent::ParticipationCreated, InvitationFormat::Email, now));
    s.notices.push(notice(NoticeEvent::ParticipationUpdated, 30));
    assert!(s.may_notify(rdv_id, NoticeEvent::ParticipationUpdated, InvitationFormat::Sms, now));
    s.notices.push(notice(NoticeEvent::ParticipationUpdated, 10));
    assert!(!s.may_notify(rdv_id, NoticeEvent::ParticipationUpdated, InvitationFormat::Sms, now));
    assert!(s.may_notify(
        rdv_id,
        NoticeEvent::ParticipationUpdated,
        InvitationFormat::Sms,
        now + Duration::minutes(31)
    ));
}

#[tokio::test]
async fn rdvs_with_referents_need_a_referent_and_a_follow_up_motif() {
    let usager = UsagerId::new();
    let command = |referent_motif_exists| FollowUpCommand::InviteUsager {
        usager_id: usager,
        category: "rsa_orientation".into(),
        invitations: vec![new_invitation(InvitationFormat::Sms, days(10))],
        facts: InvitationFacts {
            with_referents: true,
            referent_motif_exists,
            ..facts()
        },
    };
    let mut f = FollowUp::default();
    let err = run(&mut f, command(true)).await.unwrap_err();
    assert_eq!(err.errors[0].field, "referents", "no referent yet");
    let mut with_referent = FollowUp(Some(FollowUpState {
        referents: [crate::ids::AgentId::new()].into(),
        ..state()
    }));
    let err = run(&mut with_referent, command(false)).await.unwrap_err();
    assert_eq!(err.errors[0].field, "referents", "no follow-up motif");
    assert!(run(&mut with_referent, command(true)).await.is_ok());
}
