//! Sealing secrets with the platform's master key (XChaCha20-Poly1305, a
//! random 24-byte nonce per seal): webhook secrets are stored in events only
//! sealed, and opened by the relay when it signs.
//!
//! The master key comes from `RDV_MASTER_KEY` (base64 of 32 bytes), or in
//! embedded mode from `<data-dir>/master.key`, created on first start.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
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
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("XChaCha20-Poly1305 encrypts any message of this size");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < 24 {
            return Err(SealError::Open);
        }
        let (nonce, cipher) = bytes.split_at(24);
        let plain = self
            .0
            .decrypt(XNonce::from_slice(nonce), cipher)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
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
}
