//! Repositories: add, list, get, delete, re-index.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use crate::worker::{DELETE_REPO_JOB, INDEX_REPO_JOB};
use lettuce_domain::license::LicensedAction;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus, RepoUrl, UrlCredentials, validate_branch};
use lettuce_domain::{RepoId, Secret};
use lettuce_ports::git::{GitError, ProviderKind};
use lettuce_ports::queue::NewJob;
use lettuce_ports::store::{RepoUpdate, StoreError};
use serde_json::json;
use uuid::Uuid;

/// Seconds between deleting a repo and removing its mirror and index.
pub(crate) const DELETE_CLEANUP_DELAY_SECS: i64 = 5;

/// Body of `POST /v1/repos`.
#[derive(Debug, Clone, Default)]
pub struct AddRepoRequest {
    /// Clone URL (may carry `user:token@` credentials, which are sealed and stripped).
    pub url: String,
    /// Branch to index; default: the remote's default branch.
    pub branch: Option<String>,
}

impl Engine {
    /// Registers a repo for the caller's account and queues its first index.
    pub async fn add_repo(&self, caller: &Caller, req: AddRepoRequest) -> Result<Repo, EngineError> {
        let u = caller.user()?;
        let repo = self.insert_repo(caller, req).await?;
        if let Err(e) = self.enqueue_index(repo.id).await {
            // Leave nothing behind: a retry of the same request must not get
            // `repo_exists` for a repo that no job will ever index.
            if let Err(undo) = self.inner.store.delete_repo(u.account_id, repo.id).await {
                tracing::error!(repo = %repo.id, error = %undo, "could not undo a repo whose index job failed to enqueue");
            }
            return Err(e);
        }
        tracing::info!(repo = %repo.id, url = %repo.url, "repo added");
        Ok(repo)
    }

