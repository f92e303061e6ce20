//! A fake of the auth ports ([`AuthVerifier`], [`SessionIssuer`],
//! [`PasswordHasher`]) and their contract suites.

use crate::auth::{AuthError, AuthVerifier, IssuedToken, LOCAL_ISSUER, PasswordHasher, SessionIssuer, VerifiedToken};
use crate::clock::{Clock, SystemClock};
use crate::testing::{assert_not_leaked, lock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::token::{constant_time_eq, hash_token};
use lettuce_domain::{AccountId, Secret, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A JWT with `alg: none` (header `{"alg":"none","typ":"JWT"}`, subject the
/// nil UUID, issuer `lettuce`, expiry in 2100, empty signature): every
/// verifier must refuse it.
pub const ALG_NONE_TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJpc3MiOiJsZXR0dWNlIiwiZXhwIjo0MTAyNDQ0ODAwfQ.";

/// Verifier, session issuer and password hasher in one, for engine tests.
///
/// * Tokens are random opaque strings (`fake_…`) kept in a map with what they
///   verify to; expiry is checked against the [`Clock`].
/// * [`FakeAuth::register`] adds tokens as an external IdP would issue them.
/// * Password hashes are `fake$<salt>$<sha256hex(salt + password)>`.
///
/// `Debug` shows only the number of tokens, never a token.
pub struct FakeAuth {
    clock: Arc<dyn Clock>,
    tokens: Mutex<HashMap<String, VerifiedToken>>,
}

impl std::fmt::Debug for FakeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAuth")
            .field("clock", &self.clock)
            .field("tokens", &lock(&self.tokens).len())
            .finish()
    }
}

impl Default for FakeAuth {
    fn default() -> Self {
        Self::new()
    }
}

fn random_token() -> String {
    format!("fake_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl FakeAuth {
    /// A fake on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A fake on `clock` (expiry is checked against it).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Makes `token` verify to `verified` (e.g. an IdP token with another
    /// issuer and an email).
    pub fn register(&self, token: impl Into<String>, verified: VerifiedToken) {
        lock(&self.tokens).insert(token.into(), verified);
    }

    /// Makes `token` fail verification from now on (logout, key rotation).
    pub fn forget(&self, token: &str) {
        lock(&self.tokens).remove(token);
    }

    /// Mints a local token for `subject` expiring at `expires_at` (which may
    /// be in the past).
    pub fn mint(&self, subject: impl Into<String>, expires_at: DateTime<Utc>) -> String {
        let token = random_token();
        self.register(
            token.clone(),
            VerifiedToken {
                issuer: LOCAL_ISSUER.to_owned(),
                subject: subject.into(),
                email: None,
                expires_at: Some(expires_at),
            },
        );
        token
    }

    /// Tokens to run [`auth_verifier_contract`] against this fake.
    pub fn fixture(&self) -> AuthFixture {
        let now = self.clock.now();
        let subject = UserId(Uuid::new_v4()).to_string();
        let valid = self.mint(subject.clone(), now + chrono::Duration::hours(1));
        let expired = self.mint(UserId(Uuid::new_v4()).to_string(), now - chrono::Duration::hours(1));
        // Flip the last character: a different (unknown) token.
        let mut tampered = valid.clone();
        let last = tampered.pop().unwrap_or('0');
        tampered.push(if last == '0' { '1' } else { '0' });
        AuthFixture {
            valid,
            valid_subject: subject,
            expired,
            tampered,
            wrong_key: random_token(),
            alg_none: Some(ALG_NONE_TOKEN.to_owned()),
        }
    }
}

#[async_trait]
impl AuthVerifier for FakeAuth {
    fn provider(&self) -> &'static str {
        "fake"
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let found = lock(&self.tokens).get(token).cloned();
        let verified = found.ok_or_else(|| AuthError::InvalidToken {
            reason: "unknown token".into(),
        })?;
        if verified.expires_at.is_some_and(|exp| exp <= self.clock.now()) {
            return Err(AuthError::Expired);
        }
        Ok(verified)
    }
}

#[async_trait]
impl SessionIssuer for FakeAuth {
    async fn issue(
        &self,
        user: UserId,
        _account: AccountId,
        ttl: std::time::Duration,
    ) -> Result<IssuedToken, AuthError> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|_| AuthError::Misconfigured {
            provider: "fake",
            reason: "session ttl is out of range".into(),
        })?;
        let expires_at = self.clock.now() + ttl;
        let token = self.mint(user.to_string(), expires_at);
        Ok(IssuedToken {
            token: Secret::new(token),
            expires_at,
        })
    }
}

