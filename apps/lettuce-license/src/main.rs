//! `lettuce-license`: vendor-internal tooling for Lettuce license keys
//! (PRODUCT P-6).
//!
//! ```text
//! lettuce-license keygen --out-dir keys/
//! lettuce-license issue --key keys/private.pem --sub lic_0001 --customer-id cus_acme \
//!     --tier team --seats 25 --repo-cap 100 --features sso,audit \
//!     --telemetry-required true --expires-in 365d > license.jwt
//! lettuce-license inspect - < license.jwt
//! lettuce-license verify - --public-key keys/public.pem < license.jwt
//! ```
//!
//! Licenses are compact JWTs signed with Ed25519 (`alg: EdDSA`); the header
//! names the signing key's `kid` (first 16 hex chars of SHA-256 of the raw
//! public key unless `--kid` is given). `verify` uses exactly the verifier of
//! the `lettuce-license-ed25519` adapter, so it reports the state a running
//! instance would be in.
#![deny(missing_docs)]

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clap::{Parser, Subcommand};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use lettuce_domain::license::{LicenseClaims, LicenseState};
use lettuce_license_ed25519::{PublicKey, error_name, evaluate_token, parse_public_keys, verify_token};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Vendor-internal tool to create signing keys and issue, inspect and verify
/// Lettuce license keys (Ed25519-signed JWTs).
#[derive(Debug, Parser)]
#[command(name = "lettuce-license", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an Ed25519 signing keypair: private.pem (mode 0600) and public.pem; prints the kid.
    Keygen {
        /// Directory to write private.pem and public.pem into (created if missing).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Issue (sign) a license; prints the JWT on stdout.
    Issue(IssueArgs),
    /// Decode a license WITHOUT verifying its signature (header and claims).
    Inspect {
        /// The license JWT, or `-` to read it from stdin.
        token: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify a license and print its state (valid, grace, read_only, locked) and why.
    ///
    /// Exit code 0 for valid or grace, 1 for read_only or locked, 2 for usage errors.
    Verify {
        /// The license JWT, or `-` to read it from stdin.
        token: String,
        /// PEM file with one or more Ed25519 `PUBLIC KEY` blocks.
        #[arg(long, value_name = "PEM")]
        public_key: PathBuf,
        /// Evaluate the state at this time (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<DateTime<Utc>>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Claims and signing options of `issue`.
#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The signing key (PKCS#8 PEM, as written by `keygen`).
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    /// License id (`lic_…`).
    #[arg(long)]
    sub: String,
    /// Customer id.
    #[arg(long)]
    customer_id: String,
    /// Tier name (e.g. team, enterprise).
    #[arg(long)]
    tier: String,
    /// Seat limit.
    #[arg(long)]
    seats: u32,
    /// Repository limit.
    #[arg(long)]
    repo_cap: u32,
    /// Enabled features, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "")]
    features: Vec<String>,
    /// Whether the instance must send telemetry (false = offline-capable license).
    #[arg(long, value_name = "true|false", default_value = "true", action = clap::ArgAction::Set)]
    telemetry_required: bool,
    /// Validity from now: a signed number with unit s, m, h, d, w or y (365d),
    /// e.g. 365d, 12h, -3d (already expired, for tests).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
    expires_in: Duration,
    /// Issuer.
    #[arg(long, default_value = "lettuce-licensing")]
    iss: String,
    /// Key id for the JWT header (default: derived from the public key).
    #[arg(long)]
    kid: Option<String>,
}

/// Parses `365d`, `12h`, `-3d`, `90m`, `30s`, `2w`, `1y`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("`{s}` has no unit; use e.g. 365d, 12h, 30m, -3d"))?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number followed by a unit (s, m, h, d, w, y)"))?;
    let secs_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`; use s, m, h, d, w or y")),
    };
    n.checked_mul(secs_per)
        .and_then(Duration::try_seconds)
        .ok_or_else(|| format!("`{s}` is out of range"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen { out_dir, force } => keygen(&out_dir, force),
        Command::Issue(args) => issue(&args),
        Command::Inspect { token, json } => inspect(&read_token(&token)?, json),
        Command::Verify {
            token,
            public_key,
            at,
            json,
        } => verify(&read_token(&token)?, &public_key, at.unwrap_or_else(Utc::now), json),
    }
}

fn read_token(arg: &str) -> anyhow::Result<String> {
    let token = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the token from stdin")?;
        s
    } else {
        arg.to_owned()
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the token is empty");
    }
    Ok(token)
}

fn write_file(path: &Path, contents: &str, mode: u32, force: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    let mut f = opts.open(path).with_context(|| {
        if !force && path.exists() {
            format!("{} already exists (use --force to overwrite)", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn keygen(out_dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let (private_path, public_path) = (out_dir.join("private.pem"), out_dir.join("public.pem"));
    if !force {
        for p in [&private_path, &public_path] {
            if p.exists() {
                bail!("{} already exists (use --force to overwrite)", p.display());
            }
        }
    }
    let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public = PublicKey::from_raw(signing.verifying_key().to_bytes())?;
    let private_pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| anyhow::anyhow!("cannot encode the private key"))?;
    write_file(&private_path, &private_pem, 0o600, force)?;
    write_file(&public_path, &public.to_pem(), 0o644, force)?;
    println!("wrote {} (secret: keep it offline, mode 0600)", private_path.display());
    println!("wrote {}", public_path.display());
    println!("kid: {}", public.kid());
    Ok(ExitCode::SUCCESS)
}

fn issue(a: &IssueArgs) -> anyhow::Result<ExitCode> {
    if !a.sub.starts_with("lic_") {
        bail!("--sub must be a license id starting with `lic_` (got `{}`)", a.sub);
    }
    let pem = std::fs::read_to_string(&a.key).with_context(|| format!("cannot read {}", a.key.display()))?;
    let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 PKCS#8 `PRIVATE KEY` PEM (as written by `lettuce-license keygen`)",
            a.key.display()
        )
    })?;
    let public = PublicKey::from_raw(signing.verifying_key().to_bytes())?;
    let public = match &a.kid {
        Some(kid) => public.with_kid(kid.clone()),
        None => public,
    };
    let now = Utc::now();
    let claims = LicenseClaims {
        iss: a.iss.clone(),
        sub: a.sub.clone(),
        customer_id: a.customer_id.clone(),
        tier: a.tier.clone(),
        seats: a.seats,
        repo_cap: a.repo_cap,
        exp: (now + a.expires_in).timestamp(),
        iat: now.timestamp(),
        features: a
            .features
            .iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        telemetry_required: a.telemetry_required,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(public.kid().to_owned());
    let der = signing
        .to_pkcs8_der()
        .map_err(|_| anyhow::anyhow!("cannot encode the private key"))?;
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
    )
    .context("signing the license")?;
    // Self-check with the same verifier the server uses.
    let verified = verify_token(&token, std::slice::from_ref(&public)).context("the issued license does not verify")?;
    if verified.claims != claims {
        bail!("the issued license does not round-trip its claims");
    }
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

fn decode_part(part: Option<&str>, what: &str) -> anyhow::Result<Value> {
    let part = part.with_context(|| format!("not a compact JWT: no {what}"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .with_context(|| format!("the {what} is not base64url"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("the {what} is not JSON"))
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn show_time(v: &Value) -> String {
    match v.as_i64().and_then(|t| DateTime::from_timestamp(t, 0)) {
        Some(t) => format!("{} ({})", v, t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => show(v),
    }
}

fn inspect(token: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut parts = token.split('.');
    let header = decode_part(parts.next(), "header")?;
    let claims = decode_part(parts.next(), "payload")?;
    if as_json {
        let out = json!({ "verified": false, "header": header, "claims": claims });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("NOT VERIFIED: inspect does not check the signature (use `lettuce-license verify`)");
    println!("header:");
    if let Some(h) = header.as_object() {
        for (k, v) in h {
            println!("  {k}: {}", show(v));
        }
    }
    println!("claims:");
    match claims.as_object() {
        Some(c) => {
            const ORDER: [&str; 10] = [
                "iss",
                "sub",
                "customer_id",
                "tier",
                "seats",
                "repo_cap",
                "exp",
                "iat",
                "features",
                "telemetry_required",
            ];
            for k in ORDER {
                match c.get(k) {
                    Some(v) if k == "exp" || k == "iat" => println!("  {k}: {}", show_time(v)),
                    Some(v) => println!("  {k}: {}", show(v)),
                    None if k == "features" => println!("  {k}: (none)"),
                    None if k == "telemetry_required" => println!("  {k}: (absent = true)"),
                    None => println!("  {k}: (missing)"),
                }
            }
            for (k, v) in c.iter().filter(|(k, _)| !ORDER.contains(&k.as_str())) {
                println!("  {k}: {} (not a license claim)", show(v));
            }
        }
        None => println!("  (not a JSON object) {claims}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(token: &str, public_key: &Path, at: DateTime<Utc>, as_json: bool) -> anyhow::Result<ExitCode> {
    let pem = std::fs::read_to_string(public_key).with_context(|| format!("cannot read {}", public_key.display()))?;
    let keys = parse_public_keys(&pem).with_context(|| format!("loading {}", public_key.display()))?;
    let status = evaluate_token(token, &keys, at);
    let (error, kid) = match verify_token(token, &keys) {
        Ok(v) => (
            (status.state == LicenseState::ReadOnly).then_some("LicenseExpired"),
            Some(v.kid),
        ),
        Err(e) => (Some(error_name(&e)), None),
    };
    let ok = matches!(status.state, LicenseState::Valid | LicenseState::Grace);
    if as_json {
        let out = json!({
            "state": status.state.as_str(),
            "reason": status.reason,
            "error": error,
            "kid": kid,
            "at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "claims": status.claims,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("state: {}", status.state.as_str());
        if let Some(e) = error {
            println!("error: {e}");
        }
        if let Some(r) = &status.reason {
            println!("reason: {r}");
        }
        if let Some(c) = &status.claims {
            let exp = DateTime::from_timestamp(c.exp, 0)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            println!("license: {} (customer {}, tier {})", c.sub, c.customer_id, c.tier);
            println!("seats: {}, repo_cap: {}", c.seats, c.repo_cap);
            println!("features: {}", c.features.join(", "));
            println!("telemetry_required: {}", c.telemetry_required);
            println!("expires: {exp}");
        }
        if let Some(k) = kid {
            println!("verified with kid: {k}");
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("365d").unwrap(), Duration::days(365));
        assert_eq!(parse_duration("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_duration("-3d").unwrap(), Duration::days(-3));
        assert_eq!(parse_duration("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("30s").unwrap(), Duration::seconds(30));
        assert_eq!(parse_duration("2w").unwrap(), Duration::days(14));
        assert_eq!(parse_duration("1y").unwrap(), Duration::days(365));
        for bad in ["", "d", "12", "3x", "1.5d", "99999999999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
