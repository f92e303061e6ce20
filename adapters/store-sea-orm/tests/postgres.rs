#![cfg(feature = "postgres")]
//! The metadata-store contract and PostgreSQL-specific behaviour of
//! `SeaOrmStore` against a real PostgreSQL server: migrations (idempotent,
//! after reconnecting), concurrent first redemptions through two pools,
//! constraint-name error mapping, timestamp precision, TLS, and credential
//! hygiene of connection errors.
//!
//! Needs `LETTUCE_TEST_POSTGRES_URL`, an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres` (see `scripts/test-peers`).
//! Every test creates its own database `lettuce_test_<uuid>` and drops it
//! afterwards (also when the test panics). Without the variable the tests
//! print why they skip; with `LETTUCE_REQUIRE_PEERS=1` they fail instead.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lettuce_domain::account::Role;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::token::hash_token;
use lettuce_domain::{AccountId, InviteId, RepoId, UserId};
use lettuce_ports::store::{MetadataStore, NewAccount, NewUser, Redemption, RepoUpdate, StoreError};
use lettuce_ports::testing::store::{metadata_store_contract, usage_across_handles_contract};
use lettuce_store_sea_orm::SeaOrmStore;
use lettuce_store_sea_orm::testing::{PostgresTestDb, admin_connection, postgres_admin_url, with_database};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;
use uuid::Uuid;

// ── test databases ──────────────────────────────────────────────────────────

fn admin_url() -> Option<String> {
    postgres_admin_url()
}

/// `url` with its user info replaced by `userinfo` (`user:password`).
fn with_userinfo(url: &str, userinfo: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("admin URL has a scheme");
    let host_and_path = match rest.split('/').next().unwrap_or_default().rfind('@') {
        Some(i) => &rest[i + 1..],
        None => rest,
    };
    format!("{scheme}://{userinfo}@{host_and_path}")
}

/// A database of its own for one test, dropped when this guard is dropped
/// (also during a panic).
struct TestDb(PostgresTestDb);

impl std::ops::Deref for TestDb {
    type Target = PostgresTestDb;
    fn deref(&self) -> &PostgresTestDb {
        &self.0
    }
}

impl TestDb {
    async fn create(admin_url: &str) -> Self {
        Self(PostgresTestDb::create(admin_url).await)
    }

    async fn store(&self) -> SeaOrmStore {
        SeaOrmStore::connect(&self.url).await.expect("connect")
    }

    async fn migrated_store(&self) -> SeaOrmStore {
        let store = self.store().await;
        store.migrate().await.expect("migrate");
        store
    }

    /// A raw connection to the test database (for inspecting the schema).
    async fn raw(&self) -> DatabaseConnection {
        admin_connection(&self.url).await
    }
}

async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .expect(sql)
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("bigint column")
}

// ── fixtures ────────────────────────────────────────────────────────────────

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("timestamp")
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

async fn redeem_fresh(store: &SeaOrmStore, t: DateTime<Utc>) -> AccountId {
    let invite = admin_invite(t);
    store.create_invite(&invite).await.expect("create_invite");
    let (account, _) = store
        .redeem_invite(Redemption {
            invite_id: invite.id,
            user: new_user(&format!("owner-{}@acme.io", Uuid::new_v4().simple()), t),
            account_if_unbound: new_account(t),
        })
        .await
        .expect("redeem");
    account.id
}

/// Asserts that `err` is a non-secret-leaking PostgreSQL backend error and
/// returns whether it is retryable.
fn assert_backend_without(err: &StoreError, secret: &str) -> bool {
    let StoreError::Backend {
        backend: "postgres",
        retryable,
        ..
    } = err
    else {
        panic!("expected a postgres backend error, got {err:?}");
    };
    assert!(!err.to_string().contains(secret), "Display leaks the password: {err}");
    assert!(
        !format!("{err:?}").contains(secret),
        "Debug leaks the password: {err:?}"
    );
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert!(!s.to_string().contains(secret), "a source leaks the password: {s}");
        assert!(!format!("{s:?}").contains(secret), "a source leaks the password: {s:?}");
        source = s.source();
    }
    *retryable
}

