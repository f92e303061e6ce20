//! The OIDC adapter against a loopback discovery document and JWKS (the
//! real provider is exercised by apps/lettuce/tests/oidc_e2e.rs).

use lettuce_auth_oidc::{OidcAuth, OidcAuthConfig};
use lettuce_jwt_verify::testing::{
    DocServer, Expect, RSA_A, RSA_B, alg_none, attack_table, claims, jwks, sign, tamper, with,
};
use lettuce_ports::auth::{AuthError, AuthVerifier};
use lettuce_ports::config::Settings;
use lettuce_ports::testing::auth::{AuthFixture, auth_verifier_contract};
use serde_json::json;
use std::collections::HashMap;

const AUD: &str = "https://lettuce.test/api";

fn config(pairs: &[(&str, &str)]) -> Result<OidcAuthConfig, lettuce_ports::config::ConfigErrors> {
    let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let mut s = Settings::new(&env);
    let c = OidcAuthConfig::from_settings(&mut s);
    s.finish(c)
}

async fn provider() -> (DocServer, OidcAuth) {
    let server = DocServer::start().await;
    let iss = server.base.clone();
    server.set(
        "/.well-known/openid-configuration",
        json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/auth"),
            "token_endpoint": format!("{iss}/token"),
            "jwks_uri": format!("{iss}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "end_session_endpoint": format!("{iss}/session/end")
        })
        .to_string(),
    );
    server.set("/jwks", jwks(&[RSA_A]));
    let auth = OidcAuth::new(
        config(&[
            ("LETTUCE_OIDC_ISSUER", iss.as_str()),
            ("LETTUCE_OIDC_AUDIENCE", AUD),
            ("LETTUCE_JWKS_REFETCH_SECS", "1"),
        ])
        .unwrap(),
    )
    .unwrap();
    (server, auth)
}

#[tokio::test]
async fn discovery_then_contract() {
    let (server, auth) = provider().await;
    assert_eq!(auth.prefetch().await.unwrap(), 1);
    assert!(server.hits("/.well-known/openid-configuration") >= 1);
    let iss = server.base.clone();
    let good = claims(&iss, AUD, "user-1");
    let now = lettuce_jwt_verify::testing::now();
    let valid = sign(&RSA_A, &good);
    auth_verifier_contract(
        &auth,
        &AuthFixture {
            valid: valid.clone(),
            valid_subject: "user-1".into(),
            expired: sign(&RSA_A, &with(&good, &json!({"iat": now - 7200, "exp": now - 3600}))),
            tampered: tamper(&valid, &with(&good, &json!({"sub": "user-2"}))),
            wrong_key: {
                let mut k = RSA_B;
                k.kid = RSA_A.kid;
                sign(&k, &good)
            },
            alg_none: Some(alg_none(&good)),
        },
    )
    .await;
    let md = auth.metadata().await.unwrap();
    assert_eq!(md.issuer().as_str(), iss);
}

#[tokio::test]
async fn attack_table_is_refused() {
    let (server, auth) = provider().await;
    for attack in attack_table(&RSA_A, &server.base, AUD) {
        match (attack.expect, auth.verify(&attack.token).await) {
            (Expect::Invalid, Err(AuthError::InvalidToken { .. })) | (Expect::Expired, Err(AuthError::Expired)) => {}
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", attack.name),
        }
    }
}

#[tokio::test]
async fn key_rotation_is_picked_up_without_restart() {
    let (server, auth) = provider().await;
    let good = claims(&server.base, AUD, "u");
    auth.verify(&sign(&RSA_A, &good)).await.unwrap();
    server.set("/jwks", jwks(&[RSA_B]));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(auth.verify(&sign(&RSA_B, &good)).await.unwrap().subject, "u");
}

#[tokio::test]
async fn provider_down_fails_closed_then_recovers() {
    let (server, auth) = provider().await;
    server.set_up(false);
    let t = sign(&RSA_A, &claims(&server.base, AUD, "u"));
    assert!(matches!(
        auth.verify(&t).await,
        Err(AuthError::Backend { retryable: true, .. })
    ));
    server.set_up(true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(auth.verify(&t).await.unwrap().subject, "u");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let server = DocServer::start().await;
    server.set(
        "/.well-known/openid-configuration",
        json!({
            "issuer": "https://evil.example.com",
            "authorization_endpoint": "https://evil.example.com/auth",
            "jwks_uri": format!("{}/jwks", server.base),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]
        })
        .to_string(),
    );
    server.set("/jwks", jwks(&[RSA_A]));
    let auth = OidcAuth::new(config(&[("LETTUCE_OIDC_ISSUER", &server.base), ("LETTUCE_OIDC_AUDIENCE", AUD)]).unwrap())
        .unwrap();
    let t = sign(&RSA_A, &claims("https://evil.example.com", AUD, "u"));
    assert!(auth.verify(&t).await.is_err());
}

#[test]
fn configuration() {
    assert_eq!(
        config(&[]).unwrap_err().vars(),
        ["LETTUCE_OIDC_ISSUER", "LETTUCE_OIDC_AUDIENCE"]
    );
    let c = config(&[
        ("LETTUCE_OIDC_ISSUER", "https://login.example.com/"),
        ("LETTUCE_OIDC_CLIENT_ID", "lettuce-web"),
    ])
    .unwrap();
    assert_eq!(c.audiences, ["lettuce-web"]);
    assert_eq!(c.issuer, "https://login.example.com/");
}
