//! Bitbucket Data Center (REST 1.0): HTTP access tokens and OAuth 2,
//! `REPO_WRITE` picker, `repo:refs_changed` webhooks.

use crate::{Bitbucket, Call, HOOK_NAME, MAX_PAGES, backend, encode_segment, is_commit, malformed, strip_userinfo};
use futures::StreamExt;
use lettuce_domain::Secret;
use lettuce_domain::codehost::ProviderCredentials;
use lettuce_ports::git::{GitError, InstallCallback, InstallGrant, RemoteRepo, WebhookEvent, WebhookTarget};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How long a repo's default branch is remembered.
const DEFAULT_BRANCH_TTL: Duration = Duration::from_secs(3600);

/// Default-branch look-ups in flight at once.
const DEFAULT_BRANCH_CONCURRENCY: usize = 8;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    values: Vec<serde_json::Value>,
    #[serde(default = "yes")]
    is_last_page: bool,
    #[serde(default)]
    next_page_start: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct User {
    name: String,
}

#[derive(Deserialize)]
struct Project {
    key: String,
}

#[derive(Deserialize)]
struct Link {
    href: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RepoLinks {
    #[serde(default)]
    clone: Vec<Link>,
}

#[derive(Deserialize)]
struct Repo {
    id: u64,
    slug: String,
    project: Project,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    links: RepoLinks,
    #[serde(default, rename = "scmId")]
    scm_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultBranch {
    display_id: String,
}

#[derive(Deserialize)]
struct Hook {
    id: u64,
    #[serde(default)]
    url: String,
}

/// `PROJECT/slug` → (`PROJECT`, `slug`).
pub(crate) fn split_full_name(full_name: &str) -> Result<(&str, &str), GitError> {
    full_name
        .split_once('/')
        .filter(|(k, s)| !k.is_empty() && !s.is_empty() && !s.contains('/'))
        .ok_or_else(|| backend(format!("`{full_name}` is not a Bitbucket PROJECT/slug"), false))
}

impl Bitbucket {
    fn web(&self, path: &str) -> String {
        format!("{}{path}", self.config.urls.web)
    }

    pub(crate) async fn dc_complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        if let Some(token) = callback.token.as_ref().filter(|t| !t.expose().trim().is_empty()) {
            let name = self.dc_whoami(token).await?;
            return Ok(InstallGrant {
                external_id: name,
                scopes: vec!["http-access-token".into()],
                credentials: Some(ProviderCredentials::bearer(token.clone())),
            });
        }
        self.oauth()?;
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| GitError::Unauthorized {
                message: "the callback carries no authorization code: connect again, or paste an HTTP access token"
                    .into(),
            })?;
        let tok = self
            .token_request(&[("grant_type", "authorization_code"), ("code", code)], Call::Code)
            .await?;
        let scopes: Vec<String> = tok
            .scopes
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let creds = Self::credentials(tok, None);
        let name = self.dc_whoami(&creds.access_token).await?;
        Ok(InstallGrant {
            external_id: name,
            scopes,
            credentials: Some(creds),
        })
    }

    /// The user a token belongs to: `whoami` names them (empty for an
    /// anonymous request), `GET /users/{name}` confirms it through REST.
    async fn dc_whoami(&self, token: &Secret) -> Result<String, GitError> {
        let url = self.web("/plugins/servlet/applinks/whoami");
        let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
        let resp = self.check(resp, &url, Call::TokenCheck).await?;
        let name = resp
            .text()
            .await
            .map_err(|e| crate::network(&url, e))?
            .trim()
            .to_owned();
        if name.is_empty() || name.len() > 255 || name.contains(char::is_whitespace) {
            return Err(GitError::Unauthorized {
                message: "Bitbucket did not recognise the token (the request was anonymous): paste a valid HTTP access token of your user".into(),
            });
        }
        let url = self.api(&format!("/users/{}", encode_segment(&name)));
        let user: User = self.get_json(&url, token, Call::TokenCheck).await?;
        Ok(user.name)
    }