// ── tests ───────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_fresh_database() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.migrated_store().await;
    assert_eq!(store.backend(), "postgres");
    assert_eq!(MetadataStore::backend(&store), "postgres");
    metadata_store_contract(&store).await;
    // The suite also holds on a database that already has data.
    metadata_store_contract(&store).await;
    store.close().await.expect("close");
}

#[tokio::test(flavor = "current_thread")]
async fn contract_on_current_thread_runtime() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.migrated_store().await;
    metadata_store_contract(&store).await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_survive_reconnecting() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.store().await;
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

    // A new process migrating the same database again changes nothing.
    let again = db.store().await;
    again.migrate().await.expect("migrate after reconnecting");
    again.migrate().await.expect("and again");
    assert_eq!(again.find_invite(&invite.code_hash).await.expect("find"), Some(invite));

    let raw = db.raw().await;
    assert_eq!(
        scalar_i64(&raw, "SELECT count(*) FROM seaql_migrations").await,
        i64::try_from(<lettuce_store_sea_orm::Migrator as sea_orm_migration::MigratorTrait>::migrations().len())
            .expect("count"),
        "each migration is recorded exactly once"
    );
    assert_eq!(
        scalar_i64(
            &raw,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('accounts', 'users', 'invites', 'api_keys', 'repos')"
        )
        .await,
        5
    );
    raw.close().await.expect("close raw");
}

/// Replicas migrating an empty database at the same moment all succeed (the
/// advisory lock serialises them) and apply each migration once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_from_several_pools() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = db.store().await;
    let b = db.store().await;
    let c = db.store().await;
    let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    ra.expect("first replica migrates");
    rb.expect("second replica migrates");
    rc.expect("third replica migrates");
    for store in [&a, &b, &c] {
        store.count_accounts().await.expect("schema present");
    }
    let raw = db.raw().await;
    assert_eq!(
        scalar_i64(&raw, "SELECT count(*) FROM seaql_migrations").await,
        i64::try_from(<lettuce_store_sea_orm::Migrator as sea_orm_migration::MigratorTrait>::migrations().len())
            .expect("count"),
    );
    raw.close().await.expect("close raw");
}

#[tokio::test]
async fn unmigrated_database_is_a_final_backend_error() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.store().await;
    store.ping().await.expect("ping works before migrating");
    match store.count_accounts().await {
        Err(StoreError::Backend {
            backend: "postgres",
            retryable: false,
            ..
        }) => {}
        other => panic!("expected a non-retryable backend error, got {other:?}"),
    }
}

/// Many simultaneous first redemptions through two independent pools (as if
/// two replicas shared the database): exactly one account, everyone else joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_across_pools_create_one_account() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = Arc::new(db.migrated_store().await);
    let b = Arc::new(db.store().await);
    for round in 0..3 {
        let t = t0();
        let invite = admin_invite(t);
        a.create_invite(&invite).await.expect("create_invite");
        let accounts_before = a.count_accounts().await.expect("count");

        const N: usize = 16;
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let mut tasks = Vec::new();
        for i in 0..N {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            let invite_id = invite.id;
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .redeem_invite(Redemption {
                        invite_id,
                        user: new_user(&format!("r{round}-u{i}@acme.io"), t),
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
        accounts.sort();
        accounts.dedup();
        assert_eq!(
            accounts.len(),
            1,
            "all redeemers must land in one account: {accounts:?}"
        );
        assert_eq!(owners, 1, "exactly one owner");
        assert_eq!(a.count_accounts().await.expect("count"), accounts_before + 1);
        assert_eq!(b.list_users(accounts[0]).await.expect("users").len(), N);
        let stored = a.find_invite(&invite.code_hash).await.expect("find").expect("invite");
        assert_eq!(stored.redemptions as usize, N);
        assert_eq!(stored.account_id, Some(accounts[0]));
    }
}

/// Concurrent partial updates of one repo through two pools never lose the
/// row or fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repo_updates_across_pools() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = Arc::new(db.migrated_store().await);
    let b = Arc::new(db.store().await);
    let t = t0();
    let account = redeem_fresh(&a, t).await;
    let r = repo(account, t);
    a.create_repo(&r).await.expect("create_repo");
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .update_repo(
                    r.id,
                    RepoUpdate {
                        progress: Some(IndexProgress {
                            files_done: i,
                            files_total: 100,
                        }),
                        updated_at: Some(t + Duration::seconds(i64::try_from(i).expect("small"))),
                        ..RepoUpdate::default()
                    },
                )
                .await
        }));
    }
    for task in tasks {
        let updated = task.await.expect("join").expect("update_repo");
        assert_eq!(updated.progress.files_total, 100);
    }
    let stored = b.get_repo(account, r.id).await.expect("get_repo");
    assert_eq!(stored.progress.files_total, 100);
    assert_eq!(stored.url, r.url);
}

