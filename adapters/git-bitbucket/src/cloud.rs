//! Bitbucket Cloud (REST 2.0): OAuth consumer install, the workspace-wide
//! picker, `repo:push` webhooks.

use crate::{Bitbucket, Call, HOOK_NAME, MAX_PAGES, backend, is_commit, malformed, strip_userinfo};
use lettuce_domain::Secret;
use lettuce_ports::git::{GitError, InstallCallback, InstallGrant, RemoteRepo, WebhookEvent, WebhookTarget};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    values: Vec<serde_json::Value>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct User {
    uuid: String,
}

#[derive(Deserialize)]
struct Membership {
    workspace: WorkspaceRef,
}

#[derive(Deserialize)]
struct WorkspaceRef {
    slug: String,
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
    #[serde(default)]
    html: Option<Link>,
}

#[derive(Deserialize)]
struct Branch {
    name: String,
}

#[derive(Deserialize)]
struct Repo {
    uuid: String,
    full_name: String,
    #[serde(default)]
    links: RepoLinks,
    #[serde(default)]
    mainbranch: Option<Branch>,
    #[serde(default)]
    is_private: bool,
    #[serde(default)]
    scm: Option<String>,
}

#[derive(Deserialize)]
struct Hook {
    uuid: String,
    #[serde(default)]
    url: String,
}

