//! `ObjectStoreBlobs::s3` against a real S3 API (a moto server), plus the
//! `S3Config::from_env_map` operator contract.
//!
//! Peer: `LETTUCE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT` of
//! `moto_server -H 127.0.0.1 -p PORT`. Without it the server tests print
//! `SKIPPED` and pass, unless `LETTUCE_REQUIRE_PEERS=1`.

use bytes::Bytes;
use lettuce_blob_object_store::{ObjectStoreBlobs, S3Config};
use lettuce_domain::Secret;
use lettuce_ports::blob::{BlobError, BlobStore};
use lettuce_ports::testing::blob::blob_store_contract;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// The moto endpoint, or `None` (test skipped) when unset.
fn endpoint(test: &str) -> Option<String> {
    match std::env::var("LETTUCE_TEST_S3_ENDPOINT") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "{test}: LETTUCE_TEST_S3_ENDPOINT is unset but LETTUCE_REQUIRE_PEERS=1 (start `moto_server -H \
                 127.0.0.1 -p PORT` and export LETTUCE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT)"
            );
            println!("SKIPPED: {test}: LETTUCE_TEST_S3_ENDPOINT (a moto server URL) is unset");
            None
        }
    }
}

/// A bucket name no other test (or earlier run) uses.
fn unique_bucket() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "lettuce-test-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a bucket with a plain `PUT /<bucket>` (moto does not check
/// SigV4; `object_store` has no bucket API).
async fn create_bucket(endpoint: &str) -> String {
    let bucket = unique_bucket();
    let resp = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("PUT bucket on moto");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "creating bucket {bucket}: {status} {body}");
    bucket
}

