//! The metadata-store contract and SQLite-specific behaviour of
//! `SeaOrmStore`: migrations, persistence, concurrency across pools, error
//! mapping and `Debug` hygiene.

use chrono::{DateTime, Duration, Utc};
use lettuce_domain::account::Role;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::token::hash_token;
use lettuce_domain::{AccountId, InviteId, RepoId, UserId};
use lettuce_ports::store::{MetadataStore, NewAccount, NewUser, Redemption, StoreError};
use lettuce_ports::testing::store::{metadata_store_contract, usage_across_handles_contract};
use lettuce_store_sea_orm::{SeaOrmStore, sqlite_url};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("timestamp")
}

async fn open(path: &Path) -> SeaOrmStore {
    let store = SeaOrmStore::connect(&sqlite_url(path)).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn admin_invite(t: DateTime<Utc>) -> Invite {
    Invite {
        id: InviteId(Uuid::now_v7()),
        code_hash: hash_token(&format!("inv_{}", Uuid::new_v4())),
        account_id: None,
        account_name: Some("Acme".into()),
        email: None,
        created_by: None,
        expires_at: t + Duration::days(7),
        redemptions: 0,
        created_at: t,
    }
}

fn new_user(email: &str, t: DateTime<Utc>) -> NewUser {
    NewUser {
        id: UserId(Uuid::now_v7()),
        email: email.to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$c2VjcmV0LWhhc2g".into()),
        identity: None,
        created_at: t,
    }
}

fn new_account(t: DateTime<Utc>) -> NewAccount {
    NewAccount {
        id: AccountId(Uuid::now_v7()),
        name: "Acme".into(),
        webhook_secret: hash_token(&Uuid::new_v4().to_string()),
        created_at: t,
    }
}

fn repo(account_id: AccountId, t: DateTime<Utc>) -> Repo {
    Repo {
        id: RepoId(Uuid::now_v7()),
        account_id,
        url: "https://git.example.com/acme/widgets.git".into(),
        name: "acme/widgets".into(),
        branch: None,
        status: RepoStatus::Pending,
        indexed_commit: None,
        error: None,
        progress: IndexProgress {
            files_done: u64::from(u32::MAX) + 7,
            files_total: u64::from(u32::MAX) + 9,
        },
        sealed_credentials: Some("sealed:v1:0011".into()),
        created_at: t,
        updated_at: t,
        indexed_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_fresh_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("meta.db")).await;
    assert_eq!(store.backend(), "sqlite");
    assert_eq!(MetadataStore::backend(&store), "sqlite");
    metadata_store_contract(&store).await;
    // The suite also holds on a store that already has data.
    metadata_store_contract(&store).await;
}

#[tokio::test(flavor = "current_thread")]
async fn contract_on_current_thread_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("meta.db")).await;
    metadata_store_contract(&store).await;
}

#[tokio::test]
async fn contract_on_in_memory_database() {
    let store = SeaOrmStore::connect("sqlite::memory:").await.expect("connect");
    store.migrate().await.expect("migrate");
    metadata_store_contract(&store).await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let store = SeaOrmStore::connect(&sqlite_url(&path)).await.expect("connect");
    store.migrate().await.expect("first migrate");
    store.migrate().await.expect("second migrate is a no-op");
    let t = t0();
    let invite = admin_invite(t);
    store.create_invite(&invite).await.expect("create_invite");
    store.migrate().await.expect("third migrate with data");
    assert_eq!(
        store.find_invite(&invite.code_hash).await.expect("find"),
        Some(invite.clone())
    );
    store.close().await.expect("close");

    // A new process migrating the same file again changes nothing.
    let again = SeaOrmStore::connect(&sqlite_url(&path)).await.expect("reconnect");
    again.migrate().await.expect("migrate on reopen");
    assert_eq!(again.find_invite(&invite.code_hash).await.expect("find"), Some(invite));
}

