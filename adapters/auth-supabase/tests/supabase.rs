//! The Supabase adapter with tokens signed the way GoTrue signs them: HS256
//! under the project JWT secret and ES256 under a key of the project JWKS
//! (served here on loopback).

use lettuce_auth_supabase::{SupabaseAuth, SupabaseAuthConfig};
use lettuce_domain::Secret;
use lettuce_jwt_verify::testing::{
    DocServer, EC_A, Expect, RSA_A, alg_none, attack_table, jwks, sign, sign_hs256, tamper, with,
};
use lettuce_ports::auth::{AuthError, AuthVerifier};
use lettuce_ports::config::Settings;
use lettuce_ports::testing::auth::{AuthFixture, auth_verifier_contract};
use serde_json::{Value, json};
use std::collections::HashMap;

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
const JWKS_PATH: &str = "/auth/v1/.well-known/jwks.json";

fn config(url: &str) -> SupabaseAuthConfig {
    let env: HashMap<String, String> = [("SUPABASE_URL".to_owned(), url.to_owned())].into();
    let mut s = Settings::new(&env);
    let c = SupabaseAuthConfig::from_settings(&mut s);
    s.finish(c).unwrap()
}

/// The claims GoTrue puts in a user's access token.
fn gotrue_claims(url: &str, sub: &str) -> Value {
    let now = lettuce_jwt_verify::testing::now();
    json!({
        "iss": format!("{url}/auth/v1"),
        "sub": sub,
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "email": "dev@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"email_verified": true},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": "6d1b3b1e-7a52-4d5f-9c1e-3f1f0c8f5a10",
        "is_anonymous": false
    })
}

async fn project() -> (DocServer, SupabaseAuth) {
    let server = DocServer::start().await;
    server.set(JWKS_PATH, jwks(&[EC_A]));
    let auth = SupabaseAuth::new(config(&server.base), Some(Secret::new(SECRET))).unwrap();
    (server, auth)
}

#[tokio::test]
async fn hs256_and_es256_gotrue_tokens_verify() {
    let (server, auth) = project().await;
    let sub = "8d0e8f4b-3a51-4a7e-9b1c-2f7a6c9d0e11";
    let c = gotrue_claims(&server.base, sub);
    let hs = sign_hs256(SECRET.as_bytes(), None, &c);
    let v = auth.verify(&hs).await.unwrap();
    assert_eq!(v.subject, sub);
    assert_eq!(v.issuer, format!("{}/auth/v1", server.base));
    assert_eq!(v.email.as_deref(), Some("dev@example.com"));
    let es = sign(&EC_A, &c);
    assert_eq!(auth.verify(&es).await.unwrap().subject, sub);
}

#[tokio::test]
async fn passes_the_auth_verifier_contract_for_both_kinds() {
    let (server, auth) = project().await;
    let good = gotrue_claims(&server.base, "user-1");
    let now = lettuce_jwt_verify::testing::now();
    let expired = with(&good, &json!({"iat": now - 7200, "exp": now - 3600}));
    let hs = sign_hs256(SECRET.as_bytes(), None, &good);
    auth_verifier_contract(
        &auth,
        &AuthFixture {
            valid: hs.clone(),
            valid_subject: "user-1".into(),
            expired: sign_hs256(SECRET.as_bytes(), None, &expired),
            tampered: tamper(&hs, &with(&good, &json!({"sub": "user-2"}))),
            wrong_key: sign_hs256(b"another-projects-secret-of-40-characters!", None, &good),
            alg_none: Some(alg_none(&good)),
        },
    )
    .await;
    let es = sign(&EC_A, &good);
    auth_verifier_contract(
        &auth,
        &AuthFixture {
            valid: es.clone(),
            valid_subject: "user-1".into(),
            expired: sign(&EC_A, &expired),
            tampered: tamper(&es, &with(&good, &json!({"role": "service_role"}))),
            wrong_key: sign(&RSA_A, &good),
            alg_none: Some(alg_none(&good)),
        },
    )
    .await;
}

#[tokio::test]
async fn attack_table_is_refused() {
    let (server, auth) = project().await;
    let iss = format!("{}/auth/v1", server.base);
    for attack in attack_table(&EC_A, &iss, "authenticated") {
        match (attack.expect, auth.verify(&attack.token).await) {
            (Expect::Invalid, Err(AuthError::InvalidToken { .. })) | (Expect::Expired, Err(AuthError::Expired)) => {}
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", attack.name),
        }
    }
    // The project's anon and service_role keys are not user tokens.
    let good = gotrue_claims(&server.base, "u");
    for role in ["anon", "service_role"] {
        let t = sign_hs256(SECRET.as_bytes(), None, &with(&good, &json!({"role": role})));
        assert!(
            matches!(auth.verify(&t).await, Err(AuthError::InvalidToken { .. })),
            "role {role}"
        );
    }
    // Another project's token (other issuer, same secret) is refused.
    let other = with(&good, &json!({"iss": "https://other.supabase.co/auth/v1"}));
    assert!(matches!(
        auth.verify(&sign_hs256(SECRET.as_bytes(), None, &other)).await,
        Err(AuthError::InvalidToken { .. })
    ));
}

#[tokio::test]
async fn without_the_secret_hs256_is_refused_and_jwks_down_fails_closed() {
    let server = DocServer::start().await;
    server.set(JWKS_PATH, jwks(&[EC_A]));
    let auth = SupabaseAuth::new(config(&server.base), None).unwrap();
    let good = gotrue_claims(&server.base, "u");
    assert!(matches!(
        auth.verify(&sign_hs256(SECRET.as_bytes(), None, &good)).await,
        Err(AuthError::InvalidToken { .. })
    ));
    server.set_up(false);
    assert!(matches!(
        auth.verify(&sign(&EC_A, &good)).await,
        Err(AuthError::Backend { retryable: true, .. })
    ));
}

#[test]
fn configuration() {
    let env: HashMap<String, String> = HashMap::new();
    let mut s = Settings::new(&env);
    let c = SupabaseAuthConfig::from_settings(&mut s);
    assert_eq!(s.finish(c).unwrap_err().vars(), ["SUPABASE_URL"]);
    let c = config("https://abcd.supabase.co/");
    assert_eq!(c.issuer(), "https://abcd.supabase.co/auth/v1");
    assert_eq!(c.jwks_url(), "https://abcd.supabase.co/auth/v1/.well-known/jwks.json");
    assert!(matches!(
        SupabaseAuth::new(c, Some(Secret::new("short"))),
        Err(AuthError::Misconfigured { .. })
    ));
}