    /// GETs every page of `path` (`start`/`limit`, until `isLastPage`).
    async fn dc_pages(&self, path: &str, token: &Secret, call: Call<'_>) -> Result<Vec<serde_json::Value>, GitError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.api(&format!("{path}{sep}limit=100&start={start}"));
            let page: Page = self.get_json(&url, token, call).await?;
            out.extend(page.values);
            match (page.is_last_page, page.next_page_start) {
                (false, Some(next)) if next > start => start = next,
                _ => return Ok(out),
            }
        }
        tracing::warn!(path, "Bitbucket listing stopped after {MAX_PAGES} pages");
        Ok(out)
    }

    pub(crate) async fn dc_list_repos(&self, token: &Secret) -> Result<Vec<RemoteRepo>, GitError> {
        let values = self.dc_pages("/repos?permission=REPO_WRITE", token, Call::Api).await?;
        let mut repos = Vec::new();
        for v in values {
            let r: Repo =
                serde_json::from_value(v).map_err(|e| backend(format!("unexpected repository: {e}"), false))?;
            if r.scm_id.as_deref().is_some_and(|s| s != "git") {
                continue;
            }
            let key = r.project.key.clone();
            let clone_url = r
                .links
                .clone
                .iter()
                .find(|l| matches!(l.name.as_deref(), Some("http" | "https")))
                .and_then(|l| strip_userinfo(&l.href))
                .unwrap_or_else(|| self.web(&format!("/scm/{}/{}.git", key.to_ascii_lowercase(), r.slug)));
            repos.push(RemoteRepo {
                id: r.id.to_string(),
                full_name: format!("{key}/{}", r.slug),
                clone_url,
                default_branch: None,
                private: !r.public,
            });
        }
        // The listing has no default branch: ask per repo (cached).
        let lookups: Vec<_> = repos.iter().map(|r| self.dc_default_branch(token, r)).collect();
        let branches: Vec<Option<String>> = futures::stream::iter(lookups)
            .buffered(DEFAULT_BRANCH_CONCURRENCY)
            .collect()
            .await;
        for (r, b) in repos.iter_mut().zip(branches) {
            r.default_branch = b;
        }
        Ok(repos)
    }

    /// The default branch of `repo` (`None` for an empty repository or when
    /// the host cannot say; the listing does not fail on it).
    async fn dc_default_branch(&self, token: &Secret, repo: &RemoteRepo) -> Option<String> {
        if let Some((b, at)) = self
            .default_branches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&repo.id)
            && at.elapsed() < DEFAULT_BRANCH_TTL
        {
            return b.clone();
        }
        let (key, slug) = split_full_name(&repo.full_name).ok()?;
        let url = self.api(&format!(
            "/projects/{}/repos/{}/branches/default",
            encode_segment(key),
            encode_segment(slug)
        ));
        let branch = match self.get_json::<DefaultBranch>(&url, token, Call::Api).await {
            Ok(b) => Some(b.display_id),
            Err(GitError::NotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(repo = %repo.full_name, error = %e, "could not read the default branch");
                return None;
            }
        };
        self.default_branches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(repo.id.clone(), (branch.clone(), Instant::now()));
        branch
    }

    pub(crate) async fn dc_register_webhook(
        &self,
        token: &Secret,
        repo: &RemoteRepo,
        target: &WebhookTarget,
    ) -> Result<String, GitError> {
        let (key, slug) = split_full_name(&repo.full_name)?;
        let path = format!(
            "/projects/{}/repos/{}/webhooks",
            encode_segment(key),
            encode_segment(slug)
        );
        let body = serde_json::json!({
            "name": HOOK_NAME,
            "url": target.url,
            "active": true,
            "events": ["repo:refs_changed"],
            "configuration": { "secret": target.secret.expose() },
        });
        // A hook of ours already there (a retry): update it in place.
        let existing = self.dc_pages(&path, token, Call::Hooks(&repo.full_name)).await?;
        let found = existing
            .into_iter()
            .filter_map(|h| serde_json::from_value::<Hook>(h).ok())
            .find(|h| h.url == target.url);
        let (req, url) = match &found {
            Some(h) => {
                let url = self.api(&format!("{path}/{}", h.id));
                (self.http.put(&url), url)
            }
            None => {
                let url = self.api(&path);
                (self.http.post(&url), url)
            }
        };
        let resp = self.send(req.bearer_auth(token.expose()).json(&body), &url).await?;
        let hook: Hook = Self::json(self.check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(hook.id.to_string())
    }
}

/// Parses a `repo:refs_changed`: the first branch change (else the first
/// change, a tag); a deleted branch has an all-zero `toHash`.
pub(crate) fn parse_refs_changed(v: &serde_json::Value) -> Result<WebhookEvent, GitError> {
    let provider_repo_id = match v.pointer("/repository/id") {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(malformed("no repository.id")),
    };
    let key = v
        .pointer("/repository/project/key")
        .and_then(|k| k.as_str())
        .ok_or_else(|| malformed("no repository.project.key"))?;
    let slug = v
        .pointer("/repository/slug")
        .and_then(|s| s.as_str())
        .ok_or_else(|| malformed("no repository.slug"))?;
    let changes = v
        .get("changes")
        .and_then(|c| c.as_array())
        .ok_or_else(|| malformed("no changes"))?;
    let is_branch = |c: &&serde_json::Value| c.pointer("/ref/type").and_then(|t| t.as_str()) == Some("BRANCH");
    let change = changes
        .iter()
        .find(is_branch)
        .or_else(|| changes.first())
        .ok_or_else(|| malformed("changes is empty"))?;
    let head = change
        .get("toHash")
        .and_then(|h| h.as_str())
        .ok_or_else(|| malformed("a change without toHash"))?;
    if !is_commit(head) {
        return Err(malformed("toHash is not a commit id"));
    }
    let branch = if is_branch(&change) {
        let name = change
            .pointer("/ref/displayId")
            .and_then(|d| d.as_str())
            .or_else(|| {
                change
                    .pointer("/ref/id")
                    .and_then(|i| i.as_str())
                    .and_then(|i| i.strip_prefix("refs/heads/"))
            })
            .ok_or_else(|| malformed("a branch change without ref.displayId"))?;
        Some(name.to_owned())
    } else {
        None
    };
    Ok(WebhookEvent::Push {
        provider_repo_id,
        full_name: format!("{key}/{slug}"),
        branch,
        head: head.to_ascii_lowercase(),
    })
}
