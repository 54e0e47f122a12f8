//! The slot engine alone (no HTTP, no index): one week of a territory of
//! 300 agents with 5 weekly plages each, their RDVs and absences, cut into
//! 30-minute slots. `cargo bench -p rdv-domain --bench slot_engine`; the
//! HTTP figures come from `tests/src/bin/rdv-availability.rs`.

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use rdv_domain::{
    availability::slots::{Interval, Opening, search},
    ids::{AgentId, LieuId},
};
use std::{collections::HashMap, hint::black_box};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Openings of `agents` agents on the 5 working days of the week of
/// 2026-01-05 (08:00–12:00 and 13:00–17:00 UTC on alternate days), and a
/// third of each day already booked or absent.
fn territory(agents: usize) -> (Vec<Opening>, HashMap<AgentId, Vec<Interval>>) {
    let monday = at("2026-01-05T00:00:00Z");
    let lieu = Some(LieuId::new());
    let mut openings = Vec::new();
    let mut busy = HashMap::new();
    for a in 0..agents {
        let agent = AgentId::new();
        let mut taken = Vec::new();
        for day in 0..5 {
            let start = monday
                + Duration::days(day)
                + Duration::hours(if (a + day as usize).is_multiple_of(2) { 8 } else { 13 });
            openings.push(Opening {
                agent,
                lieu,
                interval: Interval::new(start, start + Duration::hours(4)),
            });
            for slot in (0..8).filter(|s| (s + a) % 3 == 0) {
                let booked = start + Duration::minutes(30 * slot as i64);
                taken.push(Interval::new(booked, booked + Duration::minutes(30)));
            }
        }
        busy.insert(agent, taken);
    }
    (openings, busy)
}

fn week_search(c: &mut Criterion) {
    let (openings, busy) = territory(300);
    let (now, from, to) = (
        at("2026-01-05T07:00:00Z"),
        at("2026-01-05T00:00:00Z"),
        at("2026-01-12T00:00:00Z"),
    );
    c.bench_function("7-day search, 300 agents, 1,500 openings", |b| {
        b.iter(|| {
            search(
                black_box(&openings),
                black_box(&busy),
                Duration::minutes(30),
                now,
                from,
                to,
            )
        })
    });
}

criterion_group!(benches, week_search);
criterion_main!(benches);
