//! Availability: public holidays, recurring plages and absences in local
//! time, and the slot engine.

pub mod holidays;
pub mod recurrence;
pub mod slots;