/// Increments from many tasks through two independent pools (as if two
/// processes metered the same account) all land in the same hourly bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_usage_adds_across_pools_lose_nothing() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = Arc::new(db.migrated_store().await);
    let b = Arc::new(db.store().await);
    let t = t0();
    let account = redeem_fresh(&a, t).await;
    usage_across_handles_contract(a, b, account, t).await;
}

#[tokio::test]
async fn conflicts_and_missing_parents_map_to_port_errors() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.migrated_store().await;
    let t = t0();
    let invite = admin_invite(t);
    store.create_invite(&invite).await.expect("create_invite");
    let mut same_hash = admin_invite(t);
    same_hash.code_hash = invite.code_hash.clone();
    match store.create_invite(&same_hash).await {
        Err(StoreError::Conflict {
            entity: "invite",
            detail,
        }) => assert_eq!(detail, "code_hash"),
        other => panic!("expected an invite code_hash conflict, got {other:?}"),
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
            assert!(
                matches!(&e, StoreError::Conflict { detail, .. } if detail == "email"),
                "{e:?}"
            );
            assert!(
                !e.to_string().contains("o@acme.io"),
                "conflict message must not echo the email: {e}"
            );
        }
        other => panic!("expected an email conflict, got {other:?}"),
    }
    assert_eq!(
        store.list_users(account.id).await.expect("users").len(),
        1,
        "a failed redemption writes nothing"
    );
    let r = repo(account.id, t);
    store.create_repo(&r).await.expect("create_repo");
    match store.create_repo(&repo(account.id, t)).await {
        Err(StoreError::Conflict { entity: "repo", detail }) => assert_eq!(detail, "url"),
        other => panic!("expected a repo URL conflict, got {other:?}"),
    }
    let mut same_repo_id = repo(account.id, t);
    same_repo_id.id = r.id;
    same_repo_id.url = "https://git.example.com/acme/other.git".into();
    match store.create_repo(&same_repo_id).await {
        Err(StoreError::Conflict { entity: "repo", detail }) => assert_eq!(detail, "id"),
        other => panic!("expected a repo id conflict, got {other:?}"),
    }
    // Foreign keys: a repo for an account that does not exist.
    match store.create_repo(&repo(AccountId(Uuid::now_v7()), t)).await {
        Err(StoreError::NotFound { entity: "account" }) => {}
        other => panic!("expected NotFound(account) for a missing parent, got {other:?}"),
    }
    assert!(matches!(
        store.touch_api_key(lettuce_domain::ApiKeyId(Uuid::now_v7()), t).await,
        Err(StoreError::NotFound { entity: "api_key" })
    ));
}

