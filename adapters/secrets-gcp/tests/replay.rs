//! The GCP adapter's real client against a local HTTP server replaying
//! Secret Manager's published REST shapes (no emulator exists):
//! `AccessSecretVersionResponse` instances built from the discovery
//! document's schema (`fixtures/secrets/gcp.access-excerpt.json`; `payload.data`
//! is base64, `dataCrc32c` an int64 as a decimal string) and the recorded
//! `NOT_FOUND` body (`fixtures/secrets/gcp.get_secret.404.json`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use lettuce_ports::secrets::{SecretError, SecretStore};
use lettuce_ports::testing::secrets::secret_store_contract;
use lettuce_secrets_gcp::{GcpSecretStore, GcpSecretsConfig};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const PROJECT: &str = "lettuce-test-project";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../fixtures/secrets/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Clone, Default)]
struct Replay {
    /// Every path requested, to check the resource names the client builds.
    seen: Arc<Mutex<Vec<String>>>,
}

fn access_response(name: &str, data: &[u8]) -> Value {
    // The schema's fields, exactly: `name`, `payload.data` (bytes, base64)
    // and `payload.dataCrc32c` (int64, JSON string).
    json!({
        "name": format!("projects/{PROJECT}/secrets/{name}/versions/3"),
        "payload": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "dataCrc32c": "2847137463"
        }
    })
}

fn google_error(code: u16, status: &str, message: &str) -> (StatusCode, String) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
    )
}

async fn access(State(r): State<Replay>, Path(rest): Path<String>) -> impl IntoResponse {
    r.seen.lock().unwrap().push(rest.clone());
    let Some(version_path) = rest.strip_suffix(":access") else {
        return (StatusCode::NOT_FOUND, "no such method".to_owned()).into_response();
    };
    let parts: Vec<&str> = version_path.split('/').collect();
    assert_eq!(
        (parts[0], parts[1], parts[2], parts[4], parts[5]),
        ("projects", PROJECT, "secrets", "versions", "latest"),
        "{rest}"
    );
    let (status, body) = match parts[3] {
        "JWT_SIGNING_KEY" => (
            StatusCode::OK,
            access_response("JWT_SIGNING_KEY", b"gcp-signing-key-0123456789").to_string(),
        ),
        "DB_PASSWORD" => (
            StatusCode::OK,
            access_response("DB_PASSWORD", b"gcp-db-password-xyz").to_string(),
        ),
        "NOT_UTF8" => (
            StatusCode::OK,
            access_response("NOT_UTF8", &[0xff, 0xfe, 0x80]).to_string(),
        ),
        "DENIED" => google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'secretmanager.versions.access' denied for resource 'projects/lettuce-test-project/secrets/DENIED/versions/latest' (or it may not exist).",
        ),
        "FLAKY" => google_error(503, "UNAVAILABLE", "The service is currently unavailable."),
        // The recorded NOT_FOUND body, as Google sent it.
        _ => (StatusCode::NOT_FOUND, fixture("gcp.get_secret.404.json")),
    };
    (status, [("content-type", "application/json")], body).into_response()
}

async fn server() -> (String, Replay) {
    let replay = Replay::default();
    let app = axum::Router::new()
        .route("/v1/{*rest}", axum::routing::get(access))
        .with_state(replay.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), replay)
}

async fn store(endpoint: &str) -> GcpSecretStore {
    GcpSecretStore::connect(
        GcpSecretsConfig::new(PROJECT)
            .with_endpoint(endpoint)
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build()),
    )
    .await
    .unwrap()
}

#[test]
fn replayed_shapes_match_the_published_schema() {
    let schema: Value = serde_json::from_str(&fixture("gcp.access-excerpt.json")).unwrap();
    let props = &schema["schemas.SecretPayload"]["properties"];
    assert_eq!(props["data"]["format"], "byte");
    assert_eq!(props["dataCrc32c"]["format"], "int64");
    assert_eq!(
        schema["resources.projects.secrets.versions.methods.access"]["path"],
        "v1/{+name}:access"
    );
    let resp = access_response("X", b"y");
    for field in resp["payload"].as_object().unwrap().keys() {
        assert!(props.get(field).is_some(), "{field} is not in the schema");
    }
}

#[tokio::test]
async fn contract_over_replayed_rest_responses() {
    let (ep, replay) = server().await;
    let s = store(&ep).await;
    secret_store_contract(
        &s,
        &[
            ("JWT_SIGNING_KEY", "gcp-signing-key-0123456789"),
            ("DB_PASSWORD", "gcp-db-password-xyz"),
        ],
        "NOT_THERE",
    )
    .await;
    let seen = replay.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&format!(
            "projects/{PROJECT}/secrets/JWT_SIGNING_KEY/versions/latest:access"
        )),
        "{seen:?}"
    );
}

#[tokio::test]
async fn other_errors_propagate() {
    let (ep, _) = server().await;
    let s = store(&ep).await;
    let e = s.get("DENIED").await.unwrap_err();
    assert!(matches!(e, SecretError::Backend { retryable: false, .. }), "{e:?}");
    assert!(e.to_string().contains("PermissionDenied"), "{e}");
    let e = s.get("FLAKY").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let e = s.get("NOT_UTF8").await.unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
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
