//! Delivery of what the store's outbox holds to the outside world.
//!
//! For now: e-mails (agent invitations), written as `.eml` files in embedded
//! mode or sent by SMTP. Signed webhooks join here next, on the same pattern:
//! claim due rows, deliver, record the outcome, retry with backoff.

pub mod mailer;
pub mod outbox;
pub mod sealing;
pub mod signing;
pub mod sms;
pub mod target;

pub use mailer::Mailer;
pub use outbox::OutboxSender;
pub use sms::SmsSender;