/// Timestamps round-trip at microsecond precision (PostgreSQL's
/// `timestamptz` resolution), across the full range the domain uses;
/// 64-bit counters round-trip exactly.
#[tokio::test]
async fn timestamps_and_big_counters_round_trip() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = db.migrated_store().await;
    let t = t0();
    let account = redeem_fresh(&store, t).await;
    let micros = Utc
        .timestamp_opt(1_767_225_600, 123_456_000)
        .single()
        .expect("valid timestamp");
    let far = Utc
        .with_ymd_and_hms(2999, 12, 31, 23, 59, 59)
        .single()
        .expect("valid timestamp")
        + Duration::microseconds(999_999);
    let mut r = repo(account, micros);
    r.updated_at = far;
    r.indexed_at = Some(Utc.timestamp_opt(1, 1_000).single().expect("valid timestamp"));
    let max = u64::try_from(i64::MAX).expect("fits");
    r.progress = IndexProgress {
        files_done: max,
        files_total: max,
    };
    store.create_repo(&r).await.expect("create_repo");
    assert_eq!(store.get_repo(account, r.id).await.expect("get_repo"), r);

    // Sub-microsecond digits are dropped, never rounded up past the value.
    let nanos = Utc
        .timestamp_opt(1_767_225_600, 123_456_789)
        .single()
        .expect("valid timestamp");
    let updated = store
        .update_repo(
            r.id,
            RepoUpdate {
                updated_at: Some(nanos),
                ..RepoUpdate::default()
            },
        )
        .await
        .expect("update_repo");
    let diff = nanos - updated.updated_at;
    assert!(
        diff >= Duration::zero() && diff < Duration::microseconds(1),
        "stored {} for {}",
        updated.updated_at,
        nanos
    );
    // Time zones do not matter: the session zone is not UTC here.
    let raw = db.raw().await;
    raw.execute_unprepared("SET TIME ZONE 'America/Los_Angeles'")
        .await
        .expect("set time zone");
    assert_eq!(
        scalar_i64(
            &raw,
            &format!(
                "SELECT (extract(epoch FROM created_at) * 1000000)::bigint FROM repos WHERE id = '{}'",
                r.id.0
            )
        )
        .await,
        micros.timestamp_micros()
    );
    raw.close().await.expect("close raw");
}

/// `sslmode=require` connects through rustls (the server on the test
/// machine has TLS enabled; otherwise the check is skipped).
#[tokio::test]
async fn tls_connections_work() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let raw = db.raw().await;
    let row = raw
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW ssl".to_owned()))
        .await
        .expect("SHOW ssl")
        .expect("row");
    let ssl: String = row.try_get_by_index(0).expect("text");
    raw.close().await.expect("close raw");
    if ssl != "on" {
        println!("SKIPPED: the PostgreSQL server has ssl = {ssl}; TLS not checked");
        return;
    }
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let tls_url = format!("{}{sep}sslmode=require", db.url);
    let store = SeaOrmStore::connect(&tls_url)
        .await
        .expect("connect with sslmode=require");
    store.migrate().await.expect("migrate over TLS");
    metadata_store_contract(&store).await;
    // The same driver build (rustls) reports the session as encrypted.
    let mut opts = ConnectOptions::new(tls_url);
    opts.max_connections(1).sqlx_logging(false);
    let check = Database::connect(opts).await.expect("raw TLS connection");
    let row = check
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()".to_owned(),
        ))
        .await
        .expect("pg_stat_ssl")
        .expect("row");
    let encrypted: String = row.try_get_by_index(0).expect("text");
    assert_eq!(encrypted, "true");
    check.close().await.expect("close");
}

