//! Delivery to the outside world: the outbox's e-mails and SMS, and signed
//! webhooks (claim due rows, deliver, record the outcome, retry with backoff),
//! with what webhooks need: signatures and the SSRF guard (secrets are
//! opened with [`rdv_eventstore::sealing::MasterKey`]).

pub mod delivery;
pub mod mailer;
pub mod outbox;
pub mod signing;
pub mod sms;
pub mod target;

pub use mailer::Mailer;
pub use outbox::OutboxSender;
pub use sms::SmsSender;
