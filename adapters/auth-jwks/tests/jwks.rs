//! The static-JWKS adapter: the AuthVerifier contract, the attack table,
//! fail-closed on a JWKS outage, and its configuration.

use lettuce_auth_jwks::{JwksAuth, JwksAuthConfig, JwksLocation};
use lettuce_jwt_verify::testing::{DocServer, Expect, RSA_A, RSA_B, alg_none, attack_table, claims, jwks, sign, with};
use lettuce_ports::auth::{AuthError, AuthVerifier};
use lettuce_ports::config::Settings;
use lettuce_ports::testing::auth::{AuthFixture, auth_verifier_contract};
use serde_json::json;
use std::collections::HashMap;

const ISS: &str = "https://idp.test/";
const AUD: &str = "lettuce";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn config(pairs: &[(&str, &str)]) -> Result<JwksAuthConfig, lettuce_ports::config::ConfigErrors> {
    let env = env(pairs);
    let mut s = Settings::new(&env);
    let c = JwksAuthConfig::from_settings(&mut s);
    s.finish(c)
}

async fn auth_for(server: &DocServer) -> JwksAuth {
    let url = server.url("/jwks.json");
    JwksAuth::new(
        config(&[
            ("LETTUCE_JWKS_URL", url.as_str()),
            ("LETTUCE_JWT_ISSUER", ISS),
            ("LETTUCE_JWT_AUDIENCE", AUD),
        ])
        .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn passes_the_auth_verifier_contract() {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[RSA_A]));
    let auth = auth_for(&server).await;
    let good = claims(ISS, AUD, "user-1");
    let now = lettuce_jwt_verify::testing::now();
    let valid = sign(&RSA_A, &good);
    let fx = AuthFixture {
        valid: valid.clone(),
        valid_subject: "user-1".into(),
        expired: sign(&RSA_A, &with(&good, &json!({"iat": now - 7200, "exp": now - 3600}))),
        tampered: lettuce_jwt_verify::testing::tamper(&valid, &with(&good, &json!({"sub": "user-2"}))),
        wrong_key: {
            let mut k = RSA_B;
            k.kid = RSA_A.kid;
            sign(&k, &good)
        },
        alg_none: Some(alg_none(&good)),
    };
    auth_verifier_contract(&auth, &fx).await;
}

#[tokio::test]
async fn attack_table_is_refused() {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[RSA_A]));
    let auth = auth_for(&server).await;
    for attack in attack_table(&RSA_A, ISS, AUD) {
        match (attack.expect, auth.verify(&attack.token).await) {
            (Expect::Invalid, Err(AuthError::InvalidToken { .. })) | (Expect::Expired, Err(AuthError::Expired)) => {}
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", attack.name),
        }
    }
    // The unknown kid made at most one refetch.
    assert!(server.hits("/jwks.json") <= 2, "{} fetches", server.hits("/jwks.json"));
}

#[tokio::test]
async fn jwks_down_fails_closed_as_retryable_backend_error() {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[RSA_A]));
    server.set_up(false);
    let auth = auth_for(&server).await;
    let t = sign(&RSA_A, &claims(ISS, AUD, "u"));
    match auth.verify(&t).await {
        Err(e @ AuthError::Backend { retryable: true, .. }) => {
            assert!(!e.to_string().contains(&t));
        }
        other => panic!("JWKS down must be a retryable backend error (503), got {other:?}"),
    }
}

#[tokio::test]
async fn jwks_file_rotates_by_replacing_the_file() {
    let dir = std::env::temp_dir().join(format!("auth-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[RSA_A])).unwrap();
    let p = path.to_str().unwrap();
    let auth = JwksAuth::new(
        config(&[
            ("LETTUCE_JWKS_FILE", p),
            ("LETTUCE_JWT_ISSUER", ISS),
            ("LETTUCE_JWT_AUDIENCE", "a,lettuce"),
            ("LETTUCE_JWKS_REFETCH_SECS", "1"),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(auth.prefetch().await.unwrap(), 1);
    let good = claims(ISS, AUD, "u");
    assert!(auth.verify(&sign(&RSA_A, &good)).await.is_ok());
    std::fs::write(&path, jwks(&[RSA_B])).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(auth.verify(&sign(&RSA_B, &good)).await.unwrap().subject, "u");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn configuration_names_every_problem() {
    let errs = config(&[]).unwrap_err();
    assert_eq!(
        errs.vars(),
        ["LETTUCE_JWKS_URL", "LETTUCE_JWT_ISSUER", "LETTUCE_JWT_AUDIENCE"]
    );
    let errs = config(&[
        ("LETTUCE_JWKS_URL", "https://idp/jwks"),
        ("LETTUCE_JWKS_FILE", "/etc/jwks.json"),
        ("LETTUCE_JWT_ISSUER", ISS),
        ("LETTUCE_JWT_AUDIENCE", AUD),
        ("LETTUCE_JWT_LEEWAY_SECS", "3600"),
    ])
    .unwrap_err();
    assert_eq!(errs.vars(), ["LETTUCE_JWKS_FILE", "LETTUCE_JWT_LEEWAY_SECS"]);
    let errs = config(&[
        ("LETTUCE_JWKS_URL", "ftp://idp/jwks"),
        ("LETTUCE_JWT_ISSUER", ISS),
        ("LETTUCE_JWT_AUDIENCE", AUD),
    ])
    .unwrap_err();
    assert_eq!(errs.vars(), ["LETTUCE_JWKS_URL"]);
    let c = config(&[
        ("LETTUCE_JWKS_URL", "https://idp.test/jwks.json"),
        ("LETTUCE_JWT_ISSUER", ISS),
        ("LETTUCE_JWT_AUDIENCE", " a , b "),
    ])
    .unwrap();
    assert_eq!(c.audiences, ["a", "b"]);
    assert!(matches!(c.location, JwksLocation::Url(_)));
    assert!(c.describe().iter().any(|(k, _)| *k == "LETTUCE_JWT_AUDIENCE"));
}
