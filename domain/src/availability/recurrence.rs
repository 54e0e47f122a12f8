//! Recurring plages and absences: which days they fall on, and the local
//! wall-clock times turned into instants in the organisation's time zone.
//!
//! A recurring plage keeps its local time across DST changes (09:00 stays
//! 09:00 in winter and in summer). Two local times need a rule:
//! - a time that does not exist (02:30 on the spring-forward day in Paris) is
//!   read with the offset in force just before the jump, which lands as far
//!   after the jump as it was after its start: 02:30 becomes 03:30 CEST;
//! - a time that exists twice (02:30 on the autumn day) is the first of the
//!   two (still summer time, 02:30 CEST).

use crate::{DomainError, values::TimeZone};
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// A day of the week, as recurrences name them (`monday`...).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    fn days_from_monday(self) -> i64 {
        self as i64
    }
}

/// When a recurrence stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecurrenceEnd {
    Never,
    /// Last day on which an occurrence may fall (inclusive).
    Until {
        date: NaiveDate,
    },
    /// Number of occurrences, the first day included.
    Count {
        occurrences: u32,
    },
}

/// How a plage or an absence repeats from its first day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum Recurrence {
    /// The first day only.
    Once,
    /// On the chosen weekdays, every `interval` weeks (weeks start on Monday,
    /// counted from the first day's week).
    Week {
        interval: u32,
        days: BTreeSet<Day>,
        end: RecurrenceEnd,
    },
    /// On the first day's day of the month, every `interval` months; months
    /// without that day (a 31st) are skipped.
    MonthDay { interval: u32, end: RecurrenceEnd },
    /// On the first day's weekday and rank in the month (the 2nd Tuesday),
    /// every `interval` months; months without a 5th such day are skipped.
    MonthWeekday { interval: u32, end: RecurrenceEnd },
}

/// Search no further than this many occurrences, whatever the recurrence.
const MAX_OCCURRENCES: usize = 5_000;
/// Nor further than this many weeks or months from the first day (a
/// century), so no recurrence, even an invalid one, runs away.
const MAX_PERIODS: u32 = 1_300;

impl Recurrence {
    /// The date an `until` end names, if it has one.
    pub fn until(&self) -> Option<NaiveDate> {
        match self {
            Recurrence::Once => None,
            Recurrence::Week { end, .. } | Recurrence::MonthDay { end, .. } | Recurrence::MonthWeekday { end, .. } => {
                match end {
                    RecurrenceEnd::Until { date } => Some(*date),
                    _ => None,
                }
            }
        }
    }