/// A wrong password, an unknown role or an unknown database: a postgres
/// `Backend` error that names neither the password nor the query string.
#[tokio::test]
async fn connection_failures_do_not_leak_the_password() {
    let Some(admin) = admin_url() else { return };
    const SECRET: &str = "hunter2-sup3r-s3cret";
    let missing_db = format!("lettuce_missing_{}", Uuid::new_v4().simple());
    let unknown_role = format!("lettuce_no_role_{}", Uuid::new_v4().simple());
    let admin_user = admin
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(userinfo, _)| userinfo.split(':').next().unwrap_or_default().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres".to_owned());

    // Unknown database, with a (wrong) password in the URL.
    let url = with_database(&with_userinfo(&admin, &format!("{admin_user}:{SECRET}")), &missing_db);
    let err = SeaOrmStore::connect(&url).await.expect_err("unknown database");
    assert!(
        !assert_backend_without(&err, SECRET),
        "a missing database is final: {err}"
    );

    // Unknown role with a password.
    let url = with_userinfo(&admin, &format!("{unknown_role}:{SECRET}"));
    let err = SeaOrmStore::connect(&url).await.expect_err("unknown role");
    assert!(!assert_backend_without(&err, SECRET), "a bad login is final: {err}");

    // Wrong password for the admin role: servers that check passwords refuse
    // it; a server that trusts loopback connections accepts any password.
    let db = TestDb::create(&admin).await;
    let url = with_userinfo(&db.url, &format!("{admin_user}:{SECRET}"));
    match SeaOrmStore::connect(&url).await {
        Err(err) => {
            assert!(
                !assert_backend_without(&err, SECRET),
                "a wrong password is final: {err}"
            );
        }
        Ok(store) => {
            println!("note: the server trusts this connection; the wrong password was not checked");
            let debug = format!("{store:?}");
            assert!(!debug.contains(SECRET), "Debug leaks the password: {debug}");
            assert!(debug.contains("postgres"), "{debug}");
            store.close().await.expect("close");
        }
    }

    // Nothing listens: retryable, and still no password or query string.
    let url = format!("postgres://{admin_user}:{SECRET}@127.0.0.1:1/meta?password={SECRET}&sslmode=prefer");
    let err = SeaOrmStore::connect(&url).await.expect_err("nothing listens on port 1");
    assert!(
        assert_backend_without(&err, SECRET),
        "a refused connection is retryable: {err}"
    );
}

#[tokio::test]
async fn debug_shows_location_without_credentials() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name=lettuce-test-s3cr3t-query", db.url);
    let store = SeaOrmStore::connect(&url).await.expect("connect");
    let debug = format!("{store:?}");
    assert!(debug.contains("postgres"), "{debug}");
    assert!(debug.contains(&db.name), "the database is named: {debug}");
    assert!(!debug.contains("s3cr3t"), "the query string is not shown: {debug}");
    if let Some((userinfo, _)) = admin.split_once("://").and_then(|(_, r)| r.split_once('@')) {
        assert!(
            !debug.contains(&format!("{userinfo}@")),
            "user info is not shown: {debug}"
        );
    }
}

/// The guard drops its database even when the test panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_databases_are_dropped_after_a_panic() {
    let Some(admin) = admin_url() else { return };
    let name = Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = name.clone();
    let admin_for_task = admin.clone();
    let outcome = tokio::spawn(async move {
        let db = TestDb::create(&admin_for_task).await;
        *seen.lock().expect("lock") = Some(db.name.clone());
        let store = db.migrated_store().await;
        store.ping().await.expect("ping");
        panic!("deliberate panic with the database in use");
    })
    .await;
    assert!(outcome.expect_err("the task panics").is_panic());
    let name = name.lock().expect("lock").clone().expect("database was created");
    let admin_db = admin_connection(&admin).await;
    let left = scalar_i64(
        &admin_db,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )
    .await;
    admin_db.close().await.expect("close");
    assert_eq!(left, 0, "{name} must be dropped after the panic");
}

#[test]
fn url_helpers() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    assert_eq!(
        with_userinfo("postgres://postgres@127.0.0.1:5432/postgres", "a:b"),
        "postgres://a:b@127.0.0.1:5432/postgres"
    );
    assert_eq!(with_userinfo("postgres://h/db", "a:b"), "postgres://a:b@h/db");
}
