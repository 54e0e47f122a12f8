//! Side effects the aggregates need, passed in rather than reached for: the
//! clock and the invitation policy. Tests pass a [`FixedClock`].

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, RwLock};

/// The one source of "now" for commands and queries.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that stays where it is set; `RDV_NOW` and tests use it to replay
/// dated scenarios. It can be moved forward to let a deadline pass.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<RwLock<DateTime<Utc>>>);

impl FixedClock {
    pub fn at(instant: DateTime<Utc>) -> Self {
        Self(Arc::new(RwLock::new(instant)))
    }

    pub fn set(&self, instant: DateTime<Utc>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = instant;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.write().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What every aggregate's `handle` receives.
#[derive(Debug, Clone)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    /// How long an agent invitation stays valid (`RDV_INVITATION_TTL`,
    /// default 7 days as devise_invitable's `invite_for = 1.week`).
    pub invitation_ttl: Duration,
}

impl Services {
    pub fn new(clock: Arc<dyn Clock>, invitation_ttl: Duration) -> Self {
        Self { clock, invitation_ttl }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Services frozen at an RFC 3339 instant, with the default invitation
    /// window: what the aggregates' tests run on.
    #[cfg(test)]
    pub(crate) fn at(instant: &str) -> Self {
        Self::new(
            Arc::new(FixedClock::at(instant.parse().expect("an RFC 3339 instant"))),
            Duration::days(7),
        )
    }
}