fn config(endpoint: &str, bucket: &str) -> S3Config {
    let env = HashMap::from([
        ("CODEWAZE_S3_BUCKET".to_owned(), bucket.to_owned()),
        ("CODEWAZE_S3_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
        ("CODEWAZE_S3_REGION".to_owned(), "us-east-1".to_owned()),
        ("CODEWAZE_S3_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("CODEWAZE_S3_SECRET_ACCESS_KEY".to_owned(), "testing-secret".to_owned()),
    ]);
    S3Config::from_env_map(&env).expect("valid config")
}

#[tokio::test]
async fn s3_store_meets_the_contract() {
    let Some(ep) = endpoint("s3_store_meets_the_contract") else {
        return;
    };
    let bucket = create_bucket(&ep).await;
    let store = ObjectStoreBlobs::s3(&config(&ep, &bucket)).expect("s3 store");
    assert_eq!(store.backend(), "s3");
    blob_store_contract(&store).await;
}

#[tokio::test]
async fn s3_store_with_prefix_meets_the_contract() {
    let Some(ep) = endpoint("s3_store_with_prefix_meets_the_contract") else {
        return;
    };
    let bucket = create_bucket(&ep).await;
    let mut cfg = config(&ep, &bucket);
    cfg.prefix = Some("deployments/prod".into());
    let store = ObjectStoreBlobs::s3(&cfg).expect("s3 store");
    blob_store_contract(&store).await;
}

#[tokio::test]
async fn ping_succeeds_on_an_empty_bucket() {
    let Some(ep) = endpoint("ping_succeeds_on_an_empty_bucket") else {
        return;
    };
    let bucket = create_bucket(&ep).await;
    let store = ObjectStoreBlobs::s3(&config(&ep, &bucket)).expect("s3 store");
    store.ping().await.expect("ping on an empty bucket");
    assert!(store.list("").await.expect("list").is_empty());
    let mut cfg = config(&ep, &bucket);
    cfg.prefix = Some("nothing/here".into());
    ObjectStoreBlobs::s3(&cfg)
        .expect("s3 store")
        .ping()
        .await
        .expect("ping under an empty prefix");
}

#[tokio::test]
async fn ping_on_a_missing_bucket_says_so() {
    let Some(ep) = endpoint("ping_on_a_missing_bucket_says_so") else {
        return;
    };
    let bucket = unique_bucket(); // never created
    let store = ObjectStoreBlobs::s3(&config(&ep, &bucket)).expect("s3 store");
    let err = store.ping().await.expect_err("ping must fail on a missing bucket");
    let msg = err.to_string();
    println!("missing bucket: {msg}");
    assert!(matches!(err, BlobError::Backend { backend: "s3", .. }), "{err:?}");
    assert!(msg.contains(&bucket) && msg.contains("does not exist"), "{msg}");
    assert!(
        msg.contains("CODEWAZE_S3_BUCKET"),
        "the error must name the variable to fix: {msg}"
    );
    assert!(!err.is_retryable(), "a missing bucket does not appear by retrying");
    assert!(!msg.contains("testing-secret"), "{msg}");
}

#[tokio::test]
async fn ping_on_an_unreachable_endpoint_fails() {
    if endpoint("ping_on_an_unreachable_endpoint_fails").is_none() {
        return;
    }
    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cfg = config(&format!("http://127.0.0.1:{port}"), "whatever");
    let store = ObjectStoreBlobs::s3(&cfg).expect("s3 store");
    let err = tokio::time::timeout(std::time::Duration::from_secs(120), store.ping())
        .await
        .expect("ping must give up within the retry budget")
        .expect_err("nothing listens there");
    println!("unreachable: {err}");
    assert!(err.is_retryable(), "a connection failure may heal: {err:?}");
    assert!(err.to_string().contains("whatever"), "{err}");
}

#[tokio::test]
async fn keys_stay_under_the_configured_prefix() {
    let Some(ep) = endpoint("keys_stay_under_the_configured_prefix") else {
        return;
    };
    let bucket = create_bucket(&ep).await;
    let raw = ObjectStoreBlobs::s3(&config(&ep, &bucket)).expect("raw store");
    let mut cfg = config(&ep, &bucket);
    cfg.prefix = Some("/tenant-a/blobs/".into()); // slashes are trimmed
    let a = ObjectStoreBlobs::s3(&cfg).expect("prefixed store");
    cfg.prefix = Some("tenant-b".into());
    let b = ObjectStoreBlobs::s3(&cfg).expect("other prefixed store");

    a.put("repos/r1/HEAD", Bytes::from_static(b"abc")).await.expect("put a");
    b.put("repos/r1/HEAD", Bytes::from_static(b"def")).await.expect("put b");
    raw.put("outside/key", Bytes::from_static(b"x")).await.expect("put raw");

    assert_eq!(
        raw.list("").await.expect("raw list"),
        vec!["outside/key", "tenant-a/blobs/repos/r1/HEAD", "tenant-b/repos/r1/HEAD"]
    );
    assert_eq!(a.list("").await.expect("list a"), vec!["repos/r1/HEAD"]);
    assert_eq!(b.list("repos/").await.expect("list b"), vec!["repos/r1/HEAD"]);
    assert_eq!(&a.get("repos/r1/HEAD").await.expect("get a")[..], b"abc");
    assert_eq!(&b.get("repos/r1/HEAD").await.expect("get b")[..], b"def");
    assert_eq!(
        &raw.get("tenant-a/blobs/repos/r1/HEAD").await.expect("raw get")[..],
        b"abc"
    );
    assert!(matches!(a.get("outside/key").await, Err(BlobError::NotFound { .. })));
    a.delete("repos/r1/HEAD").await.expect("delete a");
    assert_eq!(&b.get("repos/r1/HEAD").await.expect("b untouched")[..], b"def");

    let dbg = format!("{a:?}");
    assert!(dbg.contains(&bucket) && dbg.contains("tenant-a/blobs"), "{dbg}");
    assert!(!dbg.contains("testing-secret"), "{dbg}");
}

#[tokio::test]
async fn wrong_prefix_and_half_keys_are_refused_up_front() {
    let mut cfg = S3Config::new("bucket");
    cfg.prefix = Some("../escape".into());
    let err = ObjectStoreBlobs::s3(&cfg).expect_err("bad prefix");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("prefix"), "{err}");

    let mut cfg = S3Config::new("bucket");
    cfg.secret_access_key = Some(Secret::new("only-the-secret"));
    let err = ObjectStoreBlobs::s3(&cfg).expect_err("secret without key id");
    assert!(!err.to_string().contains("only-the-secret"), "{err}");

    let mut cfg = S3Config::new("bucket");
    cfg.credential_chain.insert("AWS_NOT_A_SETTING".into(), "x".into());
    assert!(ObjectStoreBlobs::s3(&cfg).is_err());

    // Nothing is contacted when building, with or without keys.
    let store = ObjectStoreBlobs::s3(&S3Config::new("bucket")).expect("credential chain store");
    assert_eq!(store.backend(), "s3");
}

// ---- S3Config::from_env_map -------------------------------------------------

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn missing_bucket_names_the_variable() {
    for vars in [
        env(&[]),
        env(&[("CODEWAZE_S3_BUCKET", "  ")]),
        env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]),
    ] {
        let err = S3Config::from_env_map(&vars).expect_err("bucket is required");
        assert!(err.contains("CODEWAZE_S3_BUCKET"), "{err}");
    }
    let err = S3Config::from_env_map(&env(&[("CODEWAZE_S3_BUCKET", "s3://b/p")])).expect_err("URL as bucket");
    assert!(
        err.contains("CODEWAZE_S3_BUCKET") && err.contains("CODEWAZE_S3_PREFIX"),
        "{err}"
    );
}

