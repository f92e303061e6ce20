//! The blocking half of [`GitMirror::sync`](lettuce_ports::git::GitMirror::sync):
//! clone into a temporary directory and rename, or fetch into the existing mirror.

use crate::errors::{self, backend_msg, local};
use crate::policy::PolicyResolver;
use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::http;
use gix::remote::Direction;
use lettuce_domain::Secret;
use lettuce_domain::repo::{RepoUrl, UrlScheme};
use lettuce_ports::git::{GitError, SyncOutcome};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The refspec that keeps every branch of the mirror equal to the remote's.
const BRANCHES: &str = "+refs/heads/*:refs/heads/*";

/// Everything the blocking sync needs; owned so it can move to a blocking thread.
pub(crate) struct SyncJob {
    pub root: PathBuf,
    pub key: String,
    pub url: RepoUrl,
    pub branch: Option<String>,
    pub allow_private: bool,
    pub timeout: Duration,
    pub interrupt: Arc<AtomicBool>,
}

impl SyncJob {
    fn secret(&self) -> Option<&str> {
        self.url.credentials().map(|c| c.password.expose())
    }
}

/// Open options that ignore the environment and the system/global git
/// configuration (no `url.*.insteadOf` rewrites, credential helpers or
/// prompts from the host), so only what this crate configures applies.
pub(crate) fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
}

/// Runs a sync: fetch into `root/<key>.git`, or clone into a temporary
/// directory next to it and rename it into place.
pub(crate) fn run(job: &SyncJob) -> Result<SyncOutcome, GitError> {
    let target = job.root.join(format!("{}.git", job.key));
    std::fs::create_dir_all(&job.root)
        .map_err(|e| backend_msg(format!("cannot create {}: {e}", job.root.display())))?;
    if target.is_dir() {
        match gix::open_opts(&target, open_options()) {
            Ok(mut repo) => {
                set_committer(&mut repo)?;
                return fetch(&repo, job);
            }
            Err(e) => {
                tracing::warn!(key = %job.key, error = %errors::chain_text(&e), "mirror is unreadable; cloning it again");
                std::fs::remove_dir_all(&target)
                    .map_err(|e| backend_msg(format!("cannot remove broken mirror {}: {e}", target.display())))?;
            }
        }
    }
    clone(job, &target)
}

fn set_committer(repo: &mut gix::Repository) -> Result<(), GitError> {
    repo.committer_or_set_generic_fallback()
        .map(|_| ())
        .map_err(|e| local(&e, "cannot set a committer"))
}

fn clone(job: &SyncJob, target: &Path) -> Result<SyncOutcome, GitError> {
    // Leftovers of a crashed clone of this key. `.` cannot occur in a key, so
    // the prefix matches no other key's temporaries.
    let prefix = format!(".tmp.{}.", job.key);
    if let Ok(entries) = std::fs::read_dir(&job.root) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(&job.root)
        .map_err(|e| {
            backend_msg(format!(
                "cannot create a temporary directory in {}: {e}",
                job.root.display()
            ))
        })?;
    let mut repo = gix::ThreadSafeRepository::init_opts(
        tmp.path(),
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )
    .map_err(|e| local(&e, "cannot initialise the mirror"))?
    .to_thread_local();
    set_committer(&mut repo)?;
    let outcome = fetch(&repo, job)?;
    drop(repo);
    let path = tmp.keep();
    if let Err(e) = std::fs::rename(&path, target) {
        let _ = std::fs::remove_dir_all(&path);
        return Err(GitError::Backend {
            backend: errors::BACKEND,
            source: lettuce_ports::box_msg(format!("cannot move the new mirror into {}: {e}", target.display())),
            retryable: true,
        });
    }
    Ok(outcome)
}

/// The URL handed to gix: never with credentials.
fn gix_url(url: &RepoUrl) -> Result<gix::Url, GitError> {
    let raw = match url.scheme() {
        UrlScheme::File => url.file_path().unwrap_or_default(),
        _ => url.redacted(),
    };
    let parsed = gix::url::parse(raw.as_bytes().as_bstr())
        .map_err(|e| backend_msg(format!("cannot use {} as a git URL: {e}", url.redacted())))?;
    // Never let gix pick another transport (remote helpers, ssh) than the one validated.
    let expected = match url.scheme() {
        UrlScheme::File => gix::url::Scheme::File,
        UrlScheme::Git => gix::url::Scheme::Git,
        UrlScheme::Http => gix::url::Scheme::Http,
        UrlScheme::Https => gix::url::Scheme::Https,
    };
    if parsed.scheme != expected {
        return Err(backend_msg(format!("cannot use {} as a git URL", url.redacted())));
    }
    Ok(parsed)
}

