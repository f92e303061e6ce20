//! Keyed tokens for browser sessions: CSRF tokens bound to a session (or to
//! a pre-session nonce), and short-lived operator sessions minted from the
//! admin token so a browser never has to keep the admin token itself.
//!
//! Both are HMAC-SHA256 under keys derived from `LETTUCE_DATA_KEY`
//! (`EngineSettings::data_key`): nothing is stored, every process of an
//! install computes the same values, and a new data key invalidates them.
//! Operator sessions are additionally bound to the admin token, so rotating
//! `CODEWAZE_ADMIN_TOKEN` signs every operator out.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettuce_domain::Secret;
use lettuce_domain::token::constant_time_eq;
use lettuce_ports::auth::IssuedToken;
use sha2::{Digest, Sha256};

/// Prefix of operator (admin-token) session tokens.
pub const ADMIN_SESSION_PREFIX: &str = "las_";

/// Longest life of an operator session (shorter than user sessions: it
/// stands for the admin token).
pub const ADMIN_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl Engine {
    /// A key for `purpose`, derived from the data key.
    fn derived_key(&self, purpose: &str) -> [u8; 32] {
        mac(
            &self.inner.settings.data_key,
            &[b"lettuce/derived-key/v1", purpose.as_bytes()],
        )
    }

    /// The CSRF token of a browser session: HMAC-SHA256 of `binding` (the
    /// session token, or a pre-session nonce for sign-in forms) under a key
    /// derived from the data key, URL-safe base64 without padding.
    pub fn csrf_token(&self, binding: &Secret) -> String {
        let key = self.derived_key("csrf");
        URL_SAFE_NO_PAD.encode(mac(&key, &[binding.expose().as_bytes()]))
    }

    /// Whether `presented` is the CSRF token of `binding` (constant time).
    pub fn check_csrf(&self, binding: &Secret, presented: &str) -> bool {
        !presented.is_empty() && constant_time_eq(&self.csrf_token(binding), presented.trim())
    }

    fn admin_session_mac(&self, exp: i64) -> String {
        let key = self.derived_key("admin-session");
        let admin = Sha256::digest(self.inner.settings.admin_token.expose().as_bytes());
        URL_SAFE_NO_PAD.encode(mac(&key, &[&admin[..], exp.to_string().as_bytes()]))
    }

    /// Mints an operator session token for a caller holding the admin token:
    /// `las_<expiry>_<mac>`, valid for the shorter of the session lifetime
    /// and [`ADMIN_SESSION_TTL`]. [`Engine::authenticate`] turns it into
    /// [`Caller::Admin`] like the admin token itself.
    pub fn admin_session(&self, caller: &Caller) -> Result<IssuedToken, EngineError> {
        caller.admin()?;
        let ttl = self.inner.settings.session_ttl.min(ADMIN_SESSION_TTL);
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
        let expires_at = self.inner.clock.now() + ttl;
        let exp = expires_at.timestamp();
        Ok(IssuedToken {
            token: Secret::new(format!("{ADMIN_SESSION_PREFIX}{exp}_{}", self.admin_session_mac(exp))),
            expires_at: DateTime::<Utc>::from_timestamp(exp, 0).unwrap_or(expires_at),
        })
    }

    /// Verifies an operator session token (see [`Engine::admin_session`]).
    pub(crate) fn verify_admin_session(&self, token: &str) -> Result<Caller, EngineError> {
        let invalid =
            || EngineError::Unauthenticated("invalid operator session; sign in with the admin token again".into());
        let rest = token.strip_prefix(ADMIN_SESSION_PREFIX).ok_or_else(invalid)?;
        let (exp, presented) = rest.split_once('_').ok_or_else(invalid)?;
        let exp: i64 = exp.parse().map_err(|_| invalid())?;
        if !constant_time_eq(&self.admin_session_mac(exp), presented) {
            return Err(invalid());
        }
        if self.inner.clock.now().timestamp() >= exp {
            return Err(EngineError::Unauthenticated(
                "the operator session expired; sign in with the admin token again".into(),
            ));
        }
        Ok(Caller::Admin)
    }
}
