//! Use cases without HTTP, in the given/when/then style of the aggregate
//! tests: a store, a frozen clock, commands, and the events or the error.

mod booking;
mod convocations;
mod invitations;
mod reminders;
mod world;
