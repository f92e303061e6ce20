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
use lettuce_domain::Secret;
use lettuce_jwt_verify::{JwksSource, JwtVerifier, VerifierConfig, VerifyError};
use lettuce_ports::auth::{AuthError, AuthVerifier, IdpSignIn, PendingSignIn, SignInStart, VerifiedToken};
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

/// The OIDC verifier (and, with a client, the browser sign-in).
#[derive(Debug)]
pub struct OidcAuth {
    config: OidcAuthConfig,
    discovery: Arc<Discovery>,
    verifier: JwtVerifier,
    /// `LETTUCE_OIDC_CLIENT_SECRET` (browser sign-in).
    client_secret: Option<Secret>,
    /// ID tokens of the sign-in flow: audience = the client id.
    id_tokens: Option<JwtVerifier>,
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
        let source: Arc<dyn JwksSource> = Arc::new(DiscoveredJwks {
            discovery: discovery.clone(),
        });
        let id_tokens = config.client_id.as_ref().map(|id| {
            let c = VerifierConfig::new(vec![config.issuer.clone()], vec![id.clone()])
                .leeway(config.leeway)
                .refetch_interval(config.refetch_interval);
            JwtVerifier::new(c, Some(source.clone()))
        });
        Ok(Self {
            verifier: JwtVerifier::new(vc, Some(source)),
            discovery,
            config,
            client_secret: None,
            id_tokens,
        })
    }

    /// Sets `LETTUCE_OIDC_CLIENT_SECRET` (browser sign-in of a confidential client).
    pub fn with_client_secret(mut self, secret: Option<Secret>) -> Self {
        self.client_secret = secret;
        self
    }

    /// Whether browser sign-in is possible (`LETTUCE_OIDC_CLIENT_ID` is set).
    pub fn can_sign_in(&self) -> bool {
        self.config.client_id.is_some()
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        AuthError,
    > {
        let id = self.config.client_id.clone().ok_or_else(|| AuthError::Misconfigured {
            provider: PROVIDER,
            reason: "browser sign-in needs LETTUCE_OIDC_CLIENT_ID".into(),
        })?;
        let secret = self
            .client_secret
            .as_ref()
            .map(|s| openidconnect::ClientSecret::new(s.expose().to_owned()));
        let redirect =
            openidconnect::RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| AuthError::Misconfigured {
                provider: PROVIDER,
                reason: format!("the sign-in redirect URI is not a URL ({e}); check LETTUCE_WEB_URL"),
            })?;
        Ok(openidconnect::core::CoreClient::from_provider_metadata(
            metadata.clone(),
            openidconnect::ClientId::new(id),
            secret,
        )
        .set_redirect_uri(redirect))
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
    e.into_auth_error(PROVIDER)
}

fn unavailable(msg: impl Into<String>) -> AuthError {
    AuthError::Backend {
        backend: PROVIDER,
        source: lettuce_ports::box_msg(msg.into()),
        retryable: true,
    }
}

#[async_trait]
impl IdpSignIn for OidcAuth {
    async fn begin(&self, redirect_uri: &str) -> Result<SignInStart, AuthError> {
        use openidconnect::core::CoreAuthenticationFlow;
        use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};
        let metadata = self.metadata().await?;
        let client = self.client(&metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(SignInStart {
            url: url.to_string(),
            pending: PendingSignIn {
                state: Secret::new(state.secret().clone()),
                nonce: Secret::new(nonce.secret().clone()),
                pkce_verifier: Secret::new(verifier.secret().clone()),
            },
        })
    }

    async fn complete(
        &self,
        redirect_uri: &str,
        code: &str,
        pending: &PendingSignIn,
    ) -> Result<VerifiedToken, AuthError> {
        use openidconnect::{AuthorizationCode, PkceCodeVerifier};
        let metadata = self.metadata().await?;
        let client = self.client(&metadata, redirect_uri)?;
        let http = oidc_http_client(self.discovery.http.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| AuthError::Misconfigured {
                provider: PROVIDER,
                reason: format!("the provider has no token endpoint: {e}"),
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.expose().to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => AuthError::InvalidToken {
                    reason: format!("the provider refused the authorization code: {}", r.error()),
                },
                other => unavailable(format!(
                    "the token request failed: {}",
                    lettuce_ports::error_chain(&other)
                )),
            })?;
        let id_token = openidconnect::TokenResponse::id_token(&response)
            .ok_or_else(|| AuthError::InvalidToken {
                reason: "the provider returned no ID token (is `openid` in the client's scopes?)".into(),
            })?
            .to_string();
        let verifier = self.id_tokens.as_ref().ok_or_else(|| AuthError::Misconfigured {
            provider: PROVIDER,
            reason: "browser sign-in needs LETTUCE_OIDC_CLIENT_ID".into(),
        })?;
        let v = verifier.verify(&id_token).await.map_err(to_auth_error)?;
        let nonce_ok = v
            .claims
            .get("nonce")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|n| constant_time_eq(n.as_bytes(), pending.nonce.expose().as_bytes()));
        if !nonce_ok {
            return Err(AuthError::InvalidToken {
                reason: "the ID token's nonce does not match this sign-in".into(),
            });
        }
        Ok(VerifiedToken {
            issuer: v.issuer,
            subject: v.subject,
            email: v.email,
            expires_at: chrono::DateTime::from_timestamp(v.expires_at, 0),
        })
    }

    async fn logout_url(&self, post_logout_redirect: &str) -> Option<String> {
        let doc_url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc = lettuce_http_client::get_text(&self.discovery.http, &doc_url, lettuce_jwt_verify::MAX_JWKS_BYTES)
            .await
            .ok()?;
        let doc: serde_json::Value = serde_json::from_str(&doc).ok()?;
        let end = doc.get("end_session_endpoint")?.as_str()?;
        let mut url = url::Url::parse(end).ok()?;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", post_logout_redirect);
        if let Some(id) = &self.config.client_id {
            url.query_pairs_mut().append_pair("client_id", id);
        }
        Some(url.to_string())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
