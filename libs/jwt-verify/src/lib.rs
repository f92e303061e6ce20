//! # lettuce-jwt-verify
//!
//! The JWT/JWKS verification core shared by the identity-provider adapters
//! (`auth-jwks`, `auth-supabase`, `auth-oidc`). Like `lettuce-http-client`
//! it is a support library: it implements no port and depends on no
//! workspace crate; each adapter maps [`VerifyError`] to the port's
//! `AuthError` and supplies the keys (a [`JwksSource`]).
//!
//! What [`JwtVerifier::verify`] guarantees:
//!
//! * **Algorithms come from the keys, never from the token.** The token's
//!   `alg` header only selects among what the keys declare: a JWKS key with
//!   `alg` accepts exactly that algorithm; a key without `alg` accepts its
//!   key type's family (RSA → RS*/PS*, EC P-256 → ES256, P-384 → ES384,
//!   Ed25519 → EdDSA). Symmetric (`oct`) keys in a fetched JWKS and keys
//!   with `use: enc` are ignored. HMAC tokens verify only against the
//!   configured [`VerifierConfig::hmac_secret`] (Supabase), never against a
//!   public key — so `alg: none` and "HS256 signed with the RSA public key"
//!   (algorithm confusion) are refused.
//! * **Claims**: `exp` is required; `iss` must be one of the configured
//!   issuers; `aud` must contain one of the configured audiences; `nbf` and
//!   `iat` may not be in the future; all with the bounded clock skew
//!   [`VerifierConfig::leeway`] (at most [`MAX_LEEWAY`]).
//! * **JWKS cache**: keys are fetched on first use and cached; a token with
//!   an unknown `kid` triggers a refetch at most once per
//!   [`VerifierConfig::refetch_interval`]. Fetches are single-flight: a
//!   burst of unknown `kid`s waiting on one fetch makes exactly one request.
//!   A cache older than [`VerifierConfig::max_key_age`] is refreshed before
//!   use.
//! * **Fail closed**: when keys are needed and cannot be fetched the result
//!   is [`VerifyError::KeysUnavailable`] (the HTTP layer answers 503), never
//!   an acceptance.
//! * Errors never quote the token.
//!
//! The keys come from a [`JwksSource`]: [`FileJwks`] here; adapters fetch
//! URLs with `lettuce-http-client` (this library does no HTTP itself).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lettuce_jwt_verify::VerifyError> {
//! use lettuce_jwt_verify::{FileJwks, JwtVerifier, VerifierConfig};
//! let source = FileJwks::new("/etc/lettuce/jwks.json");
//! let config = VerifierConfig::new(vec!["https://idp.example.com/".into()], vec!["lettuce".into()]);
//! let verifier = JwtVerifier::new(config, Some(std::sync::Arc::new(source)));
//! let verified = verifier.verify("eyJ…").await?;
//! println!("{} from {}", verified.subject, verified.issuer);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[cfg(feature = "testing")]
pub mod testing;

/// Longest clock skew a configuration may allow.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Default clock skew.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default least time between two JWKS fetches triggered by unknown `kid`s.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Default age after which cached keys are refreshed before use.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Least time between two attempts while the JWKS endpoint fails.
const FAILURE_BACKOFF: Duration = Duration::from_secs(2);
/// Most keys tried for a token without `kid`.
const MAX_KIDLESS_CANDIDATES: usize = 8;

/// Why a token was not accepted. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Correctly signed, but `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// Malformed, wrongly signed, wrong algorithm, issuer or audience, not
    /// yet valid, or signed by an unknown key.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The keys needed to check the token could not be fetched (the JWKS
    /// endpoint or discovery document is down). Fail closed: retry later.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl VerifyError {
    /// The `AuthVerifier` port's error for this outcome: unavailable keys
    /// are a retryable `backend` failure (the API answers 503), everything
    /// else a rejected token (401).
    pub fn into_auth_error(self, backend: &'static str) -> lettuce_ports::auth::AuthError {
        use lettuce_ports::auth::AuthError;
        match self {
            VerifyError::Expired => AuthError::Expired,
            VerifyError::KeysUnavailable(msg) => AuthError::Backend {
                backend,
                source: lettuce_ports::box_msg(msg),
                retryable: true,
            },
            VerifyError::Invalid(reason) => AuthError::InvalidToken { reason },
        }
    }
}

fn invalid(reason: impl Into<String>) -> VerifyError {
    VerifyError::Invalid(reason.into())
}

