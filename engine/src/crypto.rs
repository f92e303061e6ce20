//! Random tokens and sealing of credentials at rest.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

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

/// Encrypts `plaintext` with AES-256-GCM under `key`: `v1.` + base64(nonce ‖ ciphertext).
pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8]) -> Result<String, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "bad data key length".to_owned())?;
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(&Nonce::from(nonce), plaintext)
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(format!("v1.{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Reverses [`seal`]. Fails when the key changed or the data was altered.
pub(crate) fn open(key: &[u8; 32], sealed: &str) -> Result<Vec<u8>, String> {
    let body = sealed.strip_prefix("v1.").ok_or("unknown sealing format")?;
    let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| "sealed value is not base64")?;
    if raw.len() < 12 + 16 {
        return Err("sealed value is too short".into());
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "bad data key length".to_owned())?;
    let nonce: [u8; 12] = raw[..12]
        .try_into()
        .map_err(|_| "sealed value is too short".to_owned())?;
    cipher
        .decrypt(&Nonce::from(nonce), &raw[12..])
        .map_err(|_| "cannot decrypt stored credentials: LETTUCE_DATA_KEY changed or the value was altered".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_and_tamper() {
        let key = [9u8; 32];
        let s = seal(&key, b"user\0token").unwrap();
        assert_eq!(open(&key, &s).unwrap(), b"user\0token");
        assert!(open(&[8u8; 32], &s).is_err());
        let mut t = s.clone();
        t.pop();
        t.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(open(&key, &t).is_err());
        assert_ne!(seal(&key, b"x").unwrap(), seal(&key, b"x").unwrap());
    }

    #[test]
    fn tokens_are_prefixed_and_random() {
        let a = random_token("lk_");
        assert!(a.starts_with("lk_") && a.len() > 40);
        assert_ne!(a, random_token("lk_"));
    }
}
