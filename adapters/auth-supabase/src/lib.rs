//! # lettuce-auth-supabase
//!
//! Verifies Supabase Auth (GoTrue) access tokens: `LETTUCE_AUTH_PROVIDER=supabase`.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `SUPABASE_URL` | The project URL, e.g. `https://abcd.supabase.co` (required) |
//! | `SUPABASE_JWT_SECRET` | The project's legacy JWT secret (HS256), read through the secret store; optional when the project uses asymmetric signing keys |
//! | `LETTUCE_JWT_LEEWAY_SECS`, `LETTUCE_JWKS_REFETCH_SECS` | As for every IdP adapter |
//!
//! Accepted tokens: `iss` = `<SUPABASE_URL>/auth/v1`, `aud` = `authenticated`,
//! `role` (when present) = `authenticated` (the project's `anon` and
//! `service_role` keys are not user tokens), signed either with HS256 under
//! `SUPABASE_JWT_SECRET` or with an ES256/RS256 key from
//! `<SUPABASE_URL>/auth/v1/.well-known/jwks.json` (cached, refetched on an
//! unknown `kid` at most once per interval, fail-closed when unreachable).
//! HS256 is checked only against the secret, never a public key.
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_domain::Secret;
use lettuce_jwt_verify::{HmacSecret, JwksSource, JwtVerifier, VerifierConfig, VerifyError};
use lettuce_ports::auth::{AuthError, AuthVerifier, VerifiedToken};
use lettuce_ports::config::Settings;
use std::sync::Arc;
use std::time::Duration;

/// Provider name.
pub const PROVIDER: &str = "supabase";
/// The `aud` of Supabase user access tokens.
pub const AUDIENCE: &str = "authenticated";
/// Shortest accepted `SUPABASE_JWT_SECRET` (Supabase's are 40+ characters).
pub const MIN_SECRET_BYTES: usize = 32;

/// Typed configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SupabaseAuthConfig {
    /// `SUPABASE_URL` without a trailing `/`.
    pub url: String,
    /// Clock skew.
    pub leeway: Duration,
    /// Least time between unknown-`kid` refetches.
    pub refetch_interval: Duration,
}

impl SupabaseAuthConfig {
    /// Reads the variables, recording every problem in `s`.
    /// (`SUPABASE_JWT_SECRET` is a secret: the app reads it through the
    /// secret store and passes it to [`SupabaseAuth::new`].)
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let url = match s.http_url("SUPABASE_URL", "https://abcd.supabase.co") {
            Some(u) => Some(u.as_str().trim_end_matches('/').to_owned()),
            None if !s.is_set("SUPABASE_URL") => {
                s.error(
                    "SUPABASE_URL",
                    "is required with LETTUCE_AUTH_PROVIDER=supabase",
                    "set SUPABASE_URL to the project URL, e.g. https://abcd.supabase.co",
                );
                None
            }
            None => None,
        };
        let leeway = Duration::from_secs(s.num("LETTUCE_JWT_LEEWAY_SECS", 60u64, 0, 300));
        let refetch_interval = Duration::from_secs(s.num("LETTUCE_JWKS_REFETCH_SECS", 60u64, 1, 86_400));
        Some(Self {
            url: url?,
            leeway,
            refetch_interval,
        })
    }

    /// The `iss` of the project's tokens.
    pub fn issuer(&self) -> String {
        format!("{}/auth/v1", self.url)
    }

    /// The project's JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/auth/v1/.well-known/jwks.json", self.url)
    }

    /// Rows for `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SUPABASE_URL", self.url.clone()),
            ("LETTUCE_JWT_LEEWAY_SECS", self.leeway.as_secs().to_string()),
            ("LETTUCE_JWKS_REFETCH_SECS", self.refetch_interval.as_secs().to_string()),
        ]
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

/// The Supabase verifier.
#[derive(Debug)]
pub struct SupabaseAuth {
    verifier: JwtVerifier,
}

impl SupabaseAuth {
    /// Builds the verifier; `jwt_secret` is `SUPABASE_JWT_SECRET` when set.
    pub fn new(config: SupabaseAuthConfig, jwt_secret: Option<Secret>) -> Result<Self, AuthError> {
        let client = lettuce_http_client::build(
            lettuce_http_client::ClientOptions::new("lettuce-auth-supabase").timeout(Duration::from_secs(10)),
        )
        .map_err(|e| AuthError::Misconfigured {
            provider: PROVIDER,
            reason: format!("building the HTTP client failed: {e}"),
        })?;
        let mut vc = VerifierConfig::new(vec![config.issuer()], vec![AUDIENCE.to_owned()])
            .leeway(config.leeway)
            .refetch_interval(config.refetch_interval);
        if let Some(secret) = jwt_secret {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(AuthError::Misconfigured {
                    provider: PROVIDER,
                    reason: format!(
                        "SUPABASE_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes: copy the project's JWT secret from Project Settings → API"
                    ),
                });
            }
            vc = vc.hmac_secret(HmacSecret::new(secret.expose().as_bytes().to_vec()));
        }
        let source = HttpJwks {
            client,
            url: config.jwks_url(),
        };
        Ok(Self {
            verifier: JwtVerifier::new(vc, Some(Arc::new(source))),
        })
    }
}

fn to_auth_error(e: VerifyError) -> AuthError {
    e.into_auth_error(PROVIDER)
}

#[async_trait]
impl AuthVerifier for SupabaseAuth {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let v = self.verifier.verify(token).await.map_err(to_auth_error)?;
        match v.claims.get("role").map(|r| r.as_str()) {
            None | Some(Some(AUDIENCE)) => {}
            Some(_) => {
                return Err(AuthError::InvalidToken {
                    reason: "not a signed-in user's token (role is not `authenticated`)".into(),
                });
            }
        }
        Ok(VerifiedToken {
            issuer: v.issuer,
            subject: v.subject,
            email: v.email,
            expires_at: chrono::DateTime::from_timestamp(v.expires_at, 0),
        })
    }
}
