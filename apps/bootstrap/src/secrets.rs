//! Secret-bearing settings and where each comes from.
//!
//! Every secret-bearing variable is read through the configured
//! [`SecretStore`] by its env-var name ([`SECRET_VARIABLES`] lists them; an
//! adapter that adds one appends it there and reads it with
//! [`lettuce_ports::secrets::SecretHandle`]). With a store other than `env`,
//! a secret the store does not have falls back to the environment variable of
//! the same name; `lettuce config check` shows which source each came from.
//!
//! Instance secrets with a generated default (`CODEWAZE_ADMIN_TOKEN`,
//! `JWT_SIGNING_KEY`, `LETTUCE_DATA_KEY`): when neither the store nor the
//! environment has one, it is generated once and kept `0600` in the data
//! directory, so restarts (and other processes sharing the directory) see the
//! same value.

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lettuce_domain::Secret;
use lettuce_ports::secrets::{SecretError, SecretHandle, SecretStore};
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A secret-bearing variable Lettuce reads through the secret store.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SecretVar {
    /// The env-var name, which is also the secret's name in every store.
    pub name: &'static str,
    /// What it is for (shown by `lettuce config check`).
    pub purpose: &'static str,
    /// When no store has it: generated once into `<data dir>/<file>`.
    pub generated_file: Option<&'static str>,
}

const fn var(name: &'static str, purpose: &'static str) -> SecretVar {
    SecretVar {
        name,
        purpose,
        generated_file: None,
    }
}

const fn generated(name: &'static str, purpose: &'static str, file: &'static str) -> SecretVar {
    SecretVar {
        name,
        purpose,
        generated_file: Some(file),
    }
}

/// Every secret-bearing variable, in the order `lettuce config check` lists
/// them. **Register a new secret-bearing variable here** (and read it with a
/// `SecretHandle` in its adapter, never from the settings lookup); the test
/// `every_secret_variable_is_documented` checks docs/configuration.md names it.
pub const SECRET_VARIABLES: &[SecretVar] = &[
    var(
        "DATABASE_URL",
        "metadata store URL (may carry the database password); the whole URL may live in the store",
    ),
    generated(
        "CODEWAZE_ADMIN_TOKEN",
        "admin bearer token for /api/admin/*",
        "admin-token",
    ),
    generated("JWT_SIGNING_KEY", "signs Lettuce session tokens", "jwt-signing-key"),
    generated("LETTUCE_DATA_KEY", "seals stored credentials (AES-256-GCM)", "data-key"),
    var(
        "LETTUCE_DATA_KEY_PREVIOUS",
        "the previous data key, during a rotation (`lettuce keys rotate`)",
    ),
    var("CODEWAZE_S3_SECRET_ACCESS_KEY", "S3 blob store secret key"),
    var("LETTUCE_LICENSE_KEY", "self-hosted license key"),
    var("GITHUB_APP_PRIVATE_KEY", "GitHub App private key (PEM)"),
    var("GITHUB_APP_CLIENT_SECRET", "GitHub App OAuth client secret"),
    var("GITLAB_APP_CLIENT_SECRET", "GitLab OAuth application secret"),
    var("BITBUCKET_APP_CLIENT_SECRET", "Bitbucket OAuth consumer secret"),
    var("LETTUCE_OIDC_CLIENT_SECRET", "OIDC client secret (web sign-in)"),
    var("SUPABASE_JWT_SECRET", "Supabase project JWT secret"),
];

/// Where a secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// The configured secret store (`backend`: `env`, `vault`, `aws`, `gcp`).
    Store {
        /// The secret's name.
        name: &'static str,
        /// The store's backend name.
        backend: &'static str,
    },
    /// The environment variable of that name, because the configured store
    /// (not `env`) has no such secret.
    Env(&'static str),
    /// A file in the data directory (generated on first start).
    File(PathBuf),
}

