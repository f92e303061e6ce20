//! The ids a [`crate::LocalSnapshot`] hands out: git blob ids of file
//! contents, synthetic ids of files too large to hash, and the synthetic
//! commit id of the whole tree.

use crate::stat::Stat;
use lettuce_ports::git::FileEntry;
use sha1::{Digest, Sha1};

/// Prefix of the id of a file larger than `max_file_bytes`. `l`, `r`, `g`
/// and `-` are not hex digits, so such an id never equals a git blob id.
const LARGE_PREFIX: &str = "large-";

/// The git blob id of `bytes`: the lowercase hex SHA-1 of
/// `"blob <len>\0" + bytes`, exactly what `git hash-object` prints.
pub(crate) fn git_blob_id(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// The id of a file that is not hashed because it is larger than the limit:
/// `large-` + SHA-1 over the path and its stat (size, mtime, inode). It
/// changes whenever the size, the modification time or the inode changes,
/// and two paths never share one.
pub(crate) fn large_file_id(path: &str, stat: &Stat) -> String {
    let mut hasher = Sha1::new();
    hasher.update(b"lettuce-source-local large file v1\0");
    hasher.update(path.as_bytes());
    hasher.update(b"\0");
    hasher.update(stat.size.to_le_bytes());
    hasher.update(stat.mtime_ns.to_le_bytes());
    hasher.update(stat.inode.to_le_bytes());
    format!("{LARGE_PREFIX}{}", hex::encode(hasher.finalize()))
}

/// Whether `id` was made by [`large_file_id`].
pub(crate) fn is_large_file_id(id: &str) -> bool {
    id.starts_with(LARGE_PREFIX)
}

/// The synthetic commit id of a tree: 40 lowercase hex digits, the SHA-1
/// over the `(path, blob_id)` list of `files` (which must be sorted by path).
pub(crate) fn tree_id(files: &[FileEntry]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(b"lettuce-source-local tree v1\n");
    for f in files {
        hasher.update(f.path.as_bytes());
        hasher.update(b"\0");
        hasher.update(f.blob_id.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git() {
        // `git hash-object /dev/null` and `printf 'hello\n' | git hash-object --stdin`.
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn large_ids_are_not_hex_and_follow_the_stat() {
        let stat = Stat {
            size: 10,
            mtime_ns: 5,
            inode: 7,
        };
        let id = large_file_id("a.bin", &stat);
        assert!(is_large_file_id(&id));
        assert!(!id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!is_large_file_id(&git_blob_id(b"x")));
        for other in [
            Stat { size: 11, ..stat },
            Stat { mtime_ns: 6, ..stat },
            Stat { inode: 8, ..stat },
        ] {
            assert_ne!(large_file_id("a.bin", &other), id);
        }
        assert_ne!(large_file_id("b.bin", &stat), id);
        assert_eq!(large_file_id("a.bin", &stat), id);
    }

    #[test]
    fn tree_ids_are_hex_and_depend_on_every_pair() {
        let entry = |p: &str, b: &str| FileEntry {
            path: p.into(),
            blob_id: b.into(),
            size: 1,
        };
        let base = tree_id(&[entry("a", "1"), entry("b", "2")]);
        assert_eq!(base.len(), 40);
        assert!(base.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(base, tree_id(&[entry("a", "1"), entry("b", "2")]));
        assert_ne!(base, tree_id(&[entry("a", "1"), entry("b", "3")]));
        assert_ne!(base, tree_id(&[entry("a", "1"), entry("c", "2")]));
        assert_ne!(base, tree_id(&[entry("a", "1")]));
        // The separator keeps path and id apart.
        assert_ne!(tree_id(&[entry("ab", "c")]), tree_id(&[entry("a", "bc")]));
    }
}
