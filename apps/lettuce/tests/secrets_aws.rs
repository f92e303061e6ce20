//! The real binary with its instance secrets only in AWS Secrets Manager
//! (moto, `LETTUCE_TEST_S3_ENDPOINT` from `scripts/test-peers`), found through
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` and the standard credential chain: the
//! admin token from the store mints an invite, nothing is generated, and no
//! secret value appears in the logs.

mod support;

use serde_json::{Value, json};
use support::{Server, run_lettuce};

// moto keeps secrets per region: this test owns this one.
const REGION: &str = "ap-southeast-2";
const ADMIN: &str = "aws-admin-token-0c1d2e3f4a5b6c7d";
const JWT: &str = "aws-jwt-signing-key-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";
const DATA_KEY: &str = "b4e2c3d4e5b6978812ab34cd56ef7890a1b2c3d4e5f60718293a4b5c6d7e8f91";

fn moto() -> Option<String> {
    match std::env::var("LETTUCE_TEST_S3_ENDPOINT") {
        Ok(u) if !u.is_empty() => Some(u),
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

async fn call(endpoint: &str, op: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", format!("secretsmanager.{op}"))
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null),
    )
}

/// Creates or updates a secret.
async fn put(endpoint: &str, name: &str, value: &str) {
    let (status, v) = call(endpoint, "CreateSecret", json!({"Name": name, "SecretString": value})).await;
    if status != 200 {
        assert!(
            v.to_string().contains("ResourceExistsException"),
            "CreateSecret {name}: {status} {v}"
        );
        let (status, v) = call(
            endpoint,
            "PutSecretValue",
            json!({"SecretId": name, "SecretString": value}),
        )
        .await;
        assert_eq!(status, 200, "PutSecretValue {name}: {v}");
    }
}

#[tokio::test]
async fn server_runs_with_instance_secrets_only_in_aws_secrets_manager() {
    let Some(moto) = moto() else { return };
    for (name, value) in [
        ("CODEWAZE_ADMIN_TOKEN", ADMIN),
        ("JWT_SIGNING_KEY", JWT),
        ("LETTUCE_DATA_KEY", DATA_KEY),
    ] {
        put(&moto, name, value).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("LETTUCE_SECRET_STORE", "aws"),
        ("LETTUCE_AWS_SECRETS_REGION", REGION),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let check = run_lettuce(
        dir.path(),
        &["config", "check"],
        &[env.as_slice(), &[("CODEWAZE_DATA_DIR", data.to_str().unwrap())]].concat(),
    );
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for var in ["CODEWAZE_ADMIN_TOKEN", "JWT_SIGNING_KEY", "LETTUCE_DATA_KEY"] {
        let line = out
            .lines()
            .rev()
            .find(|l| l.split_whitespace().next() == Some(var))
            .unwrap();
        assert!(line.contains("*** (aws)"), "{line}");
    }
    // Not in the region's store, not in the environment.
    let line = out
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some("DATABASE_URL"))
        .unwrap();
    assert!(line.contains("not set"), "{line}");

    let mut server = Server::start(&data, &env).await;
    for f in ["admin-token", "jwt-signing-key", "data-key"] {
        assert!(!data.join(f).exists(), "{f} was generated although the store has it");
    }
    let api = server.api();
    let token = api.first_user(ADMIN).await;
    api.get("/v1/account", Some(&token)).await.expect(200);
    server.terminate(std::time::Duration::from_secs(20)).await;
    let logs = server.logs();
    for s in [ADMIN, JWT, DATA_KEY] {
        assert!(!logs.contains(s), "a secret value was logged:\n{logs}");
    }
    assert!(!out.contains(ADMIN) && !out.contains(JWT) && !out.contains(DATA_KEY));
}
