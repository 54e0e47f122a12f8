use super::*;
use crate::{
    ErrorKind,
    availability::recurrence::{Day, RecurrenceEnd},
};
use cqrs_es::test::TestFramework;

fn services() -> Services {
    Services::at("2026-01-05T09:00:00Z")
}

fn plage(start: &str, end: &str, lieu: Option<LieuId>) -> Plage {
    Plage {
        organisation_id: OrganisationId::default(),
        lieu_id: lieu,
        motif_ids: [MotifId::default()].into(),
        title: None,
        first_day: "2026-01-05".parse().unwrap(),
        start_time: start.parse().unwrap(),
        end_time: end.parse().unwrap(),
        recurrence: Recurrence::Week {
            interval: 1,
            days: [Day::Monday, Day::Thursday].into(),
            end: RecurrenceEnd::Never,
        },
        timezone: TimeZone::PARIS,
    }
}

fn absence(first: &str, last: &str, recurrence: Recurrence) -> Absence {
    Absence {
        organisation_id: None,
        title: "Formation".into(),
        first_day: first.parse().unwrap(),
        start_time: "14:00".parse().unwrap(),
        end_day: last.parse().unwrap(),
        end_time: "12:00".parse().unwrap(),
        recurrence,
        timezone: TimeZone::PARIS,
    }
}

#[tokio::test]
async fn plages_are_created_updated_and_deleted() {
    let id = PlageId::new();
    let created = AgentAgendaEvent::PlageCreated {
        plage_id: id,
        plage: Box::new(plage("09:00", "12:00", None)),
    };
    TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::CreatePlage {
            plage_id: id,
            plage: Box::new(plage("09:00", "12:00", None)),
        })
        .await
        .then_expect_events(vec![created.clone()]);
    TestFramework::<AgentAgenda>::with(services())
        .given(vec![created.clone()])
        .when_async(AgentAgendaCommand::UpdatePlage {
            plage_id: id,
            plage: Box::new(plage("08:00", "12:00", None)),
        })
        .await
        .then_expect_events(vec![AgentAgendaEvent::PlageUpdated {
            plage_id: id,
            plage: Box::new(plage("08:00", "12:00", None)),
        }]);
    TestFramework::<AgentAgenda>::with(services())
        .given(vec![created])
        .when_async(AgentAgendaCommand::DeletePlage { plage_id: id })
        .await
        .then_expect_events(vec![AgentAgendaEvent::PlageDeleted { plage_id: id }]);
    TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::DeletePlage { plage_id: id })
        .await
        .then_expect_error(DomainError::not_found("plage"));
}

#[tokio::test]
async fn bad_plages_name_their_fields() {
    let mut bad = plage("12:00", "09:00", None);
    bad.recurrence = Recurrence::Week {
        interval: 1,
        days: BTreeSet::new(),
        end: RecurrenceEnd::Never,
    };
    bad.first_day = "2017-06-01".parse().unwrap();
    let err = TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::CreatePlage {
            plage_id: PlageId::new(),
            plage: Box::new(bad),
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["end_time", "first_day", "recurrence.days"]);
}

#[tokio::test]
async fn absences_are_checked_and_recorded() {
    let id = AbsenceId::new();
    let week = absence("2026-02-02", "2026-02-06", Recurrence::Once);
    TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::CreateAbsence {
            absence_id: id,
            absence: week.clone(),
        })
        .await
        .then_expect_events(vec![AgentAgendaEvent::AbsenceCreated {
            absence_id: id,
            absence: week,
        }]);
    let recurring = absence(
        "2026-02-02",
        "2026-02-03",
        Recurrence::MonthDay {
            interval: 1,
            end: RecurrenceEnd::Never,
        },
    );
    let err = TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::CreateAbsence {
            absence_id: id,
            absence: recurring,
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.errors[0].field, "recurrence");
    let backwards = absence("2026-02-02", "2026-02-01", Recurrence::Once);
    let err = TestFramework::<AgentAgenda>::with(services())
        .given_no_previous_events()
        .when_async(AgentAgendaCommand::CreateAbsence {
            absence_id: id,
            absence: backwards,
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.errors[0].field, "end_day");
}

