//! The pure domain of rdv-events: aggregates, their commands and events, and
//! the value types that parse input once at the edge.
//!
//! Nothing here performs I/O or reads the clock: time and secrets come in
//! through [`Services`], so every aggregate can be tested as
//! given(events) / when(command) / then(events or error).

pub mod agenda;
pub mod agent;
pub mod agent_day;
pub mod agent_email;
pub mod availability;
pub mod category;
pub mod daily_run;
pub mod error;
pub mod follow_up;
pub mod ids;
pub mod lieu;
pub mod motif;
pub mod motif_key;
pub mod organisation;
pub mod phone;
pub mod platform;
pub mod rdv;
pub mod rights;
pub mod services;
pub mod sms;
pub mod territory;
pub mod usager;
pub mod values;
pub mod webhook_endpoint;

pub use error::{DomainError, ErrorKind, FieldError};

/// Implements cqrs-es's `DomainEvent` for an event enum: the event type is
/// the variant name and each variant carries its own payload version, so an
/// upcaster can target exactly the shape that changed.
#[macro_export]
macro_rules! versioned_events {
    ($enum:ident { $($variant:ident => $version:literal),+ $(,)? }) => {
        impl cqrs_es::DomainEvent for $enum {
            fn event_type(&self) -> String {
                match self {
                    $($enum::$variant { .. } => stringify!($variant).to_string(),)+
                }
            }

            fn event_version(&self) -> String {
                match self {
                    $($enum::$variant { .. } => $version.to_string(),)+
                }
            }
        }
    };
}
pub use services::{Clock, FixedClock, Services};

/// What the event store needs to know about an aggregate beyond cqrs-es:
/// how to read events stored under older versions.
pub trait VersionedAggregate: cqrs_es::Aggregate {
    /// Upcasters turning stored payloads of older event versions into the
    /// current shape. Stored rows are never rewritten.
    fn upcasters() -> Vec<Box<dyn cqrs_es::persist::EventUpcaster>> {
        Vec::new()
    }

    /// Streams that grow for as long as their record lives keep a snapshot
    /// of their state every this many events, so a load reads the snapshot
    /// and the events after it rather than years of history. Snapshots are
    /// not sealed: an aggregate holding usagers' personal data must not
    /// keep them (crypto-shredding could not erase them).
    fn snapshot_every() -> Option<i64> {
        None
    }
}