type CredentialsFn = Box<
    dyn FnMut(gix::credentials::helper::Action) -> gix::Result<Option<gix::credentials::protocol::Outcome>>
        + Send
        + 'static,
>;

/// A credentials callback that answers with the URL's credentials (or none)
/// and never consults helpers, prompts or the repository configuration.
fn credentials(url: &RepoUrl) -> CredentialsFn {
    let creds: Option<(String, Secret)> = url.credentials().map(|c| (c.username.clone(), c.password.clone()));
    Box::new(move |action| match (action, &creds) {
        (gix::credentials::helper::Action::Get(ctx), Some((username, password))) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.expose().to_owned(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            }))
        }
        _ => Ok(None),
    })
}

/// HTTP transport options: the repository's defaults plus a DNS resolver that
/// enforces the policy at connect time, a total request timeout and, unless
/// private hosts are allowed, no redirects (a redirect to a literal private
/// address would bypass the resolver).
fn http_options(repo: &gix::Repository, url: &str, job: &SyncJob) -> Result<Option<Box<dyn Any>>, GitError> {
    let Some(opts) = repo
        .transport_options(url, None)
        .map_err(|e| local(&e, "cannot configure the HTTP transport"))?
    else {
        return Ok(None);
    };
    let mut opts = opts
        .downcast::<http::Options>()
        .map_err(|_| backend_msg("unexpected HTTP transport options from gix"))?;
    if !job.allow_private {
        opts.follow_redirects = http::options::FollowRedirects::None;
    }
    let resolver = Arc::new(PolicyResolver::new(job.allow_private));
    let timeout = job.timeout;
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            Ok(builder.dns_resolver(resolver.clone()).timeout(timeout))
        })),
        configure_request: None,
    };
    opts.backend = Some(Arc::new(Mutex::new(backend)));
    Ok(Some(opts))
}

/// Connects to the job's URL from `repo`, lists the remote's refs (the
/// server's `HEAD` symref included) and hands the prepared fetch to `then`.
fn with_ref_map<R>(
    repo: &gix::Repository,
    job: &SyncJob,
    then: impl FnOnce(
        gix::remote::fetch::Prepare<'_, '_, Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>>,
    ) -> Result<R, GitError>,
) -> Result<R, GitError> {
    let redacted = job.url.redacted();
    let net = |e: gix::Error| errors::remote(&e, &redacted, job.secret());
    let url = gix_url(&job.url)?;
    let url_string = url.to_bstring().to_string();
    let remote = repo
        .remote_at(url)
        .map_err(|e| local(&e, "cannot configure the remote"))?
        .with_refspecs([BRANCHES], Direction::Fetch)
        .map_err(|e| local(&e, "cannot configure the refspec"))?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    // gix builds its reqwest client itself: give rustls its provider first.
    lettuce_http_client::install_tls_provider();
    let mut conn = remote.connect(Direction::Fetch).map_err(net)?;
    conn.set_credentials(credentials(&job.url));
    if matches!(job.url.scheme(), UrlScheme::Http | UrlScheme::Https)
        && let Some(opts) = http_options(repo, &url_string, job)?
    {
        conn.set_transport_options(opts);
    }
    // `HEAD` (without destination) makes the server tell us its symref target.
    let head = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)
        .map_err(|e| backend_msg(format!("invalid refspec: {e}")))?
        .to_owned();
    let options = gix::remote::ref_map::Options {
        extra_refspecs: vec![head],
        ..Default::default()
    };
    let prepare = conn.prepare_fetch(gix::progress::Discard, options).map_err(net)?;
    then(prepare)
}

