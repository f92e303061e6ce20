//! Instance secrets that have a generated default: `CODEWAZE_ADMIN_TOKEN`,
//! `JWT_SIGNING_KEY`, `LETTUCE_DATA_KEY`. Each is read from the secret store;
//! when the store has none, it is generated once and kept `0600` in the data
//! directory, so restarts (and other processes sharing the directory) see the
//! same value.

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lettuce_domain::Secret;
use lettuce_ports::secrets::{SecretError, SecretStore};
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where an instance secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The configured secret store (`LETTUCE_SECRET_STORE`), under this name.
    Store(&'static str),
    /// A file in the data directory (generated on first start).
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Store(name) => write!(f, "the {name} secret (from the configured secret store)"),
            SecretSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Reads `name` from `store`, else from `<data_dir>/<file>`, else generates
/// 32 random bytes (URL-safe base64) into that file.
pub(crate) async fn instance_secret(
    store: &dyn SecretStore,
    name: &'static str,
    data_dir: &Path,
    file: &str,
) -> anyhow::Result<(Secret, SecretSource)> {
    match store.get(name).await {
        Ok(v) => return Ok((v, SecretSource::Store(name))),
        Err(SecretError::NotFound { .. }) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name} from the secret store"))),
    }
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

/// Decodes `LETTUCE_DATA_KEY`: 32 bytes as base64 (standard or URL-safe) or 64 hex digits.
pub(crate) fn decode_data_key(value: &Secret) -> anyhow::Result<[u8; 32]> {
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
    bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()).context(
        "LETTUCE_DATA_KEY must be 32 bytes, base64- or hex-encoded (generate one with `openssl rand -base64 32`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_ports::testing::secrets::MemorySecretStore;

    #[tokio::test]
    async fn generated_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemorySecretStore::new();
        let (a, src) = instance_secret(&store, "CODEWAZE_ADMIN_TOKEN", dir.path(), "admin-token")
            .await
            .unwrap();
        assert_eq!(src, SecretSource::File(dir.path().join("admin-token")));
        let (b, _) = instance_secret(&store, "CODEWAZE_ADMIN_TOKEN", dir.path(), "admin-token")
            .await
            .unwrap();
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
        let store = MemorySecretStore::new().with("CODEWAZE_ADMIN_TOKEN", "from-the-store-123456");
        let (c, src) = instance_secret(&store, "CODEWAZE_ADMIN_TOKEN", dir.path(), "admin-token")
            .await
            .unwrap();
        assert_eq!(c.expose(), "from-the-store-123456");
        assert_eq!(src, SecretSource::Store("CODEWAZE_ADMIN_TOKEN"));
    }

    #[test]
    fn data_key_formats() {
        let hex = "00".repeat(32);
        assert_eq!(decode_data_key(&Secret::new(hex)).unwrap(), [0u8; 32]);
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(decode_data_key(&Secret::new(b64)).unwrap(), [7u8; 32]);
        assert!(decode_data_key(&Secret::new("short")).is_err());
    }
}