#[tokio::test]
async fn unopenable_file_is_a_final_backend_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_dir = dir.path().join("no").join("such").join("dir").join("meta.db");
    match SeaOrmStore::connect(&sqlite_url(&missing_dir)).await {
        Err(StoreError::Backend {
            backend: "sqlite",
            retryable: false,
            ..
        }) => {}
        other => panic!("expected a non-retryable backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn unmigrated_database_is_a_backend_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SeaOrmStore::connect(&sqlite_url(&dir.path().join("meta.db")))
        .await
        .expect("connect");
    store.ping().await.expect("ping works before migrating");
    match store.count_accounts().await {
        Err(StoreError::Backend {
            backend: "sqlite",
            retryable: false,
            ..
        }) => {}
        other => panic!("expected a non-retryable backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Spaces and URL-special characters in the path must round-trip through sqlite_url.
    let sub = dir.path().join("with space #and ?odd %chars");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let path = sub.join("meta.db");
    let t = t0();
    let invite = admin_invite(t);
    let (account, owner, r) = {
        let store = open(&path).await;
        store.create_invite(&invite).await.expect("create_invite");
        let (account, owner) = store
            .redeem_invite(Redemption {
                invite_id: invite.id,
                user: new_user("owner@acme.io", t),
                account_if_unbound: new_account(t),
            })
            .await
            .expect("redeem");
        let r = repo(account.id, t);
        store.create_repo(&r).await.expect("create_repo");
        store.close().await.expect("close");
        (account, owner, r)
    };
    assert!(path.exists(), "the database file must be where sqlite_url points");

    let store = open(&path).await;
    assert_eq!(store.get_account(account.id).await.expect("account"), account);
    assert_eq!(store.get_user(owner.id).await.expect("user"), owner);
    assert_eq!(owner.role, Role::Owner);
    assert_eq!(
        store.get_repo(account.id, r.id).await.expect("repo"),
        r,
        "bigint progress and credentials survive"
    );
    let stored = store
        .find_invite(&invite.code_hash)
        .await
        .expect("find")
        .expect("invite");
    assert_eq!(stored.account_id, Some(account.id));
    assert_eq!(stored.redemptions, 1);
    assert_eq!(store.count_accounts().await.expect("count"), 1);
}

/// Many simultaneous first redemptions through two independent pools (as if
/// two processes shared the file): exactly one account, everyone else joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_across_pools_create_one_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let a = Arc::new(open(&path).await);
    let b = Arc::new(SeaOrmStore::connect(&sqlite_url(&path)).await.expect("second pool"));
    let t = t0();
    let invite = admin_invite(t);
    a.create_invite(&invite).await.expect("create_invite");

    const N: usize = 12;
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let invite_id = invite.id;
        tasks.push(tokio::spawn(async move {
            store
                .redeem_invite(Redemption {
                    invite_id,
                    user: new_user(&format!("u{i}@acme.io"), t),
                    account_if_unbound: new_account(t),
                })
                .await
        }));
    }
    let mut accounts = Vec::new();
    let mut owners = 0;
    for task in tasks {
        let (account, user) = task.await.expect("join").expect("redeem");
        owners += usize::from(user.role == Role::Owner);
        accounts.push(account.id);
    }
    accounts.dedup();
    assert_eq!(
        accounts.len(),
        1,
        "all redeemers must land in one account: {accounts:?}"
    );
    assert_eq!(owners, 1, "exactly one owner");
    assert_eq!(a.count_accounts().await.expect("count"), 1);
    assert_eq!(b.list_users(accounts[0]).await.expect("users").len(), N);
    let stored = a.find_invite(&invite.code_hash).await.expect("find").expect("invite");
    assert_eq!(stored.redemptions as usize, N);
}

/// Increments from many tasks through two independent pools (as if two
/// processes metered the same account) all land in the same hourly bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_usage_adds_across_pools_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let a: Arc<dyn MetadataStore> = Arc::new(open(&path).await);
    let b: Arc<dyn MetadataStore> = Arc::new(SeaOrmStore::connect(&sqlite_url(&path)).await.expect("second pool"));
    let t = t0();
    let invite = admin_invite(t);
    a.create_invite(&invite).await.expect("create_invite");
    let (account, _) = a
        .redeem_invite(Redemption {
            invite_id: invite.id,
            user: new_user("usage@acme.io", t),
            account_if_unbound: new_account(t),
        })
        .await
        .expect("redeem");
    let account = account.id;
    usage_across_handles_contract(a, b, account, t).await;
}