#[test]
fn overlapping_plages_in_two_lieux_are_found() {
    let today: NaiveDate = "2026-01-05".parse().unwrap();
    let mut agenda = AgentAgenda::default();
    let morning = PlageId::new();
    agenda
        .plages
        .insert(morning, plage("09:00", "12:00", Some(LieuId::new())));
    assert_eq!(
        agenda.overlapping_plages(PlageId::new(), &plage("11:00", "13:00", Some(LieuId::new())), today),
        [morning]
    );
    assert!(
        agenda
            .overlapping_plages(PlageId::new(), &plage("12:00", "13:00", Some(LieuId::new())), today)
            .is_empty()
    );
    assert!(
        agenda
            .overlapping_plages(morning, &plage("09:00", "12:00", None), today)
            .is_empty(),
        "not with itself"
    );
}

#[test]
fn a_multi_day_absence_is_one_interval() {
    let a = absence("2026-02-02", "2026-02-06", Recurrence::Once);
    let occurrences = a.occurrences("2026-02-04".parse().unwrap(), "2026-02-04".parse().unwrap());
    assert_eq!(occurrences.len(), 1, "found from a day in its middle");
    assert_eq!(occurrences[0].start.to_rfc3339(), "2026-02-02T13:00:00+00:00");
    assert_eq!(occurrences[0].end.to_rfc3339(), "2026-02-06T11:00:00+00:00");
}

#[test]
fn last_days_follow_the_recurrence_end() {
    let weekly = |end| Recurrence::Week {
        interval: 1,
        days: [Day::Monday, Day::Thursday].into(),
        end,
    };
    let counted = absence(
        "2026-01-05",
        "2026-01-05",
        weekly(RecurrenceEnd::Count { occurrences: 3 }),
    );
    assert_eq!(counted.last_day(), Some("2026-01-12".parse().unwrap()));
    let until = weekly(RecurrenceEnd::Until {
        date: "2026-03-01".parse().unwrap(),
    });
    assert_eq!(
        until.last_day("2026-01-05".parse().unwrap()),
        Some("2026-02-26".parse().unwrap())
    );
    let week_off = absence("2026-02-02", "2026-02-06", Recurrence::Once);
    assert_eq!(week_off.last_day(), Some("2026-02-06".parse().unwrap()), "its end day");
    assert_eq!(plage("09:00", "12:00", None).last_day(), None, "endless");
}

#[tokio::test]
async fn plages_and_absences_ended_over_a_year_ago_leave_the_state() {
    // Today is 2026-01-05: what ended before 2025-01-05 ages out.
    let (old, recent, new) = (AbsenceId::new(), AbsenceId::new(), AbsenceId::new());
    let endless = PlageId::new();
    let history = vec![
        AgentAgendaEvent::AbsenceCreated {
            absence_id: old,
            absence: absence("2024-03-04", "2024-03-05", Recurrence::Once),
        },
        AgentAgendaEvent::AbsenceCreated {
            absence_id: recent,
            absence: absence("2025-06-02", "2025-06-03", Recurrence::Once),
        },
        AgentAgendaEvent::PlageCreated {
            plage_id: endless,
            plage: Box::new(Plage {
                first_day: "2023-01-02".parse().unwrap(),
                ..plage("09:00", "12:00", None)
            }),
        },
    ];
    let week_off = absence("2026-02-02", "2026-02-06", Recurrence::Once);
    let archived = AgentAgendaEvent::HistoryArchived {
        ended_before: "2025-01-05".parse().unwrap(),
    };
    TestFramework::<AgentAgenda>::with(services())
        .given(history.clone())
        .when_async(AgentAgendaCommand::CreateAbsence {
            absence_id: new,
            absence: week_off.clone(),
        })
        .await
        .then_expect_events(vec![
            AgentAgendaEvent::AbsenceCreated {
                absence_id: new,
                absence: week_off,
            },
            archived.clone(),
        ]);

    let mut agenda = AgentAgenda::default();
    for event in history.iter().cloned().chain([archived.clone()]) {
        agenda.apply(event);
    }
    assert_eq!(agenda.absences.keys().collect::<Vec<_>>(), [&recent]);
    assert!(agenda.plages.contains_key(&endless), "an endless plage stays");
    assert_eq!(agenda.archived_before, Some("2025-01-05".parse().unwrap()));

    // History cannot be edited, and once archived nothing is archived again.
    let given = history.into_iter().chain([archived]).collect::<Vec<_>>();
    TestFramework::<AgentAgenda>::with(services())
        .given(given.clone())
        .when_async(AgentAgendaCommand::DeleteAbsence { absence_id: old })
        .await
        .then_expect_error(DomainError::not_found("absence"));
    TestFramework::<AgentAgenda>::with(services())
        .given(given)
        .when_async(AgentAgendaCommand::DeleteAbsence { absence_id: recent })
        .await
        .then_expect_events(vec![AgentAgendaEvent::AbsenceDeleted { absence_id: recent }]);
}
