//! The HTTP gateway of rdv-events and the pieces of the `rdv` binary.
//!
//! Requests are authenticated ([`auth`]), parsed into domain commands
//! ([`extract`]), run by the command service and answered with
//! `{id, version, events}` ([`reply`]); queries read projections, waiting for
//! `min_position` when asked. Errors are problem+json ([`error`]).

pub mod app;
pub mod audit;
pub mod auth;
pub mod availability;
pub mod clock;
pub mod config;
pub mod error;
pub mod extract;
pub mod follow_ups;
pub mod hardening;
pub mod history;
pub mod insertion_jobs;
pub mod insertion_messages;
pub mod letters;
pub mod notifications;
pub mod observability;
pub mod publisher;
pub mod rdv_notices;
pub mod reminders;
pub mod reply;
pub mod retention;
pub mod routes;
pub mod schemas;
pub mod state;
pub mod tokens;

pub use app::App;
pub use config::Config;
