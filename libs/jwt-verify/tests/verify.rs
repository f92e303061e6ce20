//! The verification core against signed test tokens and a loopback JWKS.

use lettuce_jwt_verify::testing::{
    DocServer, EC_A, Expect, RSA_A, RSA_B, alg_confusion, attack_table, claims, jwks, sign, sign_hs256, sign_kid, with,
};
use lettuce_jwt_verify::{FileJwks, HmacSecret, JwksSource, JwtVerifier, VerifierConfig, VerifyError};

/// A JWKS over HTTP, as the adapters fetch it.
#[derive(Debug)]
struct HttpJwks {
    client: lettuce_http_client::HttpClient,
    url: String,
}

impl HttpJwks {
    fn new(client: lettuce_http_client::HttpClient, url: String) -> Self {
        Self { client, url }
    }
}

#[async_trait::async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<String, String> {
        lettuce_http_client::get_text(&self.client, &self.url, lettuce_jwt_verify::MAX_JWKS_BYTES).await
    }
}
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const ISS: &str = "https://idp.test/";
const AUD: &str = "lettuce-api";

async fn setup(keys: &[lettuce_jwt_verify::testing::TestKey]) -> (DocServer, Arc<JwtVerifier>) {
    setup_with(keys, Duration::from_secs(60)).await
}

async fn setup_with(
    keys: &[lettuce_jwt_verify::testing::TestKey],
    interval: Duration,
) -> (DocServer, Arc<JwtVerifier>) {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(keys));
    let client = lettuce_http_client::build(lettuce_http_client::ClientOptions::new("test")).unwrap();
    let source = HttpJwks::new(client, server.url("/jwks.json"));
    let verifier = JwtVerifier::new(
        VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]).refetch_interval(interval),
        Some(Arc::new(source)),
    );
    (server, Arc::new(verifier))
}

#[tokio::test]
async fn valid_tokens_verify_with_rsa_and_ec_keys() {
    let (_server, v) = setup(&[RSA_A, EC_A]).await;
    for key in [RSA_A, EC_A] {
        let t = sign(&key, &claims(ISS, AUD, "alice"));
        let ok = v.verify(&t).await.unwrap();
        assert_eq!(ok.subject, "alice");
        assert_eq!(ok.issuer, ISS);
        assert_eq!(ok.email.as_deref(), Some("alice@example.com"));
        assert_eq!(ok.kid.as_deref(), Some(key.kid));
    }
    // aud as an array containing ours.
    let t = sign(&RSA_A, &with(&claims(ISS, AUD, "bob"), &json!({"aud": ["other", AUD]})));
    assert_eq!(v.verify(&t).await.unwrap().subject, "bob");
    // Without kid: tried against the keys of the algorithm.
    let t = sign_kid(&RSA_A, None, &claims(ISS, AUD, "carol"));
    assert_eq!(v.verify(&t).await.unwrap().subject, "carol");
    // An unverified email is not passed on.
    let t = sign(
        &RSA_A,
        &with(&claims(ISS, AUD, "dan"), &json!({"email_verified": false})),
    );
    assert_eq!(v.verify(&t).await.unwrap().email, None);
}

#[tokio::test]
async fn attack_table_is_refused() {
    let (_server, v) = setup(&[RSA_A]).await;
    for attack in attack_table(&RSA_A, ISS, AUD) {
        let got = v.verify(&attack.token).await;
        match (attack.expect, &got) {
            (Expect::Invalid, Err(VerifyError::Invalid(_))) | (Expect::Expired, Err(VerifyError::Expired)) => {}
            _ => panic!("{}: expected {:?}, got {got:?}", attack.name, attack.expect),
        }
        if let Err(e) = got
            && !attack.token.is_empty()
        {
            for part in attack.token.split('.').filter(|p| p.len() > 12) {
                assert!(!e.to_string().contains(part), "{}: error quotes the token", attack.name);
            }
        }
    }
}

#[tokio::test]
async fn leeway_is_bounded() {
    let (_server, v) = setup(&[RSA_A]).await;
    let now = lettuce_jwt_verify::testing::now();
    // Expired 30 s ago: inside the default 60 s leeway.
    let t = sign(&RSA_A, &with(&claims(ISS, AUD, "a"), &json!({"exp": now - 30})));
    assert!(v.verify(&t).await.is_ok());
    // Expired 2 minutes ago: outside.
    let t = sign(&RSA_A, &with(&claims(ISS, AUD, "a"), &json!({"exp": now - 120})));
    assert_eq!(v.verify(&t).await, Err(VerifyError::Expired));
    // A leeway beyond MAX_LEEWAY is capped.
    let c = VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]).leeway(Duration::from_secs(86_400));
    assert_eq!(c.leeway, lettuce_jwt_verify::MAX_LEEWAY);
}