/// An HMAC secret (Supabase's `SUPABASE_JWT_SECRET`). `Debug` hides it.
#[derive(Clone)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    /// Wraps the raw secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret(***)")
    }
}

/// What a verifier accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// Accepted `iss` values (exact match). Must not be empty.
    pub issuers: Vec<String>,
    /// Accepted `aud` values: the token's `aud` must contain one. Must not
    /// be empty.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (capped at [`MAX_LEEWAY`]).
    pub leeway: Duration,
    /// Least time between two fetches triggered by unknown `kid`s.
    pub refetch_interval: Duration,
    /// Cached keys older than this are refreshed before use.
    pub max_key_age: Duration,
    /// HS256 secret: when set, HS256 tokens verify against it (and only it).
    pub hmac_secret: Option<HmacSecret>,
}

impl VerifierConfig {
    /// A configuration with the default leeway and cache intervals.
    pub fn new(issuers: Vec<String>, audiences: Vec<String>) -> Self {
        Self {
            issuers,
            audiences,
            leeway: DEFAULT_LEEWAY,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            max_key_age: DEFAULT_MAX_KEY_AGE,
            hmac_secret: None,
        }
    }

    /// Sets the clock skew (capped at [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Sets the least time between unknown-`kid` refetches.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Sets the age after which cached keys are refreshed.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_key_age = age;
        self
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn hmac_secret(mut self, secret: HmacSecret) -> Self {
        self.hmac_secret = Some(secret);
        self
    }
}

/// Where a JWKS document comes from.
#[async_trait]
pub trait JwksSource: Send + Sync + fmt::Debug + 'static {
    /// The raw JWKS JSON. The error is shown to operators (never a secret).
    async fn fetch(&self) -> Result<String, String>;
}

/// A JWKS in a local file, re-read on the same schedule as a URL (so keys
/// rotate by replacing the file).
#[derive(Debug, Clone)]
pub struct FileJwks {
    path: PathBuf,
}

impl FileJwks {
    /// Reads `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl JwksSource for FileJwks {
    async fn fetch(&self) -> Result<String, String> {
        tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| format!("reading {} failed: {e}", self.path.display()))
    }
}

/// One usable verification key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// The keys of one JWKS fetch.
#[derive(Clone, Default)]
struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The algorithms a JWK allows, or `None` to skip the key.
fn key_algorithms(jwk: &Jwk) -> Option<Vec<Algorithm>> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.iter().any(|o| matches!(o, KeyOperations::Verify))
    {
        return None;
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            _ => return None,
        },
        // Symmetric keys are never taken from a JWKS: a shared secret
        // published with the public keys would let anyone sign.
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(family),
        Some(declared) => {
            let alg = key_algorithm(declared)?;
            family.contains(&alg).then(|| vec![alg])
        }
    }
}

fn key_algorithm(k: KeyAlgorithm) -> Option<Algorithm> {
    Some(match k {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Parses a JWKS document, keeping the usable signature keys (a key that
/// does not parse is skipped with a warning rather than failing the set).
pub fn parse_jwks(json: &str) -> Result<usize, String> {
    parse_key_set(json).map(|s| s.keys.len())
}

fn parse_key_set(json: &str) -> Result<KeySet, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("not a JWKS document: {e}"))?;
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err("not a JWKS document: no `keys` array".into());
    };
    let mut out = KeySet::default();
    for raw in keys {
        let jwk: Jwk = match serde_json::from_value(raw.clone()) {
            Ok(j) => j,
            Err(e) => {
                tracing::debug!(error = %e, "skipping a JWKS entry that is not a supported key");
                continue;
            }
        };
        let Some(algorithms) = key_algorithms(&jwk) else {
            continue;
        };
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => out.keys.push(Key {
                kid: jwk.common.key_id.clone(),
                algorithms,
                key,
            }),
            Err(e) => tracing::warn!(kid = ?jwk.common.key_id, error = %e, "skipping an unusable JWKS key"),
        }
    }
    Ok(out)
}

struct CacheState {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    /// When the last fetch was attempted (successful or not).
    last_attempt: Option<Instant>,
    /// Counts attempts, so waiters on the single-flight lock can tell that
    /// a fetch happened while they waited.
    attempts: u64,
    last_error: Option<String>,
}

