//! Where e-mails go: `.eml` files (embedded mode, demos, tests) or SMTP.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox, SinglePart,
        header::{ContentTransferEncoding, ContentType},
    },
    transport::smtp::authentication::Credentials,
};
use serde::Deserialize;
use std::path::PathBuf;

/// An e-mail as the outbox stores it.
#[derive(Debug, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid e-mail: {0}")]
    Invalid(String),
    #[error("could not write the .eml file: {0}")]
    Io(#[from] std::io::Error),
    #[error("SMTP: {0}")]
    Smtp(String),
}

impl MailError {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        !matches!(self, MailError::Invalid(_))
    }
}

/// 8bit (CRLF lines of at most 998 bytes, RFC 5322) keeps the text and its
/// links readable in `.eml` files; longer lines fall back to lettre's choice.
fn readable_body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.split("\r\n").all(|line| line.len() <= 998) && !crlf.contains('\0') {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(crlf)
    }
}

#[derive(Clone)]
pub enum Mailer {
    /// Each message becomes `<dir>/<message id>.eml`.
    EmlDir(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// SMTP when a URL is given (`smtp://[user:password@]host[:port]`),
    /// `.eml` files otherwise. The connection is plain SMTP: point it at a
    /// local relay (Postfix, a provider's agent) that handles TLS onwards.
    pub fn new(smtp_url: Option<&str>, eml_dir: PathBuf) -> Result<Self, MailError> {
        let Some(raw) = smtp_url else {
            return Ok(Mailer::EmlDir(eml_dir));
        };
        let url = url::Url::parse(raw).map_err(|e| MailError::Smtp(format!("SMTP_URL: {e}")))?;
        if url.scheme() != "smtp" {
            return Err(MailError::Smtp("SMTP_URL must start with smtp://".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| MailError::Smtp("SMTP_URL has no host".into()))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(url.port().unwrap_or(25));
        if !url.username().is_empty() {
            let password = url.password().unwrap_or_default();
            builder = builder.credentials(Credentials::new(url.username().into(), password.into()));
        }
        Ok(Mailer::Smtp(builder.build()))
    }

    pub async fn send(&self, id: &str, from: &str, email: &Email) -> Result<(), MailError> {
        let parse = |raw: &str| raw.parse::<Mailbox>().map_err(|e| MailError::Invalid(e.to_string()));
        let message = Message::builder()
            .from(parse(from)?)
            .to(parse(&email.to)?)
            .subject(email.subject.clone())
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(readable_body(&email.text)),
            )
            .map_err(|e| MailError::Invalid(e.to_string()))?;
        match self {
            Mailer::EmlDir(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{id}.eml"))).await?;
                Ok(())
            }
            Mailer::Smtp(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Smtp(e.to_string())),
        }
    }
}