#[async_trait]
impl PasswordHasher for FakeAuth {
    async fn hash(&self, password: &Secret) -> Result<String, AuthError> {
        let salt = Uuid::new_v4().simple().to_string();
        Ok(format!(
            "fake${salt}${}",
            hash_token(&format!("{salt}{}", password.expose()))
        ))
    }

    async fn verify(&self, password: &Secret, phc: &str) -> Result<bool, AuthError> {
        let mut parts = phc.split('$');
        let (Some("fake"), Some(salt), Some(digest), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(false);
        };
        if salt.is_empty() || digest.len() != 64 {
            return Ok(false);
        }
        Ok(constant_time_eq(
            &hash_token(&format!("{salt}{}", password.expose())),
            digest,
        ))
    }
}

// ── contracts ─────────────────────────────────────────────────────────────

/// Tokens for [`auth_verifier_contract`], produced by the adapter's own test
/// setup (for the fake: [`FakeAuth::fixture`]).
#[derive(Debug, Clone)]
pub struct AuthFixture {
    /// A token that verifies now.
    pub valid: String,
    /// The subject `valid` carries.
    pub valid_subject: String,
    /// A correctly signed token whose expiry has passed.
    pub expired: String,
    /// `valid` with a modified payload or signature.
    pub tampered: String,
    /// A token with the right claims signed by another key.
    pub wrong_key: String,
    /// A token with `alg: none`, when the verifier handles JWTs (see
    /// [`ALG_NONE_TOKEN`]).
    pub alg_none: Option<String>,
}

/// Fails if an error's text contains `token` or any long segment of it.
fn assert_token_not_in(err: &AuthError, token: &str, what: &str) {
    let rule = format!("AuthError for the {what} token must never contain the token");
    assert_not_leaked(err, token, 8, &rule);
    for seg in token.split('.') {
        assert_not_leaked(err, seg, 16, &rule);
    }
}

/// Checks the [`AuthVerifier`] contract with the tokens of `fx`:
///
/// * `valid` verifies, with subject `valid_subject` and an expiry (if any)
///   in the future;
/// * `expired` is [`AuthError::Expired`];
/// * `tampered`, `wrong_key`, `alg_none`, the empty string and `garbage` are
///   [`AuthError::InvalidToken`];
/// * no error's `Display` or `Debug` contains the token.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn auth_verifier_contract(v: &dyn AuthVerifier, fx: &AuthFixture) {
    let p = v.provider();
    let ok = v
        .verify(&fx.valid)
        .await
        .unwrap_or_else(|e| panic!("[{p}] the valid fixture token must verify, got error: {e:?}"));
    assert_eq!(
        ok.subject, fx.valid_subject,
        "[{p}] verify must return the token's subject"
    );
    if let Some(exp) = ok.expires_at {
        assert!(
            exp > Utc::now(),
            "[{p}] a verifying token must not report an expiry in the past ({exp})"
        );
    }
    let again = v
        .verify(&fx.valid)
        .await
        .unwrap_or_else(|e| panic!("[{p}] verifying the valid token twice failed: {e:?}"));
    assert_eq!(again, ok, "[{p}] verify must be repeatable");

    match v.verify(&fx.expired).await {
        Err(e @ AuthError::Expired) => assert_token_not_in(&e, &fx.expired, "expired"),
        Err(e) => panic!("[{p}] an expired token must be AuthError::Expired, got {e:?}"),
        Ok(t) => panic!("[{p}] an expired token must be rejected, but verified as {t:?}"),
    }

    let mut invalid: Vec<(&str, &str)> = vec![
        ("tampered", fx.tampered.as_str()),
        ("wrong-key", fx.wrong_key.as_str()),
        ("empty", ""),
        ("garbage", "garbage"),
    ];
    if let Some(none) = &fx.alg_none {
        invalid.push(("alg:none", none.as_str()));
    }
    for (what, token) in invalid {
        match v.verify(token).await {
            Err(e @ AuthError::InvalidToken { .. }) => assert_token_not_in(&e, token, what),
            Err(e) => panic!("[{p}] the {what} token must be AuthError::InvalidToken, got {e:?}"),
            Ok(t) => panic!("[{p}] the {what} token must be rejected, but verified as {t:?}"),
        }
    }
}

