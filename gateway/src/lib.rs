//! The HTTP gateway of rdv-events and the pieces of the `rdv` binary. The
//! use cases it serves live in [`rdv_app`].
//!
//! Requests are authenticated ([`auth`]), parsed into domain commands
//! ([`extract`]), run by the command service and answered with
//! `{id, version, events}` ([`reply`]); queries read projections, waiting for
//! `min_position` when asked. Errors are problem+json ([`error`]).

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod extract;
pub mod hardening;
pub mod header_deadline;
pub mod observability;
pub mod reply;
pub mod routes;
pub mod schemas;
pub mod server;
pub mod state;

pub use app::App;
pub use config::Config;
