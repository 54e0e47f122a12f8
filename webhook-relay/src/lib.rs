//! Delivery to the outside world: the outbox's e-mails and SMS, and signed
//! webhooks (claim due rows, deliver, record the outcome, retry with backoff),
//! with what webhooks need: signatures, sealed secrets, the SSRF guard.

pub mod delivery;
pub mod mailer;
pub mod outbox;
pub mod sealing;
pub mod signing;
pub mod sms;
pub mod target;

pub use mailer::Mailer;
pub use outbox::OutboxSender;
pub use sms::SmsSender;