#[tokio::test]
async fn conflicts_and_missing_parents_map_to_port_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("meta.db")).await;
    let t = t0();
    let invite = admin_invite(t);
    store.create_invite(&invite).await.expect("create_invite");
    match store.create_invite(&invite).await {
        Err(StoreError::Conflict {
            entity: "invite",
            detail,
        }) => assert!(detail == "code_hash" || detail == "id", "{detail}"),
        other => panic!("expected an invite conflict, got {other:?}"),
    }
    let mut same_id = admin_invite(t);
    same_id.id = invite.id;
    match store.create_invite(&same_id).await {
        Err(StoreError::Conflict {
            entity: "invite",
            detail,
        }) => assert_eq!(detail, "id"),
        other => panic!("expected an id conflict, got {other:?}"),
    }
    let (account, _) = store
        .redeem_invite(Redemption {
            invite_id: invite.id,
            user: new_user("o@acme.io", t),
            account_if_unbound: new_account(t),
        })
        .await
        .expect("redeem");
    let second = Redemption {
        invite_id: invite.id,
        user: new_user("o@acme.io", t),
        account_if_unbound: new_account(t),
    };
    match store.redeem_invite(second).await {
        Err(e @ StoreError::Conflict { entity: "user", .. }) => {
            assert!(matches!(&e, StoreError::Conflict { detail, .. } if detail == "email"));
            assert!(
                !e.to_string().contains("o@acme.io"),
                "conflict message must not echo the email: {e}"
            );
        }
        other => panic!("expected an email conflict, got {other:?}"),
    }
    let r = repo(account.id, t);
    store.create_repo(&r).await.expect("create_repo");
    let mut same_url = repo(account.id, t);
    same_url.branch = None;
    match store.create_repo(&same_url).await {
        Err(StoreError::Conflict { entity: "repo", detail }) => assert_eq!(detail, "url"),
        other => panic!("expected a repo URL conflict, got {other:?}"),
    }
    // Foreign keys are enforced: a repo for an account that does not exist.
    let orphan = repo(AccountId(Uuid::now_v7()), t);
    match store.create_repo(&orphan).await {
        Err(StoreError::NotFound { entity: "account" }) => {}
        other => panic!("expected NotFound(account) for a missing parent, got {other:?}"),
    }
    assert!(matches!(
        store.touch_api_key(lettuce_domain::ApiKeyId(Uuid::now_v7()), t).await,
        Err(StoreError::NotFound { entity: "api_key" })
    ));
}

#[tokio::test]
async fn debug_does_not_leak_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let store = open(&path).await;
    let t = t0();
    let invite = admin_invite(t);
    store.create_invite(&invite).await.expect("create_invite");
    let account = new_account(t);
    let user = new_user("owner@acme.io", t);
    let password_hash = user.password_hash.clone().expect("hash");
    let (account, _) = store
        .redeem_invite(Redemption {
            invite_id: invite.id,
            user,
            account_if_unbound: account,
        })
        .await
        .expect("redeem");
    let mut r = repo(account.id, t);
    r.sealed_credentials = Some("sealed:v1:deadbeefcafebabe".into());
    store.create_repo(&r).await.expect("create_repo");

    let debug = format!("{store:?}");
    let pretty = format!("{store:#?}");
    for secret in [
        account.webhook_secret.as_str(),
        password_hash.as_str(),
        invite.code_hash.as_str(),
        "deadbeefcafebabe",
    ] {
        assert!(!debug.contains(secret), "Debug leaks {secret}: {debug}");
        assert!(!pretty.contains(secret), "Debug leaks {secret}: {pretty}");
    }
    assert!(debug.contains("sqlite"), "{debug}");
    assert!(!debug.contains("mode=rwc"), "the query string is not shown: {debug}");

    // Connection failures name no credentials either: an unsupported scheme,
    // and a PostgreSQL URL (no driver in a SQLite-only build; nothing listens
    // on port 1 otherwise).
    for url in [
        "mysql://admin:hunter2@db.internal/meta",
        "postgres://admin:hunter2@127.0.0.1:1/meta?password=hunter2",
    ] {
        let err = SeaOrmStore::connect(url).await.expect_err("cannot connect");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            assert!(!s.to_string().contains("hunter2"), "{s}");
            assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
            source = s.source();
        }
    }
}