#[test]
fn minimal_config_uses_aws_and_the_credential_chain() {
    let c = S3Config::from_env_map(&env(&[("CODEWAZE_S3_BUCKET", "blobs")])).expect("config");
    assert_eq!(c, S3Config::new("blobs"));
    assert_eq!(c.location(), "s3://blobs");
}

#[test]
fn codewaze_variables_win_over_aws_ones() {
    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("CODEWAZE_S3_ENDPOINT_URL", "https://minio.example:9000/"),
        ("AWS_ENDPOINT_URL_S3", "https://s3-specific.example"),
        ("AWS_ENDPOINT_URL", "https://generic.example"),
        ("CODEWAZE_S3_REGION", "eu-central-1"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "ap-south-1"),
        ("CODEWAZE_S3_ACCESS_KEY_ID", "cw-id"),
        ("CODEWAZE_S3_SECRET_ACCESS_KEY", "cw-secret"),
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("AWS_SESSION_TOKEN", "aws-token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/x"),
    ]))
    .expect("config");
    assert_eq!(c.endpoint.as_deref(), Some("https://minio.example:9000"));
    assert!(!c.allow_http);
    assert_eq!(c.region.as_deref(), Some("eu-central-1"));
    assert_eq!(c.access_key_id.as_deref(), Some("cw-id"));
    assert_eq!(c.secret_access_key.as_ref().map(Secret::expose), Some("cw-secret"));
    assert_eq!(
        c.session_token, None,
        "an AWS session token belongs to the AWS keys only"
    );
    assert!(
        c.credential_chain.is_empty(),
        "static keys disable the credential chain"
    );
}

#[test]
fn aws_variables_are_the_fallback() {
    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000"),
        ("AWS_ENDPOINT_URL", "https://generic.example"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "ap-south-1"),
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("AWS_SESSION_TOKEN", "aws-token"),
    ]))
    .expect("config");
    assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(c.allow_http, "an http:// endpoint allows plain HTTP");
    assert_eq!(c.region.as_deref(), Some("us-west-2"));
    assert_eq!(c.access_key_id.as_deref(), Some("aws-id"));
    assert_eq!(c.secret_access_key.as_ref().map(Secret::expose), Some("aws-secret"));
    assert_eq!(c.session_token.as_ref().map(Secret::expose), Some("aws-token"));

    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("CODEWAZE_S3_ENDPOINT_URL", ""),
        ("AWS_ENDPOINT_URL", "https://generic.example"),
        ("AWS_DEFAULT_REGION", "ap-south-1"),
    ]))
    .expect("config");
    assert_eq!(c.endpoint.as_deref(), Some("https://generic.example"));
    assert_eq!(c.region.as_deref(), Some("ap-south-1"));
}