impl SecretSource {
    /// The short source name `lettuce config check` prints: `env`, `vault`,
    /// `aws`, `gcp` or `generated file`.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::Store { backend, .. } => backend,
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "generated file",
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Store { name, backend: "env" } => write!(f, "the {name} environment variable"),
            SecretSource::Store { name, backend } => write!(f, "the {name} secret in the {backend} secret store"),
            SecretSource::Env(name) => write!(f, "the {name} environment variable"),
            SecretSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The configured store plus what resolution needs: the environment (the
/// fallback), the store's description for messages, and the reuse period of
/// lazy handles.
#[derive(Clone)]
pub(crate) struct Secrets {
    pub store: Arc<dyn SecretStore>,
    location: String,
    env: crate::EnvMap,
    reuse: std::time::Duration,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets").field("store", &self.location).finish()
    }
}

impl Secrets {
    /// Opens the configured store.
    pub async fn open(config: &crate::Config) -> anyhow::Result<Self> {
        let location = config.secrets.location();
        let store = crate::secret_store::open(&config.secrets, &config.env)
            .await
            .with_context(|| format!("opening the secret store: {location}"))?;
        Ok(Self {
            store,
            location,
            env: config.env.clone(),
            reuse: config.secrets.reuse,
        })
    }

    /// The store's backend name.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// `name` from the store, else (for a store other than `env`) from the
    /// environment; `None` when neither has it. A store failure is an error
    /// naming the store and the secret.
    pub async fn resolve(&self, name: &'static str) -> anyhow::Result<Option<(Secret, SecretSource)>> {
        match self.store.get(name).await {
            Ok(v) => Ok(Some((
                v,
                SecretSource::Store {
                    name,
                    backend: self.store.backend(),
                },
            ))),
            Err(SecretError::NotFound { .. }) => Ok(self
                .env
                .get(name)
                .filter(|_| self.store.backend() != "env")
                .map(|v| (Secret::new(v), SecretSource::Env(name)))),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "cannot read {name} from the secret store, {}: the store must be reachable at start-up (fix the store or its credentials, then restart)",
                self.location
            ))),
        }
    }

    /// A lazy handle on `name` (reused for `LETTUCE_SECRET_CACHE_SECS`).
    pub fn handle(&self, name: &'static str) -> SecretHandle {
        SecretHandle::new(self.store.clone(), name).with_ttl(self.reuse)
    }

    /// An instance secret: resolved, else read from `<data_dir>/<file>`,
    /// else generated into that file.
    pub async fn instance(&self, name: &'static str, data_dir: &Path) -> anyhow::Result<(Secret, SecretSource)> {
        if let Some(found) = self.resolve(name).await? {
            return Ok(found);
        }
        let file = SECRET_VARIABLES
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.generated_file)
            .with_context(|| format!("{name} has no generated default"))?;
        generate_into(name, data_dir, file)
    }
}

/// One row of `lettuce config check`: a secret variable and where it comes
/// from (`env`, `vault`, `aws`, `gcp`, `generated file`, `not set`), value
/// redacted.
pub async fn secret_report(config: &crate::Config) -> anyhow::Result<Vec<(&'static str, String)>> {
    let secrets = Secrets::open(config).await?;
    let mut rows = Vec::new();
    for v in SECRET_VARIABLES {
        let shown = match secrets.resolve(v.name).await? {
            Some((_, SecretSource::File(p))) => format!("*** (generated file {})", p.display()),
            Some((_, source)) => format!("*** ({})", source.kind()),
            None => match v.generated_file.map(|f| config.data_dir.join(f)) {
                Some(p) if read_secret_file(&p)?.is_some() => format!("*** (generated file {})", p.display()),
                Some(p) => format!("not set (generated into {} on first start)", p.display()),
                None => "not set".into(),
            },
        };
        rows.push((v.name, shown));
    }
    Ok(rows)
}

