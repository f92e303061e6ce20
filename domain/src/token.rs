//! Bearer-token rules: API-key and invite-code formats, hashing at rest and
//! constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every API key Lettuce mints (`lk_…`), so leaked keys are easy to
/// recognise in secret scanners and so the verifier can route them.
pub const API_KEY_PREFIX: &str = "lk_";
/// Prefix of invite codes (`inv_…`).
pub const INVITE_PREFIX: &str = "inv_";

/// SHA-256 of a high-entropy bearer token, hex encoded. API keys and invite
/// codes are stored only as this hash: they carry ≥ 128 bits of randomness, so
/// a fast hash is sufficient (passwords use argon2 instead).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The first characters of a token, safe to display ("lk_3f9a…").
pub fn display_prefix(token: &str) -> String {
    let cut = token
        .char_indices()
        .nth(API_KEY_PREFIX.len() + 6)
        .map(|(i, _)| i)
        .unwrap_or(token.len());
    format!("{}…", &token[..cut])
}

/// Compares two secrets in constant time (length leaks, content does not).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks the syntax of an email address: one `@`, non-empty local part and a
/// dotted domain, no whitespace, at most 254 characters. Returns it trimmed and
/// lower-cased (Lettuce treats emails case-insensitively).
pub fn normalize_email(raw: &str) -> Result<String, crate::ValidationError> {
    let e = raw.trim().to_ascii_lowercase();
    let bad = || crate::ValidationError::new("email", format!("`{raw}` is not a valid email address"));
    if e.is_empty() || e.len() > 254 || e.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(e)
}

/// Minimum password length for local accounts.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Checks a new password against the local-account policy.
pub fn check_password_policy(password: &str) -> Result<(), crate::ValidationError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(crate::ValidationError::new(
            "password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(crate::ValidationError::new(
            "password",
            "password must be at most 1024 bytes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "a b@x.io",
            "ada@localhost",
            "a@b@c.io",
            "ada@.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn prefix() {
        assert_eq!(display_prefix("lk_0123456789abcdef"), "lk_012345…");
        assert_eq!(display_prefix("lk_01"), "lk_01…");
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("long enough pw").is_ok());
    }
}