#[test]
fn credential_chain_settings_pass_through_without_keys() {
    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::123:role/lettuce"),
        ("AWS_PROFILE", "ignored"),
        ("HOME", "/root"),
    ]))
    .expect("config");
    assert_eq!(c.access_key_id, None);
    assert_eq!(
        c.credential_chain.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    );
    ObjectStoreBlobs::s3(&c).expect("web identity config builds");
}

#[test]
fn half_a_key_pair_is_an_error_naming_both_variables() {
    for (vars, missing, present) in [
        (
            vec![("CODEWAZE_S3_ACCESS_KEY_ID", "id")],
            "CODEWAZE_S3_SECRET_ACCESS_KEY",
            "CODEWAZE_S3_ACCESS_KEY_ID",
        ),
        (
            // A CODEWAZE secret must not be paired with the AWS key id.
            vec![("CODEWAZE_S3_SECRET_ACCESS_KEY", "s"), ("AWS_ACCESS_KEY_ID", "id")],
            "CODEWAZE_S3_ACCESS_KEY_ID",
            "CODEWAZE_S3_SECRET_ACCESS_KEY",
        ),
        (
            vec![("AWS_ACCESS_KEY_ID", "id")],
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
        ),
        (
            vec![("AWS_SECRET_ACCESS_KEY", "s")],
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ),
    ] {
        let mut vars = env(&vars);
        vars.insert("CODEWAZE_S3_BUCKET".into(), "blobs".into());
        let err = S3Config::from_env_map(&vars).expect_err("half a key pair");
        assert!(err.contains(missing) && err.contains(present), "{err}");
        assert!(!err.contains("\"s\""), "{err}");
    }
}

#[test]
fn bad_endpoints_and_prefixes_name_the_variable() {
    for (var, value) in [
        ("CODEWAZE_S3_ENDPOINT_URL", "minio:9000"),
        ("CODEWAZE_S3_ENDPOINT_URL", "ftp://minio"),
        ("CODEWAZE_S3_ENDPOINT_URL", "http://"),
        ("CODEWAZE_S3_ENDPOINT_URL", "http://user:pass@minio:9000"),
        ("CODEWAZE_S3_ENDPOINT_URL", "minio://user:pass@minio:9000"),
        ("AWS_ENDPOINT_URL_S3", "s3.amazonaws.com"),
        ("AWS_ENDPOINT_URL", "localhost:9000"),
        ("CODEWAZE_S3_PREFIX", "a/../b"),
        ("CODEWAZE_S3_PREFIX", "with space"),
    ] {
        let err = S3Config::from_env_map(&env(&[("CODEWAZE_S3_BUCKET", "blobs"), (var, value)]))
            .expect_err(&format!("{var}={value}"));
        assert!(err.contains(var), "{var}={value}: {err}");
        assert!(!err.contains("pass@"), "{err}");
    }
    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("CODEWAZE_S3_PREFIX", "/lettuce/prod/"),
    ]))
    .expect("config");
    assert_eq!(c.prefix.as_deref(), Some("lettuce/prod"));
    assert_eq!(c.location(), "s3://blobs/lettuce/prod");
}

#[test]
fn debug_hides_the_keys() {
    let c = S3Config::from_env_map(&env(&[
        ("CODEWAZE_S3_BUCKET", "blobs"),
        ("CODEWAZE_S3_ENDPOINT_URL", "http://minio:9000"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-super-secret"),
        ("AWS_SESSION_TOKEN", "session-token-value"),
    ]))
    .expect("config");
    let dbg = format!("{c:?}");
    for secret in ["AKIAEXAMPLEKEYID", "wJalrXUtnFEMI-super-secret", "session-token-value"] {
        assert!(!dbg.contains(secret), "{dbg}");
    }
    assert!(dbg.contains("blobs") && dbg.contains("http://minio:9000"), "{dbg}");
    let store = ObjectStoreBlobs::s3(&c).expect("store");
    let dbg = format!("{store:?}");
    assert!(
        !dbg.contains("super-secret") && !dbg.contains("AKIAEXAMPLEKEYID"),
        "{dbg}"
    );
    assert!(dbg.contains("s3") && dbg.contains("blobs"), "{dbg}");
}