/// Fetches every branch from the job's URL into `repo` and resolves the branch.
fn fetch(repo: &gix::Repository, job: &SyncJob) -> Result<SyncOutcome, GitError> {
    let redacted = job.url.redacted();
    let net = |e: gix::Error| errors::remote(&e, &redacted, job.secret());
    let (commit, branch) = with_ref_map(repo, job, |prepare| {
        let (commit, branch) = resolve_branch(&prepare.ref_map().remote_refs, job.branch.as_deref(), &redacted)?;
        prepare.receive(gix::progress::Discard, &job.interrupt).map_err(net)?;
        Ok((commit, branch))
    })?;
    repo.find_commit(commit).map_err(|e| {
        local(
            &e,
            &format!("the remote's `{branch}` does not point to a fetched commit"),
        )
    })?;
    Ok(SyncOutcome {
        commit: commit.to_string(),
        branch,
    })
}

/// The remote's head commit of the job's branch, listed without fetching
/// objects (an `ls-remote`), from the key's mirror when it exists, else from
/// a throw-away empty repository.
pub(crate) fn remote_head(job: &SyncJob) -> Result<String, GitError> {
    let redacted = job.url.redacted();
    let target = job.root.join(format!("{}.git", job.key));
    let tmp;
    let repo = match gix::open_opts(&target, open_options()) {
        Ok(r) => r,
        Err(_) => {
            tmp = tempfile::tempdir().map_err(|e| backend_msg(format!("cannot create a temporary directory: {e}")))?;
            gix::ThreadSafeRepository::init_opts(
                tmp.path(),
                gix::create::Kind::Bare,
                gix::create::Options::default(),
                open_options(),
            )
            .map_err(|e| local(&e, "cannot initialise a scratch repository"))?
            .to_thread_local()
        }
    };
    with_ref_map(&repo, job, |prepare| {
        let (commit, _) = resolve_branch(&prepare.ref_map().remote_refs, job.branch.as_deref(), &redacted)?;
        Ok(commit.to_string())
    })
}