    /// Checks the recurrence against its first day; names the bad field.
    pub fn validate(&self, first_day: NaiveDate) -> Result<(), DomainError> {
        let (interval, end) = match self {
            Recurrence::Once => return Ok(()),
            Recurrence::Week { interval, days, end } => {
                if days.is_empty() {
                    return Err(DomainError::invalid("recurrence.days", "choose at least one weekday"));
                }
                (*interval, *end)
            }
            Recurrence::MonthDay { interval, end } | Recurrence::MonthWeekday { interval, end } => (*interval, *end),
        };
        if !(1..=52).contains(&interval) {
            return Err(DomainError::invalid("recurrence.interval", "must be between 1 and 52"));
        }
        match end {
            RecurrenceEnd::Until { date } if date < first_day => Err(DomainError::invalid(
                "recurrence.end.date",
                "must not be before the first day",
            )),
            RecurrenceEnd::Count { occurrences: 0 } => {
                Err(DomainError::invalid("recurrence.end.occurrences", "must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    fn end(&self) -> RecurrenceEnd {
        match self {
            Recurrence::Once => RecurrenceEnd::Count { occurrences: 1 },
            Recurrence::Week { end, .. } | Recurrence::MonthDay { end, .. } | Recurrence::MonthWeekday { end, .. } => {
                *end
            }
        }
    }

    /// Every occurrence day from the first, in order (bounded by the end, or
    /// by a safety cap for endless ones: callers stop at their range).
    fn days_from(&self, first_day: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        let candidates: Box<dyn Iterator<Item = NaiveDate>> = match self {
            Recurrence::Once => Box::new(std::iter::once(first_day)),
            Recurrence::Week { interval, days, .. } => {
                let back = Duration::days(first_day.weekday().num_days_from_monday().into());
                let monday = first_day.checked_sub_signed(back).unwrap_or(first_day);
                let step = i64::from(*interval) * 7;
                // Checked: near the end of the calendar the weeks run out.
                Box::new(
                    (0..i64::from(MAX_PERIODS) * 4)
                        .map_while(move |week: i64| monday.checked_add_signed(Duration::days(week * step)))
                        .flat_map(move |week_start| {
                            days.iter().filter_map(move |d| {
                                week_start.checked_add_signed(Duration::days(d.days_from_monday()))
                            })
                        }),
                )
            }
            Recurrence::MonthDay { interval, .. } => {
                let interval = *interval;
                Box::new((0..MAX_PERIODS).filter_map(move |k: u32| {
                    let (year, month) = add_months(first_day, k * interval);
                    NaiveDate::from_ymd_opt(year, month, first_day.day())
                }))
            }
            Recurrence::MonthWeekday { interval, .. } => {
                let interval = *interval;
                let rank = (first_day.day() - 1) / 7;
                Box::new((0..MAX_PERIODS).filter_map(move |k: u32| {
                    let (year, month) = add_months(first_day, k * interval);
                    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                    let offset =
                        (7 + first_day.weekday().num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
                    let day = first.checked_add_signed(Duration::days(i64::from(offset + rank * 7)))?;
                    (day.month() == month).then_some(day)
                }))
            }
        };
        let end = self.end();
        candidates
            .filter(move |d| *d >= first_day)
            .take_while(move |d| !matches!(end, RecurrenceEnd::Until { date } if *d > date))
            .take(match end {
                RecurrenceEnd::Count { occurrences } => occurrences as usize,
                _ => MAX_OCCURRENCES,
            })
    }

    /// The day of the last occurrence; none for an endless recurrence.
    pub fn last_day(&self, first_day: NaiveDate) -> Option<NaiveDate> {
        match self.end() {
            RecurrenceEnd::Never => None,
            _ => self.days_from(first_day).last(),
        }
    }

    /// Occurrence days within `[from, to]`.
    pub fn days_between(&self, first_day: NaiveDate, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        self.days_from(first_day)
            .skip_while(|d| *d < from)
            .take_while(|d| *d <= to)
            .collect()
    }
}

fn add_months(day: NaiveDate, months: u32) -> (i32, u32) {
    let index = day.year() * 12 + day.month0() as i32 + months as i32;
    (index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// The instant of a local wall-clock time in a zone, by the rules above.
pub fn local_instant(zone: TimeZone, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = NaiveDateTime::new(day, time);
    match zone.0.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
        LocalResult::None => {
            // The offset just before the gap: that of two hours earlier.
            let before = zone.0.from_local_datetime(&(naive - Duration::hours(2))).earliest();
            let offset = before.map_or(0, |t| chrono::Offset::fix(t.offset()).local_minus_utc());
            (naive - Duration::seconds(offset.into())).and_utc()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn t(s: &str) -> NaiveTime {
        s.parse().unwrap()
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::parse(name, "tz").unwrap()
    }

    #[test]
    fn weekly_on_chosen_days_reference_case_7() {
        // RDV Service Public case 7: Mon, Tue, Thu, Fri from Tue 2021-10-26;
        // range 10-25..10-30 gives 10-26, 10-28, 10-29.
        let r = Recurrence::Week {
            interval: 1,
            days: [Day::Monday, Day::Tuesday, Day::Thursday, Day::Friday].into(),
            end: RecurrenceEnd::Never,
        };
        assert_eq!(
            r.days_between(d("2021-10-26"), d("2021-10-25"), d("2021-10-30")),
            [d("2021-10-26"), d("2021-10-28"), d("2021-10-29")]
        );
    }

    #[test]
    fn every_other_week_until_and_count() {
        let r = Recurrence::Week {
            interval: 2,
            days: [Day::Wednesday].into(),
            end: RecurrenceEnd::Until { date: d("2026-02-04") },
        };
        assert_eq!(
            r.days_between(d("2026-01-07"), d("2026-01-01"), d("2026-12-31")),
            [d("2026-01-07"), d("2026-01-21"), d("2026-02-04")]
        );
        let r = Recurrence::Week {
            interval: 1,
            days: [Day::Monday, Day::Friday].into(),
            end: RecurrenceEnd::Count { occurrences: 3 },
        };
        assert_eq!(
            r.days_between(d("2026-01-07"), d("2026-01-01"), d("2026-12-31")),
            [d("2026-01-09"), d("2026-01-12"), d("2026-01-16")]
        );
    }

    #[test]
    fn monthly_by_day_skips_short_months_and_by_weekday_keeps_the_rank() {
        let r = Recurrence::MonthDay {
            interval: 1,
            end: RecurrenceEnd::Count { occurrences: 4 },
        };
        assert_eq!(
            r.days_between(d("2026-01-31"), d("2026-01-01"), d("2026-12-31")),
            [d("2026-01-31"), d("2026-03-31"), d("2026-05-31"), d("2026-07-31")]
        );
        // 2nd Tuesday of the month.
        let r = Recurrence::MonthWeekday {
            interval: 1,
            end: RecurrenceEnd::Never,
        };
        assert_eq!(
            r.days_between(d("2026-01-13"), d("2026-01-01"), d("2026-03-31")),
            [d("2026-01-13"), d("2026-02-10"), d("2026-03-10")]
        );
        // A 5th Thursday exists only in some months.
        let r = Recurrence::MonthWeekday {
            interval: 1,
            end: RecurrenceEnd::Never,
        };
        assert_eq!(
            r.days_between(d("2026-01-29"), d("2026-01-01"), d("2026-06-30")),
            [d("2026-01-29"), d("2026-04-30")]
        );
    }

    #[test]
    fn an_invalid_recurrence_ends_rather_than_runs_away() {
        let none = Recurrence::Week {
            interval: 1,
            days: BTreeSet::new(),
            end: RecurrenceEnd::Never,
        };
        assert!(
            none.days_between(d("2026-01-01"), d("2026-01-01"), d("2026-12-31"))
                .is_empty()
        );
        let huge = Recurrence::MonthDay {
            interval: 52,
            end: RecurrenceEnd::Never,
        };
        assert!(
            huge.days_between(d("2026-01-01"), d("2026-01-01"), d("9999-12-31"))
                .len()
                <= 1_300
        );
    }

    proptest::proptest! {
        /// Whatever a request says (any first day chrono can hold, any
        /// interval, end and range), validation answers, and a recurrence
        /// it accepts enumerates its days without panicking.
        #[test]
        fn any_recurrence_is_refused_or_enumerated(
            // Any day chrono holds, the last centuries more often.
            first in proptest::prop_oneof![0i32..95_700_000, 95_600_000i32..95_700_000],
            span in 0i64..200_000,
            interval in 0u32..100,
            days in proptest::collection::btree_set(0u8..7, 0..3),
            kind in 0u8..4,
            end in 0u8..3,
            count in 0u32..10_000,
        ) {
            let first_day = NaiveDate::from_num_days_from_ce_opt(first).unwrap();
            let end = match end {
                0 => RecurrenceEnd::Never,
                1 => RecurrenceEnd::Count { occurrences: count },
                _ => RecurrenceEnd::Until { date: first_day.checked_add_signed(Duration::days(span)).unwrap_or(first_day) },
            };
            let all = [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday, Day::Saturday, Day::Sunday];
            let days = days.into_iter().map(|d| all[usize::from(d)]).collect();
            let recurrence = match kind {
                0 => Recurrence::Once,
                1 => Recurrence::Week { interval, days, end },
                2 => Recurrence::MonthDay { interval, end },
                _ => Recurrence::MonthWeekday { interval, end },
            };
            if recurrence.validate(first_day).is_ok() {
                let to = match span % 2 {
                    0 => NaiveDate::MAX,
                    _ => first_day.checked_add_signed(Duration::days(span)).unwrap_or(NaiveDate::MAX),
                };
                recurrence.days_between(first_day, first_day, to);
            }
        }
    }

    #[test]
    fn validation_names_fields() {
        let none = Recurrence::Week {
            interval: 1,
            days: BTreeSet::new(),
            end: RecurrenceEnd::Never,
        };
        assert_eq!(
            none.validate(d("2026-01-01")).unwrap_err().errors[0].field,
            "recurrence.days"
        );
        let before = Recurrence::MonthDay {
            interval: 1,
            end: RecurrenceEnd::Until { date: d("2025-12-31") },
        };
        assert_eq!(
            before.validate(d("2026-01-01")).unwrap_err().errors[0].field,
            "recurrence.end.date"
        );
        let zero = Recurrence::MonthDay {
            interval: 0,
            end: RecurrenceEnd::Never,
        };
        assert_eq!(
            zero.validate(d("2026-01-01")).unwrap_err().errors[0].field,
            "recurrence.interval"
        );
    }

    #[test]
    fn local_times_keep_their_wall_clock_across_dst() {
        let paris = tz("Europe/Paris");
        assert_eq!(
            local_instant(paris, d("2026-03-27"), t("09:00")).to_rfc3339(),
            "2026-03-27T08:00:00+00:00"
        );
        assert_eq!(
            local_instant(paris, d("2026-03-30"), t("09:00")).to_rfc3339(),
            "2026-03-30T07:00:00+00:00"
        );
        // Spring forward: 02:30 does not exist and becomes 03:30 CEST.
        assert_eq!(
            local_instant(paris, d("2026-03-29"), t("02:30")).to_rfc3339(),
            "2026-03-29T01:30:00+00:00"
        );
        // Fall back: 02:30 exists twice; the first (CEST) is taken.
        assert_eq!(
            local_instant(paris, d("2026-10-25"), t("02:30")).to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
    }

    #[test]
    fn overseas_zones_have_no_dst() {
        for (zone, offset) in [("America/Cayenne", -3), ("Indian/Reunion", 4), ("Pacific/Noumea", 11)] {
            for day in ["2026-01-15", "2026-07-15"] {
                let instant = local_instant(tz(zone), d(day), t("09:00"));
                assert_eq!(
                    instant,
                    NaiveDateTime::new(d(day), t("09:00")).and_utc() - Duration::hours(offset),
                    "{zone} {day}"
                );
            }
        }
    }
}
