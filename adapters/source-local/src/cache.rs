//! The stat cache file: path → (size, mtime, inode, blob id) of the files
//! hashed by the previous open, so that unchanged files are not read again.
//!
//! Format: the 8-byte magic `LTSCv001` (the version is part of it), the
//! 20-byte SHA-1 of the body, then the body: a postcard-encoded list of
//! [`Record`]s. A file that is missing, of another version, truncated or
//! otherwise damaged loads as an empty cache (everything is hashed again);
//! it is never an error. Writes go to a temporary file beside the cache that
//! is then renamed over it, so readers see the old or the new file, never a
//! mix.

use crate::stat::Stat;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// First bytes of a cache file; bump the version when [`Record`] changes.
const MAGIC: &[u8; 8] = b"LTSCv001";
/// Length of the checksum after the magic.
const CHECKSUM_LEN: usize = 20;

/// One cached file.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    path: String,
    stat: Stat,
    /// Raw SHA-1 of the git blob id (only real blob ids are cached).
    blob: [u8; 20],
}

/// What the previous open knew about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    /// Its stat when it was hashed.
    pub stat: Stat,
    /// Its git blob id.
    pub blob_id: String,
}

/// Cached files by path.
pub(crate) type CacheMap = HashMap<String, Cached>;

/// Loads the cache at `path`; anything unusable is an empty cache.
pub(crate) fn load(path: &Path) -> CacheMap {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return CacheMap::new(),
        Err(e) => {
            tracing::warn!(cache = %path.display(), error = %e, "cannot read the stat cache; every file is read again");
            return CacheMap::new();
        }
    };
    match decode(&bytes) {
        Some(map) => map,
        None => {
            tracing::warn!(cache = %path.display(), "the stat cache is damaged or of another version; every file is read again");
            CacheMap::new()
        }
    }
}

fn decode(bytes: &[u8]) -> Option<CacheMap> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < CHECKSUM_LEN {
        return None;
    }
    let (checksum, body) = rest.split_at(CHECKSUM_LEN);
    if Sha1::digest(body)[..] != *checksum {
        return None;
    }
    let records: Vec<Record> = postcard::from_bytes(body).ok()?;
    Some(
        records
            .into_iter()
            .map(|r| {
                let cached = Cached {
                    stat: r.stat,
                    blob_id: hex::encode(r.blob),
                };
                (r.path, cached)
            })
            .collect(),
    )
}

fn encode<'a>(entries: impl Iterator<Item = (&'a str, &'a Cached)>) -> Vec<u8> {
    let records: Vec<Record> = entries
        .filter_map(|(path, c)| {
            let mut blob = [0u8; 20];
            hex::decode_to_slice(&c.blob_id, &mut blob).ok()?;
            Some(Record {
                path: path.to_owned(),
                stat: c.stat,
                blob,
            })
        })
        .collect();
    // Serialising plain structs into a Vec cannot fail.
    let body = postcard::to_allocvec(&records).unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + CHECKSUM_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&Sha1::digest(&body));
    out.extend_from_slice(&body);
    out
}

/// Prefix of the temporary files written beside the cache at `path`.
pub(crate) fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    format!("{name}.tmp")
}

/// The directory that holds the cache file `path`.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `entries` as the cache at `path` (temporary file, then rename).
/// Failing to write only costs the next open some hashing, so it is logged,
/// not returned.
pub(crate) fn save<'a>(path: &Path, entries: impl Iterator<Item = (&'a str, &'a Cached)>) {
    let bytes = encode(entries);
    let write = || -> std::io::Result<()> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::Builder::new().prefix(&temp_prefix(path)).tempfile_in(&dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!(cache = %path.display(), error = %e, "cannot write the stat cache; the next run reads every file again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CacheMap {
        let mut m = CacheMap::new();
        m.insert(
            "src/main.rs".into(),
            Cached {
                stat: Stat {
                    size: 12,
                    mtime_ns: -3,
                    inode: 99,
                },
                blob_id: crate::ids::git_blob_id(b"fn main() {}"),
            },
        );
        m.insert(
            "README.md".into(),
            Cached {
                stat: Stat {
                    size: 0,
                    mtime_ns: 1_700_000_000_123_456_789,
                    inode: 1,
                },
                blob_id: crate::ids::git_blob_id(b""),
            },
        );
        m
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = encode(m.iter().map(|(k, v)| (k.as_str(), v)));
        assert_eq!(decode(&bytes), Some(m));
    }

    #[test]
    fn damage_is_detected() {
        let m = sample();
        let bytes = encode(m.iter().map(|(k, v)| (k.as_str(), v)));
        for cut in [0, 4, 8, 27, 28, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert_eq!(decode(&bad), None, "flipped byte {i}");
        }
        let mut other_version = bytes.clone();
        other_version[7] = b'2';
        assert_eq!(decode(&other_version), None);
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/cache");
        let m = sample();
        save(&path, m.iter().map(|(k, v)| (k.as_str(), v)));
        assert_eq!(load(&path), m);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["cache"], "no temporary file is left behind");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(load(&path).is_empty());
        assert!(load(&dir.path().join("missing")).is_empty());
    }
}