    /// Validates and stores a repo of the caller's account (license, URL,
    /// network policy, sealed credentials) without queueing its index.
    pub(crate) async fn insert_repo(&self, caller: &Caller, req: AddRepoRequest) -> Result<Repo, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::AddRepo).await?;
        let url = RepoUrl::parse(&req.url)?;
        let branch = req.branch.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
        if let Some(b) = &branch {
            validate_branch(b)?;
        }
        if let Some(claims) = self.inner.license.status().await.claims {
            let count = self.inner.store.count_repos(None).await?;
            if count >= u64::from(claims.repo_cap) {
                return Err(EngineError::License {
                    code: "license_limit_reached",
                    message: format!(
                        "License limit reached: the license allows {} repositories",
                        claims.repo_cap
                    ),
                });
            }
        }
        match self.inner.mirror.check_url(&url).await {
            Ok(()) => {}
            // DNS is down or the host is unknown right now: accept the repo;
            // the worker re-checks the policy on every sync and reports the
            // failure on the repo if it persists.
            Err(GitError::Network { message, .. }) => {
                tracing::warn!(url = %url.redacted(), %message, "could not verify the repo host now; the worker will retry");
            }
            Err(e) => return Err(e.into()),
        }
        let sealed_credentials = url
            .credentials()
            .map(|c| {
                self.inner
                    .keys
                    .seal(format!("{}\n{}", c.username, c.password.expose()).as_bytes())
            })
            .transpose()
            .map_err(EngineError::Internal)?;
        let now = self.inner.clock.now();
        let repo = Repo {
            id: RepoId(Uuid::now_v7()),
            account_id: u.account_id,
            url: url.redacted(),
            name: url.display_name(),
            branch,
            status: RepoStatus::Pending,
            indexed_commit: None,
            error: None,
            progress: IndexProgress::default(),
            sealed_credentials,
            created_at: now,
            updated_at: now,
            indexed_at: None,
        };
        self.inner.store.create_repo(&repo).await.map_err(|e| match e {
            StoreError::Conflict { .. } => EngineError::Conflict {
                code: "repo_exists",
                message: format!("{} is already added to this account", repo.url),
            },
            e => e.into(),
        })?;
        Ok(repo)
    }

    pub(crate) async fn require_license_for(&self, action: LicensedAction) -> Result<(), EngineError> {
        let status = self.inner.license.status().await;
        if status.state.permits(action) {
            return Ok(());
        }
        let reason = status.reason.map(|r| format!(" {r}")).unwrap_or_default();
        Err(match status.state {
            lettuce_domain::license::LicenseState::ReadOnly => EngineError::License {
                code: "license_expired",
                message: format!(
                    "the license expired more than 14 days ago; the instance is read-only until a new key is installed.{reason}"
                ),
            },
            _ => EngineError::License {
                code: "license_locked",
                message: format!("this instance is locked.{reason}"),
            },
        })
    }

    pub(crate) async fn enqueue_index(&self, repo: RepoId) -> Result<(), EngineError> {
        let job = NewJob::new(INDEX_REPO_JOB, json!({ "repo_id": repo }))
            .dedup(format!("repo:{repo}"))
            .max_attempts(self.inner.settings.index_max_attempts);
        self.enqueue(job).await?;
        Ok(())
    }

    /// The caller's repos.
    pub async fn list_repos(&self, caller: &Caller) -> Result<Vec<Repo>, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        Ok(self.inner.store.list_repos(u.account_id).await?)
    }

    /// One of the caller's repos.
    pub async fn get_repo(&self, caller: &Caller, id: RepoId) -> Result<Repo, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        Ok(self.inner.store.get_repo(u.account_id, id).await?)
    }

    /// Deletes one of the caller's repos; its mirror and index are removed by
    /// a background job.
    ///
    /// The cleanup job is enqueued *before* the row is deleted (due a few
    /// seconds later), so a queue outage fails the request with nothing
    /// deleted and the client can retry. The job cleans up only once the
    /// repo is really gone.
    pub async fn delete_repo(&self, caller: &Caller, id: RepoId) -> Result<(), EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        self.inner.store.get_repo(u.account_id, id).await?;
        let run_at = self.inner.clock.now() + chrono::Duration::seconds(DELETE_CLEANUP_DELAY_SECS);
        let job = NewJob::new(DELETE_REPO_JOB, json!({ "repo_id": id }))
            .max_attempts(10)
            .run_at(run_at);
        self.enqueue(job).await?;
        self.inner.store.delete_repo(u.account_id, id).await?;
        tracing::info!(repo = %id, "repo deleted");
        Ok(())
    }

    /// Queues a fresh index of one of the caller's repos (coalesces with a
    /// pending one). Queries keep answering from the current index meanwhile.
    pub async fn reindex_repo(&self, caller: &Caller, id: RepoId) -> Result<Repo, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Index).await?;
        let repo = self.inner.store.get_repo(u.account_id, id).await?;
        self.enqueue_index(repo.id).await?;
        let now = self.inner.clock.now();
        if repo.status == RepoStatus::Indexing {
            return Ok(repo);
        }
        let update = RepoUpdate {
            status: Some(RepoStatus::Pending),
            error: Some(None),
            updated_at: Some(now),
            ..Default::default()
        };
        Ok(self.inner.store.update_repo(id, update).await?)
    }

    /// Clone credentials of a repo: sealed ones from the pasted URL, else the
    /// token of the account's code-host installation (the repo's link names
    /// the provider; otherwise the provider owning the URL). `None` — public
    /// access — when the account has no installation (e.g. after a
    /// disconnect).
    pub(crate) async fn clone_credentials(
        &self,
        repo: &Repo,
        url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, CredentialError> {
        if let Some(sealed) = &repo.sealed_credentials {
            let raw = self
                .inner
                .keys
                .open(sealed)
                .map_err(|e| CredentialError::Engine(EngineError::Internal(e)))?;
            let text = String::from_utf8(raw).map_err(|_| {
                CredentialError::Engine(EngineError::Internal("stored credentials are not UTF-8".into()))
            })?;
            let (user, pass) = text.split_once('\n').unwrap_or(("x-access-token", text.as_str()));
            return Ok(Some(UrlCredentials {
                username: user.to_owned(),
                password: Secret::new(pass),
            }));
        }
        let engine_err = |e: StoreError| CredentialError::Engine(e.into());
        let link = self.inner.store.get_repo_link(repo.id).await.map_err(engine_err)?;
        for p in &self.inner.providers {
            let name = p.kind().as_str();
            let ours = match &link {
                Some(l) => l.provider == name,
                None => p.kind() != ProviderKind::Generic && p.owns(url),
            };
            if !ours {
                continue;
            }
            let Some(inst) = self
                .inner
                .store
                .get_installation(repo.account_id, name)
                .await
                .map_err(engine_err)?
            else {
                return Ok(None);
            };
            let inst = self.open_installation(p.as_ref(), inst).await?;
            let creds = p.clone_credentials(&inst, url).await;
            if let Err(GitError::Unauthorized { .. }) = &creds {
                // The host refuses the installation (uninstalled, suspended):
                // the account must reconnect.
                self.flag_needs_reauth(repo.account_id, &inst).await;
            }
            return creds.map_err(CredentialError::Git);
        }
        Ok(None)
    }
}

/// Why clone credentials could not be obtained.
#[derive(Debug)]
pub(crate) enum CredentialError {
    /// The engine failed (store, sealed data).
    Engine(EngineError),
    /// The code host refused or failed (rate limits are retried).
    Git(GitError),
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialError::Engine(e) => e.fmt(f),
            CredentialError::Git(e) => e.fmt(f),
        }
    }
}
