//! HTTP tests: the real app on port 0, one store per test.

mod helpers;
mod hostile_strings;

mod audit;
mod auth;
mod booking;
mod configuration;
mod contract;
mod errors;
mod flow;
mod hardening;
mod idempotency;
mod insertion;
mod observability;
mod participants;
mod prescripteurs;
mod rdv_edits;
mod relay_faults;
mod reminders;
mod rgpd;
mod rights_matrix;
mod slots;
mod trust;
mod usagers;
mod webhook_delivery;
mod webhooks;
