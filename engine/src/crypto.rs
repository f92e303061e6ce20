//! Random tokens and sealing of credentials at rest.
//!
//! Sealed format: `v2.<key id>.<base64url(nonce ‖ AES-256-GCM ciphertext)>`,
//! where the key id is [`key_id`] of the data key that sealed it, so that a
//! value can be opened by the right key during a rotation
//! (`LETTUCE_DATA_KEY` and `LETTUCE_DATA_KEY_PREVIOUS`) and an unknown key is
//! named instead of producing garbage. Legacy `v1.<…>` values (no key id) are
//! opened by trying the current key, then the previous ones; AES-GCM's tag
//! makes a wrong key fail, never decrypt to garbage.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `prefix` + 32 random bytes, URL-safe base64 (256 bits of entropy).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// 32 random bytes, hex.
pub(crate) fn random_hex32() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The id of a data key: the first 8 bytes of
/// `SHA-256("lettuce data key id" ‖ key)`, hex (16 digits). Identifies a key
/// without revealing anything usable about it.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"lettuce data key id");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

/// The data keys of a process: the current one (seals) and the previous
/// ones (only open), each with its id.
#[derive(Clone)]
pub(crate) struct DataKeys {
    current: ([u8; 32], String),
    previous: Vec<([u8; 32], String)>,
}

impl DataKeys {
    pub fn new(current: [u8; 32], previous: &[[u8; 32]]) -> Self {
        let current_id = key_id(&current);
        Self {
            previous: previous
                .iter()
                .filter(|k| **k != current)
                .map(|k| (*k, key_id(k)))
                .collect(),
            current: (current, current_id),
        }
    }

    /// The id of the current key.
    pub fn current_id(&self) -> &str {
        &self.current.1
    }

