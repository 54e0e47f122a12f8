//! The use cases of rdv-events, between the store and its edges: what a
//! caller can do, the rules that span several aggregates, and the work that
//! runs in the background (daily insertion jobs, reminders, retention, the
//! publisher), with the words and letters they send. Nothing here knows
//! HTTP: the gateway's routes and pages, a CLI or a test call the same
//! functions.

pub mod agenda;
pub mod agenda_view;
pub mod agents;
pub mod audit;
pub mod audit_queries;
pub mod availability;
pub mod booking;
pub mod caller;
pub mod categories;
pub mod context;
pub mod error;
pub mod follow_up_changes;
pub mod follow_up_lists;
pub mod follow_ups;
pub mod history;
pub mod insertion;
pub mod insertion_jobs;
pub mod insertion_messages;
pub mod invitation_links;
pub mod letters;
pub mod lieux;
pub mod motifs;
pub mod notifications;
pub mod organisations;
pub mod printed_letters;
pub mod publisher;
pub mod rdv_access;
pub mod rdv_changes;
pub mod rdv_lifecycle;
pub mod rdv_notices;
pub mod rdv_participants;
pub mod rdv_views;
pub mod reminders;
pub mod respond;
pub mod retention;
pub mod rgpd;
pub mod slot_views;
pub mod territories;
pub mod tokens;
pub mod usager_views;
pub mod usagers;
pub mod webhooks;

pub use context::Context;
pub use error::Error;