/// Verifies JWTs against a configuration and (optionally) a JWKS source.
pub struct JwtVerifier {
    config: VerifierConfig,
    source: Option<Arc<dyn JwksSource>>,
    state: RwLock<CacheState>,
    flight: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.config.issuers)
            .field("audiences", &self.config.audiences)
            .field("source", &self.source)
            .field("hmac", &self.config.hmac_secret.is_some())
            .finish()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Verified {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, unless the token says `email_verified: false`.
    pub email: Option<String>,
    /// `exp` (seconds since the epoch).
    pub expires_at: i64,
    /// The `kid` of the key that verified the token, if any.
    pub kid: Option<String>,
    /// Every claim, for adapter-specific checks (e.g. Supabase's `role`).
    pub claims: Map<String, Value>,
}

impl JwtVerifier {
    /// A verifier for `config`; `source` supplies the public keys (none: only
    /// HMAC tokens can verify).
    pub fn new(config: VerifierConfig, source: Option<Arc<dyn JwksSource>>) -> Self {
        Self {
            config,
            source,
            state: RwLock::new(CacheState {
                keys: None,
                fetched_at: None,
                last_attempt: None,
                attempts: 0,
                last_error: None,
            }),
            flight: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// How many JWKS fetches were made (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn read_state<T>(&self, f: impl FnOnce(&CacheState) -> T) -> T {
        let g = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&g)
    }

    /// Fetches the keys now (e.g. at start-up to report a bad URL early).
    /// Returns the number of usable keys.
    pub async fn prefetch(&self) -> Result<usize, VerifyError> {
        let seen = self.read_state(|s| s.attempts);
        let keys = self.fetch(seen, false).await?;
        Ok(keys.keys.len())
    }

    /// The cached keys, fetching them when there are none yet or they are
    /// older than `max_key_age`.
    async fn current_keys(&self) -> Result<Arc<KeySet>, VerifyError> {
        let (keys, fresh, seen) = self.read_state(|s| {
            let fresh = s.fetched_at.is_some_and(|t| t.elapsed() < self.config.max_key_age);
            (s.keys.clone(), fresh, s.attempts)
        });
        match keys {
            Some(k) if fresh => Ok(k),
            _ => self.fetch(seen, false).await,
        }
    }