    fn previous_ids(&self) -> String {
        if self.previous.is_empty() {
            "not set".into()
        } else {
            self.previous
                .iter()
                .map(|(_, id)| format!("key {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// The key id a sealed value names (`None` for legacy `v1` values).
    pub fn sealed_key_id(sealed: &str) -> Option<&str> {
        sealed.strip_prefix("v2.")?.split_once('.').map(|(id, _)| id)
    }

    /// Seals `plaintext` under the current key.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, String> {
        let body = encrypt(&self.current.0, plaintext)?;
        Ok(format!("v2.{}.{body}", self.current.1))
    }

    /// Opens a sealed value with whichever configured key sealed it.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, String> {
        if let Some(rest) = sealed.strip_prefix("v2.") {
            let (id, body) = rest.split_once('.').ok_or("malformed sealed value (no key id)")?;
            let key = std::iter::once(&self.current)
                .chain(self.previous.iter())
                .find(|(_, kid)| kid == id)
                .map(|(k, _)| k)
                .ok_or_else(|| {
                    format!(
                        "cannot decrypt stored credentials: they were sealed with data key {id}, which is neither LETTUCE_DATA_KEY (key {}) nor LETTUCE_DATA_KEY_PREVIOUS ({}); set LETTUCE_DATA_KEY_PREVIOUS to the key that sealed them (then run `lettuce keys rotate`), or re-enter the credentials",
                        self.current.1,
                        self.previous_ids()
                    )
                })?;
            return decrypt(key, body).map_err(|e| match e {
                DecryptError::Format(m) => m.to_owned(),
                DecryptError::Tag => format!(
                    "cannot decrypt stored credentials sealed with data key {id}: the value was altered or is corrupt"
                ),
            });
        }
        if let Some(body) = sealed.strip_prefix("v1.") {
            for (key, _) in std::iter::once(&self.current).chain(self.previous.iter()) {
                match decrypt(key, body) {
                    Ok(v) => return Ok(v),
                    Err(DecryptError::Format(m)) => return Err(m.to_owned()),
                    Err(DecryptError::Tag) => {}
                }
            }
            return Err(format!(
                "cannot decrypt stored credentials (sealed before key ids were recorded): neither LETTUCE_DATA_KEY (key {}) nor LETTUCE_DATA_KEY_PREVIOUS ({}) opens them; set LETTUCE_DATA_KEY_PREVIOUS to the key they were sealed with, or re-enter the credentials",
                self.current.1,
                self.previous_ids()
            ));
        }
        Err("unknown sealing format".into())
    }
}

enum DecryptError {
    Format(&'static str),
    Tag,
}

fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Result<String, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "bad data key length".to_owned())?;
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(&Nonce::from(nonce), plaintext)
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

fn decrypt(key: &[u8; 32], body: &str) -> Result<Vec<u8>, DecryptError> {
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| DecryptError::Format("sealed value is not base64"))?;
    if raw.len() < 12 + 16 {
        return Err(DecryptError::Format("sealed value is too short"));
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| DecryptError::Format("bad data key length"))?;
    let nonce: [u8; 12] = raw[..12]
        .try_into()
        .map_err(|_| DecryptError::Format("sealed value is too short"))?;
    cipher
        .decrypt(&Nonce::from(nonce), &raw[12..])
        .map_err(|_| DecryptError::Tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `v1.` value as the engine wrote it before key ids.
    fn seal_v1(key: &[u8; 32], plaintext: &[u8]) -> String {
        format!("v1.{}", encrypt(key, plaintext).unwrap())
    }

    #[test]
    fn seal_roundtrip_and_tamper() {
        let keys = DataKeys::new([9u8; 32], &[]);
        let s = keys.seal(b"user\0token").unwrap();
        assert!(s.starts_with(&format!("v2.{}.", key_id(&[9u8; 32]))), "{s}");
        assert_eq!(keys.open(&s).unwrap(), b"user\0token");
        // Change one character well inside the ciphertext (the last one may
        // carry only base64 padding bits, which the decoder refuses with
        // another message): authenticated decryption must notice.
        let mut t = s.clone().into_bytes();
        let i = t.len() - 8;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap();
        let e = keys.open(&t).unwrap_err();
        assert!(e.contains("altered"), "{e}");
        assert_ne!(keys.seal(b"x").unwrap(), keys.seal(b"x").unwrap());
    }

    #[test]
    fn wrong_or_missing_key_names_the_variables_never_garbage() {
        let old = DataKeys::new([1u8; 32], &[]);
        let sealed = old.seal(b"secret-credential").unwrap();
        let new_only = DataKeys::new([2u8; 32], &[]);
        let e = new_only.open(&sealed).unwrap_err();
        assert!(
            e.contains(&key_id(&[1u8; 32])) && e.contains("LETTUCE_DATA_KEY_PREVIOUS"),
            "{e}"
        );
        assert!(e.contains("not set"), "{e}");
        let rotating = DataKeys::new([2u8; 32], &[[1u8; 32]]);
        assert_eq!(rotating.open(&sealed).unwrap(), b"secret-credential");
        assert_eq!(
            DataKeys::sealed_key_id(&rotating.seal(b"x").unwrap()),
            Some(rotating.current_id())
        );
    }

    #[test]
    fn legacy_v1_values_open_with_current_or_previous_key() {
        let v1 = seal_v1(&[1u8; 32], b"legacy");
        assert_eq!(DataKeys::new([1u8; 32], &[]).open(&v1).unwrap(), b"legacy");
        assert_eq!(DataKeys::new([2u8; 32], &[[1u8; 32]]).open(&v1).unwrap(), b"legacy");
        let e = DataKeys::new([2u8; 32], &[]).open(&v1).unwrap_err();
        assert!(
            e.contains("LETTUCE_DATA_KEY") && e.contains("LETTUCE_DATA_KEY_PREVIOUS"),
            "{e}"
        );
        assert_eq!(DataKeys::sealed_key_id(&v1), None);
    }

    #[test]
    fn tokens_are_prefixed_and_random() {
        let a = random_token("lk_");
        assert!(a.starts_with("lk_") && a.len() > 40);
        assert_ne!(a, random_token("lk_"));
    }
}
