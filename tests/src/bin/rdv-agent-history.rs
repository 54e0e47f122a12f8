//! Agent history benchmark: how long loading an agent's aggregates takes as
//! their history grows. For each history length (`--years 1,2,5,10`) a new
//! agent gets, written straight to the store, eight RDVs a working day
//! (their `TimeReserved` on the agent's day streams) and, each year, two
//! plages and forty absences on the agent's agenda. Then, with a fresh
//! store handle (no cache), it loads 200 times the streams a booking and an
//! agenda change read: today's `AgentDay` and the `AgentAgenda`. Prints
//! p50/p99 per history length. Loopback only, bounded by its flags.
//!
//! cargo run --release -p rdv-tests --bin rdv-agent-history -- [--years 1,2,5,10] [--postgres URL]

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use rdv_domain::{
    agenda::{Absence, AgentAgenda, AgentAgendaEvent, Plage},
    agent_day::{AgentDay, AgentDayEvent},
    availability::recurrence::{Day, Recurrence, RecurrenceEnd},
    ids::{AbsenceId, AgentId, OrganisationId, PlageId, RdvId},
    values::TimeZone,
};
use rdv_eventstore::{AppendRequest, EventStore, NewEvent, StreamAppend};
use std::time::Instant;
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event<A: cqrs_es::Aggregate>(e: &A::Event) -> NewEvent {
    rdv_tests::encoded::<A>(e, Utc::now())
}

fn stream(aggregate_type: &str, id: String, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        aggregate_type: aggregate_type.into(),
        aggregate_id: id,
        expected_version: 0,
        events,
    }
}

/// The agenda's history: two plages and forty absences a year, with the
/// archives the first command of each year records once plages and
/// absences age out of the state (as `CreatePlage` would).
fn agenda_events(first: NaiveDate, years: i64) -> Vec<NewEvent> {
    let paris = TimeZone(chrono_tz::Europe::Paris);
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let mut events = Vec::new();
    let mut agenda = AgentAgenda::default();
    let record = |e: AgentAgendaEvent, events: &mut Vec<NewEvent>, agenda: &mut AgentAgenda| {
        events.push(event::<AgentAgenda>(&e));
        cqrs_es::Aggregate::apply(agenda, e);
    };
    for year in 0..years {
        let start = first + Duration::days(365 * year);
        if let Some(archive) = agenda.archive_due(start) {
            record(archive, &mut events, &mut agenda);
        }
        for half in 0..2 {
            let plage = Plage {
                organisation_id: OrganisationId(Uuid::now_v7()),
                lieu_id: None,
                motif_ids: [rdv_domain::ids::MotifId(Uuid::now_v7())].into(),
                title: None,
                first_day: start + Duration::days(180 * half),
                start_time: at(9),
                end_time: at(17),
                recurrence: Recurrence::Week {
                    interval: 1,
                    days: [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday].into(),
                    end: RecurrenceEnd::Until {
                        date: start + Duration::days(180 * half + 179),
                    },
                },
                timezone: paris,
            };
            let created = AgentAgendaEvent::PlageCreated {
                plage_id: PlageId(Uuid::now_v7()),
                plage: Box::new(plage),
            };
            record(created, &mut events, &mut agenda);
        }
        for k in 0..40 {
            let day = start + Duration::days(9 * k);
            let created = AgentAgendaEvent::AbsenceCreated {
                absence_id: AbsenceId(Uuid::now_v7()),
                absence: Absence {
                    organisation_id: None,
                    title: "Formation".into(),
                    first_day: day,
                    start_time: at(14),
                    end_day: day,
                    end_time: at(17),
                    recurrence: Recurrence::Once,
                    timezone: paris,
                },
            };
            record(created, &mut events, &mut agenda);
        }
    }
    events
}

/// Writes `years` of history for a new agent; returns its id and today.
async fn write_history(store: &EventStore, years: i64) -> (AgentId, NaiveDate) {
    let agent = AgentId(Uuid::now_v7());
    let today = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let first = today - Duration::days(365 * years);
    let mut days = Vec::new();
    let mut day = first;
    while day <= today {
        if day.weekday().number_from_monday() <= 5 {
            let events = (0..8)
                .map(|k| {
                    let starts_at = Utc.from_utc_datetime(&day.and_hms_opt(8 + k, 0, 0).unwrap());
                    event::<AgentDay>(&AgentDayEvent::TimeReserved {
                        rdv_id: RdvId(Uuid::now_v7()),
                        starts_at,
                        ends_at: starts_at + Duration::minutes(30),
                    })
                })
                .collect();
            days.push(stream("AgentDay", AgentDay::stream_id(agent, day), events));
        }
        day += Duration::days(1);
    }
    for chunk in days.chunks(100) {
        let request = AppendRequest {
            streams: chunk.to_vec(),
            outbox: Vec::new(),
            data_keys: Vec::new(),
        };
        store.append(&request, None).await.expect("append days");
    }
    let request = AppendRequest {
        streams: vec![stream("AgentAgenda", agent.to_string(), agenda_events(first, years))],
        outbox: Vec::new(),
        data_keys: Vec::new(),
    };
    store.append(&request, None).await.expect("append agenda");
    (agent, today)
}

/// p50 and p99 of `runs` loads, in milliseconds.
async fn time<F: std::future::Future<Output = ()>>(runs: usize, mut load: impl FnMut() -> F) -> (f64, f64) {
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        load().await;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    (took[runs / 2], took[runs * 99 / 100])
}

#[tokio::main]
async fn main() {
    let (mut years, mut postgres) = (vec![1, 2, 5, 10], None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--years" => years = value().split(',').map(|y| y.parse().expect("--years 1,10")).collect(),
            "--postgres" => postgres = Some(value()),
            other => panic!("unknown flag {other}; use [--years 1,2,5,10] [--postgres URL]"),
        }
    }
    let dir = tempfile::TempDir::new().expect("temp dir");
    let url = match &postgres {
        Some(base) => {
            let name = rdv_eventstore::postgres::unique_database_name("rdv_agent_history");
            Some(
                rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                    .await
                    .expect("create database"),
            )
        }
        None => None,
    };
    let open = || async {
        match &url {
            Some(url) => EventStore::connect_postgres(url, 4).await.expect("connect"),
            None => EventStore::open_sqlite(dir.path()).await.expect("open"),
        }
    };
    let writer = open().await;
    println!("store={}", writer.kind());
    for years in years {
        let (agent, today) = write_history(&writer, years).await;
        // A fresh handle: nothing cached, every load reads the store.
        let store = open().await;
        let day_id = AgentDay::stream_id(agent, today);
        let (day50, day99) = time(200, || async {
            store.load_aggregate::<AgentDay>(&day_id).await.expect("day");
        })
        .await;
        let agenda_id = agent.to_string();
        let (agenda50, agenda99) = time(200, || async {
            store.load_aggregate::<AgentAgenda>(&agenda_id).await.expect("agenda");
        })
        .await;
        let (read50, _) = time(200, || async {
            store.load_stream("AgentAgenda", &agenda_id).await.expect("stream");
        })
        .await;
        let agenda_events = store
            .load_stream("AgentAgenda", &agenda_id)
            .await
            .expect("stream")
            .len();
        println!(
            "years={years:>2} agent_day(today): p50={day50:.3}ms p99={day99:.3}ms | agent_agenda ({agenda_events} events): \
             p50={agenda50:.3}ms p99={agenda99:.3}ms (reading alone: p50={read50:.3}ms)"
        );
    }
}
