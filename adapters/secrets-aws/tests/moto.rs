//! The AWS Secrets Manager adapter against moto (`LETTUCE_TEST_S3_ENDPOINT`
//! from `scripts/test-peers`: one moto server serves S3 and Secrets Manager),
//! and against a local HTTP server replaying published response bodies for
//! the errors moto cannot produce (`fixtures/secrets/`).

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use lettuce_ports::secrets::{Secret, SecretError, SecretStore};
use lettuce_ports::testing::secrets::secret_store_contract;
use lettuce_secrets_aws::{AwsSecretStore, AwsSecretsConfig};
use serde_json::{Value, json};

fn moto() -> Option<String> {
    match std::env::var("LETTUCE_TEST_S3_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let why = "LETTUCE_TEST_S3_ENDPOINT (moto) is not set (source scripts/test-peers)";
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "LETTUCE_REQUIRE_PEERS=1 but {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), n % 1_000_000_000)
}

/// One Secrets Manager JSON 1.1 call (moto routes by the credential scope
/// and does not check the signature).
async fn call(endpoint: &str, op: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", format!("secretsmanager.{op}"))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

async fn create(endpoint: &str, body: Value) {
    let (status, v) = call(endpoint, "CreateSecret", body).await;
    assert_eq!(status, 200, "CreateSecret: {v}");
}

async fn store(endpoint: &str) -> AwsSecretStore {
    AwsSecretStore::connect(
        AwsSecretsConfig::new("us-east-1")
            .with_endpoint(endpoint)
            .with_static_credentials("test", Secret::new("test")),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn contract_against_moto_string_and_binary() {
    let Some(ep) = moto() else { return };
    let (a, b) = (unique("AWS_SIGNING_KEY"), unique("AWS_BINARY_SECRET"));
    create(&ep, json!({"Name": a, "SecretString": "aws-signing-key-0123456789"})).await;
    create(
        &ep,
        json!({"Name": b, "SecretBinary": base64::engine::general_purpose::STANDARD.encode("binary-utf8-value")}),
    )
    .await;
    let s = store(&ep).await;
    secret_store_contract(
        &s,
        &[(&a, "aws-signing-key-0123456789"), (&b, "binary-utf8-value")],
        &unique("AWS_NOT_THERE"),
    )
    .await;
    // No cache: a new version is read through at the next get.
    let (status, v) = call(
        &ep,
        "PutSecretValue",
        json!({"SecretId": a, "SecretString": "rotated-value-987654"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.get(&a).await.unwrap().expose(), "rotated-value-987654");
}

#[tokio::test]
async fn non_utf8_binary_is_an_error_not_garbage() {
    let Some(ep) = moto() else { return };
    let name = unique("AWS_RAW_BYTES");
    create(
        &ep,
        json!({"Name": name, "SecretBinary": base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00, 0x80])}),
    )
    .await;
    let e = store(&ep).await.get(&name).await.unwrap_err();
    assert!(matches!(e, SecretError::Backend { retryable: false, .. }), "{e:?}");
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[tokio::test]
async fn secret_marked_for_deletion_propagates_as_backend_error() {
    let Some(ep) = moto() else { return };
    let name = unique("AWS_DELETED");
    create(&ep, json!({"Name": name, "SecretString": "deleted-value-123"})).await;
    let (status, v) = call(
        &ep,
        "DeleteSecret",
        json!({"SecretId": name, "RecoveryWindowInDays": 7}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let e = store(&ep).await.get(&name).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        matches!(e, SecretError::Backend { retryable: false, .. }),
        "anything but ResourceNotFoundException propagates: {text}"
    );
    assert!(text.contains("InvalidRequestException"), "{text}");
    assert!(!text.contains("deleted-value-123"));
}

#[tokio::test]
async fn unreachable_endpoint_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = store(&format!("http://127.0.0.1:{port}"))
        .await
        .get("JWT_SIGNING_KEY")
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

// ── replayed responses ──────────────────────────────────────────────────────

fn fixture(name: &str) -> String {
    let path = format!("{}/../../fixtures/secrets/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Answers GetSecretValue by SecretId with published bodies.
async fn replay(headers: HeaderMap, body: String) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    assert_eq!(
        headers.get("x-amz-target").and_then(|v| v.to_str().ok()),
        Some("secretsmanager.GetSecretValue")
    );
    let req: Value = serde_json::from_str(&body).unwrap();
    let id = req["SecretId"].as_str().unwrap().to_owned();
    let ct = [("content-type", "application/x-amz-json-1.1")];
    match id.as_str() {
        // aws/aws-secretsmanager-agent's GetSecretValue body template, filled in.
        "TEMPLATE_SECRET" => {
            let body = fixture("aws.GetSecretValue.body-template.json")
                .replace("{{arn}}", "arn:aws:secretsmanager:us-east-1:111111111111:secret:TEMPLATE_SECRET-a1b2c3")
                .replace("{{name}}", "TEMPLATE_SECRET")
                .replace("{{version}}", "00000000-0000-0000-0000-000000000001")
                .replace("{{secret}}", "template-secret-string")
                .replace("{{label}}", "AWSCURRENT");
            (StatusCode::OK, ct, body)
        }
        // localstack's recorded raw response with SecretBinary (validated against AWS).
        "BINARY_SECRET" => {
            let snap: Value = serde_json::from_str(&fixture("aws.localstack.GetSecretValue.snapshot-excerpt.json")).unwrap();
            let mut raw = snap["tests/aws/services/secretsmanager/test_secretsmanager.py::TestSecretsManager::test_get_secret_value"]
                ["recorded-content"]["secret_value_http_response"]
                .clone();
            raw["CreatedDate"] = json!(1569534789.046);
            (StatusCode::OK, ct, raw.to_string())
        }
        // aws/aws-secretsmanager-agent's NOT_FOUND_EXCEPTION_BODY (lower-case `message`).
        "MISSING_SECRET" => (StatusCode::BAD_REQUEST, ct, fixture("aws.ResourceNotFoundException.body.json")),
        "DENIED_SECRET" => (
            StatusCode::BAD_REQUEST,
            ct,
            json!({"__type": "AccessDeniedException", "Message": "User: arn:aws:iam::111111111111:user/x is not authorized to perform: secretsmanager:GetSecretValue"}).to_string(),
        ),
        "KMS_SECRET" => (
            StatusCode::BAD_REQUEST,
            ct,
            json!({"__type": "DecryptionFailure", "Message": "Secrets Manager can't decrypt the protected secret text using the provided KMS key."}).to_string(),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ct,
            json!({"__type": "InternalServiceError", "Message": "An error occurred on the server side."}).to_string(),
        ),
    }
}

#[tokio::test]
async fn replayed_responses_map_to_the_port_errors() {
    let app = axum::Router::new().route("/", axum::routing::post(replay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = store(&format!("http://{addr}")).await;

    assert_eq!(
        s.get("TEMPLATE_SECRET").await.unwrap().expose(),
        "template-secret-string"
    );
    assert_eq!(s.get("BINARY_SECRET").await.unwrap().expose(), "footest");
    assert!(matches!(
        s.get("MISSING_SECRET").await,
        Err(SecretError::NotFound { .. })
    ));
    for (id, code) in [
        ("DENIED_SECRET", "AccessDeniedException"),
        ("KMS_SECRET", "DecryptionFailure"),
    ] {
        let e = s.get(id).await.unwrap_err();
        assert!(
            matches!(e, SecretError::Backend { retryable: false, .. }),
            "{id}: {e:?}"
        );
        assert!(e.to_string().contains(code), "{e}");
    }
    let e = s.get("SERVER_ERROR").await.unwrap_err();
    assert!(e.is_retryable(), "a 5xx is retryable: {e:?}");
}
