//! # lettuce-auth-oidc
//!
//! Verifies tokens of any OpenID Connect provider (Okta, Auth0, Entra ID,
//! Keycloak, Google, …): `LETTUCE_AUTH_PROVIDER=oidc`.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `LETTUCE_OIDC_ISSUER` | The issuer; discovery reads `<issuer>/.well-known/openid-configuration` (required) |
//! | `LETTUCE_OIDC_AUDIENCE` | Accepted `aud` values, comma-separated (default: `LETTUCE_OIDC_CLIENT_ID`) |
//! | `LETTUCE_OIDC_CLIENT_ID` | The client id (browser sign-in; also the default audience) |
//! | `LETTUCE_JWT_LEEWAY_SECS`, `LETTUCE_JWKS_REFETCH_SECS` | As for every IdP adapter |
//!
//! Discovery uses the `openidconnect` crate (which checks that the
//! document's `issuer` is exactly `LETTUCE_OIDC_ISSUER`); it happens on first
//! use, so Lettuce starts while the provider is down and answers 503 until
//! it is back. Tokens (access tokens in the RFC 9068 JWT profile, or ID
//! tokens) are checked by [`lettuce_jwt_verify`] against the keys at the
//! discovered `jwks_uri`: algorithms come from the keys, `iss`, `aud`,
//! `exp`, `nbf` and `iat` are checked with a bounded skew, an unknown `kid`
//! refetches the JWKS at most once per interval (so a provider's key
//! rotation is picked up without a restart), and an unreachable provider
//! fails closed.
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_jwt_verify::{JwksSource, JwtVerifier, VerifierConfig, VerifyError};
use lettuce_ports::auth::{AuthError, AuthVerifier, VerifiedToken};
use lettuce_ports::config::Settings;
use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Provider name.
pub const PROVIDER: &str = "oidc";

/// Typed configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OidcAuthConfig {
    /// `LETTUCE_OIDC_ISSUER`, exactly as the provider spells its `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// `LETTUCE_OIDC_CLIENT_ID`.
    pub client_id: Option<String>,
    /// Clock skew.
    pub leeway: Duration,
    /// Least time between unknown-`kid` refetches.
    pub refetch_interval: Duration,
}

impl OidcAuthConfig {
    /// Reads the variables, recording every problem in `s`.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let issuer = match s.http_url("LETTUCE_OIDC_ISSUER", "https://login.example.com/") {
            Some(_) => s.get("LETTUCE_OIDC_ISSUER"),
            None if !s.is_set("LETTUCE_OIDC_ISSUER") => {
                s.error(
                    "LETTUCE_OIDC_ISSUER",
                    "is required with LETTUCE_AUTH_PROVIDER=oidc",
                    "set LETTUCE_OIDC_ISSUER to the provider's issuer URL, exactly as its tokens' `iss` (see docs/auth.md)",
                );
                None
            }
            None => None,
        };
        let client_id = s.get("LETTUCE_OIDC_CLIENT_ID");
        let mut audiences = s.list("LETTUCE_OIDC_AUDIENCE");
        if audiences.is_empty() {
            match &client_id {
                Some(id) => audiences.push(id.clone()),
                None => s.error(
                    "LETTUCE_OIDC_AUDIENCE",
                    "is required with LETTUCE_AUTH_PROVIDER=oidc when LETTUCE_OIDC_CLIENT_ID is not set",
                    "set LETTUCE_OIDC_AUDIENCE to the `aud` of the tokens Lettuce receives (the API identifier or client id)",
                ),
            }
        }
        let leeway = Duration::from_secs(s.num("LETTUCE_JWT_LEEWAY_SECS", 60u64, 0, 300));
        let refetch_interval = Duration::from_secs(s.num("LETTUCE_JWKS_REFETCH_SECS", 60u64, 1, 86_400));
        Some(Self {
            issuer: issuer?,
            audiences: Some(audiences).filter(|a| !a.is_empty())?,
            client_id,
            leeway,
            refetch_interval,
        })
    }

    /// Rows for `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LETTUCE_OIDC_ISSUER", self.issuer.clone()),
            ("LETTUCE_OIDC_AUDIENCE", self.audiences.join(",")),
            (
                "LETTUCE_OIDC_CLIENT_ID",
                self.client_id.clone().unwrap_or_else(|| "(not set)".into()),
            ),
            ("LETTUCE_JWT_LEEWAY_SECS", self.leeway.as_secs().to_string()),
            ("LETTUCE_JWKS_REFETCH_SECS", self.refetch_interval.as_secs().to_string()),
        ]
    }
}

/// An HTTP failure as the `openidconnect` crate's client error.
#[derive(Debug)]
pub struct HttpFailure(String);

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpFailure {}

type HttpFuture = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpFailure>> + Send>>;

