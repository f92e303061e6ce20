//! The `lettuce` command line: help, `migrate`, `config check`, and how an
//! invalid configuration is reported.

mod support;

use std::process::Output;
use support::run_lettuce;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_code(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stdout, _) = assert_code(&run_lettuce(dir.path(), &["--help"], &[]), 0);
    for word in ["Usage:", "serve", "migrate", "config"] {
        assert!(stdout.contains(word), "`{word}` missing from --help:\n{stdout}");
    }
    let (stdout, _) = assert_code(&run_lettuce(dir.path(), &["serve", "--help"], &[]), 0);
    for word in ["--role", "--bind", "all", "api", "worker"] {
        assert!(stdout.contains(word), "`{word}` missing from serve --help:\n{stdout}");
    }
    let (stdout, _) = assert_code(&run_lettuce(dir.path(), &["config", "--help"], &[]), 0);
    assert!(stdout.contains("check"), "{stdout}");
    // Help needs no data directory.
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_lettuce(dir.path(), &["frobnicate"], &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("frobnicate"), "{stderr}");
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let env = [("CODEWAZE_DATA_DIR", data_s)];
    for run in 1..=2 {
        let (stdout, stderr) = assert_code(&run_lettuce(dir.path(), &["migrate"], &env), 0);
        assert!(stdout.contains("migrations applied"), "run {run}: {stdout}\n{stderr}");
    }
    assert!(data.join("lettuce.db").is_file(), "no database in {}", data.display());
    assert!(
        data.join("queue.db").is_file(),
        "no queue database in {}",
        data.display()
    );
}

#[test]
fn config_check_prints_the_resolved_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let admin = "some-long-admin-token-value-123";
    let jwt = "jwt-signing-key-value-that-is-secret-456";
    let data_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let out = run_lettuce(
        dir.path(),
        &["config", "check"],
        &[
            ("CODEWAZE_DATA_DIR", data_s),
            ("LETTUCE_BIND", "127.0.0.1:18123"),
            ("CODEWAZE_ADMIN_TOKEN", admin),
            ("JWT_SIGNING_KEY", jwt),
            ("LETTUCE_DATA_KEY", data_key),
            ("LETTUCE_JOB_LEASE_SECS", "7"),
        ],
    );
    let (stdout, stderr) = assert_code(&out, 0);
    let all = format!("{stdout}\n{stderr}");
    for secret in [admin, jwt, data_key] {
        assert!(!all.contains(secret), "a secret value was printed:\n{all}");
    }
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(stdout.contains("***"), "secrets are not shown as ***:\n{stdout}");
    assert!(stdout.contains("CODEWAZE_ADMIN_TOKEN"), "{stdout}");
    for (var, value) in [
        ("LETTUCE_BIND", "127.0.0.1:18123"),
        ("CODEWAZE_DATA_DIR", data_s),
        ("LETTUCE_JOB_LEASE_SECS", "7"),
        ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "false"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(var))
            .unwrap_or_else(|| panic!("no {var} line:\n{stdout}"));
        assert!(line.contains(value), "{var} should show {value}: {line}");
    }
    // Checking the configuration writes nothing.
    assert!(!data.exists(), "config check created the data dir");
}

#[test]
fn invalid_bind_fails_config_check_and_serve_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let env = [("CODEWAZE_DATA_DIR", data_s), ("LETTUCE_BIND", "nonsense")];
    for args in [&["config", "check"][..], &["serve"][..], &[][..]] {
        let (stdout, stderr) = assert_code(&run_lettuce(dir.path(), args, &env), 2);
        let all = format!("{stdout}{stderr}");
        assert!(all.contains("LETTUCE_BIND"), "{args:?}: {all}");
        assert!(all.contains("nonsense"), "{args:?}: {all}");
        assert!(all.contains("fix:"), "{args:?}: no fix given: {all}");
        assert!(all.contains("127.0.0.1:8080"), "{args:?}: no example address: {all}");
    }
    assert!(!data.exists(), "an invalid config still created the data dir");
}

#[test]
fn unbuilt_adapters_are_named_as_missing_features() {
    // The test binary is built with `self-hosted`, `secrets-vault`,
    // `secrets-aws` and `auth-oidc` (see the dev-dependencies), so pick an
    // adapter it lacks. (apps/bootstrap's unit tests cover the auth
    // providers' missing-feature errors.)
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let env = [("CODEWAZE_DATA_DIR", data_s), ("LETTUCE_SECRET_STORE", "gcp")];
    for args in [&["config", "check"][..], &["serve"][..], &["migrate"][..]] {
        let (stdout, stderr) = assert_code(&run_lettuce(dir.path(), args, &env), 2);
        let all = format!("{stdout}{stderr}");
        for want in ["secrets-gcp", "LETTUCE_SECRET_STORE"] {
            assert!(all.contains(want), "{args:?}: `{want}` missing: {all}");
        }
    }
    assert!(!data.exists(), "an invalid config still created the data dir");
}

#[test]
fn unreachable_postgres_fails_migrate_without_printing_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let password = "hunter2-do-not-print";
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = format!("postgres://lettuce:{password}@127.0.0.1:1/lettuce");
    let env = [("CODEWAZE_DATA_DIR", data_s), ("DATABASE_URL", url.as_str())];

    let (stdout, stderr) = assert_code(&run_lettuce(dir.path(), &["config", "check"], &env), 0);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("DATABASE_URL"), "{all}");
    assert!(!all.contains(password), "config check printed the password: {all}");

    let out = run_lettuce(dir.path(), &["migrate"], &env);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert!(!out.status.success(), "migrate against port 1 succeeded: {all}");
    assert!(!all.contains(password), "migrate printed the password: {all}");
    assert!(!all.contains("migrations applied"), "{all}");
}
