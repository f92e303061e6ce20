//! What the stat cache and large-file ids know about a file.

use serde::{Deserialize, Serialize};
use std::fs::Metadata;
use std::time::{SystemTime, UNIX_EPOCH};

/// Size, modification time and inode of a file: when all three are
/// unchanged, the contents are taken to be unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (saturating).
    pub mtime_ns: i64,
    /// Inode number (0 where the platform has none).
    pub inode: u64,
}

impl Stat {
    /// The stat of `meta` (from `symlink_metadata`, or an open file).
    #[cfg(unix)]
    pub fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            inode: meta.ino(),
        }
    }

    /// The stat of `meta` (from `symlink_metadata`, or an open file).
    #[cfg(not(unix))]
    pub fn of(meta: &Metadata) -> Self {
        Self {
            size: meta.len(),
            mtime_ns: meta.modified().map(time_ns).unwrap_or(0),
            inode: 0,
        }
    }
}

/// `t` as nanoseconds since the Unix epoch, saturating at the ends of `i64`.
pub(crate) fn time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}
