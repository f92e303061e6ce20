//! Contract and adapter-specific tests for `LocalAuth`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lettuce_auth_local::LocalAuth;
use lettuce_ports::auth::{AuthError, AuthVerifier, LOCAL_ISSUER, PasswordHasher, SessionIssuer};
use lettuce_ports::domain::{AccountId, Secret, UserId};
use lettuce_ports::testing::auth::{
    AuthFixture, auth_verifier_contract, password_hasher_contract, session_issuer_contract,
};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const KEY: &str = "0123456789abcdef0123456789abcdef-test-signing-key";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210-other-signing-key";

fn auth() -> LocalAuth {
    LocalAuth::new(Secret::new(KEY)).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims like the adapter's, with `exp` offset from now.
fn claims(sub: &str, exp_offset: i64) -> serde_json::Value {
    json!({
        "iss": LOCAL_ISSUER,
        "aud": "lettuce",
        "sub": sub,
        "acct": Uuid::new_v4().to_string(),
        "iat": now(),
        "exp": now() + exp_offset,
        "jti": Uuid::new_v4().simple().to_string(),
    })
}

fn sign(alg: Algorithm, claims: &serde_json::Value, key: &str) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `token` with one character of its payload segment changed.
fn flip_payload_char(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Vec<char> = parts[1].chars().collect();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == 'A' { 'B' } else { 'A' };
    let payload: String = payload.into_iter().collect();
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

async fn fixture(auth: &LocalAuth) -> AuthFixture {
    let user = UserId::from_uuid(Uuid::new_v4());
    let valid = auth
        .issue(user, AccountId::from_uuid(Uuid::new_v4()), Duration::from_secs(600))
        .await
        .unwrap();
    let valid = valid.token.expose().to_owned();
    let sub = user.to_string();
    let payload = valid.split('.').nth(1).unwrap().to_owned();
    AuthFixture {
        tampered: flip_payload_char(&valid),
        valid,
        valid_subject: sub.clone(),
        // Well beyond the 30 s leeway.
        expired: sign(Algorithm::HS256, &claims(&sub, -3600), KEY),
        wrong_key: sign(Algorithm::HS256, &claims(&sub, 600), OTHER_KEY),
        alg_none: Some(format!("eyJhbGciOiJub25lIn0.{payload}.")),
    }
}

#[tokio::test]
async fn verifier_meets_the_contract() {
    let auth = auth();
    assert_eq!(auth.provider(), "local");
    let fx = fixture(&auth).await;
    auth_verifier_contract(&auth, &fx).await;
}

#[tokio::test]
async fn issuer_meets_the_contract() {
    let auth = auth();
    session_issuer_contract(&auth, &auth).await;
}

#[tokio::test]
async fn hasher_meets_the_contract() {
    password_hasher_contract(&auth()).await;
}

#[test]
fn short_keys_are_misconfigured() {
    for short in ["", "short", &"x".repeat(31)] {
        match LocalAuth::new(Secret::new(short)) {
            Err(AuthError::Misconfigured {
                provider: "local",
                reason,
            }) => {
                assert!(reason.contains("JWT_SIGNING_KEY"), "{reason}");
                assert!(reason.contains("openssl rand"), "says how to generate one: {reason}");
            }
            other => panic!("a {}-byte key must be Misconfigured, got {other:?}", short.len()),
        }
    }
    assert!(LocalAuth::new(Secret::new("x".repeat(32))).is_ok());
}

#[test]
fn debug_hides_the_key() {
    let dbg = format!("{:?}", auth());
    assert!(!dbg.contains(KEY) && !dbg.contains("0123456789abcdef"), "{dbg}");
    assert!(dbg.contains("HS256"), "{dbg}");
}

#[tokio::test]
async fn other_algorithms_with_the_same_key_are_rejected() {
    let auth = auth();
    let sub = Uuid::new_v4().to_string();
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, &claims(&sub, 600), KEY);
        match AuthVerifier::verify(&auth, &token).await {
            Err(AuthError::InvalidToken { reason }) => assert!(reason.contains("algorithm"), "{reason}"),
            other => panic!("a {alg:?} token must be rejected, got {other:?}"),
        }
    }
    // The same claims signed HS256 with the same key do verify.
    let token = sign(Algorithm::HS256, &claims(&sub, 600), KEY);
    assert_eq!(AuthVerifier::verify(&auth, &token).await.unwrap().subject, sub);
}

#[tokio::test]
async fn alg_none_variants_are_rejected() {
    let auth = auth();
    let payload = b64url(claims(&Uuid::new_v4().to_string(), 600).to_string().as_bytes());
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None","typ":"JWT"}"#,
        r#"{"alg":"NONE"}"#,
        r#"{"typ":"JWT"}"#,
    ] {
        for sig in ["", "AAAA"] {
            let token = format!("{}.{payload}.{sig}", b64url(header.as_bytes()));
            assert!(
                matches!(
                    AuthVerifier::verify(&auth, &token).await,
                    Err(AuthError::InvalidToken { .. })
                ),
                "{header} with signature {sig:?} must be rejected"
            );
        }
    }
}

