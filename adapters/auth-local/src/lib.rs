//! # lettuce-auth-local
//!
//! Local authentication: Lettuce's own session tokens and password hashes.
//! [`LocalAuth`] implements the three auth ports with provider name `local`:
//!
//! * [`SessionIssuer`]: HS256 JWTs signed with `JWT_SIGNING_KEY`, claims
//!   `iss` = [`LOCAL_ISSUER`], `aud` = [`AUDIENCE`], `sub` = user id,
//!   `acct` = account id, `iat`, `exp` and a random `jti`.
//! * [`AuthVerifier`]: the algorithm is pinned to HS256 (`alg: none` and
//!   every other algorithm are refused), `exp` is checked with
//!   [`LEEWAY_SECS`] of clock-skew leeway, `iss` and `aud` must match. An
//!   expired token is [`AuthError::Expired`]; everything else is
//!   [`AuthError::InvalidToken`] with a fixed reason that never quotes the
//!   token.
//! * [`PasswordHasher`]: argon2id with the `argon2` crate's defaults
//!   (m = 19 MiB, t = 2, p = 1), a fresh OS-random salt per hash, computed on
//!   tokio's blocking pool. A malformed PHC string verifies as `Ok(false)`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lettuce_ports::auth::AuthError> {
//! use lettuce_auth_local::LocalAuth;
//! use lettuce_ports::auth::{AuthVerifier, SessionIssuer};
//! use lettuce_ports::domain::{AccountId, Secret, UserId};
//!
//! // In production the key comes from the SecretStore (`JWT_SIGNING_KEY`).
//! let auth = LocalAuth::new(Secret::new("an example key that is at least 32 bytes long"))?;
//! let user = UserId::from_uuid(uuid::Uuid::now_v7());
//! let account = AccountId::from_uuid(uuid::Uuid::now_v7());
//! let issued = auth.issue(user, account, std::time::Duration::from_secs(3600)).await?;
//! let verified = auth.verify(issued.token.expose()).await?;
//! assert_eq!(verified.subject, user.to_string());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lettuce_domain::{AccountId, Secret, UserId};
use lettuce_ports::auth::{
    AuthError, AuthVerifier, IssuedToken, LOCAL_ISSUER, PasswordHasher, SessionIssuer, VerifiedToken,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Provider name used in errors and by [`AuthVerifier::provider`].
pub const PROVIDER: &str = "local";
/// The `aud` claim of local session tokens.
pub const AUDIENCE: &str = "lettuce";
/// Minimum length of the signing key in bytes (256 bits for HS256).
pub const MIN_KEY_BYTES: usize = 32;
/// Clock-skew leeway applied to `exp`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Claims of a local session token, as issued.
#[derive(Debug, Serialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    acct: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// The claims `verify` reads. Optional so that a missing claim is reported
/// by name (jsonwebtoken deserializes before it validates); `iss`, `aud`,
/// `sub` and `exp` are required by the [`Validation`].
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    iss: Option<String>,
    sub: Option<String>,
    acct: Option<String>,
    exp: Option<i64>,
}

/// Local auth: HS256 session tokens and argon2id password hashes.
///
/// `Debug` never shows the signing key.
pub struct LocalAuth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for LocalAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalAuth")
            .field("algorithm", &"HS256")
            .field("issuer", &LOCAL_ISSUER)
            .field("audience", &AUDIENCE)
            .field("signing_key", &"***")
            .finish()
    }
}

impl LocalAuth {
    /// Builds the adapter from `JWT_SIGNING_KEY`. The key must be at least
    /// [`MIN_KEY_BYTES`] bytes long, else [`AuthError::Misconfigured`] says
    /// how to generate one.
    pub fn new(signing_key: Secret) -> Result<Self, AuthError> {
        let key = signing_key.expose().as_bytes();
        if key.len() < MIN_KEY_BYTES {
            return Err(AuthError::Misconfigured {
                provider: PROVIDER,
                reason: format!(
                    "JWT_SIGNING_KEY must be at least {MIN_KEY_BYTES} bytes of random data; \
                     generate one with `openssl rand -base64 48`"
                ),
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
        })
    }
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::InvalidToken { reason: reason.into() }
}

/// Maps a jsonwebtoken error to a fixed, token-free reason. (jsonwebtoken's
/// own messages may quote parts of the payload, so they are not used.)
fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    let reason = match e.kind() {
        ErrorKind::ExpiredSignature => return AuthError::Expired,
        ErrorKind::InvalidSignature => "signature does not match",
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "signing algorithm not accepted (expected HS256)"
        }
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::ImmatureSignature => "token not valid yet",
        ErrorKind::MissingRequiredClaim(claim) => return invalid(format!("missing claim `{claim}`")),
        ErrorKind::InvalidClaimFormat(claim) => return invalid(format!("malformed claim `{claim}`")),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => "malformed token",
        _ => "token rejected",
    };
    invalid(reason)
}

