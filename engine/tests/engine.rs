//! Engine use cases over the in-memory fakes.

use lettuce_domain::Secret;
use lettuce_domain::account::Role;
use lettuce_domain::license::LicenseState;
use lettuce_domain::repo::RepoStatus;
use lettuce_engine::{AddRepoRequest, Caller, Engine, EngineError, EngineSettings, SignupRequest, Worker};
use lettuce_ports::git::GitError;
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::queue::JobState;
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::clock::ManualClock;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::{FakeLicenseOracle, sample_claims};
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use std::sync::Arc;

const ADMIN: &str = "admin-token-for-tests-0123456789";
const REPO_URL: &str = "https://github.com/acme/widgets.git";

struct Harness {
    engine: Engine,
    mirror: Arc<MemoryGitMirror>,
    queue: Arc<MemoryQueue>,
    indexer: Arc<MemoryIndexer>,
    license: Arc<FakeLicenseOracle>,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new() -> Self {
        let auth = Arc::new(FakeAuth::new());
        let mirror = Arc::new(MemoryGitMirror::new(false));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let queue = Arc::new(MemoryQueue::with_clock(clock.clone()));
        let indexer = Arc::new(MemoryIndexer::new());
        let license = Arc::new(FakeLicenseOracle::with_status(LicenseStatus::ungated()));
        let engine = Engine::builder()
            .store(Arc::new(MemoryStore::new()))
            .queue(queue.clone())
            .blobs(Arc::new(MemoryBlobStore::new()))
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(mirror.clone())
            .indexer(indexer.clone())
            .license(license.clone())
            .clock(clock.clone())
            .settings(EngineSettings::new(Secret::new(ADMIN), [3u8; 32]))
            .build()
            .unwrap();
        Harness {
            engine,
            mirror,
            queue,
            indexer,
            license,
            clock,
        }
    }

    async fn admin(&self) -> Caller {
        self.engine.authenticate(&Secret::new(ADMIN)).await.unwrap()
    }

    async fn invite(&self) -> Secret {
        let admin = self.admin().await;
        self.engine
            .create_admin_invite(&admin, Default::default())
            .await
            .unwrap()
            .code
    }

    async fn signup(&self, code: &Secret, email: &str) -> Result<Caller, EngineError> {
        let r = self
            .engine
            .signup(SignupRequest {
                invite_code: code.clone(),
                email: email.into(),
                password: Secret::new("a long password"),
            })
            .await?;
        self.engine.authenticate(&r.token.token).await
    }

    async fn user(&self) -> Caller {
        let code = self.invite().await;
        self.signup(&code, &format!("u{}@example.com", uuid::Uuid::new_v4().simple()))
            .await
            .unwrap()
    }

    async fn work(&self) -> usize {
        Worker::new(self.engine.clone()).run_until_idle().await.unwrap()
    }

    /// Lets delayed jobs (repo cleanup) come due, then runs them.
    async fn work_later(&self) -> usize {
        self.clock.advance(chrono::Duration::seconds(10));
        self.work().await
    }
}

