//! # lettuce-store-sea-orm
//!
//! The Lettuce [`MetadataStore`] (accounts, users, invites, API keys, repos,
//! hourly usage counters, instance settings)
//! on a SQL database through [sea-orm], with schema migrations
//! ([`Migrator`]) written with the portable schema builder.
//!
//! * Feature `sqlite` (default): SQLite files, opened in WAL mode with
//!   `foreign_keys = ON` and a 10 s busy timeout.
//! * Feature `postgres`: PostgreSQL (`postgres://user:pass@host/db`), with
//!   rustls TLS for managed databases (`?sslmode=require`). Pools hold up to
//!   [`POSTGRES_POOL_SIZE`] connections; connecting gives up after
//!   [`CONNECT_TIMEOUT`]. Timestamps round-trip at microsecond precision.
//!
//! Uniqueness rules live in the schema (unique indexes), so they hold across
//! processes; violations come back as [`StoreError::Conflict`]. Invite
//! redemption runs in one write transaction, so two concurrent first
//! redemptions create exactly one account.
//!
//! ## Quick start
//!
//! ```no_run
//! use lettuce_ports::store::MetadataStore;
//! use lettuce_store_sea_orm::{sqlite_url, SeaOrmStore};
//!
//! # async fn run() -> Result<(), lettuce_ports::store::StoreError> {
//! let store = SeaOrmStore::connect(&sqlite_url(std::path::Path::new("/var/lib/lettuce/meta.db"))).await?;
//! store.migrate().await?; // idempotent
//! assert_eq!(store.backend(), "sqlite");
//! println!("{} accounts", store.count_accounts().await?);
//! # Ok(()) }
//! ```
//!
//! PostgreSQL (feature `postgres`); every replica may call `migrate`:
//!
//! ```no_run
//! # async fn run() -> Result<(), lettuce_ports::store::StoreError> {
//! let url = "postgres://lettuce:PASSWORD@db.internal:5432/lettuce?sslmode=require";
//! let store = lettuce_store_sea_orm::SeaOrmStore::connect(url).await?;
//! store.migrate().await?;
//! assert_eq!(store.backend(), "postgres");
//! # Ok(()) }
//! ```
//!
//! [sea-orm]: https://www.sea-ql.org/SeaORM/
#![deny(missing_docs)]

mod codehost;
mod convert;
mod entity;
mod error;
mod eval;
pub mod migration;
mod sealed;
mod settings;
#[cfg(feature = "testing")]
pub mod testing;
mod traced;
mod usage;

pub use migration::Migrator;

use crate::traced::Traced;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use convert::{to_i64, user_active};
use entity::{account, api_key, invite, repo, user};
use error::{backend_msg, map_db_err};
use lettuce_domain::account::{Account, ExternalIdentity, Role, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::Repo;
use lettuce_domain::{AccountId, ApiKeyId, InviteId, RepoId, UserId};
use lettuce_ports::store::{MetadataStore, Redemption, RepoUpdate, StoreError, ToolUsage, UsageBucket, UsageCounters};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::path::Path;
use std::time::Duration;

/// How long a SQLite connection waits for a lock before failing with `SQLITE_BUSY`.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in a SQLite file pool (WAL: many readers, one writer at a time).
#[cfg(feature = "sqlite")]
const SQLITE_POOL_SIZE: u32 = 8;

/// Most connections one PostgreSQL pool opens (per process; size the
/// server's `max_connections` for all replicas).
pub const POSTGRES_POOL_SIZE: u32 = 10;

/// How long [`SeaOrmStore::connect`] keeps trying to reach a PostgreSQL
/// server (and how long a query waits for a free pooled connection) before
/// failing with a retryable error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite query waits for a free pooled connection.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// PostgreSQL advisory-lock key that serialises [`SeaOrmStore::migrate`]
/// across processes (the bytes of `lettuce!`).
pub const MIGRATION_LOCK_KEY: i64 = 0x6C65_7474_7563_6521;

/// How many times a write transaction is attempted when it fails with a
/// retryable error (lock contention, serialization failure).
const WRITE_ATTEMPTS: usize = 4;

/// A [`MetadataStore`] on SQLite (or, with the PostgreSQL driver, PostgreSQL)
/// through sea-orm.
///
/// Cheap to clone: clones share one connection pool. `Debug` shows only the
/// backend and the database location without credentials or query string.
#[derive(Clone)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    backend: &'static str,
    location: String,
}