fn backend(msg: impl Into<String>, retryable: bool) -> AuthError {
    AuthError::Backend {
        backend: PROVIDER,
        source: lettuce_ports::box_msg(msg),
        retryable,
    }
}

#[async_trait]
impl AuthVerifier for LocalAuth {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("malformed token"));
        }
        let data = jsonwebtoken::decode::<VerifiedClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| map_jwt_error(&e))?;
        // Defence in depth: the header was already checked against the
        // validation's algorithm list.
        if data.header.alg != Algorithm::HS256 {
            return Err(invalid("signing algorithm not accepted (expected HS256)"));
        }
        let VerifiedClaims { iss, sub, acct, exp } = data.claims;
        let (Some(iss), Some(sub), Some(exp)) = (iss, sub, exp) else {
            return Err(invalid("missing claim `iss`, `sub` or `exp`"));
        };
        if sub.parse::<UserId>().is_err() {
            return Err(invalid("subject is not a user id"));
        }
        match acct.map(|a| a.parse::<AccountId>()) {
            Some(Ok(_)) => {}
            Some(Err(_)) => return Err(invalid("malformed claim `acct`")),
            None => return Err(invalid("missing claim `acct`")),
        }
        let expires_at = DateTime::<Utc>::from_timestamp(exp, 0).ok_or_else(|| invalid("malformed claim `exp`"))?;
        Ok(VerifiedToken {
            issuer: iss,
            subject: sub,
            email: None,
            expires_at: Some(expires_at),
        })
    }
}

#[async_trait]
impl SessionIssuer for LocalAuth {
    async fn issue(&self, user: UserId, account: AccountId, ttl: Duration) -> Result<IssuedToken, AuthError> {
        if ttl.is_zero() {
            return Err(AuthError::Misconfigured {
                provider: PROVIDER,
                reason: "session lifetime must be positive".into(),
            });
        }
        let now = Utc::now().timestamp();
        // Whole seconds, rounded up so a sub-second ttl still yields exp > iat.
        let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0));
        let exp = i64::try_from(secs).ok().and_then(|s| now.checked_add(s));
        let (exp, expires_at) = exp
            .and_then(|exp| DateTime::<Utc>::from_timestamp(exp, 0).map(|at| (exp, at)))
            .ok_or_else(|| AuthError::Misconfigured {
                provider: PROVIDER,
                reason: "session lifetime is out of range".into(),
            })?;
        let claims = Claims {
            iss: LOCAL_ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user.to_string(),
            acct: account.to_string(),
            iat: now,
            exp,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| backend(format!("signing the session token failed: {e}"), false))?;
        Ok(IssuedToken {
            token: Secret::new(token),
            expires_at,
        })
    }
}

#[async_trait]
impl PasswordHasher for LocalAuth {
    async fn hash(&self, password: &Secret) -> Result<String, AuthError> {
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                // password_hash errors never contain the password.
                .map_err(|e| backend(format!("hashing the password failed: {e}"), false))
        })
        .await
        .map_err(|e| backend(format!("password hashing task failed: {e}"), false))?
    }

    async fn verify(&self, password: &Secret, phc: &str) -> Result<bool, AuthError> {
        let password = password.clone();
        let phc = phc.to_owned();
        tokio::task::spawn_blocking(move || {
            let Ok(hash) = PasswordHash::new(&phc) else {
                return false;
            };
            // A mismatch, an unknown algorithm or bad parameters are all "no".
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &hash)
                .is_ok()
        })
        .await
        .map_err(|e| backend(format!("password verification task failed: {e}"), false))
    }
}
