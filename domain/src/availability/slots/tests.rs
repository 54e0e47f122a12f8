//! The acceptance cases of RDV Service Public's calculator (reference §10,
//! Paris time), and property tests against a minute-by-minute reference.

use super::*;
use crate::{availability::recurrence::local_instant, values::TimeZone};
use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;

fn at(day: &str, time: &str) -> DateTime<Utc> {
    local_instant(
        TimeZone::PARIS,
        day.parse::<NaiveDate>().unwrap(),
        time.parse::<NaiveTime>().unwrap(),
    )
}

fn agent() -> AgentId {
    AgentId("0190a000-0000-7000-8000-00000000000a".parse().unwrap())
}

fn opening(day: &str, start: &str, end: &str) -> Opening {
    Opening {
        agent: agent(),
        lieu: None,
        interval: Interval::new(at(day, start), at(day, end)),
    }
}

fn busy(list: &[(&str, &str, &str)]) -> HashMap<AgentId, Vec<Interval>> {
    [(
        agent(),
        list.iter().map(|(d, s, e)| Interval::new(at(d, s), at(d, e))).collect(),
    )]
    .into()
}

fn starts(slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|s| {
            s.starts_at
                .with_timezone(&chrono_tz::Europe::Paris)
                .format("%m-%d %H:%M")
                .to_string()
        })
        .collect()
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

#[test]
fn case_1_a_plage_of_2h20_gives_two_hour_slots() {
    let now = at("2021-04-30", "08:00");
    let slots = search(
        &[opening("2021-05-03", "09:00", "11:20")],
        &HashMap::new(),
        minutes(60),
        now,
        at("2021-05-03", "00:00"),
        at("2021-05-09", "00:00"),
    );
    assert_eq!(starts(&slots), ["05-03 09:00", "05-03 10:00"]);
}

#[test]
fn case_2_a_begun_plage_starts_at_the_next_step() {
    let now = at("2021-04-30", "08:00");
    let slots = search(
        &[opening("2021-04-30", "07:00", "11:00")],
        &HashMap::new(),
        minutes(60),
        now,
        now,
        at("2021-05-01", "00:00"),
    );
    assert_eq!(starts(&slots), ["04-30 08:00", "04-30 09:00", "04-30 10:00"]);
    // 08:02 rounds up to 08:05, counted from the plage's start.
    let slots = search(
        &[opening("2021-04-30", "07:00", "11:00")],
        &HashMap::new(),
        minutes(60),
        at("2021-04-30", "08:02"),
        now,
        at("2021-05-01", "00:00"),
    );
    assert_eq!(starts(&slots), ["04-30 08:05", "04-30 09:05"]);
}

#[test]
fn case_4_rdvs_and_absences_both_block() {
    let now = at("2021-04-01", "08:00");
    let day = "2021-04-06";
    let slots = search(
        &[opening(day, "09:00", "11:00")],
        &busy(&[(day, "09:00", "10:00"), (day, "09:15", "09:45")]),
        minutes(60),
        now,
        now,
        at("2021-04-07", "00:00"),
    );
    assert_eq!(starts(&slots), ["04-06 10:00"]);
}

#[test]
fn case_5_and_6_free_intervals_may_touch_busy_ones() {
    let day = "2021-10-27";
    let plage = Interval::new(at(day, "09:00"), at(day, "11:00"));
    let free = subtract(
        plage,
        &busy(&[(day, "08:30", "09:30"), (day, "09:45", "10:45")])[&agent()],
    );
    assert_eq!(
        free,
        [
            Interval::new(at(day, "09:30"), at(day, "09:45")),
            Interval::new(at(day, "10:45"), at(day, "11:00"))
        ]
    );
    let free = subtract(
        plage,
        &busy(&[(day, "08:30", "09:15"), (day, "09:45", "10:30")])[&agent()],
    );
    assert_eq!(
        free,
        [
            Interval::new(at(day, "09:15"), at(day, "09:45")),
            Interval::new(at(day, "10:30"), at(day, "11:00"))
        ]
    );
}

#[test]
fn case_18_duplicate_plages_do_not_duplicate_slots() {
    let now = at("2024-01-01", "08:00");
    let plages = [
        opening("2024-01-02", "09:00", "10:00"),
        opening("2024-01-02", "09:00", "10:00"),
    ];
    let slots = search(
        &plages,
        &HashMap::new(),
        minutes(30),
        now,
        now,
        at("2024-01-03", "00:00"),
    );
    assert_eq!(starts(&slots), ["01-02 09:00", "01-02 09:30"]);
    let slots = search(
        &plages,
        &HashMap::new(),
        minutes(60),
        now,
        now,
        at("2024-01-03", "00:00"),
    );
    assert_eq!(starts(&slots), ["01-02 09:00"]);
}

