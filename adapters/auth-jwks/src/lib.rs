//! # lettuce-auth-jwks
//!
//! Verifies bearer tokens of any issuer that publishes (or hands you) a
//! JSON Web Key Set: `LETTUCE_AUTH_PROVIDER=jwks`.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `LETTUCE_JWKS_URL` | The JWKS URL (exactly one of URL or file) |
//! | `LETTUCE_JWKS_FILE` | A JWKS file, re-read like the URL (replace it to rotate keys) |
//! | `LETTUCE_JWT_ISSUER` | The required `iss` |
//! | `LETTUCE_JWT_AUDIENCE` | Accepted `aud` values, comma-separated |
//! | `LETTUCE_JWT_LEEWAY_SECS` | Clock skew on `exp`/`nbf`/`iat` (default 60, at most 300) |
//! | `LETTUCE_JWKS_REFETCH_SECS` | Least time between refetches for unknown `kid`s (default 60) |
//!
//! Verification is [`lettuce_jwt_verify`]: algorithms come from the keys,
//! `alg: none` and HMAC tokens are refused, the JWKS is cached and refetched
//! on an unknown `kid` at most once per interval, and a JWKS that cannot be
//! fetched fails closed (a retryable [`AuthError::Backend`], HTTP 503).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lettuce_auth_jwks::{JwksAuth, JwksAuthConfig};
//! use lettuce_ports::auth::AuthVerifier;
//! use lettuce_ports::config::Settings;
//! use std::collections::HashMap;
//! let env: HashMap<String, String> = [
//!     ("LETTUCE_JWKS_URL", "https://idp.example.com/jwks.json"),
//!     ("LETTUCE_JWT_ISSUER", "https://idp.example.com/"),
//!     ("LETTUCE_JWT_AUDIENCE", "lettuce"),
//! ].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
//! let mut s = Settings::new(&env);
//! let config = JwksAuthConfig::from_settings(&mut s);
//! let auth = JwksAuth::new(s.finish(config)?)?;
//! let who = auth.verify("eyJ…").await?;
//! # let _ = who; Ok(()) }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_jwt_verify::{FileJwks, JwksSource, JwtVerifier, VerifierConfig, VerifyError};
use lettuce_ports::auth::{AuthError, AuthVerifier, VerifiedToken};
use lettuce_ports::config::Settings;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Provider name.
pub const PROVIDER: &str = "jwks";

/// Where the keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksLocation {
    /// `LETTUCE_JWKS_URL`.
    Url(url::Url),
    /// `LETTUCE_JWKS_FILE`.
    File(PathBuf),
}

/// Typed configuration (see the crate docs for the variables).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksAuthConfig {
    /// Where the keys are.
    pub location: JwksLocation,
    /// Required `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Clock skew.
    pub leeway: Duration,
    /// Least time between unknown-`kid` refetches.
    pub refetch_interval: Duration,
}

/// Reads `LETTUCE_JWT_LEEWAY_SECS` and `LETTUCE_JWKS_REFETCH_SECS` (shared by
/// every IdP adapter).
fn timing(s: &mut Settings<'_>) -> (Duration, Duration) {
    let leeway = s.num("LETTUCE_JWT_LEEWAY_SECS", 60u64, 0, 300);
    let refetch = s.num("LETTUCE_JWKS_REFETCH_SECS", 60u64, 1, 86_400);
    (Duration::from_secs(leeway), Duration::from_secs(refetch))
}