#[tokio::test]
async fn issuer_audience_and_claims_are_checked() {
    let auth = auth();
    let sub = Uuid::new_v4().to_string();
    let mut cases = Vec::new();
    let mut c = claims(&sub, 600);
    c["iss"] = json!("someone-else");
    cases.push(("issuer", c));
    let mut c = claims(&sub, 600);
    c["aud"] = json!("another-app");
    cases.push(("audience", c));
    let mut c = claims(&sub, 600);
    c.as_object_mut().unwrap().remove("aud");
    cases.push(("aud", c));
    let mut c = claims(&sub, 600);
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("exp", c));
    let mut c = claims(&sub, 600);
    c.as_object_mut().unwrap().remove("acct");
    cases.push(("acct", c));
    let mut c = claims(&sub, 600);
    c["acct"] = json!(42);
    cases.push(("malformed", c));
    cases.push(("user id", claims("not-a-uuid", 600)));
    for (want, c) in cases {
        let token = sign(Algorithm::HS256, &c, KEY);
        match AuthVerifier::verify(&auth, &token).await {
            Err(AuthError::InvalidToken { reason }) => {
                assert!(reason.contains(want), "expected a reason about {want}, got {reason:?}");
                assert!(
                    !reason.contains(&sub),
                    "the reason must not quote the token's content: {reason}"
                );
            }
            other => panic!("claims {c} must be rejected, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn expiry_leeway_is_at_most_thirty_seconds() {
    let auth = auth();
    let sub = Uuid::new_v4().to_string();
    // Just expired, within the leeway: accepted (clock skew).
    let token = sign(Algorithm::HS256, &claims(&sub, -10), KEY);
    assert!(AuthVerifier::verify(&auth, &token).await.is_ok());
    // Past the leeway.
    let token = sign(Algorithm::HS256, &claims(&sub, -45), KEY);
    assert!(matches!(
        AuthVerifier::verify(&auth, &token).await,
        Err(AuthError::Expired)
    ));
    // An expired token with a bad signature is invalid, not expired.
    let token = sign(Algorithm::HS256, &claims(&sub, -3600), OTHER_KEY);
    assert!(matches!(
        AuthVerifier::verify(&auth, &token).await,
        Err(AuthError::InvalidToken { .. })
    ));
}

#[tokio::test]
async fn issued_tokens_carry_the_documented_claims() {
    let auth = auth();
    let (user, account) = (UserId::from_uuid(Uuid::new_v4()), AccountId::from_uuid(Uuid::new_v4()));
    let a = auth.issue(user, account, Duration::from_secs(60)).await.unwrap();
    let b = auth.issue(user, account, Duration::from_secs(60)).await.unwrap();
    assert_ne!(a.token.expose(), b.token.expose(), "jti makes every token unique");
    let header = jsonwebtoken::decode_header(a.token.expose()).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let c: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(a.token.expose())
        .unwrap()
        .claims;
    assert_eq!(c["iss"], "lettuce");
    assert_eq!(c["aud"], "lettuce");
    assert_eq!(c["sub"], user.to_string());
    assert_eq!(c["acct"], account.to_string());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 60);
    assert_eq!(c["exp"].as_i64().unwrap(), a.expires_at.timestamp());
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 32));
    assert!(matches!(
        auth.issue(user, account, Duration::ZERO).await,
        Err(AuthError::Misconfigured { .. })
    ));
    assert!(matches!(
        auth.issue(user, account, Duration::MAX).await,
        Err(AuthError::Misconfigured { .. })
    ));
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_invalid() {
    let auth = auth();
    for token in [
        "a.b.c",
        "..",
        "x".repeat(20_000).as_str(),
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    ] {
        assert!(matches!(
            AuthVerifier::verify(&auth, token).await,
            Err(AuthError::InvalidToken { .. })
        ));
    }
}

#[tokio::test]
async fn hashes_are_argon2id_with_default_parameters() {
    let auth = auth();
    let hash = auth.hash(&Secret::new("a long enough password")).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    // A hash of another scheme or with bad parameters is simply "no".
    assert!(
        !PasswordHasher::verify(
            &auth,
            &Secret::new("x"),
            "$2b$12$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"
        )
        .await
        .unwrap()
    );
    assert!(
        !PasswordHasher::verify(
            &auth,
            &Secret::new("x"),
            "$argon2id$v=19$m=1,t=0,p=0$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA"
        )
        .await
        .unwrap()
    );
}
