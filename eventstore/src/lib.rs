//! Persistence and feed for rdv-events.
//!
//! - [`EventStore`]: events on SQLite (embedded) or PostgreSQL, each with a
//!   global position; a feed readers can tail without ever skipping an event
//!   that commits late; idempotency records and an outbox written in the
//!   same transaction as the events.
//! - [`CommandService`]: cqrs-es aggregates handled in units of work that
//!   may span several streams, retried on conflict.
//! - [`ProjectionTx`]: read-model documents and a projector's checkpoint
//!   written together.

mod backend;
pub mod codec;
pub mod command;
pub mod deliveries;
mod delivery_queue;
pub mod error;
mod group_commit;
pub mod metrics;
pub mod model;
mod personal;
pub mod postgres;
mod postgres_append;
pub mod readmodel;
mod rows;
pub mod sealing;
pub mod snapshots;
pub mod sqlite;
pub mod store;
mod stream_cache;

pub use command::{CommandContext, CommandError, CommandOutcome, CommandService, CommitSummary, UnitOfWork};
pub use error::StoreError;
pub use model::*;
pub use readmodel::ProjectionTx;
pub use store::{EventStore, Responder};