impl JwksAuthConfig {
    /// Reads the variables, recording every problem in `s`.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let url = s.http_url("LETTUCE_JWKS_URL", "https://idp.example.com/.well-known/jwks.json");
        let file = s.get("LETTUCE_JWKS_FILE").map(PathBuf::from);
        let location = match (url, file, s.is_set("LETTUCE_JWKS_URL")) {
            (Some(_), Some(_), _) => {
                s.error(
                    "LETTUCE_JWKS_FILE",
                    "is set together with LETTUCE_JWKS_URL",
                    "set exactly one of LETTUCE_JWKS_URL and LETTUCE_JWKS_FILE",
                );
                None
            }
            (Some(u), None, _) => Some(JwksLocation::Url(u)),
            (None, Some(f), false) => Some(JwksLocation::File(f)),
            (None, _, true) => None, // bad URL, already recorded
            (None, None, false) => {
                s.error(
                    "LETTUCE_JWKS_URL",
                    "is required with LETTUCE_AUTH_PROVIDER=jwks (or LETTUCE_JWKS_FILE)",
                    "set LETTUCE_JWKS_URL to the issuer's JWKS URL, or LETTUCE_JWKS_FILE to a JWKS file",
                );
                None
            }
        };
        let issuer = s.required(
            "LETTUCE_JWT_ISSUER",
            "set LETTUCE_JWT_ISSUER to the exact `iss` of the tokens, e.g. https://idp.example.com/",
        );
        let audiences = s.list("LETTUCE_JWT_AUDIENCE");
        if audiences.is_empty() {
            s.error(
                "LETTUCE_JWT_AUDIENCE",
                "is required with LETTUCE_AUTH_PROVIDER=jwks",
                "set LETTUCE_JWT_AUDIENCE to the `aud` your issuer puts in tokens for Lettuce (comma-separated for several)",
            );
        }
        let (leeway, refetch_interval) = timing(s);
        Some(Self {
            location: location?,
            issuer: issuer?,
            audiences: Some(audiences).filter(|a| !a.is_empty())?,
            leeway,
            refetch_interval,
        })
    }

    /// Rows for `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows = match &self.location {
            JwksLocation::Url(u) => vec![("LETTUCE_JWKS_URL", u.to_string())],
            JwksLocation::File(p) => vec![("LETTUCE_JWKS_FILE", p.display().to_string())],
        };
        rows.push(("LETTUCE_JWT_ISSUER", self.issuer.clone()));
        rows.push(("LETTUCE_JWT_AUDIENCE", self.audiences.join(",")));
        rows.push(("LETTUCE_JWT_LEEWAY_SECS", self.leeway.as_secs().to_string()));
        rows.push(("LETTUCE_JWKS_REFETCH_SECS", self.refetch_interval.as_secs().to_string()));
        rows
    }
}

/// The JWKS at a URL, fetched with `lettuce-http-client`.
#[derive(Debug)]
struct HttpJwks {
    client: lettuce_http_client::HttpClient,
    url: String,
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<String, String> {
        lettuce_http_client::get_text(&self.client, &self.url, lettuce_jwt_verify::MAX_JWKS_BYTES).await
    }
}

/// The static-JWKS verifier.
#[derive(Debug)]
pub struct JwksAuth {
    verifier: JwtVerifier,
}

impl JwksAuth {
    /// Builds the verifier (no fetch yet: keys are fetched on first use).
    pub fn new(config: JwksAuthConfig) -> Result<Self, AuthError> {
        let source: Arc<dyn JwksSource> = match &config.location {
            JwksLocation::Url(u) => {
                let client = lettuce_http_client::build(
                    lettuce_http_client::ClientOptions::new("lettuce-auth-jwks").timeout(Duration::from_secs(10)),
                )
                .map_err(|e| AuthError::Misconfigured {
                    provider: PROVIDER,
                    reason: format!("building the HTTP client failed: {e}"),
                })?;
                Arc::new(HttpJwks {
                    client,
                    url: u.to_string(),
                })
            }
            JwksLocation::File(p) => Arc::new(FileJwks::new(p)),
        };
        let vc = VerifierConfig::new(vec![config.issuer.clone()], config.audiences.clone())
            .leeway(config.leeway)
            .refetch_interval(config.refetch_interval);
        Ok(Self {
            verifier: JwtVerifier::new(vc, Some(source)),
        })
    }

    /// Fetches the keys now; the error says why they cannot be used.
    pub async fn prefetch(&self) -> Result<usize, AuthError> {
        self.verifier.prefetch().await.map_err(to_auth_error)
    }

    /// JWKS fetches made so far.
    pub fn fetch_count(&self) -> u64 {
        self.verifier.fetch_count()
    }
}

fn to_auth_error(e: VerifyError) -> AuthError {
    e.into_auth_error(PROVIDER)
}

#[async_trait]
impl AuthVerifier for JwksAuth {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let v = self.verifier.verify(token).await.map_err(to_auth_error)?;
        Ok(VerifiedToken {
            issuer: v.issuer,
            subject: v.subject,
            email: v.email,
            expires_at: chrono::DateTime::from_timestamp(v.expires_at, 0),
        })
    }
}