impl Bitbucket {
    pub(crate) async fn cloud_complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        self.oauth()?;
        if callback.token.is_some() {
            return Err(GitError::Unauthorized {
                message:
                    "Bitbucket Cloud connects through its consent screen (Connect Bitbucket), not with a pasted token"
                        .into(),
            });
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| GitError::Unauthorized {
                message: "the callback carries no authorization code: connect again from the Connect Bitbucket button"
                    .into(),
            })?;
        let tok = self
            .token_request(&[("grant_type", "authorization_code"), ("code", code)], Call::Code)
            .await?;
        let mut scopes: Vec<String> = tok
            .scopes
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        scopes.sort();
        let creds = Self::credentials(tok, None);
        let url = self.api("/user");
        let user: User = self.get_json(&url, &creds.access_token, Call::Api).await?;
        if creds.refresh_token.is_none() {
            tracing::warn!(
                "Bitbucket issued no refresh token: the OAuth consumer must be private (tick \"This is a private consumer\"), or the connection expires with its access token"
            );
        }
        Ok(InstallGrant {
            external_id: user.uuid,
            scopes,
            credentials: Some(creds),
        })
    }

    /// GETs every page from `first`, following `next` on the API origin.
    async fn cloud_pages(&self, first: String, token: &Secret) -> Result<Vec<serde_json::Value>, GitError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                tracing::warn!(%url, "Bitbucket listing stopped after {MAX_PAGES} pages");
                break;
            }
            let page: Page = self.get_json(&url, token, Call::Api).await?;
            out.extend(page.values);
            next = page.next.filter(|n| !n.is_empty()).filter(|n| {
                let ok = self.same_origin(n);
                if !ok {
                    tracing::warn!(next = %n, "ignoring a Bitbucket `next` link to another origin");
                }
                ok
            });
        }
        Ok(out)
    }

    pub(crate) async fn cloud_list_repos(&self, token: &Secret) -> Result<Vec<RemoteRepo>, GitError> {
        let memberships = self
            .cloud_pages(self.api("/user/workspaces?pagelen=100"), token)
            .await?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for m in memberships {
            let m: Membership = serde_json::from_value(m)
                .map_err(|e| backend(format!("unexpected /user/workspaces entry: {e}"), false))?;
            let first = self.api(&format!(
                "/repositories/{}?role=contributor&pagelen=100",
                crate::encode_segment(&m.workspace.slug)
            ));
            for r in self.cloud_pages(first, token).await? {
                let r: Repo =
                    serde_json::from_value(r).map_err(|e| backend(format!("unexpected repository: {e}"), false))?;
                if r.scm.as_deref().is_some_and(|s| s != "git") || !seen.insert(r.uuid.clone()) {
                    continue;
                }
                let clone_url = r
                    .links
                    .clone
                    .iter()
                    .find(|l| l.name.as_deref() == Some("https"))
                    .and_then(|l| strip_userinfo(&l.href))
                    .or_else(|| {
                        r.links
                            .html
                            .as_ref()
                            .map(|h| format!("{}.git", h.href.trim_end_matches('/')))
                    })
                    .unwrap_or_else(|| format!("{}/{}.git", self.config.urls.web, r.full_name));
                out.push(RemoteRepo {
                    id: r.uuid,
                    full_name: r.full_name,
                    clone_url,
                    default_branch: r.mainbranch.map(|b| b.name),
                    private: r.is_private,
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn cloud_register_webhook(
        &self,
        token: &Secret,
        repo: &RemoteRepo,
        target: &WebhookTarget,
    ) -> Result<String, GitError> {
        let hooks_url = self.api(&format!("/repositories/{}/hooks", repo.full_name));
        let body = serde_json::json!({
            "description": HOOK_NAME,
            "url": target.url,
            "active": true,
            "secret": target.secret.expose(),
            "events": ["repo:push"],
        });
        // A hook of ours already there (a retry): update it in place, so the
        // repo never gets two.
        let existing = self
            .cloud_pages(format!("{hooks_url}?pagelen=100"), token)
            .await
            .map_err(|e| hooks_error(e, &repo.full_name))?;
        let found = existing
            .into_iter()
            .filter_map(|h| serde_json::from_value::<Hook>(h).ok())
            .find(|h| h.url == target.url);
        let (req, url) = match &found {
            Some(h) => {
                let url = format!("{hooks_url}/{}", crate::encode_segment(&h.uuid));
                (self.http.put(&url), url)
            }
            None => (self.http.post(&hooks_url), hooks_url.clone()),
        };
        let resp = self.send(req.bearer_auth(token.expose()).json(&body), &url).await?;
        let hook: Hook = Self::json(self.check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(hook.uuid)
    }
}

/// A refusal while listing hooks is a refusal to manage them.
fn hooks_error(e: GitError, repo: &str) -> GitError {
    match e {
        GitError::PermissionDenied { .. } => GitError::PermissionDenied {
            message: format!(
                "Bitbucket refused to list the webhooks of {repo}: the OAuth consumer needs the `Webhooks: Read and write` permission — re-create the consumer with it and reconnect"
            ),
        },
        other => other,
    }
}

/// Parses a `repo:push`: the first branch change (else the first change, a
/// tag) of `push.changes`; a deleted branch has `new: null` and gives an
/// all-zero head.
pub(crate) fn parse_push(v: &serde_json::Value) -> Result<WebhookEvent, GitError> {
    let provider_repo_id = v
        .pointer("/repository/uuid")
        .and_then(|u| u.as_str())
        .ok_or_else(|| malformed("no repository.uuid"))?
        .to_owned();
    let full_name = v
        .pointer("/repository/full_name")
        .and_then(|u| u.as_str())
        .ok_or_else(|| malformed("no repository.full_name"))?
        .to_owned();
    let changes = v
        .pointer("/push/changes")
        .and_then(|c| c.as_array())
        .ok_or_else(|| malformed("no push.changes"))?;
    let side = |c: &serde_json::Value| {
        c.get("new")
            .filter(|n| !n.is_null())
            .map(|n| (n.clone(), false))
            .or_else(|| c.get("old").filter(|o| !o.is_null()).map(|o| (o.clone(), true)))
    };
    let is_branch = |r: &serde_json::Value| r.get("type").and_then(|t| t.as_str()) == Some("branch");
    let pick = changes
        .iter()
        .filter_map(side)
        .find(|(r, _)| is_branch(r))
        .or_else(|| changes.iter().filter_map(side).next())
        .ok_or_else(|| malformed("push.changes is empty"))?;
    let (r, deleted) = pick;
    let name = r
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| malformed("a change without a name"))?;
    let head = if deleted {
        "0".repeat(40)
    } else {
        let h = r
            .pointer("/target/hash")
            .and_then(|h| h.as_str())
            .ok_or_else(|| malformed("a change without target.hash"))?;
        if !is_commit(h) {
            return Err(malformed("target.hash is not a commit id"));
        }
        h.to_ascii_lowercase()
    };
    Ok(WebhookEvent::Push {
        provider_repo_id,
        full_name,
        branch: is_branch(&r).then(|| name.to_owned()),
        head,
    })
}
