//! Authentication: verifying bearer tokens, issuing Lettuce's own session
//! tokens, and hashing passwords. Implementations: local (argon2 + HS256),
//! Supabase, OIDC, static JWKS, in-memory.

use crate::BoxError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::{AccountId, Secret, UserId};

/// Issuer of tokens Lettuce signs itself.
pub const LOCAL_ISSUER: &str = "lettuce";

/// What a verified bearer token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `iss`: [`LOCAL_ISSUER`] for Lettuce's own tokens, else the IdP's issuer.
    pub issuer: String,
    /// `sub`: a Lettuce user id for local tokens, the IdP's subject otherwise.
    pub subject: String,
    /// Email claim, when the IdP sends one.
    pub email: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Verifies bearer tokens.
#[async_trait]
pub trait AuthVerifier: Send + Sync + std::fmt::Debug + 'static {
    /// Short provider name (`local`, `oidc`, …).
    fn provider(&self) -> &'static str;

    /// Verifies signature, expiry, issuer and audience. MUST reject expired,
    /// tampered, wrongly signed and `alg: none` tokens with
    /// [`AuthError::InvalidToken`] or [`AuthError::Expired`]; MUST NOT put
    /// the token in the error.
    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError>;
}

/// A session token Lettuce issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The bearer token.
    pub token: Secret,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Issues Lettuce's own session tokens (local auth). Tokens it issues verify
/// with the paired [`AuthVerifier`] and have issuer [`LOCAL_ISSUER`] and
/// subject = user id.
#[async_trait]
pub trait SessionIssuer: Send + Sync + std::fmt::Debug + 'static {
    /// Issues a token for `user` in `account`, valid for `ttl`.
    async fn issue(&self, user: UserId, account: AccountId, ttl: std::time::Duration)
    -> Result<IssuedToken, AuthError>;
}

/// Hashes and checks passwords (argon2id in the local adapter).
#[async_trait]
pub trait PasswordHasher: Send + Sync + std::fmt::Debug + 'static {
    /// A PHC-format hash with a fresh salt.
    async fn hash(&self, password: &Secret) -> Result<String, AuthError>;
    /// Whether `password` matches `phc`. A malformed hash is `Ok(false)`.
    async fn verify(&self, password: &Secret, phc: &str) -> Result<bool, AuthError>;
}

/// Failures of the auth ports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed, wrongly signed, for another audience or issuer.
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// Why (never includes the token).
        reason: String,
    },
    /// The token expired.
    #[error("token expired")]
    Expired,
    /// The provider is not configured correctly.
    #[error("{provider} auth is misconfigured: {reason}")]
    Misconfigured {
        /// Provider name.
        provider: &'static str,
        /// What to fix.
        reason: String,
    },
    /// Anything else (JWKS fetch failed, …).
    #[error("{backend} auth failed: {source}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
        /// Whether retrying may help.
        retryable: bool,
    },
}

impl AuthError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuthError::Backend { retryable: true, .. })
    }
}

/// What a browser sign-in at an external IdP keeps between the redirect to
/// the IdP and the callback (in an `HttpOnly` cookie). `Debug` hides it.
#[derive(Clone)]
pub struct PendingSignIn {
    /// The OAuth `state` the callback must echo.
    pub state: Secret,
    /// The OIDC `nonce` the ID token must carry.
    pub nonce: Secret,
    /// The PKCE code verifier.
    pub pkce_verifier: Secret,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingSignIn(***)")
    }
}

/// The start of a browser sign-in: where to send the browser, and what to
/// keep until the callback.
#[derive(Debug, Clone)]
pub struct SignInStart {
    /// The IdP's authorization URL (authorization code + PKCE, `state`, `nonce`).
    pub url: String,
    /// What the callback needs.
    pub pending: PendingSignIn,
}

/// Browser sign-in at an external OpenID provider (authorization code +
/// PKCE). Implemented by the OIDC adapter.
#[async_trait]
pub trait IdpSignIn: Send + Sync + std::fmt::Debug + 'static {
    /// Starts a sign-in returning to `redirect_uri`.
    async fn begin(&self, redirect_uri: &str) -> Result<SignInStart, AuthError>;

    /// Completes it: exchanges `code` with the kept PKCE verifier, verifies
    /// the ID token (signature, issuer, audience, expiry and `nonce`) and
    /// returns the identity. The caller has already checked `state`.
    async fn complete(
        &self,
        redirect_uri: &str,
        code: &str,
        pending: &PendingSignIn,
    ) -> Result<VerifiedToken, AuthError>;

    /// The IdP's end-session URL returning to `post_logout_redirect`, when
    /// the IdP has one.
    async fn logout_url(&self, post_logout_redirect: &str) -> Option<String>;
}
