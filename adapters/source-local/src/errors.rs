//! The [`GitError`]s this adapter returns: every message names the path and
//! what to do.

use lettuce_ports::box_msg;
use lettuce_ports::git::GitError;
use std::path::Path;

/// Backend name in [`GitError::Backend`].
pub(crate) const BACKEND: &str = "local directory";

/// A failure that running again will not fix.
pub(crate) fn fatal(msg: impl Into<String>) -> GitError {
    GitError::Backend {
        backend: BACKEND,
        source: box_msg(msg),
        retryable: false,
    }
}

/// `path` no longer has the contents it had when the snapshot was taken.
pub(crate) fn changed(path: &Path) -> GitError {
    GitError::Backend {
        backend: BACKEND,
        source: box_msg(format!("{} changed while indexing; run again", path.display())),
        retryable: true,
    }
}

/// The root given to [`crate::LocalSnapshot::open`] cannot be used.
pub(crate) fn bad_root(root: &Path, err: &std::io::Error) -> GitError {
    match err.kind() {
        std::io::ErrorKind::NotFound => fatal(format!(
            "{} does not exist: pass the path of an existing directory",
            root.display()
        )),
        std::io::ErrorKind::NotADirectory => fatal(format!(
            "{} is not a directory: pass the directory that holds the code, not a file in it",
            root.display()
        )),
        _ => fatal(format!(
            "cannot read the directory {}: {err}: check that the user running lettuce may read it",
            root.display()
        )),
    }
}
