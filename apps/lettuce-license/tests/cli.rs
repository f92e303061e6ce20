//! Drives the built `lettuce-license` binary end to end.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lettuce_license_ed25519::{derive_kid, parse_public_keys};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lettuce-license"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run lettuce-license")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

fn keygen(dir: &Path) -> (PathBuf, PathBuf, String) {
    let out = ok(&["keygen", "--out-dir", dir.to_str().unwrap()]);
    let kid = out
        .lines()
        .find_map(|l| l.strip_prefix("kid: "))
        .expect("keygen prints the kid")
        .to_owned();
    (dir.join("private.pem"), dir.join("public.pem"), kid)
}

fn issue(key: &Path, expires_in: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--sub",
        "lic_cli_0001",
        "--customer-id",
        "cus_acme",
        "--tier",
        "enterprise",
        "--seats",
        "50",
        "--repo-cap",
        "200",
        "--features",
        "sso,audit",
        "--telemetry-required",
        "false",
        "--expires-in",
        expires_in,
    ];
    args.extend_from_slice(extra);
    ok(&args).trim().to_owned()
}

fn verify(token: &str, public: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify", token, "--public-key", public.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    (o.status.code().unwrap(), stdout(&o))
}

#[test]
fn keygen_issue_verify_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public, kid) = keygen(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let keys = parse_public_keys(&std::fs::read_to_string(&public).unwrap()).unwrap();
    assert_eq!(keys[0].kid(), kid);
    assert_eq!(kid, derive_kid(&keys[0].raw()));

    let token = issue(&private, "365d", &[]);
    assert_eq!(token.split('.').count(), 3);
    let (code, out) = verify(&token, &public, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("state: valid"), "{out}");
    assert!(out.contains("lic_cli_0001"), "{out}");
    assert!(out.contains(&format!("verified with kid: {kid}")), "{out}");
    assert!(!out.contains("reason:"), "{out}");

    // keygen refuses to overwrite without --force.
    let again = run(&["keygen", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&public).unwrap(), keys[0].to_pem());
    let out = ok(&["keygen", "--out-dir", dir.path().to_str().unwrap(), "--force"]);
    let kid2 = out.lines().find_map(|l| l.strip_prefix("kid: ")).unwrap().to_owned();
    assert_ne!(kid, kid2);
    // The old token does not verify with the new key.
    assert_eq!(verify(&token, &public, &[]).0, 1);
}

#[test]
fn expired_tokens_are_grace_then_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public, _) = keygen(dir.path());

    let (code, out) = verify(&issue(&private, "-3d", &[]), &public, &[]);
    assert_eq!(code, 0, "grace still exits 0: {out}");
    assert!(out.contains("state: grace"), "{out}");
    assert!(out.contains("expired on"), "{out}");
    assert!(out.contains("renew"), "{out}");

    let (code, out) = verify(&issue(&private, "-20d", &[]), &public, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state: read_only"), "{out}");
    assert!(out.contains("error: LicenseExpired"), "{out}");
    assert!(out.contains("license expired on"), "{out}");

    // --at moves the evaluation time; --json is machine readable.
    let token = issue(&private, "1d", &[]);
    let at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let (code, out) = verify(&token, &public, &["--at", &at, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "grace");
    assert_eq!(v["claims"]["seats"], 50);
    let at = (chrono::Utc::now() + chrono::Duration::days(16)).to_rfc3339();
    let (code, out) = verify(&token, &public, &["--at", &at, "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["error"].as_str()),
        (Some("read_only"), Some("LicenseExpired"))
    );
}

#[test]
fn inspect_shows_header_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _, kid) = keygen(dir.path());
    let token = issue(&private, "30d", &["--iss", "acme-sales", "--kid", "2027-q1"]);
    let out = ok(&["inspect", &token]);
    assert!(out.contains("NOT VERIFIED"), "{out}");
    for want in [
        "alg: EdDSA",
        "kid: 2027-q1",
        "iss: acme-sales",
        "sub: lic_cli_0001",
        "customer_id: cus_acme",
        "tier: enterprise",
        "seats: 50",
        "repo_cap: 200",
        "features: sso, audit",
        "telemetry_required: false",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains(&kid));
    let v: Value = serde_json::from_str(&ok(&["inspect", &token, "--json"])).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["header"]["alg"], "EdDSA");
    assert_eq!(v["claims"]["repo_cap"], 200);
    assert_eq!(v["claims"]["features"], serde_json::json!(["sso", "audit"]));
    let exp = v["claims"]["exp"].as_i64().unwrap();
    let iat = v["claims"]["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 30 * 86_400);

    // A custom kid must be configured on the verifying side: the derived one no longer matches.
    let public = dir.path().join("public.pem");
    assert_eq!(verify(&token, &public, &[]).0, 1);
    let renamed = dir.path().join("renamed.pem");
    std::fs::write(
        &renamed,
        format!("kid: 2027-q1\n{}", std::fs::read_to_string(&public).unwrap()),
    )
    .unwrap();
    assert_eq!(verify(&token, &renamed, &[]).0, 0);

    // Inspect rejects non-JWTs with exit code 2.
    assert_eq!(run(&["inspect", "garbage"]).status.code(), Some(2));
}

