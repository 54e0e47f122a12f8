//! Webhook signatures, the two ways the organisations' systems check them:
//! - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   "{webhook-id}.{webhook-timestamp}.{body}">`, the key being the bytes of
//!   the `whsec_` secret; during a secret rotation the header lists one
//!   signature per valid secret, separated by spaces;
//! - RDV Service Public: `X-Lapin-Signature: <hex HMAC-SHA256 of the body>`,
//!   keyed with the secret as the consumer stores it (the `whsec_…` text).

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How far a verifier accepts a timestamp from its clock (the reference
/// Standard Webhooks library's ±5 minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

/// An endpoint's signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_ and holds 24 to 64 base64 bytes")]
    Malformed,
}

impl WebhookSecret {
    /// A fresh secret: `whsec_` and 32 random bytes in base64.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            text: format!("whsec_{}", STANDARD.encode(&key)),
            key,
        }
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix("whsec_").ok_or(SecretError::Malformed)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Malformed)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Malformed);
        }
        Ok(Self {
            text: text.to_string(),
            key,
        })
    }

    /// The secret as shown once to the endpoint's owner.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn mac(key: &[u8]) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
    }

    /// One Standard Webhooks signature: `v1,` and the base64 HMAC.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Self::mac(&self.key);
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// RDV Service Public's `X-Lapin-Signature`.
    pub fn lapin_signature(&self, body: &[u8]) -> String {
        let mut mac = Self::mac(self.text.as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The `webhook-signature` header: one signature per valid secret (the new
/// one first during a rotation).
pub fn signature_header(secrets: &[WebhookSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the timestamp is too far from now")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// What a consumer does: accept when any listed `v1` signature matches, in
/// constant time, and the timestamp is within [`TOLERANCE_SECONDS`] of now.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(VerifyError::Stale);
    }
    let mut mac = WebhookSecret::mac(&secret.key);
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let matches = header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .any(|given| mac.clone().verify_slice(&given).is_ok());
    if matches { Ok(()) } else { Err(VerifyError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks test vectors (hook0's and the reference Rust
    /// library's), as listed in the team's anchors.
    #[test]
    fn standard_webhooks_test_vectors() {
        let vectors = [
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ];
        for (secret, id, timestamp, body, expected) in vectors {
            let secret = WebhookSecret::parse(secret).unwrap();
            assert_eq!(secret.sign(id, timestamp, body.as_bytes()), expected);
            assert_eq!(
                verify(&secret, id, timestamp, body.as_bytes(), expected, timestamp + 10),
                Ok(())
            );
        }
    }

    #[test]
    fn a_rotation_lists_both_signatures_and_either_secret_verifies() {
        let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            assert_eq!(
                verify(secret, "msg_1", 1_700_000_000, b"{}", &header, 1_700_000_100),
                Ok(())
            );
        }
        let other = WebhookSecret::generate();
        assert_eq!(
            verify(&other, "msg_1", 1_700_000_000, b"{}", &header, 1_700_000_100),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&new, "msg_1", 1_700_000_000, b"{}", &header, 1_700_000_301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&new, "msg_1", 1_700_000_000, b"{ }", &header, 1_700_000_000),
            Err(VerifyError::Mismatch),
            "another body"
        );
    }

    #[test]
    fn secrets_are_whsec_base64_of_24_to_64_bytes() {
        let fresh = WebhookSecret::generate();
        assert!(fresh.as_str().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(fresh.as_str()), Ok(fresh));
        assert_eq!(WebhookSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Malformed));
        assert_eq!(WebhookSecret::parse("secret"), Err(SecretError::Malformed));
        assert_eq!(WebhookSecret::parse("whsec_***"), Err(SecretError::Malformed));
    }

    #[test]
    fn the_lapin_signature_is_the_hex_hmac_of_the_body_keyed_by_the_secret_text() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        // Computed independently: python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b"{}", hashlib.sha256).hexdigest())'
        assert_eq!(
            secret.lapin_signature(b"{}"),
            "6cbbcdf2c8016ca85b50543b19e8e121ef16137967bdfa3ce660972922bafaeb"
        );
    }
}