impl std::fmt::Debug for SeaOrmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmStore")
            .field("backend", &self.backend)
            .field("location", &self.location)
            .finish()
    }
}

/// The backend a database URL names: `sqlite` or `postgres`.
pub fn backend_of_url(database_url: &str) -> Option<&'static str> {
    let lower = database_url.trim().to_ascii_lowercase();
    if lower.starts_with("sqlite:") {
        Some("sqlite")
    } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Some("postgres")
    } else {
        None
    }
}

/// The URL of a SQLite database file at `path`, created if missing
/// (`sqlite://PATH?mode=rwc`). Characters the URL parser treats specially
/// (`%`, `?`, `#`) are percent-encoded.
pub fn sqlite_url(path: &Path) -> String {
    let raw = path.to_string_lossy();
    let mut encoded = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            c => encoded.push(c),
        }
    }
    format!("sqlite://{encoded}?mode=rwc")
}

/// A database URL without user info, query string or fragment (for `Debug`
/// and messages).
fn redact_url(url: &str) -> String {
    let url = url.trim();
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = without_query.split_once("://") else {
        return without_query.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    format!("{scheme}://{host}{path}")
}

/// A connection failure, with the URL (which sea-orm quotes verbatim, password
/// included) replaced by its redacted form.
fn connect_error(backend: &'static str, database_url: &str, err: DbErr) -> StoreError {
    let redacted = redact_url(database_url);
    let message = err
        .to_string()
        .replace(database_url.trim(), &redacted)
        .replace(database_url, &redacted);
    if let DbErr::Conn(sea_orm::RuntimeErr::Internal(msg)) = &err
        && error::is_unusable_url(msg)
    {
        return backend_msg(
            backend,
            format!("cannot connect to `{redacted}`: this build has no {backend} driver or the URL is malformed"),
        );
    }
    match map_db_err(backend, "database", "database", err) {
        StoreError::Backend { retryable, .. } => StoreError::Backend {
            backend,
            source: lettuce_ports::box_msg(message),
            retryable,
        },
        other => other,
    }
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl SeaOrmStore {
    /// Connects to `database_url` (`sqlite://PATH?mode=rwc`, `sqlite::memory:`
    /// with feature `sqlite`; `postgres://user:pass@host:5432/db` with feature
    /// `postgres`).
    ///
    /// Errors are [`StoreError::Backend`] and never contain the URL's
    /// password or query string; a URL whose driver is not compiled in is a
    /// non-retryable error.
    ///
    /// SQLite connections get `journal_mode = WAL`, `synchronous = NORMAL`,
    /// `foreign_keys = ON` and a [`SQLITE_BUSY_TIMEOUT`] busy timeout. The
    /// schema is not touched: call [`SeaOrmStore::migrate`].
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let backend = backend_of_url(database_url).ok_or_else(|| {
            backend_msg(
                "unknown",
                format!(
                    "unsupported database URL `{}`: expected sqlite://PATH or postgres://…",
                    redact_url(database_url)
                ),
            )
        })?;
        let mut opts = ConnectOptions::new(database_url.trim().to_owned());
        // sea-orm hands both timeouts to sqlx's pool acquire timeout (the
        // later wins), which also bounds the initial connection attempts.
        opts.sqlx_logging(false);
        if backend == "sqlite" {
            opts.acquire_timeout(SQLITE_ACQUIRE_TIMEOUT);
            Self::sqlite_options(&mut opts, is_sqlite_memory(database_url));
        } else {
            // A bounded pool whose connections are recycled now and then, so
            // a failed-over or restarted (managed) server is picked up
            // without errors piling up.
            opts.connect_timeout(CONNECT_TIMEOUT)
                .acquire_timeout(CONNECT_TIMEOUT)
                .max_connections(POSTGRES_POOL_SIZE)
                .min_connections(0)
                .idle_timeout(Duration::from_secs(300))
                .max_lifetime(Duration::from_secs(1800));
        }
        let db = Database::connect(opts)
            .await
            .map_err(|e| connect_error(backend, database_url, e))?;
        Ok(Self {
            db,
            backend,
            location: redact_url(database_url),
        })
    }

    #[cfg(feature = "sqlite")]
    fn sqlite_options(opts: &mut ConnectOptions, in_memory: bool) {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        if in_memory {
            // One shared in-memory database: keep exactly one connection alive
            // forever (closing the last one would drop the data).
            opts.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            opts.max_connections(SQLITE_POOL_SIZE).min_connections(1);
        }
        opts.map_sqlx_sqlite_opts(move |o| {
            let o = o.foreign_keys(true).busy_timeout(SQLITE_BUSY_TIMEOUT);
            if in_memory {
                o
            } else {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            }
        });
    }

    #[cfg(not(feature = "sqlite"))]
    fn sqlite_options(_opts: &mut ConnectOptions, _in_memory: bool) {}

    /// Applies pending migrations. Idempotent: already-applied migrations
    /// are skipped, so calling it on every start is safe.
    ///
    /// On PostgreSQL, concurrent callers (replicas starting together) are
    /// serialised with a transaction-scoped advisory lock
    /// ([`MIGRATION_LOCK_KEY`]): the first applies the migrations, the others
    /// wait and then find nothing to do.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_with::<Migrator>().await
    }

    /// Applies another migrator's pending migrations on this database with
    /// the same guarantees as [`SeaOrmStore::migrate`] (idempotent; serialised
    /// across processes on PostgreSQL). For applications that keep their own
    /// tables beside (or instead of) the metadata schema — e.g. the telemetry
    /// receiver — with their own migration table
    /// ([`MigratorTrait::migration_table_name`]).
    pub async fn migrate_with<M: MigratorTrait>(&self) -> Result<(), StoreError> {
        if self.backend != "postgres" {
            return self.migrate_unlocked::<M>().await;
        }
        let lock = self.db.begin().await.map_err(self.mapper("migration"))?;
        if let Err(e) = lock
            .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
            .await
        {
            let _ = lock.rollback().await;
            return Err(self.err("migration", "migration", e));
        }
        // The migrations run on other pooled connections while this
        // transaction holds the lock; ending it releases the lock.
        let result = self.migrate_unlocked::<M>().await;
        let released = lock.rollback().await.map_err(self.mapper("migration"));
        result.and(released)
    }

    async fn migrate_unlocked<M: MigratorTrait>(&self) -> Result<(), StoreError> {
        M::up(&self.db, None)
            .await
            .map_err(|e| self.err("migration", "migration", e))
    }

    /// The underlying sea-orm connection pool, for applications that keep
    /// tables of their own on the same database (see
    /// [`SeaOrmStore::migrate_with`]). The pool has this store's settings
    /// (WAL, busy timeout and foreign keys on SQLite; bounded pool and
    /// timeouts on PostgreSQL).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The pool with every statement traced (`db.query` spans).
    fn conn(&self) -> Traced<'_, DatabaseConnection> {
        Traced::new(&self.db)
    }

    /// Maps a sea-orm error the way this store does (unique violations →
    /// `Conflict`, missing parents → `NotFound`, lock contention and
    /// connection failures → retryable `Backend`).
    pub fn map_error(&self, entity: &'static str, e: DbErr) -> StoreError {
        self.err(entity, entity, e)
    }

    /// Short backend name derived from the URL: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Closes the connection pool (waits for connections to be returned).
    pub async fn close(self) -> Result<(), StoreError> {
        let backend = self.backend;
        self.db
            .close()
            .await
            .map_err(|e| map_db_err(backend, "database", "database", e))
    }

    fn err(&self, entity: &'static str, parent: &'static str, e: DbErr) -> StoreError {
        map_db_err(self.backend, entity, parent, e)
    }

    fn mapper(&self, entity: &'static str) -> impl Fn(DbErr) -> StoreError + '_ {
        move |e| self.err(entity, entity, e)
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the
    /// write lock up front, so the transaction can never fail half-way when
    /// upgrading from read to write), the default elsewhere.
    async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db
            .begin_with_options(options)
            .await
            .map_err(self.mapper("transaction"))
    }

    /// Commits `txn` when `result` is `Ok`, rolls it back otherwise.
    async fn finish<T>(&self, txn: DatabaseTransaction, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok(value) => {
                txn.commit().await.map_err(self.mapper("transaction"))?;
                Ok(value)
            }
            Err(e) => {
                // Dropping would roll back too; doing it explicitly returns
                // the connection to the pool in a clean state right away.
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    async fn redeem_once(&self, r: &Redemption) -> Result<(Account, User), StoreError> {
        let txn = self.begin_write().await?;
        let result = self.redeem_in(&Traced::new(&txn), r).await;
        self.finish(txn, result).await
    }

    async fn update_repo_once(&self, id: RepoId, u: &RepoUpdate) -> Result<Repo, StoreError> {
        let txn = self.begin_write().await?;
        let result = self.update_repo_in(&Traced::new(&txn), id, u).await;
        self.finish(txn, result).await
    }

    async fn redeem_in(
        &self,
        txn: &Traced<'_, DatabaseTransaction>,
        r: &Redemption,
    ) -> Result<(Account, User), StoreError> {
        let map_invite = self.mapper("invite");
        let invite_row = invite::Entity::find_by_id(r.invite_id.0)
            .one(txn)
            .await
            .map_err(&map_invite)?
            .ok_or(StoreError::NotFound { entity: "invite" })?;

        let (account, role) = match invite_row.account_id {
            Some(bound) => (self.account_in(txn, bound).await?, Role::Member),
            None => {
                // Insert the account first so the invite's foreign key holds,
                // then bind the invite only if nobody bound it meanwhile.
                let new = &r.account_if_unbound;
                account::Entity::insert(convert::account_active(new))
                    .exec_without_returning(txn)
                    .await
                    .map_err(|e| self.err("account", "account", e))?;
                let bound = invite::Entity::update_many()
                    .col_expr(invite::Column::AccountId, Expr::value(Some(new.id.0)))
                    .filter(invite::Column::Id.eq(r.invite_id.0))
                    .filter(invite::Column::AccountId.is_null())
                    .exec(txn)
                    .await
                    .map_err(&map_invite)?;
                if bound.rows_affected == 1 {
                    let account = Account {
                        id: new.id,
                        name: new.name.clone(),
                        webhook_secret: new.webhook_secret.clone(),
                        created_at: new.created_at,
                    };
                    (account, Role::Owner)
                } else {
                    // A concurrent redemption bound the invite first: drop our
                    // account and join theirs.
                    account::Entity::delete_by_id(new.id.0)
                        .exec(txn)
                        .await
                        .map_err(self.mapper("account"))?;
                    let existing = invite::Entity::find_by_id(r.invite_id.0)
                        .one(txn)
                        .await
                        .map_err(&map_invite)?
                        .and_then(|i| i.account_id)
                        .ok_or(StoreError::NotFound { entity: "invite" })?;
                    (self.account_in(txn, existing).await?, Role::Member)
                }
            }
        };

        user::Entity::insert(user_active(&r.user, account.id, role))
            .exec_without_returning(txn)
            .await
            .map_err(|e| self.err("user", "account", e))?;
        let counted = invite::Entity::update_many()
            .col_expr(
                invite::Column::Redemptions,
                Expr::col(invite::Column::Redemptions).add(1),
            )
            .filter(invite::Column::Id.eq(r.invite_id.0))
            .exec(txn)
            .await
            .map_err(&map_invite)?;
        if counted.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: "invite" });
        }
        let user = User {
            id: r.user.id,
            account_id: account.id,
            email: r.user.email.clone(),
            password_hash: r.user.password_hash.clone(),
            identity: r.user.identity.clone(),
            role,
            created_at: r.user.created_at,
        };
        Ok((account, user))
    }

    async fn account_in<C: ConnectionTrait>(&self, conn: &C, id: uuid::Uuid) -> Result<Account, StoreError> {
        account::Entity::find_by_id(id)
            .one(conn)
            .await
            .map_err(self.mapper("account"))?
            .map(convert::account_from)
            .ok_or(StoreError::NotFound { entity: "account" })
    }

    async fn repo_in<C: ConnectionTrait>(&self, conn: &C, id: RepoId) -> Result<Repo, StoreError> {
        let row = repo::Entity::find_by_id(id.0)
            .one(conn)
            .await
            .map_err(self.mapper("repo"))?
            .ok_or(StoreError::NotFound { entity: "repo" })?;
        convert::repo_from(self.backend, row)
    }

    async fn update_repo_in(
        &self,
        txn: &Traced<'_, DatabaseTransaction>,
        id: RepoId,
        u: &RepoUpdate,
    ) -> Result<Repo, StoreError> {
        let mut changes: Vec<(repo::Column, sea_orm::Value)> = Vec::new();
        if let Some(status) = u.status {
            changes.push((repo::Column::Status, status.as_str().into()));
        }
        if let Some(commit) = &u.indexed_commit {
            changes.push((repo::Column::IndexedCommit, commit.clone().into()));
        }
        if let Some(error) = &u.error {
            changes.push((repo::Column::Error, error.clone().into()));
        }
        if let Some(progress) = u.progress {
            changes.push((repo::Column::FilesDone, to_i64(progress.files_done).into()));
            changes.push((repo::Column::FilesTotal, to_i64(progress.files_total).into()));
        }
        if let Some(at) = u.indexed_at {
            changes.push((repo::Column::IndexedAt, Some(at).into()));
        }
        if let Some(at) = u.updated_at {
            changes.push((repo::Column::UpdatedAt, at.into()));
        }
        if !changes.is_empty() {
            let query = changes
                .into_iter()
                .fold(repo::Entity::update_many(), |q, (col, value)| {
                    q.col_expr(col, Expr::value(value))
                })
                .filter(repo::Column::Id.eq(id.0));
            let res = query.exec(txn).await.map_err(self.mapper("repo"))?;
            if res.rows_affected == 0 {
                return Err(StoreError::NotFound { entity: "repo" });
            }
        }
        self.repo_in(txn, id).await
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has failed with a
/// retryable error (lock contention, serialization failure) [`WRITE_ATTEMPTS`] times.
async fn retrying<T, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_retryable() && tries < WRITE_ATTEMPTS => {
                tracing::debug!(tries, error = %e, "retrying metadata store write transaction");
                tries += 1;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl MetadataStore for SeaOrmStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(self.mapper("database"))
    }

    // ── accounts and users ────────────────────────────────────────────────

    async fn get_account(&self, id: AccountId) -> Result<Account, StoreError> {
        self.account_in(&self.conn(), id.0).await
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        account::Entity::find()
            .count(&self.conn())
            .await
            .map_err(self.mapper("account"))
    }

    async fn get_user(&self, id: UserId) -> Result<User, StoreError> {
        let row = user::Entity::find_by_id(id.0)
            .one(&self.conn())
            .await
            .map_err(self.mapper("user"))?
            .ok_or(StoreError::NotFound { entity: "user" })?;
        convert::user_from(self.backend, row)
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.conn())
            .await
            .map_err(self.mapper("user"))?;
        row.map(|r| convert::user_from(self.backend, r)).transpose()
    }

    async fn find_user_by_identity(&self, identity: &ExternalIdentity) -> Result<Option<User>, StoreError> {
        let row = user::Entity::find()
            .filter(user::Column::IdentityIssuer.eq(identity.issuer.as_str()))
            .filter(user::Column::IdentitySubject.eq(identity.subject.as_str()))
            .one(&self.conn())
            .await
            .map_err(self.mapper("user"))?;
        row.map(|r| convert::user_from(self.backend, r)).transpose()
    }

    async fn list_users(&self, account: AccountId) -> Result<Vec<User>, StoreError> {
        user::Entity::find()
            .filter(user::Column::AccountId.eq(account.0))
            .order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::Id)
            .all(&self.conn())
            .await
            .map_err(self.mapper("user"))?
            .into_iter()
            .map(|r| convert::user_from(self.backend, r))
            .collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        user::Entity::find()
            .count(&self.conn())
            .await
            .map_err(self.mapper("user"))
    }

    // ── invites ───────────────────────────────────────────────────────────

    async fn create_invite(&self, invite: &Invite) -> Result<(), StoreError> {
        invite::Entity::insert(convert::invite_active(invite))
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("invite", "account", e))?;
        Ok(())
    }

    async fn find_invite(&self, code_hash: &str) -> Result<Option<Invite>, StoreError> {
        let row = invite::Entity::find()
            .filter(invite::Column::CodeHash.eq(code_hash))
            .one(&self.conn())
            .await
            .map_err(self.mapper("invite"))?;
        Ok(row.map(convert::invite_from))
    }

    async fn list_invites(&self, account: AccountId) -> Result<Vec<Invite>, StoreError> {
        let rows = invite::Entity::find()
            .filter(invite::Column::AccountId.eq(account.0))
            .order_by_desc(invite::Column::CreatedAt)
            .order_by_desc(invite::Column::Id)
            .all(&self.conn())
            .await
            .map_err(self.mapper("invite"))?;
        Ok(rows.into_iter().map(convert::invite_from).collect())
    }

    async fn revoke_invite(&self, account: AccountId, id: InviteId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let exists = invite::Entity::find()
            .filter(invite::Column::Id.eq(id.0))
            .filter(invite::Column::AccountId.eq(account.0))
            .count(&self.db)
            .await
            .map_err(self.mapper("invite"))?;
        if exists == 0 {
            return Err(StoreError::NotFound { entity: "invite" });
        }
        // Only shorten: an invite that already expired keeps its expiry.
        invite::Entity::update_many()
            .col_expr(invite::Column::ExpiresAt, Expr::value(at))
            .filter(invite::Column::Id.eq(id.0))
            .filter(invite::Column::AccountId.eq(account.0))
            .filter(invite::Column::ExpiresAt.gt(at))
            .exec(&self.db)
            .await
            .map_err(self.mapper("invite"))?;
        Ok(())
    }

    async fn redeem_invite(&self, redemption: Redemption) -> Result<(Account, User), StoreError> {
        retrying(|| self.redeem_once(&redemption)).await
    }

    // ── API keys ──────────────────────────────────────────────────────────

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        api_key::Entity::insert(convert::api_key_active(key))
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("api_key", "user", e))?;
        Ok(())
    }

    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user.0))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.conn())
            .await
            .map_err(self.mapper("api_key"))?;
        Ok(rows.into_iter().map(convert::api_key_from).collect())
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .one(&self.conn())
            .await
            .map_err(self.mapper("api_key"))?;
        Ok(row.map(convert::api_key_from))
    }

    async fn revoke_api_key(&self, user: UserId, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        // Keep the first revocation time if the key is already revoked.
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(at)))
            .filter(api_key::Column::Id.eq(id.0))
            .filter(api_key::Column::UserId.eq(user.0))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.conn())
            .await
            .map_err(self.mapper("api_key"))?;
        if res.rows_affected > 0 {
            return Ok(());
        }
        let exists = api_key::Entity::find()
            .filter(api_key::Column::Id.eq(id.0))
            .filter(api_key::Column::UserId.eq(user.0))
            .count(&self.conn())
            .await
            .map_err(self.mapper("api_key"))?;
        if exists > 0 {
            Ok(())
        } else {
            Err(StoreError::NotFound { entity: "api_key" })
        }
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(at)))
            .filter(api_key::Column::Id.eq(id.0))
            .exec(&self.conn())
            .await
            .map_err(self.mapper("api_key"))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: "api_key" });
        }
        Ok(())
    }

    // ── repos ─────────────────────────────────────────────────────────────

    async fn create_repo(&self, repo: &Repo) -> Result<(), StoreError> {
        repo::Entity::insert(convert::repo_active(repo))
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("repo", "account", e))?;
        Ok(())
    }

    async fn get_repo(&self, account: AccountId, id: RepoId) -> Result<Repo, StoreError> {
        let row = repo::Entity::find_by_id(id.0)
            .filter(repo::Column::AccountId.eq(account.0))
            .one(&self.conn())
            .await
            .map_err(self.mapper("repo"))?
            .ok_or(StoreError::NotFound { entity: "repo" })?;
        convert::repo_from(self.backend, row)
    }

    async fn get_repo_unscoped(&self, id: RepoId) -> Result<Repo, StoreError> {
        self.repo_in(&self.conn(), id).await
    }

    async fn list_repos(&self, account: AccountId) -> Result<Vec<Repo>, StoreError> {
        repo::Entity::find()
            .filter(repo::Column::AccountId.eq(account.0))
            .order_by_asc(repo::Column::CreatedAt)
            .order_by_asc(repo::Column::Id)
            .all(&self.conn())
            .await
            .map_err(self.mapper("repo"))?
            .into_iter()
            .map(|r| convert::repo_from(self.backend, r))
            .collect()
    }

    async fn count_repos(&self, account: Option<AccountId>) -> Result<u64, StoreError> {
        let mut query = repo::Entity::find();
        if let Some(account) = account {
            query = query.filter(repo::Column::AccountId.eq(account.0));
        }
        query.count(&self.conn()).await.map_err(self.mapper("repo"))
    }

    async fn delete_repo(&self, account: AccountId, id: RepoId) -> Result<(), StoreError> {
        let res = repo::Entity::delete_many()
            .filter(repo::Column::Id.eq(id.0))
            .filter(repo::Column::AccountId.eq(account.0))
            .exec(&self.conn())
            .await
            .map_err(self.mapper("repo"))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound { entity: "repo" });
        }
        Ok(())
    }

    async fn update_repo(&self, id: RepoId, update: RepoUpdate) -> Result<Repo, StoreError> {
        retrying(|| self.update_repo_once(id, &update)).await
    }

    // ── usage metering (usage.rs) ─────────────────────────────────────────

    async fn add_usage(&self, account: AccountId, at: DateTime<Utc>, delta: UsageCounters) -> Result<(), StoreError> {
        // One attempt: an increment is not idempotent, and a retry after an
        // ambiguous failure (connection lost after the commit) could count
        // twice. Lock waits are absorbed by the busy timeout (SQLite); the
        // upsert cannot hit serialization failures (PostgreSQL).
        self.add_usage_row(account, at, delta).await
    }

    async fn usage_buckets(
        &self,
        account: Option<AccountId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        self.usage_rows(account, from, to).await
    }

    async fn add_tool_usage(
        &self,
        account: AccountId,
        at: DateTime<Utc>,
        tool: &str,
        delta: UsageCounters,
    ) -> Result<(), StoreError> {
        // One attempt, as add_usage.
        self.add_tool_usage_row(account, at, tool, delta).await
    }

    async fn tool_usage(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ToolUsage>, StoreError> {
        self.tool_usage_rows(account, from, to).await
    }

    // ── instance settings (settings.rs) ───────────────────────────────────

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.setting(key).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        retrying(|| self.upsert_setting(key, value)).await
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
        retrying(|| self.insert_setting_if_absent(key, value)).await
    }

    // ── code hosts (codehost.rs) ──────────────────────────────────────────

    async fn put_installation(&self, installation: &lettuce_domain::codehost::Installation) -> Result<(), StoreError> {
        retrying(|| self.installation_put(installation)).await
    }

    async fn get_installation(
        &self,
        account: AccountId,
        provider: &str,
    ) -> Result<Option<lettuce_domain::codehost::Installation>, StoreError> {
        self.installation_get(account, provider).await
    }

    async fn list_installations(
        &self,
        account: AccountId,
    ) -> Result<Vec<lettuce_domain::codehost::Installation>, StoreError> {
        self.installations_of(account).await
    }

    async fn delete_installation(&self, account: AccountId, provider: &str) -> Result<bool, StoreError> {
        retrying(|| self.installation_delete(account, provider)).await
    }

    async fn use_once(
        &self,
        scope: &str,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One attempt: a retry after an ambiguous failure could answer
        // "already used" for the caller's own first use.
        self.once(scope, key, expires_at, now).await
    }

    async fn put_repo_link(&self, link: &lettuce_domain::codehost::RepoLink) -> Result<(), StoreError> {
        retrying(|| self.link_put(link)).await
    }

    async fn get_repo_link(&self, repo: RepoId) -> Result<Option<lettuce_domain::codehost::RepoLink>, StoreError> {
        self.link_get(repo).await
    }

    async fn list_repo_links(
        &self,
        account: AccountId,
        provider: &str,
    ) -> Result<Vec<lettuce_domain::codehost::RepoLink>, StoreError> {
        self.links_of(account, provider).await
    }

    async fn list_all_repo_links(
        &self,
        after: Option<RepoId>,
        limit: usize,
    ) -> Result<Vec<lettuce_domain::codehost::RepoLink>, StoreError> {
        self.links_page(after, limit).await
    }

    async fn record_webhook_delivery(
        &self,
        delivery: &lettuce_domain::codehost::WebhookDelivery,
    ) -> Result<(), StoreError> {
        self.delivery_put(delivery).await
    }

    async fn list_webhook_deliveries(
        &self,
        repo: RepoId,
        limit: usize,
    ) -> Result<Vec<lettuce_domain::codehost::WebhookDelivery>, StoreError> {
        self.deliveries_of(repo, limit).await
    }

    async fn start_eval_run(&self, run: &lettuce_domain::eval::EvalRun) -> Result<(), StoreError> {
        self.eval_start(run).await
    }

    async fn put_eval_run(&self, run: &lettuce_domain::eval::EvalRun) -> Result<(), StoreError> {
        self.eval_put(run).await
    }

    async fn get_eval_run(&self, repo: RepoId) -> Result<Option<lettuce_domain::eval::EvalRun>, StoreError> {
        self.eval_get(repo).await
    }

    async fn count_sealed(&self) -> Result<u64, StoreError> {
        self.sealed_count().await
    }

    async fn list_sealed(
        &self,
        after: Option<&lettuce_ports::store::SealedRef>,
        limit: usize,
    ) -> Result<Vec<lettuce_ports::store::SealedValue>, StoreError> {
        self.sealed_page(after, limit).await
    }

    async fn reseal(&self, at: &lettuce_ports::store::SealedRef, old: &str, new: &str) -> Result<bool, StoreError> {
        retrying(|| self.reseal_one(at, old, new)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(backend_of_url("sqlite:///tmp/x.db?mode=rwc"), Some("sqlite"));
        assert_eq!(backend_of_url("sqlite::memory:"), Some("sqlite"));
        assert_eq!(backend_of_url("postgres://u:p@h/db"), Some("postgres"));
        assert_eq!(backend_of_url("postgresql://h/db"), Some("postgres"));
        assert_eq!(backend_of_url("mysql://h/db"), None);
        assert_eq!(
            sqlite_url(Path::new("/tmp/a b/x.db")),
            "sqlite:///tmp/a b/x.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url(Path::new("/tmp/a?#%/x.db")),
            "sqlite:///tmp/a%3F%23%25/x.db?mode=rwc"
        );
        assert_eq!(sqlite_url(Path::new("rel/x.db")), "sqlite://rel/x.db?mode=rwc");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://lettuce:hunter2@db.internal:5432/meta?sslmode=require&password=x"),
            "postgres://db.internal:5432/meta"
        );
        assert_eq!(redact_url("postgres://user:p%40ss@h"), "postgres://h");
        assert_eq!(
            redact_url("sqlite:///var/lib/a@b/x.db?mode=rwc"),
            "sqlite:///var/lib/a@b/x.db"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_pragmas_are_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SeaOrmStore::connect(&sqlite_url(&dir.path().join("p.db")))
            .await
            .expect("connect");
        let pragma = |name: &'static str| {
            let db = store.db.clone();
            async move {
                let stmt = sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, format!("PRAGMA {name}"));
                let row = db.query_one_raw(stmt).await.expect("pragma").expect("row");
                let value: sea_orm::Value = row.try_get_by_index::<Option<String>>(0).ok().flatten().map_or_else(
                    || sea_orm::Value::BigInt(row.try_get_by_index::<i64>(0).ok()),
                    |s| sea_orm::Value::String(Some(s)),
                );
                value
            }
        };
        assert_eq!(pragma("journal_mode").await, sea_orm::Value::String(Some("wal".into())));
        assert_eq!(pragma("foreign_keys").await, sea_orm::Value::BigInt(Some(1)));
        let busy = pragma("busy_timeout").await;
        assert!(
            matches!(busy, sea_orm::Value::BigInt(Some(ms)) if ms >= 5000),
            "{busy:?}"
        );
    }
}
