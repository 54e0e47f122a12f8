//! Sealing at rest with XChaCha20-Poly1305 (a random 24-byte nonce per
//! seal). The platform's master key seals webhook secrets (stored in events
//! only sealed, opened by the relay when it signs) and wraps the per-usager
//! data keys that seal personal data (see [`crate::personal`]): destroying a
//! data key erases that usager's personal data from every event at once.
//!
//! The master key comes from `RDV_MASTER_KEY` (base64 of 32 bytes), or in
//! embedded mode from `<data-dir>/master.key`, created on first start.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("RDV_MASTER_KEY must be the base64 of 32 bytes")]
    BadKey,
    #[error("could not read or create the master key file: {0}")]
    KeyFile(#[from] std::io::Error),
    #[error("a sealed secret could not be opened (wrong master key or damaged)")]
    Open,
}

/// Nonce and ciphertext of `plain`, in base64; `aad` is bound to it (the
/// record it belongs to) without being stored.
fn seal_with(cipher: &XChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> String {
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .expect("XChaCha20-Poly1305 encrypts any message of this size");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    STANDARD.encode(out)
}

fn open_with(cipher: &XChaCha20Poly1305, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
    if bytes.len() < 24 {
        return Err(SealError::Open);
    }
    let (nonce, msg) = bytes.split_at(24);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
        .map_err(|_| SealError::Open)
}

/// One usager's data key, unwrapped: it lives in memory only, stored
/// wrapped by the master key.
#[derive(Clone)]
pub struct DataKey(XChaCha20Poly1305);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// Seals `plain` for the record `subject` (bound as associated data, so
    /// a sealed part copied into another usager's event does not open).
    pub fn seal(&self, plain: &[u8], subject: &str) -> String {
        seal_with(&self.0, plain, subject.as_bytes())
    }

    pub fn open(&self, sealed: &str, subject: &str) -> Result<Vec<u8>, SealError> {
        open_with(&self.0, sealed, subject.as_bytes())
    }
}

/// The key that seals secrets at rest.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses `RDV_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(XChaCha20Poly1305::new(&key.into())))
    }

    /// The key in `path`, created (owner-only) when absent.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::from_base64(&text);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, STANDARD.encode(key))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self(XChaCha20Poly1305::new(&key.into())))
    }

    /// Nonce and ciphertext, in base64.
    pub fn seal(&self, plain: &str) -> String {
        seal_with(&self.0, plain.as_bytes(), b"")
    }

    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        String::from_utf8(open_with(&self.0, sealed, b"")?).map_err(|_| SealError::Open)
    }

    /// A fresh data key for `subject` and its wrapped form (what is stored).
    pub fn new_data_key(&self, subject: &str) -> (DataKey, String) {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let wrapped = seal_with(&self.0, &key, subject.as_bytes());
        (DataKey(XChaCha20Poly1305::new(&key.into())), wrapped)
    }

    /// Unwraps a stored data key of `subject`.
    pub fn unwrap_data_key(&self, wrapped: &str, subject: &str) -> Result<DataKey, SealError> {
        let bytes = open_with(&self.0, wrapped, subject.as_bytes())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::Open)?;
        Ok(DataKey(XChaCha20Poly1305::new(&key.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let dir = tempfile::TempDir::new().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let sealed = key.seal("whsec_secret");
        assert!(!sealed.contains("whsec_secret"));
        assert_ne!(sealed, key.seal("whsec_secret"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed).unwrap(), "whsec_secret");
        let again = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "whsec_secret", "the key file is reused");
        let other = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(matches!(other.open(&sealed), Err(SealError::Open)));
        assert!(matches!(MasterKey::from_base64("c2hvcnQ="), Err(SealError::BadKey)));
    }

    #[test]
    fn a_data_key_opens_what_it_sealed_for_its_subject_only() {
        let master = MasterKey::from_base64(&STANDARD.encode([3u8; 32])).unwrap();
        let (key, wrapped) = master.new_data_key("usager-1");
        let sealed = key.seal(b"Ada Lovelace", "usager-1");
        let unwrapped = master.unwrap_data_key(&wrapped, "usager-1").unwrap();
        assert_eq!(unwrapped.open(&sealed, "usager-1").unwrap(), b"Ada Lovelace");
        assert!(unwrapped.open(&sealed, "usager-2").is_err(), "bound to its subject");
        assert!(master.unwrap_data_key(&wrapped, "usager-2").is_err(), "the wrap too");
        let other = MasterKey::from_base64(&STANDARD.encode([4u8; 32])).unwrap();
        assert!(other.unwrap_data_key(&wrapped, "usager-1").is_err());
    }
}
