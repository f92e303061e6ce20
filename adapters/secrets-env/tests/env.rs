//! Contract and adapter-specific tests for `EnvSecretStore`.
//!
//! The workspace forbids `unsafe` (so no `std::env::set_var`). To test reading
//! the real process environment with values the test controls, the
//! `process_env_*` tests re-run this test binary as a child process with the
//! variables set, filtered to the same test, and check it passed.

use lettuce_ports::secrets::{SecretError, SecretStore};
use lettuce_ports::testing::secrets::secret_store_contract;
use lettuce_secrets_env::EnvSecretStore;
use std::collections::HashMap;
use std::process::Command;

/// Marks the child run; its value is the test that should do the real work.
const CHILD_FLAG: &str = "LETTUCE_SECRETS_ENV_TEST_CHILD";
const SEEDED: &str = "LETTUCE_TEST_SECRET_7F3A9C";
const SEEDED_VALUE: &str = "env-secret-value-2b7e151628aed2a6";
const EMPTY: &str = "LETTUCE_TEST_SECRET_EMPTY_7F3A9C";
const NOT_UTF8: &str = "LETTUCE_TEST_SECRET_BYTES_7F3A9C";
const MISSING: &str = "LETTUCE_TEST_SECRET_NEVER_SET_7F3A9C";

/// In the parent: re-runs `test` in a child with the test variables set and
/// returns false. In the child (for that test): returns true.
fn run_in_child(test: &str) -> bool {
    if std::env::var(CHILD_FLAG).as_deref() == Ok(test) {
        return true;
    }
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_FLAG, test)
        .env(SEEDED, SEEDED_VALUE)
        .env(EMPTY, "")
        .env_remove(MISSING);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        cmd.env(NOT_UTF8, std::ffi::OsStr::from_bytes(b"bad-\xff-bytes-value"));
    }
    let out = cmd.output().expect("re-running the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child run of {test} failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "child run of {test} did not run the test:\n{stdout}"
    );
    false
}

#[tokio::test]
async fn map_store_meets_the_contract() {
    let store = EnvSecretStore::from_map(HashMap::from([
        (
            "JWT_SIGNING_KEY".to_string(),
            "signing-key-0123456789abcdef".to_string(),
        ),
        ("DB_PASSWORD".to_string(), "hunter2hunter2".to_string()),
    ]));
    assert_eq!(store.backend(), "env");
    secret_store_contract(
        &store,
        &[
            ("JWT_SIGNING_KEY", "signing-key-0123456789abcdef"),
            ("DB_PASSWORD", "hunter2hunter2"),
        ],
        "NOT_THERE",
    )
    .await;
}

#[tokio::test]
async fn empty_values_are_not_found() {
    let store = EnvSecretStore::from_map(HashMap::from([("EMPTY_ONE".to_string(), String::new())]));
    assert!(matches!(
        store.get("EMPTY_ONE").await,
        Err(SecretError::NotFound { backend: "env", .. })
    ));
}

#[tokio::test]
async fn map_values_are_checked_against_the_name_rules() {
    let store = EnvSecretStore::from_map(HashMap::from([("lower".to_string(), "some-value-123".to_string())]));
    assert!(matches!(store.get("lower").await, Err(SecretError::InvalidName { .. })));
}

#[test]
fn debug_shows_names_but_never_values() {
    let store = EnvSecretStore::from_map(HashMap::from([(
        "API_TOKEN".to_string(),
        "tok-very-secret-42".to_string(),
    )]));
    let dbg = format!("{store:?}");
    assert!(dbg.contains("API_TOKEN"), "{dbg}");
    assert!(!dbg.contains("tok-very-secret-42"), "{dbg}");
    let dbg = format!("{:?}", EnvSecretStore::from_process_env());
    assert!(dbg.contains("process"), "{dbg}");
}

#[tokio::test]
async fn process_env_reads_a_variable_the_harness_always_has() {
    // PATH is set for every `cargo test` run; compare with std::env directly.
    let store = EnvSecretStore::from_process_env();
    match std::env::var("PATH") {
        Ok(path) if !path.is_empty() => assert_eq!(store.get("PATH").await.unwrap().expose(), path),
        _ => assert!(matches!(store.get("PATH").await, Err(SecretError::NotFound { .. }))),
    }
    assert!(matches!(store.get(MISSING).await, Err(SecretError::NotFound { .. })));
}

#[tokio::test]
async fn process_env_meets_the_contract() {
    if !run_in_child("process_env_meets_the_contract") {
        return;
    }
    let store = EnvSecretStore::from_process_env();
    secret_store_contract(&store, &[(SEEDED, SEEDED_VALUE)], MISSING).await;
}

#[tokio::test]
async fn process_env_empty_and_non_utf8_values() {
    if !run_in_child("process_env_empty_and_non_utf8_values") {
        return;
    }
    let store = EnvSecretStore::from_process_env();
    assert!(
        matches!(store.get(EMPTY).await, Err(SecretError::NotFound { .. })),
        "an empty variable is not a secret"
    );
    if cfg!(unix) {
        let err = store.get(NOT_UTF8).await.unwrap_err();
        assert!(
            matches!(
                err,
                SecretError::Backend {
                    backend: "env",
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
        assert!(text.contains(NOT_UTF8), "the error names the variable: {text}");
        assert!(
            !text.contains("bytes-value"),
            "the error must not contain the value: {text}"
        );
    }
}
