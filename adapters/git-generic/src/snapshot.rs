//! [`RepoSnapshot`] over one commit of a bare mirror.

use crate::errors::{backend_msg, local};
use crate::sync::open_options;
use gix::bstr::ByteSlice;
use lettuce_ports::git::{CommitChanges, FileEntry, GitError, RepoSnapshot};
use std::path::Path;

/// One commit of a mirror. Holds the thread-safe repository handle and makes
/// a thread-local one per call.
pub(crate) struct GixSnapshot {
    key: String,
    commit: String,
    id: gix::ObjectId,
    tree: gix::ObjectId,
    repo: gix::ThreadSafeRepository,
}

impl std::fmt::Debug for GixSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GixSnapshot")
            .field("key", &self.key)
            .field("commit", &self.commit)
            .finish_non_exhaustive()
    }
}

impl GixSnapshot {
    /// Opens mirror `dir` and peels `commit` to its tree.
    pub(crate) fn open(dir: &Path, key: &str, commit: &str) -> Result<Self, GitError> {
        let missing = || GitError::MissingObject {
            key: key.to_owned(),
            commit: commit.to_owned(),
        };
        if !dir.is_dir() {
            return Err(missing());
        }
        let id = parse_full_id(commit).ok_or_else(missing)?;
        let repo = gix::ThreadSafeRepository::open_opts(dir, open_options())
            .map_err(|e| local(&e, &format!("cannot open mirror {key}")))?;
        let tree = {
            let local_repo = repo.to_thread_local();
            let object = match local_repo.find_object(id) {
                Ok(o) => o,
                Err(e) if e.is_not_found() => return Err(missing()),
                Err(e) => return Err(local(&e, &format!("cannot read commit {commit} of mirror {key}"))),
            };
            let commit_obj = object.try_into_commit().map_err(|_| missing())?;
            commit_obj
                .tree_id()
                .map_err(|e| local(&e, &format!("cannot read commit {commit} of mirror {key}")))?
                .detach()
        };
        Ok(Self {
            key: key.to_owned(),
            commit: commit.to_owned(),
            id,
            tree,
            repo,
        })
    }
}

/// A full hex object id (no abbreviations).
fn parse_full_id(hex: &str) -> Option<gix::ObjectId> {
    if hex.len() != gix::hash::Kind::Sha1.len_in_hex() {
        return None;
    }
    gix::ObjectId::from_hex(hex.as_bytes()).ok()
}

impl RepoSnapshot for GixSnapshot {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn files(&self) -> Result<Vec<FileEntry>, GitError> {
        let repo = self.repo.to_thread_local();
        let read_err = |e: gix::Error| {
            local(
                &e,
                &format!("cannot read the tree of {} in mirror {}", self.commit, self.key),
            )
        };
        let tree = repo.find_tree(self.tree).map_err(read_err)?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse().breadthfirst(&mut recorder).map_err(read_err)?;
        let mut files = Vec::new();
        for entry in recorder.records {
            // Regular and executable files only: no trees, symlinks or submodules.
            if !entry.mode.is_blob() {
                continue;
            }
            let size = repo.find_header(entry.oid).map_err(read_err)?.size();
            let path = match entry.filepath.to_str() {
                Ok(p) => p.to_owned(),
                Err(_) => entry.filepath.to_str_lossy().into_owned(),
            };
            files.push(FileEntry {
                path,
                blob_id: entry.oid.to_string(),
                size,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError> {
        let missing = || GitError::MissingObject {
            key: self.key.clone(),
            commit: blob_id.to_owned(),
        };
        let id = parse_full_id(blob_id).ok_or_else(missing)?;
        let repo = self.repo.to_thread_local();
        match repo.find_object(id) {
            Ok(object) if object.kind == gix::object::Kind::Blob => Ok(object.detach().data),
            Ok(_) => Err(backend_msg(format!("{blob_id} in mirror {} is not a blob", self.key))),
            Err(e) if e.is_not_found() => Err(missing()),
            Err(e) => Err(local(&e, &format!("cannot read blob {blob_id} of mirror {}", self.key))),
        }
    }

    fn history(&self, max: usize) -> Result<Vec<CommitChanges>, GitError> {
        lettuce_git_history::history_at(&self.repo.to_thread_local(), self.id, max)
            .map_err(|e| backend_msg(format!("cannot read the history of mirror {}: {e}", self.key)))
    }

    fn first_parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        lettuce_git_history::first_parent(&self.repo.to_thread_local(), commit)
            .map_err(|e| backend_msg(format!("cannot read commit {commit} of mirror {}: {e}", self.key)))
    }
}
