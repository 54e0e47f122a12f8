//! Where SMS go: text files (embedded mode, demos, tests) or an HTTP SMS
//! gateway that takes `{"to", "text"}` as JSON (plain HTTP to a gateway on
//! the operator's network, which holds the provider's credentials).

use serde::{Deserialize, Serialize};
use std::{path::PathBuf, time::Duration};

/// An SMS as the outbox stores it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sms {
    /// E.164.
    pub to: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("could not write the SMS file: {0}")]
    Io(#[from] std::io::Error),
    #[error("SMS gateway: {0}")]
    Gateway(String),
}

#[derive(Clone)]
pub enum SmsSender {
    /// Each SMS becomes `<dir>/<message id>.sms`.
    Files(PathBuf),
    Http {
        url: String,
        client: reqwest::Client,
    },
}

impl SmsSender {
    /// The HTTP gateway when a URL is given (`SMS_GATEWAY_URL`), files otherwise.
    pub fn new(gateway_url: Option<&str>, dir: PathBuf) -> Self {
        match gateway_url {
            Some(url) => SmsSender::Http {
                url: url.to_string(),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .build()
                    .unwrap_or_default(),
            },
            None => SmsSender::Files(dir),
        }
    }

    pub async fn send(&self, id: &str, sms: &Sms) -> Result<(), SmsError> {
        match self {
            SmsSender::Files(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let tmp = dir.join(format!(".{id}.sms.tmp"));
                tokio::fs::write(&tmp, format!("To: {}\n\n{}\n", sms.to, sms.text)).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{id}.sms"))).await?;
                Ok(())
            }
            SmsSender::Http { url, client } => {
                let response = client
                    .post(url)
                    .json(sms)
                    .send()
                    .await
                    .map_err(|e| SmsError::Gateway(e.without_url().to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(SmsError::Gateway(format!("status {}", response.status())))
                }
            }
        }
    }
}
