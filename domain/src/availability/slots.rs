//! The slot ("créneau") engine, with RDV Service Public's semantics
//! (`CreneauxSearch::Calculator`):
//! 1. take each opening (a plage occurrence) that has not ended;
//! 2. subtract the agent's busy times (holidays, absences, non-cancelled
//!    RDVs in every organisation); a free interval may touch a busy one;
//! 3. cut each free interval into steps of the motif's duration, from its
//!    start, or, once it has begun, from the next 5-minute step counted from
//!    its start;
//! 4. keep starts within the searched range.
//!
//! Unlike RDV Service Public, results are sorted and have one slot per
//! (start, agent).

use crate::ids::{AgentId, LieuId};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// A half-open span of time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// An agent available in a lieu during an interval (one plage occurrence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub agent: AgentId,
    pub lieu: Option<LieuId>,
    pub interval: Interval,
}

/// A bookable start, with the agent and lieu it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub agent: AgentId,
    pub lieu: Option<LieuId>,
}

/// The step a begun interval's first slot is rounded up to.
const ROUNDING: i64 = 5;

/// What is left of `opening` once `busy` times are taken out.
pub fn subtract(opening: Interval, busy: &[Interval]) -> Vec<Interval> {
    let mut busy: Vec<&Interval> = busy.iter().filter(|b| b.overlaps(&opening)).collect();
    busy.sort();
    let mut free = Vec::new();
    let mut cursor = opening.start;
    for b in busy {
        if b.start > cursor {
            free.push(Interval::new(cursor, b.start.min(opening.end)));
        }
        cursor = cursor.max(b.end);
        if cursor >= opening.end {
            return free;
        }
    }
    if cursor < opening.end {
        free.push(Interval::new(cursor, opening.end));
    }
    free
}

/// Slot starts in a free interval (RDV Service Public's stepping).
pub fn starts_in(free: Interval, duration: Duration, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    if duration <= Duration::zero() {
        return Vec::new();
    }
    let mut start = free.start;
    if start < now {
        let elapsed = (now - start).num_seconds();
        let step = ROUNDING * 60;
        start += Duration::seconds((elapsed + step - 1) / step * step);
    }
    let mut starts = Vec::new();
    while start + duration <= free.end {
        starts.push(start);
        start += duration;
    }
    starts
}

/// Searches the slots of the openings for a motif of `duration`, starting
/// in `[from, to)`, seen at `now`. `busy` holds each agent's busy times.
pub fn search(
    openings: &[Opening],
    busy: &HashMap<AgentId, Vec<Interval>>,
    duration: Duration,
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Slot> {
    let none = Vec::new();
    let mut slots: Vec<Slot> = openings
        .iter()
        .filter(|o| o.interval.end > now)
        .flat_map(|o| {
            subtract(o.interval, busy.get(&o.agent).unwrap_or(&none))
                .into_iter()
                .flat_map(move |free| starts_in(free, duration, now))
                .filter(|start| *start >= from && *start < to)
                .map(move |starts_at| Slot {
                    starts_at,
                    ends_at: starts_at + duration,
                    agent: o.agent,
                    lieu: o.lieu,
                })
        })
        .collect();
    slots.sort();
    slots.dedup_by(|a, b| a.starts_at == b.starts_at && a.agent == b.agent);
    slots
}

#[cfg(test)]
mod tests;