/// Checks the [`SessionIssuer`] contract together with its paired
/// `verifier`: an issued token verifies with subject = the user id, issuer
/// [`LOCAL_ISSUER`] and expiry ≈ now + ttl; tokens of two users differ and
/// verify to their own user; the `Debug` form of [`IssuedToken`] hides the
/// token.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn session_issuer_contract(issuer: &dyn SessionIssuer, verifier: &dyn AuthVerifier) {
    let p = verifier.provider();
    let ttl = std::time::Duration::from_secs(3600);
    let slack = chrono::Duration::seconds(5);
    let (user, account) = (UserId(Uuid::new_v4()), AccountId(Uuid::new_v4()));
    let before = Utc::now();
    let issued = issuer
        .issue(user, account, ttl)
        .await
        .unwrap_or_else(|e| panic!("[{p}] issue must succeed: {e:?}"));
    let after = Utc::now();
    let hour = chrono::Duration::hours(1);
    assert!(
        issued.expires_at >= before + hour - slack && issued.expires_at <= after + hour + slack,
        "[{p}] IssuedToken.expires_at must be now + ttl, got {} (now {after})",
        issued.expires_at
    );
    let token = issued.token.expose().to_owned();
    assert!(!token.is_empty(), "[{p}] an issued token must not be empty");
    let debug = format!("{issued:?}");
    assert!(
        !debug.contains(&token),
        "[{p}] the Debug form of IssuedToken must not contain the token: {debug}"
    );

    let v = verifier
        .verify(&token)
        .await
        .unwrap_or_else(|e| panic!("[{p}] an issued token must verify, got {e:?}"));
    assert_eq!(
        v.subject,
        user.to_string(),
        "[{p}] an issued token's subject must be the user id"
    );
    assert_eq!(
        v.issuer, LOCAL_ISSUER,
        "[{p}] an issued token's issuer must be LOCAL_ISSUER"
    );
    let exp = v
        .expires_at
        .unwrap_or_else(|| panic!("[{p}] an issued token must carry its expiry"));
    assert!(
        (exp - issued.expires_at).num_seconds().abs() <= 2,
        "[{p}] the verified expiry ({exp}) must match IssuedToken.expires_at ({})",
        issued.expires_at
    );

    let other = UserId(Uuid::new_v4());
    let issued2 = issuer
        .issue(other, account, ttl)
        .await
        .unwrap_or_else(|e| panic!("[{p}] issue must succeed: {e:?}"));
    assert_ne!(
        issued2.token.expose(),
        token,
        "[{p}] tokens of different users must differ"
    );
    let v2 = verifier
        .verify(issued2.token.expose())
        .await
        .unwrap_or_else(|e| panic!("[{p}] an issued token must verify: {e:?}"));
    assert_eq!(
        v2.subject,
        other.to_string(),
        "[{p}] each token verifies to its own user"
    );
}