#[test]
fn ended_plages_and_starts_outside_the_range_are_dropped() {
    let now = at("2024-01-02", "12:00");
    let slots = search(
        &[opening("2024-01-02", "09:00", "11:00")],
        &HashMap::new(),
        minutes(30),
        now,
        at("2024-01-01", "00:00"),
        at("2024-01-03", "00:00"),
    );
    assert!(slots.is_empty());
    let slots = search(
        &[opening("2024-01-03", "09:00", "11:00")],
        &HashMap::new(),
        minutes(30),
        now,
        at("2024-01-03", "10:00"),
        at("2024-01-03", "10:31"),
    );
    assert_eq!(starts(&slots), ["01-03 10:00", "01-03 10:30"]);
}

/// A minute-by-minute reference: mark free minutes, find maximal runs, step.
fn reference(openings: &[Opening], busy: &[Interval], duration: i64, now: i64, from: i64, to: i64) -> Vec<(i64, u8)> {
    let mut out = Vec::new();
    let minute = |t: DateTime<Utc>| t.timestamp() / 60;
    for (index, o) in openings.iter().enumerate() {
        if minute(o.interval.end) <= now {
            continue;
        }
        let (s, e) = (minute(o.interval.start), minute(o.interval.end));
        let free: Vec<bool> = (s..e)
            .map(|m| !busy.iter().any(|b| minute(b.start) <= m && m < minute(b.end)))
            .collect();
        let mut i = 0;
        while i < free.len() {
            if !free[i] {
                i += 1;
                continue;
            }
            let run_start = s + i as i64;
            while i < free.len() && free[i] {
                i += 1;
            }
            let run_end = s + i as i64;
            let mut start = run_start;
            if start < now {
                start += (now - start + 4) / 5 * 5;
            }
            while start + duration <= run_end {
                if start >= from && start < to {
                    out.push((start, openings[index].agent.0.as_bytes()[15]));
                }
                start += duration;
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

prop_compose! {
    fn interval_on_day()(start in 0i64..(24 * 12), length in 1i64..(8 * 12)) -> (i64, i64) {
        (start * 5, (start + length).min(24 * 12) * 5)
    }
}

proptest! {
    #[test]
    fn the_engine_agrees_with_the_reference(
        opening_spans in prop::collection::vec((interval_on_day(), 0u8..2), 1..5),
        busy_spans in prop::collection::vec(interval_on_day(), 0..6),
        duration in prop::sample::select(vec![15i64, 20, 30, 45, 60]),
        now in 0i64..(24 * 60),
        from in 0i64..(12 * 60),
        to in (12 * 60i64)..(24 * 60 + 1),
    ) {
        let base = at("2026-03-10", "00:00");
        let t = |m: i64| base + Duration::minutes(m);
        let agents = [agent(), AgentId("0190a000-0000-7000-8000-00000000000b".parse().unwrap())];
        let openings: Vec<Opening> = opening_spans
            .iter()
            .filter(|((s, e), _)| s < e)
            .map(|((s, e), a)| Opening { agent: agents[*a as usize], lieu: None, interval: Interval::new(t(*s), t(*e)) })
            .collect();
        let busy_list: Vec<Interval> = busy_spans.iter().filter(|(s, e)| s < e).map(|(s, e)| Interval::new(t(*s), t(*e))).collect();
        let busy_map: HashMap<AgentId, Vec<Interval>> = agents.iter().map(|a| (*a, busy_list.clone())).collect();
        let slots = search(&openings, &busy_map, minutes(duration), t(now), t(from), t(to));

        // Sorted, one per (start, agent).
        prop_assert!(slots.windows(2).all(|w| (w[0].starts_at, w[0].agent) < (w[1].starts_at, w[1].agent)));
        for slot in &slots {
            let span = Interval::new(slot.starts_at, slot.ends_at);
            prop_assert!(busy_list.iter().all(|b| !b.overlaps(&span)), "no slot overlaps a busy time");
            prop_assert!(openings.iter().any(|o| o.agent == slot.agent && o.interval.start <= span.start && span.end <= o.interval.end), "inside a plage");
            prop_assert!(slot.starts_at >= t(now));
        }
        let minute = |d: DateTime<Utc>| d.timestamp() / 60;
        let got: Vec<(i64, u8)> = slots.iter().map(|s| (minute(s.starts_at), s.agent.0.as_bytes()[15])).collect();
        let expected = reference(&openings, &busy_list, duration, minute(t(now)), minute(t(from)), minute(t(to)));
        prop_assert_eq!(got, expected);
    }
}