#[tokio::test]
async fn hmac_only_with_the_configured_secret() {
    let secret = b"super-secret-jwt-token-with-at-least-32-characters-long";
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[EC_A]));
    let client = lettuce_http_client::build(lettuce_http_client::ClientOptions::new("test")).unwrap();
    let v = JwtVerifier::new(
        VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]).hmac_secret(HmacSecret::new(secret.to_vec())),
        Some(Arc::new(HttpJwks::new(client, server.url("/jwks.json")))),
    );
    let good = claims(ISS, AUD, "u1");
    assert_eq!(v.verify(&sign_hs256(secret, None, &good)).await.unwrap().subject, "u1");
    assert_eq!(v.verify(&sign(&EC_A, &good)).await.unwrap().subject, "u1");
    assert!(matches!(
        v.verify(&sign_hs256(
            b"another-secret-of-the-same-length-as-the-first",
            None,
            &good
        ))
        .await,
        Err(VerifyError::Invalid(_))
    ));
    // Confusion with the EC public key is still refused.
    assert!(matches!(
        v.verify(&alg_confusion(&EC_A, &good)).await,
        Err(VerifyError::Invalid(_))
    ));
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_interval_single_flight() {
    let (server, v) = setup_with(&[RSA_A], Duration::from_secs(1)).await;
    let good = claims(ISS, AUD, "u");
    v.verify(&sign(&RSA_A, &good)).await.unwrap();
    assert_eq!(server.hits("/jwks.json"), 1);

    // The provider rotates to rsa-b: inside the interval an unknown kid is
    // refused without a fetch …
    server.set("/jwks.json", jwks(&[RSA_A, RSA_B]));
    assert!(matches!(
        v.verify(&sign(&RSA_B, &good)).await,
        Err(VerifyError::Invalid(_))
    ));
    assert_eq!(server.hits("/jwks.json"), 1);
    // … and once the interval has passed, the first token with the new kid
    // refetches and verifies.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&sign(&RSA_B, &good)).await.unwrap();
    assert_eq!(server.hits("/jwks.json"), 2);

    // A burst of unknown kids within the interval: no fetch at all.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let v = v.clone();
        let t = sign_kid(&RSA_B, Some(&format!("bogus-{i}")), &good);
        tasks.push(tokio::spawn(async move { v.verify(&t).await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(VerifyError::Invalid(_))));
    }
    assert_eq!(
        server.hits("/jwks.json"),
        2,
        "unknown kids inside the interval must not refetch"
    );
}

#[tokio::test]
async fn a_burst_of_unknown_kids_makes_one_fetch() {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[RSA_A]));
    let client = lettuce_http_client::build(lettuce_http_client::ClientOptions::new("test")).unwrap();
    let v = Arc::new(JwtVerifier::new(
        VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]).refetch_interval(Duration::ZERO),
        Some(Arc::new(HttpJwks::new(client, server.url("/jwks.json")))),
    ));
    v.prefetch().await.unwrap();
    let good = claims(ISS, AUD, "u");
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (v, barrier) = (v.clone(), barrier.clone());
        let t = sign_kid(&RSA_B, Some(&format!("new-{i}")), &good);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            v.verify(&t).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    // Even with no interval, concurrent waiters share fetches: far fewer
    // fetches than tokens.
    assert!(
        server.hits("/jwks.json") < 12,
        "single-flight: {} fetches for 20 concurrent unknown kids",
        server.hits("/jwks.json")
    );
}

#[tokio::test]
async fn jwks_down_fails_closed() {
    let (server, v) = setup(&[RSA_A]).await;
    server.set_up(false);
    let t = sign(&RSA_A, &claims(ISS, AUD, "u"));
    assert!(matches!(v.verify(&t).await, Err(VerifyError::KeysUnavailable(_))));
    // Forged tokens are refused too, never accepted.
    assert!(v.verify(&alg_confusion(&RSA_A, &claims(ISS, AUD, "u"))).await.is_err());
    // Back up (after the failure back-off): verifies.
    server.set_up(true);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(v.verify(&t).await.unwrap().subject, "u");
}

#[tokio::test]
async fn unknown_kid_while_jwks_down_is_unavailable() {
    let server = DocServer::start().await;
    server.set("/jwks.json", jwks(&[RSA_A]));
    let client = lettuce_http_client::build(lettuce_http_client::ClientOptions::new("test")).unwrap();
    let v = JwtVerifier::new(
        VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]).refetch_interval(Duration::ZERO),
        Some(Arc::new(HttpJwks::new(client, server.url("/jwks.json")))),
    );
    v.prefetch().await.unwrap();
    server.set_up(false);
    let t = sign(&RSA_B, &claims(ISS, AUD, "u"));
    assert!(matches!(v.verify(&t).await, Err(VerifyError::KeysUnavailable(_))));
    // Known keys keep working while the endpoint is down.
    assert!(v.verify(&sign(&RSA_A, &claims(ISS, AUD, "u"))).await.is_ok());
}

#[tokio::test]
async fn jwks_file_and_symmetric_keys_in_a_jwks_are_ignored() {
    let dir = std::env::temp_dir().join(format!("jwks-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    // An `oct` key in the JWKS must never be used to verify HS256.
    let doc = json!({"keys": [
        serde_json::from_str::<serde_json::Value>(RSA_A.jwk).unwrap(),
        {"kty": "oct", "kid": "hs", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "weird"}
    ]});
    std::fs::write(&path, doc.to_string()).unwrap();
    let v = JwtVerifier::new(
        VerifierConfig::new(vec![ISS.into()], vec![AUD.into()]),
        Some(Arc::new(FileJwks::new(&path))),
    );
    assert_eq!(v.prefetch().await.unwrap(), 1);
    let good = claims(ISS, AUD, "u");
    assert!(v.verify(&sign(&RSA_A, &good)).await.is_ok());
    let hs = sign_hs256(b"secret-secret-secret-secret-secret", Some("hs"), &good);
    assert!(matches!(v.verify(&hs).await, Err(VerifyError::Invalid(_))));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn declared_algorithm_is_enforced() {
    // rsa-a declares RS256: a PS256 token under that kid is refused.
    let (_server, v) = setup(&[RSA_A]).await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.kid = Some(RSA_A.kid.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_A.private_pem.as_bytes()).unwrap();
    let t = jsonwebtoken::encode(&header, &claims(ISS, AUD, "u"), &key).unwrap();
    assert!(matches!(v.verify(&t).await, Err(VerifyError::Invalid(_))));
}