#[tokio::test]
async fn first_redemption_creates_account_later_ones_join() {
    let h = Harness::new();
    let code = h.invite().await;
    let ada = h.signup(&code, "Ada@Example.com").await.unwrap();
    let bob = h.signup(&code, "bob@example.com").await.unwrap();
    let (a, b) = (ada.user().unwrap(), bob.user().unwrap());
    assert_eq!(a.account_id, b.account_id);
    assert_eq!(a.role, Role::Owner);
    assert_eq!(b.role, Role::Member);
    let view = h.engine.account(&ada).await.unwrap();
    assert_eq!(view.seats_used, 2);
    assert!(view.webhook.is_some(), "owners see the webhook secret");
    assert!(
        h.engine.account(&bob).await.unwrap().webhook.is_none(),
        "members do not"
    );

    // A second admin invite makes a separate account.
    let other = h.user().await;
    assert_ne!(other.user().unwrap().account_id, a.account_id);

    // Same email twice → email_taken; unknown code → invite_invalid.
    let again = h.signup(&code, "ada@example.com").await.unwrap_err();
    assert_eq!(again.code(), "email_taken");
    let bad = h.signup(&Secret::new("inv_nope"), "c@example.com").await.unwrap_err();
    assert_eq!(bad.code(), "invite_invalid");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let h = Harness::new();
    let code = h.invite().await;
    let cases = [
        ("not-an-email", "a long password", "email"),
        ("ok@example.com", "short", "password"),
    ];
    for (email, pw, field) in cases {
        let e = h
            .engine
            .signup(SignupRequest {
                invite_code: code.clone(),
                email: email.into(),
                password: Secret::new(pw),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert_eq!(e.field(), Some(field));
    }
}

#[tokio::test]
async fn login_and_tokens() {
    let h = Harness::new();
    let code = h.invite().await;
    h.signup(&code, "ada@example.com").await.unwrap();
    let t = h
        .engine
        .login("ADA@example.com", &Secret::new("a long password"))
        .await
        .unwrap();
    assert!(matches!(
        h.engine.authenticate(&t.token).await.unwrap(),
        Caller::User(_)
    ));
    for (email, pw) in [
        ("ada@example.com", "wrong password!"),
        ("nobody@example.com", "a long password"),
    ] {
        let e = h.engine.login(email, &Secret::new(pw)).await.unwrap_err();
        assert_eq!(e.code(), "invalid_credentials", "{email}");
    }
    for bad in ["", "garbage", "lk_unknownkey"] {
        assert_eq!(
            h.engine.authenticate(&Secret::new(bad)).await.unwrap_err().code(),
            "unauthenticated",
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked() {
    let h = Harness::new();
    let user = h.user().await;
    let created = h.engine.create_api_key(&user, "laptop agent").await.unwrap();
    assert!(created.secret.expose().starts_with("lk_"));
    assert!(
        !format!("{created:?}").contains(created.secret.expose()),
        "Debug leaks the key"
    );
    let via_key = h.engine.authenticate(&created.secret).await.unwrap();
    assert_eq!(via_key.user().unwrap().user_id, user.user().unwrap().user_id);
    let listed = h.engine.list_api_keys(&user).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    h.engine.revoke_api_key(&user, created.key.id).await.unwrap();
    assert_eq!(
        h.engine.authenticate(&created.secret).await.unwrap_err().code(),
        "unauthenticated"
    );
    // Another user cannot revoke it.
    let other = h.user().await;
    assert_eq!(
        h.engine
            .revoke_api_key(&other, created.key.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        h.engine.create_api_key(&user, "  ").await.unwrap_err().field(),
        Some("name")
    );
}

#[tokio::test]
async fn admin_token_and_roles_are_enforced() {
    let h = Harness::new();
    let admin = h.admin().await;
    assert_eq!(h.engine.list_repos(&admin).await.unwrap_err().code(), "forbidden");
    let user = h.user().await;
    assert_eq!(
        h.engine
            .create_admin_invite(&user, Default::default())
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // Owners mint team invites; members may not.
    let team = h.engine.create_team_invite(&user, None).await.unwrap();
    let member = h.signup(&team.code, "member@example.com").await.unwrap();
    assert_eq!(member.user().unwrap().account_id, user.user().unwrap().account_id);
    assert_eq!(member.user().unwrap().role, Role::Member);
    assert_eq!(
        h.engine.create_team_invite(&member, None).await.unwrap_err().code(),
        "forbidden"
    );
    // The admin invite (now bound to the account) and the team invite.
    assert_eq!(h.engine.list_invites(&user).await.unwrap().len(), 2);
}

#[tokio::test]
async fn repo_goes_pending_indexing_ready_with_head_commit() {
    let h = Harness::new();
    let user = h.user().await;
    let head = h
        .mirror
        .add_remote(REPO_URL, "main", vec![("src/lib.rs".into(), b"pub fn a() {}".to_vec())]);
    let repo = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: REPO_URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(repo.status, RepoStatus::Pending);
    assert_eq!(repo.name, "acme/widgets");
    assert_eq!(h.work().await, 1);
    let repo = h.engine.get_repo(&user, repo.id).await.unwrap();
    assert_eq!(repo.status, RepoStatus::Ready, "{:?}", repo.error);
    assert_eq!(repo.indexed_commit.as_deref(), Some(head.as_str()));
    assert_eq!(repo.progress.files_done, 1);
    assert_eq!(h.indexer.indexed(repo.id).unwrap().commit, head);

    // Re-index after a push picks up the new head, incrementally.
    let head2 = h
        .mirror
        .add_remote(REPO_URL, "main", vec![("src/lib.rs".into(), b"pub fn b() {}".to_vec())]);
    assert_eq!(
        h.engine.reindex_repo(&user, repo.id).await.unwrap().status,
        RepoStatus::Pending
    );
    h.engine.reindex_repo(&user, repo.id).await.unwrap();
    assert_eq!(h.work().await, 1, "two re-index requests coalesce into one job");
    let repo = h.engine.get_repo(&user, repo.id).await.unwrap();
    assert_eq!(repo.indexed_commit.as_deref(), Some(head2.as_str()));

    // Duplicate adds conflict; other accounts cannot see it.
    let dup = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: REPO_URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(dup.code(), "repo_exists");
    let other = h.user().await;
    assert_eq!(
        h.engine.get_repo(&other, repo.id).await.unwrap_err().code(),
        "not_found"
    );
    assert!(h.engine.list_repos(&other).await.unwrap().is_empty());

    // Delete removes it and (in the background, a few seconds later) its mirror and index.
    h.engine.delete_repo(&user, repo.id).await.unwrap();
    assert_eq!(h.work().await, 0, "cleanup is delayed");
    assert_eq!(h.work_later().await, 1);
    assert!(h.indexer.indexed(repo.id).is_none());
    assert!(!h.mirror.has_mirror(&repo.id.to_string()));
    assert_eq!(h.engine.get_repo(&user, repo.id).await.unwrap_err().code(), "not_found");
}

#[tokio::test]
async fn failures_are_actionable() {
    let h = Harness::new();
    let user = h.user().await;
    // Unknown repository → failed, says "not found", no retry.
    let missing = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: "https://github.com/acme/missing".into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let r = h.engine.get_repo(&user, missing.id).await.unwrap();
    assert_eq!(r.status, RepoStatus::Failed);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("repository not found at https://github.com/acme/missing"),
        "{:?}",
        r.error
    );

    // Unknown branch.
    h.mirror
        .add_remote(REPO_URL, "main", vec![("a.txt".into(), b"a".to_vec())]);
    let br = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: REPO_URL.into(),
                branch: Some("nope".into()),
            },
        )
        .await
        .unwrap();
    h.work().await;
    let r = h.engine.get_repo(&user, br.id).await.unwrap();
    assert_eq!(r.status, RepoStatus::Failed);
    assert!(r.error.unwrap().contains("branch `nope`"));

    // Transient network error → back to pending with a note, retried later.
    let url2 = "https://github.com/acme/flaky.git";
    h.mirror.add_remote(url2, "main", vec![("a.txt".into(), b"a".to_vec())]);
    h.mirror.fail_next(
        url2,
        GitError::Network {
            url: url2.into(),
            message: "connection reset".into(),
        },
    );
    let flaky = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: url2.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;
    let r = h.engine.get_repo(&user, flaky.id).await.unwrap();
    assert_eq!(r.status, RepoStatus::Pending);
    assert!(r.error.unwrap().contains("attempt 1 of 5 failed"));
    let jobs = h.queue.jobs();
    let job = jobs
        .iter()
        .find(|j| j.payload["repo_id"] == flaky.id.to_string())
        .unwrap();
    assert_eq!(job.state, JobState::Available);
    assert!(job.run_at > chrono::Utc::now(), "retry is backed off");

    // A code host's rate limit: retried no earlier than the host asked
    // (through the queue, not by sleeping), even on the first attempt whose
    // own backoff is a few seconds.
    let url3 = "https://github.com/acme/limited.git";
    h.mirror.add_remote(url3, "main", vec![("a.txt".into(), b"a".to_vec())]);
    h.mirror.fail_next(
        url3,
        GitError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(1800)),
            message: "GitHub rate limit exceeded; it resets at 12:30 UTC".into(),
        },
    );
    let limited = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: url3.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    let before = chrono::Utc::now();
    h.work().await;
    let r = h.engine.get_repo(&user, limited.id).await.unwrap();
    assert_eq!(r.status, RepoStatus::Pending);
    assert!(r.error.unwrap().contains("rate limit"));
    let jobs = h.queue.jobs();
    let job = jobs
        .iter()
        .find(|j| j.payload["repo_id"] == limited.id.to_string())
        .unwrap();
    assert_eq!(job.state, JobState::Available);
    assert!(
        job.run_at >= before + chrono::Duration::seconds(1790),
        "the retry waits for the host's Retry-After: {} vs {before}",
        job.run_at
    );
}

#[tokio::test]
async fn private_and_malformed_urls_are_refused() {
    let h = Harness::new();
    let user = h.user().await;
    let cases = [
        ("http://127.0.0.1:9418/x", "repo_url_forbidden"),
        ("git://10.1.2.3/x", "repo_url_forbidden"),
        ("http://169.254.169.254/latest/meta-data", "repo_url_forbidden"),
        ("file:///etc/passwd", "repo_url_forbidden"),
        ("http://localhost/x", "repo_url_forbidden"),
        ("ftp://example.com/x", "validation_failed"),
        ("git@github.com:acme/w.git", "validation_failed"),
        ("", "validation_failed"),
    ];
    for (url, code) in cases {
        let e = h
            .engine
            .add_repo(
                &user,
                AddRepoRequest {
                    url: url.into(),
                    branch: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{url}");
        if code == "repo_url_forbidden" && !url.starts_with("file") {
            assert!(e.to_string().contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"), "{e}");
        }
    }
    assert_eq!(
        h.engine
            .add_repo(
                &user,
                AddRepoRequest {
                    url: REPO_URL.into(),
                    branch: Some("a b".into())
                }
            )
            .await
            .unwrap_err()
            .field(),
        Some("branch")
    );
    assert!(
        h.engine.list_repos(&user).await.unwrap().is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn credentials_are_sealed_and_used_for_the_clone() {
    let h = Harness::new();
    let user = h.user().await;
    h.mirror
        .add_remote(REPO_URL, "main", vec![("a.txt".into(), b"a".to_vec())]);
    let url = "https://x-access-token:ghp_SECRET123@github.com/acme/widgets.git";
    let repo = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: url.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(repo.url, REPO_URL);
    assert!(!format!("{repo:?}").contains("ghp_SECRET123"));
    let sealed = repo.sealed_credentials.clone().unwrap();
    assert!(!sealed.contains("ghp_SECRET123"));
    h.work().await;
    let req = h.mirror.sync_requests().pop().unwrap();
    let creds = req.url.credentials().unwrap();
    assert_eq!(creds.username, "x-access-token");
    assert_eq!(creds.password.expose(), "ghp_SECRET123");
    assert_eq!(
        h.engine.get_repo(&user, repo.id).await.unwrap().status,
        RepoStatus::Ready
    );
}

#[tokio::test]
async fn license_states_gate_writes_not_reads() {
    let h = Harness::new();
    let user = h.user().await;
    h.mirror
        .add_remote(REPO_URL, "main", vec![("a.txt".into(), b"a".to_vec())]);
    let repo = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: REPO_URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.work().await;

    let mut st = LicenseStatus {
        gated: true,
        state: LicenseState::ReadOnly,
        claims: Some(sample_claims()),
        reason: None,
    };
    h.license.set_status(st.clone());
    let e = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: "https://github.com/a/b".into(),
                branch: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "license_expired");
    assert_eq!(
        h.engine.reindex_repo(&user, repo.id).await.unwrap_err().code(),
        "license_expired"
    );
    assert_eq!(
        h.engine.create_team_invite(&user, None).await.unwrap_err().code(),
        "license_expired"
    );
    assert_eq!(h.engine.list_repos(&user).await.unwrap().len(), 1, "reads still work");

    st.state = LicenseState::Locked;
    h.license.set_status(st.clone());
    assert_eq!(
        h.engine
            .add_repo(
                &user,
                AddRepoRequest {
                    url: "https://github.com/a/b".into(),
                    branch: None
                }
            )
            .await
            .unwrap_err()
            .code(),
        "license_locked"
    );

    // Limits: repo_cap and seats.
    st.state = LicenseState::Valid;
    st.claims = Some(lettuce_domain::license::LicenseClaims {
        repo_cap: 1,
        seats: 1,
        ..sample_claims()
    });
    h.license.set_status(st);
    let e = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: "https://github.com/a/b".into(),
                branch: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "license_limit_reached");
    assert!(e.to_string().contains("1 repositories"), "{e}");
    let code = h.engine.create_team_invite(&user, None).await.unwrap().code;
    let e = h.signup(&code, "second@example.com").await.unwrap_err();
    assert_eq!(e.code(), "license_limit_reached");
    assert!(e.to_string().contains("seats"));
}

#[tokio::test]
async fn deleted_repo_job_is_dropped_quietly() {
    let h = Harness::new();
    let user = h.user().await;
    let repo = h
        .engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: REPO_URL.into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    h.engine.delete_repo(&user, repo.id).await.unwrap();
    assert_eq!(h.work().await, 1, "the index job finds the repo gone");
    assert_eq!(h.work_later().await, 1, "then the cleanup job runs");
    assert_eq!(h.queue.count(JobState::Completed), 2);
}

#[tokio::test]
async fn locked_instance_refuses_reads_but_not_login() {
    let h = Harness::new();
    let code = h.invite().await;
    let user = h.signup(&code, "ada@example.com").await.unwrap();
    h.license.set_status(LicenseStatus {
        gated: true,
        state: LicenseState::Locked,
        claims: None,
        reason: Some("no key".into()),
    });
    assert_eq!(h.engine.list_repos(&user).await.unwrap_err().code(), "license_locked");
    assert_eq!(h.engine.account(&user).await.unwrap_err().code(), "license_locked");
    assert_eq!(
        h.engine.list_api_keys(&user).await.unwrap_err().code(),
        "license_locked"
    );
    assert!(
        h.engine
            .login("ada@example.com", &Secret::new("a long password"))
            .await
            .is_ok(),
        "owners can still sign in to upload a key"
    );
}