/// Reads `<data_dir>/<file>`, else generates 32 random bytes (URL-safe
/// base64) into that file.
fn generate_into(name: &'static str, data_dir: &Path, file: &str) -> anyhow::Result<(Secret, SecretSource)> {
    let path = data_dir.join(file);
    if let Some(v) = read_secret_file(&path)? {
        return Ok((v, SecretSource::File(path)));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let value = URL_SAFE_NO_PAD.encode(bytes);
    // Write a temp file, then hard-link it into place: the link fails if
    // another process won the race, and we read its value instead. Readers
    // never see a half-written file.
    let tmp = data_dir.join(format!(".{file}.{}.tmp", std::process::id()));
    write_private(&tmp, value.as_bytes()).with_context(|| format!("writing {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((Secret::new(value), SecretSource::File(path))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let v = read_secret_file(&path)?.with_context(|| format!("{} is empty", path.display()))?;
            Ok((v, SecretSource::File(path)))
        }
        Err(e) => Err(e).with_context(|| format!("creating {} (set {name} instead)", path.display())),
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(Secret::new(s.trim()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Decodes a data key (`var`: `LETTUCE_DATA_KEY` or `LETTUCE_DATA_KEY_PREVIOUS`): 32 bytes as base64 (standard or URL-safe) or 64 hex digits.
pub(crate) fn decode_data_key(value: &Secret, var: &str) -> anyhow::Result<[u8; 32]> {
    let v = value.expose().trim();
    let bytes = if v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<_>, _>>()
            .ok()
    } else {
        URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .ok()
            .or_else(|| STANDARD.decode(v).ok())
    };
    bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()).with_context(|| {
        format!("{var} must be 32 bytes, base64- or hex-encoded (generate one with `openssl rand -base64 32`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_ports::testing::secrets::MemorySecretStore;

    fn secrets(store: MemorySecretStore, env: &[(&str, &str)]) -> Secrets {
        Secrets {
            store: Arc::new(store),
            location: "memory".into(),
            env: crate::EnvMap::from_pairs(env.iter().copied()),
            reuse: std::time::Duration::from_secs(300),
        }
    }

    #[tokio::test]
    async fn generated_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(MemorySecretStore::new(), &[]);
        let (a, src) = s.instance("CODEWAZE_ADMIN_TOKEN", dir.path()).await.unwrap();
        assert_eq!(src, SecretSource::File(dir.path().join("admin-token")));
        let (b, _) = s.instance("CODEWAZE_ADMIN_TOKEN", dir.path()).await.unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("admin-token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let s = secrets(
            MemorySecretStore::new().with("CODEWAZE_ADMIN_TOKEN", "from-the-store-123456"),
            &[],
        );
        let (c, src) = s.instance("CODEWAZE_ADMIN_TOKEN", dir.path()).await.unwrap();
        assert_eq!(c.expose(), "from-the-store-123456");
        assert_eq!(src.kind(), "memory");
    }

    #[tokio::test]
    async fn store_first_then_environment_and_outage_names_store_and_secret() {
        let store = MemorySecretStore::new().with("JWT_SIGNING_KEY", "store-signing-key-1234");
        let s = secrets(
            store,
            &[
                ("JWT_SIGNING_KEY", "env-signing-key-5678"),
                ("LETTUCE_LICENSE_KEY", "env-license"),
            ],
        );
        let (v, src) = s.resolve("JWT_SIGNING_KEY").await.unwrap().unwrap();
        assert_eq!((v.expose(), src.kind()), ("store-signing-key-1234", "memory"));
        let (v, src) = s.resolve("LETTUCE_LICENSE_KEY").await.unwrap().unwrap();
        assert_eq!(
            (v.expose(), src),
            ("env-license", SecretSource::Env("LETTUCE_LICENSE_KEY"))
        );
        assert!(s.resolve("GITHUB_APP_PRIVATE_KEY").await.unwrap().is_none());

        let down = MemorySecretStore::new();
        down.set_unavailable(true);
        let s = secrets(down, &[]);
        let dir = tempfile::tempdir().unwrap();
        let e = s.instance("CODEWAZE_ADMIN_TOKEN", dir.path()).await.unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("CODEWAZE_ADMIN_TOKEN") && text.contains("memory"),
            "{text}"
        );
        assert!(
            !dir.path().join("admin-token").exists(),
            "no silent default when the store is down"
        );
    }

    #[test]
    fn every_secret_variable_is_documented() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
        let secrets_doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/secrets.md")).unwrap();
        for v in SECRET_VARIABLES {
            assert!(
                docs.contains(v.name),
                "docs/configuration.md does not mention {}",
                v.name
            );
            assert!(secrets_doc.contains(v.name), "docs/secrets.md does not list {}", v.name);
        }
    }

    #[test]
    fn data_key_formats() {
        let hex = "00".repeat(32);
        assert_eq!(
            decode_data_key(&Secret::new(hex), "LETTUCE_DATA_KEY").unwrap(),
            [0u8; 32]
        );
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(
            decode_data_key(&Secret::new(b64), "LETTUCE_DATA_KEY").unwrap(),
            [7u8; 32]
        );
        let e = decode_data_key(&Secret::new("short"), "LETTUCE_DATA_KEY_PREVIOUS").unwrap_err();
        assert!(e.to_string().starts_with("LETTUCE_DATA_KEY_PREVIOUS"), "{e}");
    }
}
