//! Any recurrence, first day and range a request can carry: validation
//! answers, and an accepted recurrence enumerates its days, never panics.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use rdv_domain::availability::recurrence::Recurrence;

fuzz_target!(|data: &[u8]| {
    let Ok((recurrence, first_day, to)) = serde_json::from_slice::<(Recurrence, NaiveDate, NaiveDate)>(data) else {
        return;
    };
    if recurrence.validate(first_day).is_ok() {
        let _ = recurrence.days_between(first_day, first_day, to);
    }
});