/// Checks the [`PasswordHasher`] contract: hash then verify is `true`; a
/// wrong password is `false`; two hashes of one password differ (fresh
/// salt); malformed hashes are `Ok(false)`, not errors; the hash does not
/// contain the password.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn password_hasher_contract(h: &dyn PasswordHasher) {
    let pw = Secret::new("correct horse battery staple");
    let hash = h.hash(&pw).await.unwrap_or_else(|e| panic!("hash must succeed: {e:?}"));
    assert!(
        !hash.contains(pw.expose()),
        "a password hash must not contain the password: {hash}"
    );
    assert!(!hash.is_empty(), "a password hash must not be empty");
    let good = h
        .verify(&pw, &hash)
        .await
        .unwrap_or_else(|e| panic!("verify must succeed: {e:?}"));
    assert!(good, "verify(password, hash(password)) must be true");
    let wrong = h
        .verify(&Secret::new("correct horse battery stapler"), &hash)
        .await
        .unwrap_or_else(|e| panic!("verify must succeed: {e:?}"));
    assert!(!wrong, "verify(wrong password, hash) must be false");
    let empty = h
        .verify(&Secret::new(""), &hash)
        .await
        .unwrap_or_else(|e| panic!("verify must succeed: {e:?}"));
    assert!(!empty, "verify(empty password, hash) must be false");
    let hash2 = h.hash(&pw).await.unwrap_or_else(|e| panic!("hash must succeed: {e:?}"));
    assert_ne!(hash, hash2, "two hashes of the same password must differ (fresh salt)");
    assert!(
        h.verify(&pw, &hash2).await.unwrap_or(false),
        "the second hash must verify too"
    );
    for bad in [
        "",
        "not-a-hash",
        "$argon2id$garbage",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$AAAA",
        "fake$x",
        "fake$$",
    ] {
        match h.verify(&pw, bad).await {
            Ok(false) => {}
            other => panic!("verify against the malformed hash {bad:?} must be Ok(false), got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::ManualClock;

    #[tokio::test]
    async fn fake_passes_contracts() {
        let auth = FakeAuth::new();
        auth_verifier_contract(&auth, &auth.fixture()).await;
        session_issuer_contract(&auth, &auth).await;
        password_hasher_contract(&auth).await;
    }

    #[tokio::test]
    async fn expiry_follows_the_clock() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let auth = FakeAuth::with_clock(clock.clone());
        let issued = auth
            .issue(
                UserId(Uuid::new_v4()),
                AccountId(Uuid::new_v4()),
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(issued.expires_at, start + chrono::Duration::seconds(60));
        assert!(AuthVerifier::verify(&auth, issued.token.expose()).await.is_ok());
        clock.advance(chrono::Duration::seconds(61));
        assert!(matches!(
            AuthVerifier::verify(&auth, issued.token.expose()).await,
            Err(AuthError::Expired)
        ));
        auth.forget(issued.token.expose());
        assert!(matches!(
            AuthVerifier::verify(&auth, issued.token.expose()).await,
            Err(AuthError::InvalidToken { .. })
        ));
        assert!(!format!("{auth:?}").contains("fake_"));
    }

    #[tokio::test]
    async fn registered_idp_tokens() {
        let auth = FakeAuth::new();
        let t = VerifiedToken {
            issuer: "https://idp.example.com".into(),
            subject: "abc".into(),
            email: Some("a@b.io".into()),
            expires_at: None,
        };
        auth.register("idp-token", t.clone());
        assert_eq!(AuthVerifier::verify(&auth, "idp-token").await.unwrap(), t);
    }

    #[tokio::test]
    #[should_panic(expected = "an expired token must be rejected")]
    async fn contract_catches_accepted_expired_tokens() {
        // A verifier without expiry checks.
        let auth = FakeAuth::new();
        let mut fx = auth.fixture();
        fx.expired = auth.mint("someone", Utc::now() + chrono::Duration::hours(1));
        auth_verifier_contract(&auth, &fx).await;
    }
}