/// Picks the branch and its commit from the refs the remote advertised.
pub(crate) fn resolve_branch(
    refs: &[Ref],
    requested: Option<&str>,
    url: &str,
) -> Result<(gix::ObjectId, String), GitError> {
    let mut heads: Vec<(String, gix::ObjectId)> = Vec::new();
    let mut head: Option<&Ref> = None;
    for r in refs {
        let (name, object) = match r {
            Ref::Direct { full_ref_name, object }
            | Ref::Peeled {
                full_ref_name, object, ..
            }
            | Ref::Symbolic {
                full_ref_name, object, ..
            } => (full_ref_name, Some(*object)),
            Ref::Unborn { full_ref_name, .. } => (full_ref_name, None),
        };
        if name.as_bstr() == "HEAD" {
            head = Some(r);
        } else if let (Some(short), Some(object)) = (name.strip_prefix(b"refs/heads/"), object) {
            heads.push((short.to_str_lossy().into_owned(), object));
        }
    }
    if heads.is_empty() {
        return Err(GitError::EmptyRepository { url: url.to_owned() });
    }
    heads.sort();
    let find = |b: &str| heads.iter().find(|(name, _)| name == b).map(|(n, o)| (*o, n.clone()));
    if let Some(b) = requested {
        return find(b).ok_or_else(|| GitError::BranchNotFound {
            url: url.to_owned(),
            branch: b.to_owned(),
        });
    }
    let guess = |candidates: &[&(String, gix::ObjectId)]| {
        ["main", "master"]
            .iter()
            .find_map(|p| candidates.iter().find(|(n, _)| n == p))
            .or(candidates.first())
            .map(|(n, o)| (*o, n.clone()))
    };
    match head {
        Some(Ref::Symbolic { target, object, .. }) => match target.strip_prefix(b"refs/heads/") {
            Some(short) => {
                let short = short.to_str_lossy();
                Ok(find(&short).unwrap_or((*object, short.into_owned())))
            }
            None => Err(backend_msg(format!(
                "the default branch of {url} is not a branch ({})",
                target.to_str_lossy()
            ))),
        },
        Some(Ref::Unborn { target, .. }) => Err(GitError::BranchNotFound {
            url: url.to_owned(),
            branch: target
                .strip_prefix(b"refs/heads/")
                .unwrap_or(target)
                .to_str_lossy()
                .into_owned(),
        }),
        Some(Ref::Direct { object, .. }) | Some(Ref::Peeled { object, .. }) => {
            let same: Vec<&(String, gix::ObjectId)> = heads.iter().filter(|(_, o)| o == object).collect();
            guess(&same).ok_or_else(|| backend_msg(format!("cannot tell the default branch of {url}: set a branch")))
        }
        None => {
            let all: Vec<&(String, gix::ObjectId)> = heads.iter().collect();
            if all.len() == 1 || all.iter().any(|(n, _)| n == "main" || n == "master") {
                guess(&all).ok_or_else(|| backend_msg(format!("cannot tell the default branch of {url}: set a branch")))
            } else {
                Err(backend_msg(format!(
                    "cannot tell the default branch of {url}: set a branch"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn job(root: &Path, raw: &str, allow_private: bool) -> SyncJob {
        SyncJob {
            root: root.to_path_buf(),
            key: "k".into(),
            url: RepoUrl::parse(raw).unwrap(),
            branch: None,
            allow_private,
            timeout: Duration::from_secs(30),
            interrupt: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `sync` checks the URL first; this skips that check to show that the
    /// HTTP transport itself refuses what the policy refuses (rebinding, redirects
    /// to host names).
    #[test]
    fn http_transport_applies_the_policy_at_connect_time() {
        let root = tempfile::tempdir().unwrap();
        let e = run(&job(root.path(), "http://user:hunter2-secret@localhost:9/x.git", false)).unwrap_err();
        match &e {
            GitError::Forbidden { reason } => {
                assert!(reason.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"), "{reason}");
                assert!(reason.contains("localhost"), "{reason}");
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "a refused clone leaves nothing behind"
        );

        // Allowed: the connection is attempted (and refused by the closed port).
        let e = run(&job(root.path(), "http://localhost:9/x.git", true)).unwrap_err();
        assert!(matches!(e, GitError::Network { .. }), "{e:?}");
    }

    #[test]
    fn http_options_disable_redirects_when_private_hosts_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let repo = gix::ThreadSafeRepository::init_opts(
            root.path().join("r.git"),
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            open_options(),
        )
        .unwrap()
        .to_thread_local();
        for (allow, want) in [
            (false, http::options::FollowRedirects::None),
            (true, http::options::FollowRedirects::Initial),
        ] {
            let j = job(root.path(), "https://git.example.com/a/b.git", allow);
            let opts = http_options(&repo, "https://git.example.com/a/b.git", &j)
                .unwrap()
                .unwrap();
            let opts = opts.downcast::<http::Options>().unwrap();
            assert_eq!(opts.follow_redirects, want);
            assert!(opts.backend.is_some(), "the policy resolver is installed");
        }
    }

    fn oid(n: u8) -> gix::ObjectId {
        gix::ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn direct(name: &str, n: u8) -> Ref {
        Ref::Direct {
            full_ref_name: name.into(),
            object: oid(n),
        }
    }

    #[test]
    fn resolves_branches() {
        let refs = vec![
            Ref::Symbolic {
                full_ref_name: "HEAD".into(),
                target: "refs/heads/trunk".into(),
                tag: None,
                object: oid(1),
            },
            direct("refs/heads/trunk", 1),
            direct("refs/heads/feature", 2),
        ];
        assert_eq!(resolve_branch(&refs, None, "u").unwrap(), (oid(1), "trunk".into()));
        assert_eq!(
            resolve_branch(&refs, Some("feature"), "u").unwrap(),
            (oid(2), "feature".into())
        );
        assert!(matches!(
            resolve_branch(&refs, Some("nope"), "u"),
            Err(GitError::BranchNotFound { .. })
        ));

        let empty = vec![Ref::Unborn {
            full_ref_name: "HEAD".into(),
            target: "refs/heads/main".into(),
        }];
        assert!(matches!(
            resolve_branch(&empty, None, "u"),
            Err(GitError::EmptyRepository { .. })
        ));
        assert!(matches!(
            resolve_branch(&[], Some("x"), "u"),
            Err(GitError::EmptyRepository { .. })
        ));

        let detached = vec![
            direct("HEAD", 2),
            direct("refs/heads/a", 2),
            direct("refs/heads/master", 2),
        ];
        assert_eq!(resolve_branch(&detached, None, "u").unwrap(), (oid(2), "master".into()));
        let no_head = vec![direct("refs/heads/only", 3)];
        assert_eq!(resolve_branch(&no_head, None, "u").unwrap(), (oid(3), "only".into()));
    }
}