/// `openidconnect`'s HTTP client over `lettuce-http-client` (no redirects,
/// timeouts, tracing).
pub fn oidc_http_client(
    client: lettuce_http_client::HttpClient,
) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture + Send + Sync + Clone {
    move |req: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    HttpFailure(format!(
                        "{} {} failed: {}",
                        "request to",
                        parts.uri,
                        lettuce_ports::error_chain(&e)
                    ))
                })?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| HttpFailure(format!("reading the response failed: {e}")))?;
            let mut out = http::Response::builder().status(status);
            if let Some(h) = out.headers_mut() {
                *h = headers;
            }
            out.body(body.to_vec())
                .map_err(|e| HttpFailure(format!("building the response failed: {e}")))
        }) as HttpFuture
    }
}

/// The provider's discovery document, fetched once on first use.
#[derive(Debug)]
pub struct Discovery {
    issuer: String,
    http: lettuce_http_client::HttpClient,
    metadata: tokio::sync::Mutex<Option<Arc<CoreProviderMetadata>>>,
}

impl Discovery {
    /// Discovery for `issuer` over `http`.
    pub fn new(issuer: String, http: lettuce_http_client::HttpClient) -> Self {
        Self {
            issuer,
            http,
            metadata: tokio::sync::Mutex::new(None),
        }
    }

    /// The provider metadata, discovering it on the first call (a failure
    /// is not cached: the next call tries again).
    pub async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, String> {
        let mut slot = self.metadata.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let issuer =
            IssuerUrl::new(self.issuer.clone()).map_err(|e| format!("LETTUCE_OIDC_ISSUER is not a URL: {e}"))?;
        let http = oidc_http_client(self.http.clone());
        let m = CoreProviderMetadata::discover_async(issuer, &http).await.map_err(|e| {
            format!(
                "OIDC discovery at {} failed: {}",
                self.issuer,
                lettuce_ports::error_chain(&e)
            )
        })?;
        let m = Arc::new(m);
        *slot = Some(m.clone());
        Ok(m)
    }
}

/// The JWKS at the discovered `jwks_uri`.
#[derive(Debug)]
struct DiscoveredJwks {
    discovery: Arc<Discovery>,
}

#[async_trait]
impl JwksSource for DiscoveredJwks {
    async fn fetch(&self) -> Result<String, String> {
        let m = self.discovery.metadata().await?;
        lettuce_http_client::get_text(
            &self.discovery.http,
            m.jwks_uri().url().as_str(),
            lettuce_jwt_verify::MAX_JWKS_BYTES,
        )
        .await
    }
}

/// The OIDC verifier.
#[derive(Debug)]
pub struct OidcAuth {
    config: OidcAuthConfig,
    discovery: Arc<Discovery>,
    verifier: JwtVerifier,
}

impl OidcAuth {
    /// Builds the verifier (discovery happens on first use).
    pub fn new(config: OidcAuthConfig) -> Result<Self, AuthError> {
        let http = lettuce_http_client::build(
            lettuce_http_client::ClientOptions::new("lettuce-auth-oidc").timeout(Duration::from_secs(10)),
        )
        .map_err(|e| AuthError::Misconfigured {
            provider: PROVIDER,
            reason: format!("building the HTTP client failed: {e}"),
        })?;
        let discovery = Arc::new(Discovery::new(config.issuer.clone(), http));
        let vc = VerifierConfig::new(vec![config.issuer.clone()], config.audiences.clone())
            .leeway(config.leeway)
            .refetch_interval(config.refetch_interval);
        let source = DiscoveredJwks {
            discovery: discovery.clone(),
        };
        Ok(Self {
            verifier: JwtVerifier::new(vc, Some(Arc::new(source))),
            discovery,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OidcAuthConfig {
        &self.config
    }

    /// The provider's metadata (discovered on first use).
    pub async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, AuthError> {
        self.discovery.metadata().await.map_err(|e| AuthError::Backend {
            backend: PROVIDER,
            source: lettuce_ports::box_msg(e),
            retryable: true,
        })
    }

    /// Discovers the provider and fetches its keys now; returns the number
    /// of usable keys.
    pub async fn prefetch(&self) -> Result<usize, AuthError> {
        self.verifier.prefetch().await.map_err(to_auth_error)
    }

    /// JWKS fetches made so far.
    pub fn fetch_count(&self) -> u64 {
        self.verifier.fetch_count()
    }
}

fn to_auth_error(e: VerifyError) -> AuthError {
    match e {
        VerifyError::Expired => AuthError::Expired,
        VerifyError::KeysUnavailable(msg) => AuthError::Backend {
            backend: PROVIDER,
            source: lettuce_ports::box_msg(msg),
            retryable: true,
        },
        VerifyError::Invalid(reason) => AuthError::InvalidToken { reason },
        other => AuthError::InvalidToken {
            reason: other.to_string(),
        },
    }
}

#[async_trait]
impl AuthVerifier for OidcAuth {
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
