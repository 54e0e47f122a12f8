//! French public holidays for any year, computed rather than listed (RDV
//! Service Public hard-codes metropolitan dates for 2023–2026 only).
//!
//! Every département: 1 January, Easter Monday, 1 May, 8 May, Ascension,
//! Whit Monday, 14 July, 15 August, 1 November, 11 November, 25 December.
//! Alsace-Moselle (57, 67, 68) adds Good Friday and 26 December. The
//! overseas départements add the day of the abolition of slavery:
//! Guadeloupe 27 May, Martinique 22 May, Guyane 10 June, La Réunion
//! 20 December, Mayotte 27 April.

use chrono::{Datelike, Duration, NaiveDate};

/// Easter Sunday of a Gregorian year (the anonymous Gregorian computus).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("the computus gives a real date")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a fixed holiday exists every year")
}

/// The public holidays of a year in a département (`26`, `57`, `974`...), sorted.
pub fn public_holidays(year: i32, departement: &str) -> Vec<NaiveDate> {
    let easter = easter_sunday(year);
    let mut days = vec![
        date(year, 1, 1),
        easter + Duration::days(1),
        date(year, 5, 1),
        date(year, 5, 8),
        easter + Duration::days(39),
        easter + Duration::days(50),
        date(year, 7, 14),
        date(year, 8, 15),
        date(year, 11, 1),
        date(year, 11, 11),
        date(year, 12, 25),
    ];
    match departement {
        "57" | "67" | "68" => days.extend([easter - Duration::days(2), date(year, 12, 26)]),
        "971" => days.push(date(year, 5, 27)),
        "972" => days.push(date(year, 5, 22)),
        "973" => days.push(date(year, 6, 10)),
        "974" => days.push(date(year, 12, 20)),
        "976" => days.push(date(year, 4, 27)),
        _ => {}
    }
    days.sort();
    days.dedup();
    days
}

/// Whether a day is a public holiday in the département.
pub fn is_public_holiday(day: NaiveDate, departement: &str) -> bool {
    public_holidays(day.year(), departement).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_matches_published_dates_2024_to_2030() {
        let published = [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2029, "2029-04-01"),
            (2030, "2030-04-21"),
        ];
        for (year, day) in published {
            assert_eq!(easter_sunday(year), d(day), "{year}");
        }
    }

    #[test]
    fn metropolitan_holidays_2024_to_2030() {
        // Easter Monday, Ascension and Whit Monday as published by service-public.fr.
        let movable = [
            (2024, ["2024-04-01", "2024-05-09", "2024-05-20"]),
            (2025, ["2025-04-21", "2025-05-29", "2025-06-09"]),
            (2026, ["2026-04-06", "2026-05-14", "2026-05-25"]),
            (2027, ["2027-03-29", "2027-05-06", "2027-05-17"]),
            (2028, ["2028-04-17", "2028-05-25", "2028-06-05"]),
            (2029, ["2029-04-02", "2029-05-10", "2029-05-21"]),
            (2030, ["2030-04-22", "2030-05-30", "2030-06-10"]),
        ];
        for (year, days) in movable {
            let holidays = public_holidays(year, "26");
            assert_eq!(holidays.len(), 11, "{year}");
            for day in days {
                assert!(holidays.contains(&d(day)), "{day}");
            }
            for (m, day) in [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)] {
                assert!(holidays.contains(&date(year, m, day)));
            }
            assert!(!holidays.contains(&date(year, 12, 26)), "not outside Alsace-Moselle");
        }
    }

    #[test]
    fn alsace_moselle_adds_good_friday_and_saint_stephen() {
        let good_fridays = [
            "2024-03-29",
            "2025-04-18",
            "2026-04-03",
            "2027-03-26",
            "2028-04-14",
            "2029-03-30",
            "2030-04-19",
        ];
        for (year, friday) in (2024..=2030).zip(good_fridays) {
            for departement in ["57", "67", "68"] {
                let holidays = public_holidays(year, departement);
                assert_eq!(holidays.len(), 13);
                assert!(holidays.contains(&d(friday)));
                assert!(holidays.contains(&date(year, 12, 26)));
            }
            assert!(!public_holidays(year, "75").contains(&d(friday)));
        }
    }

    #[test]
    fn overseas_departements_add_the_abolition_of_slavery() {
        for (departement, month, day) in [
            ("971", 5, 27),
            ("972", 5, 22),
            ("973", 6, 10),
            ("974", 12, 20),
            ("976", 4, 27),
        ] {
            for year in 2024..=2030 {
                assert!(
                    is_public_holiday(date(year, month, day), departement),
                    "{departement} {year}"
                );
            }
        }
        assert!(!is_public_holiday(d("2026-05-27"), "26"), "only in Guadeloupe");
        assert!(!is_public_holiday(d("2026-12-20"), "971"), "only in La Réunion");
        assert!(
            is_public_holiday(d("2024-12-25"), "974"),
            "RDV Service Public case 19: Christmas"
        );
    }
}