#[test]
fn verify_with_another_public_key_is_locked() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (private_a, _, _) = keygen(a.path());
    let (_, public_b, _) = keygen(b.path());
    let token = issue(&private_a, "365d", &[]);
    let (code, out) = verify(&token, &public_b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state: locked"), "{out}");
    assert!(out.contains("error: LicenseSignatureInvalid"), "{out}");
    assert!(out.contains("license signature is invalid"), "{out}");
    // Without the kid header every key is tried; still invalid.
    let parts: Vec<&str> = token.split('.').collect();
    let no_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
        parts[1],
        parts[2]
    );
    let (code, out) = verify(&no_kid, &public_b, &[]);
    assert_eq!(code, 1);
    assert!(out.contains("LicenseSignatureInvalid"), "{out}");
    // Garbage is locked/malformed.
    let (code, out) = verify("garbage-not-a-jwt", &public_b, &[]);
    assert_eq!(code, 1);
    assert!(out.contains("error: LicenseMalformed"), "{out}");
}

#[test]
fn token_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public, _) = keygen(dir.path());
    let token = issue(&private, "12h", &[]);
    for args in [
        vec!["verify", "-", "--public-key", public.to_str().unwrap()],
        vec!["inspect", "-"],
    ] {
        let mut child = bin()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{token}\n").as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("lic_cli_0001"));
    }
}

#[test]
fn cli_token_verifies_with_plain_ed25519_dalek() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public, kid) = keygen(dir.path());
    let token = issue(&private, "365d", &[]);
    let (input, sig) = token.rsplit_once('.').unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], kid.as_str());
    let raw = parse_public_keys(&std::fs::read_to_string(&public).unwrap()).unwrap()[0].raw();
    let sig = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .unwrap()
        .verify_strict(input.as_bytes(), &sig)
        .expect("CLI token verifies with ed25519-dalek alone");
}

#[test]
fn dev_fixture_key_issues_for_the_compiled_in_dev_public_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let token = issue(&root.join("fixtures/license/dev-private.pem"), "30d", &[]);
    let (code, out) = verify(&token, &root.join("adapters/license-ed25519/keys/dev-public.pem"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified with kid: 68fa14b57ad3a7f3"), "{out}");
}

#[test]
fn bad_arguments_and_help() {
    for args in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["issue", "--help"],
        vec!["inspect", "--help"],
        vec!["verify", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (private, public, _) = keygen(dir.path());
    let key = private.to_str().unwrap();
    let base = [
        "issue",
        "--key",
        key,
        "--customer-id",
        "c",
        "--tier",
        "t",
        "--seats",
        "1",
        "--repo-cap",
        "1",
    ];
    // Not a lic_ id, a bad duration, a public key used as signing key.
    let mut a = base.to_vec();
    a.extend(["--sub", "customer-1", "--expires-in", "1d"]);
    assert_eq!(run(&a).status.code(), Some(2));
    let mut a = base.to_vec();
    a.extend(["--sub", "lic_1", "--expires-in", "1 fortnight"]);
    assert_eq!(run(&a).status.code(), Some(2));
    let mut a = base.to_vec();
    a.extend(["--sub", "lic_1", "--expires-in", "1d"]);
    a[2] = public.to_str().unwrap();
    let o = run(&a);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("PRIVATE KEY"));
    // telemetry_required defaults to true.
    let mut a = base.to_vec();
    a.extend(["--sub", "lic_1", "--expires-in", "1d"]);
    let token = ok(&a).trim().to_owned();
    let v: Value = serde_json::from_str(&ok(&["inspect", &token, "--json"])).unwrap();
    assert_eq!(v["claims"]["telemetry_required"], true);
    assert_eq!(v["claims"]["features"], serde_json::json!([]));
}