    /// One fetch for everyone waiting: when another caller attempted a
    /// fetch since `seen`, its outcome is used; when `rate_limited`, no fetch
    /// is made within `refetch_interval` of the last attempt.
    async fn fetch(&self, seen: u64, rate_limited: bool) -> Result<Arc<KeySet>, VerifyError> {
        let Some(source) = &self.source else {
            return Ok(Arc::new(KeySet::default()));
        };
        let _flight = self.flight.lock().await;
        let (attempts, last_attempt, keys, last_error, fetched_at) = self.read_state(|s| {
            (
                s.attempts,
                s.last_attempt,
                s.keys.clone(),
                s.last_error.clone(),
                s.fetched_at,
            )
        });
        let stale = fetched_at.is_none_or(|t| t.elapsed() >= self.config.max_key_age);
        let since_attempt = last_attempt.map(|t| t.elapsed());
        let usable = keys.filter(|_| !stale);
        // Unknown kids refetch at most once per interval; a failing endpoint
        // is not retried more than once per FAILURE_BACKOFF.
        let throttled = since_attempt.is_some_and(|since| {
            (rate_limited && since < self.config.refetch_interval)
                || (last_error.is_some() && since < FAILURE_BACKOFF.min(self.config.refetch_interval))
        });
        if attempts != seen || throttled {
            // Someone fetched while we waited, or it is too soon to fetch:
            // use the last outcome. After a failed fetch an unknown kid is
            // "unavailable" (it may be a rotated key), never "invalid".
            return match (usable, last_error) {
                (Some(k), None) => Ok(k),
                (Some(k), Some(_)) if !rate_limited => Ok(k),
                (_, Some(e)) => Err(VerifyError::KeysUnavailable(e)),
                (None, None) => Err(VerifyError::KeysUnavailable("signing keys are stale".into())),
            };
        }
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = source.fetch().await.and_then(|json| parse_key_set(&json));
        let mut s = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.attempts += 1;
        s.last_attempt = Some(Instant::now());
        match result {
            Ok(set) => {
                let set = Arc::new(set);
                s.keys = Some(set.clone());
                s.fetched_at = Some(Instant::now());
                s.last_error = None;
                tracing::debug!(keys = set.keys.len(), "JWKS fetched");
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(source = ?source, error = %e, "fetching the JWKS failed; tokens needing it are refused");
                s.last_error = Some(e.clone());
                // Fail closed: the key asked for may be a rotated one, and
                // keys past their age are not trusted any more.
                Err(VerifyError::KeysUnavailable(e))
            }
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.leeway = self.config.leeway.min(MAX_LEEWAY).as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_issuer(&self.config.issuers);
        v.set_audience(&self.config.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v
    }

    /// Verifies `token`. See the crate docs for what is checked.
    pub async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("malformed token"));
        }
        if self.config.issuers.is_empty() || self.config.audiences.is_empty() {
            return Err(invalid("no issuer or audience configured"));
        }
        // `alg: none` (and any unknown algorithm) fails here.
        let header = jsonwebtoken::decode_header(token).map_err(|e| map_error(&e))?;
        let alg = header.alg;
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            // HMAC only with the configured secret: never with a public key.
            let Some(secret) = &self.config.hmac_secret else {
                return Err(invalid("signing algorithm not accepted"));
            };
            if alg != Algorithm::HS256 {
                return Err(invalid("signing algorithm not accepted"));
            }
            let key = DecodingKey::from_secret(&secret.0);
            return self.decode(token, alg, &key, None);
        }

        let mut keys = self.current_keys().await?;
        if let Some(kid) = header.kid.as_deref()
            && !keys.has_kid(kid)
        {
            // A rotated key: refetch, at most once per interval.
            let seen = self.read_state(|s| s.attempts);
            keys = self.fetch(seen, true).await?;
            if !keys.has_kid(kid) {
                return Err(invalid("signed by an unknown key"));
            }
        }
        let candidates: Vec<&Key> = match header.kid.as_deref() {
            Some(kid) => keys.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect(),
            None => keys
                .keys
                .iter()
                .filter(|k| k.algorithms.contains(&alg))
                .take(MAX_KIDLESS_CANDIDATES)
                .collect(),
        };
        let candidates: Vec<&Key> = candidates.into_iter().filter(|k| k.algorithms.contains(&alg)).collect();
        if candidates.is_empty() {
            return Err(invalid("signing algorithm not accepted for this key"));
        }
        let mut last = invalid("signature does not match");
        for k in candidates {
            match self.decode(token, alg, &k.key, k.kid.clone()) {
                Err(VerifyError::Invalid(r)) if r == "signature does not match" => last = invalid(r),
                other => return other,
            }
        }
        Err(last)
    }

    fn decode(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
        kid: Option<String>,
    ) -> Result<Verified, VerifyError> {
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation(alg)).map_err(|e| map_error(&e))?;
        let claims = data.claims;
        let leeway = i64::try_from(self.config.leeway.min(MAX_LEEWAY).as_secs()).unwrap_or(0);
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_f64().ok_or_else(|| invalid("malformed claim `iat`"))?;
            #[allow(clippy::cast_precision_loss)]
            if iat > (now_secs() + leeway) as f64 {
                return Err(invalid("token issued in the future"));
            }
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let issuer = text("iss").ok_or_else(|| invalid("missing claim `iss`"))?;
        let subject = text("sub")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("missing claim `sub`"))?;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid("malformed claim `exp`"))?;
        let email_verified = claims.get("email_verified").and_then(Value::as_bool);
        let email = text("email").filter(|_| email_verified != Some(false));
        #[allow(clippy::cast_possible_truncation)]
        Ok(Verified {
            issuer,
            subject,
            email,
            expires_at: expires_at as i64,
            kid,
            claims,
        })
    }
}

/// A fixed, token-free reason for a jsonwebtoken error (its own messages
/// may quote parts of the payload).
fn map_error(e: &jsonwebtoken::errors::Error) -> VerifyError {
    let reason = match e.kind() {
        ErrorKind::ExpiredSignature => return VerifyError::Expired,
        ErrorKind::InvalidSignature => "signature does not match",
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "signing algorithm not accepted"
        }
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::ImmatureSignature => "token not valid yet",
        ErrorKind::MissingRequiredClaim(claim) => return invalid(format!("missing claim `{claim}`")),
        ErrorKind::InvalidClaimFormat(claim) => return invalid(format!("malformed claim `{claim}`")),
        ErrorKind::InvalidKeyFormat | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => {
            "signing key does not fit the algorithm"
        }
        _ => "malformed token",
    };
    invalid(reason)
}
