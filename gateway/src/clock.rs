//! The wall clock, for production. Tests and `RDV_NOW` use
//! [`rdv_domain::FixedClock`] instead.

use chrono::{DateTime, Utc};
use rdv_domain::{Clock, FixedClock};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The clock a process runs on: frozen at `RDV_NOW` when set.
pub fn from_config(now: Option<DateTime<Utc>>) -> Arc<dyn Clock> {
    match now {
        Some(instant) => Arc::new(FixedClock::at(instant)),
        None => Arc::new(SystemClock),
    }
}
