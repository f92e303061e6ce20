//! Mapping of sea-orm / sqlx errors onto [`StoreError`].

use lettuce_ports::BoxError;
use lettuce_ports::store::StoreError;
use sea_orm::{DbErr, SqlErr};

/// Unique rules by name: (PostgreSQL constraint/index name, SQLite message
/// fragment, entity, detail). SQLite reports `UNIQUE constraint failed:
/// table.col, …`; PostgreSQL reports the index name.
const UNIQUE_RULES: &[(&str, &str, &str, &str)] = &[
    ("ux_users_email", "users.email", "user", "email"),
    ("ux_users_identity", "users.identity_issuer", "user", "identity"),
    ("ux_invites_code_hash", "invites.code_hash", "invite", "code_hash"),
    ("ux_api_keys_key_hash", "api_keys.key_hash", "api_key", "key_hash"),
    ("ux_repos_account_url_branch", "repos.account_id", "repo", "url"),
    ("accounts_pkey", "accounts.id", "account", "id"),
    ("users_pkey", "users.id", "user", "id"),
    ("invites_pkey", "invites.id", "invite", "id"),
    ("api_keys_pkey", "api_keys.id", "api_key", "id"),
    ("repos_pkey", "repos.id", "repo", "id"),
];

/// Which entity and rule a unique-violation message names.
pub(crate) fn classify_unique(message: &str, default_entity: &'static str) -> (&'static str, &'static str) {
    UNIQUE_RULES
        .iter()
        .find(|(pg, sqlite, _, _)| message.contains(pg) || message.contains(sqlite))
        .map(|&(_, _, entity, detail)| (entity, detail))
        .unwrap_or((default_entity, "unique"))
}

/// Converts a sea-orm error into the port's error.
///
/// * unique violations → `Conflict` (entity and rule taken from the
///   constraint when recognised, else `default_entity`/`unique`);
/// * foreign-key violations → `NotFound { entity: parent }` (the row being
///   written refers to a parent that does not exist);
/// * `RecordNotFound` → `NotFound { entity: default_entity }`;
/// * everything else → `Backend`, retryable for connection, pool and
///   lock-contention errors.
pub(crate) fn map_db_err(
    backend: &'static str,
    default_entity: &'static str,
    parent: &'static str,
    err: DbErr,
) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            let (entity, detail) = classify_unique(&message, default_entity);
            return StoreError::Conflict {
                entity,
                detail: detail.to_owned(),
            };
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => return StoreError::NotFound { entity: parent },
        _ => {}
    }
    if let DbErr::RecordNotFound(_) = err {
        return StoreError::NotFound { entity: default_entity };
    }
    let retryable = is_retryable(&err);
    StoreError::Backend {
        backend,
        source: Box::new(err) as BoxError,
        retryable,
    }
}

/// Wraps a non-database failure (corrupt row, bad URL) as a `Backend` error.
pub(crate) fn backend_msg(backend: &'static str, msg: impl Into<String>) -> StoreError {
    StoreError::Backend {
        backend,
        source: lettuce_ports::box_msg(msg),
        retryable: false,
    }
}

/// SQLite extended result codes meaning "someone else holds the lock":
/// BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED,
/// LOCKED_SHAREDCACHE, LOCKED_VTAB.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const SQLITE_RETRYABLE: &[&str] = &["5", "261", "517", "773", "6", "262", "518"];

/// PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock,
/// too many connections, admin shutdown, cannot connect now.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const POSTGRES_RETRYABLE: &[&str] = &["40001", "40P01", "53300", "57P01", "57P02", "57P03"];

fn is_retryable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        // sqlx errors exist only when a sqlx driver is compiled in.
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_retryable(e),
        // sea-orm's own connection messages: a URL it cannot use is final.
        DbErr::Conn(RuntimeErr::Internal(msg)) => !is_unusable_url(msg),
        _ => false,
    }
}

/// Whether a sea-orm connection message says the URL cannot be used at all.
pub(crate) fn is_unusable_url(msg: &str) -> bool {
    msg.contains("no supporting driver") || msg.contains("cannot be parsed")
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn sqlx_retryable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::Protocol(_) => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let code: &str = &code;
            SQLITE_RETRYABLE.contains(&code) || POSTGRES_RETRYABLE.contains(&code) || code.starts_with("08")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlite_and_postgres_messages() {
        assert_eq!(
            classify_unique("UNIQUE constraint failed: users.email", "x"),
            ("user", "email")
        );
        assert_eq!(
            classify_unique(
                "UNIQUE constraint failed: users.identity_issuer, users.identity_subject",
                "x"
            ),
            ("user", "identity")
        );
        assert_eq!(
            classify_unique("duplicate key value violates unique constraint \"ux_users_email\"", "x"),
            ("user", "email")
        );
        assert_eq!(
            classify_unique(
                "UNIQUE constraint failed: repos.account_id, repos.url, repos.branch_key",
                "x"
            ),
            ("repo", "url")
        );
        assert_eq!(
            classify_unique("UNIQUE constraint failed: api_keys.key_hash", "x"),
            ("api_key", "key_hash")
        );
        assert_eq!(
            classify_unique("UNIQUE constraint failed: accounts.id", "x"),
            ("account", "id")
        );
        assert_eq!(
            classify_unique("duplicate key value violates unique constraint \"repos_pkey\"", "x"),
            ("repo", "id")
        );
        assert_eq!(classify_unique("something else", "invite"), ("invite", "unique"));
    }

    #[test]
    fn record_not_found_and_pool_errors() {
        let e = map_db_err("sqlite", "repo", "account", DbErr::RecordNotFound("x".into()));
        assert!(matches!(e, StoreError::NotFound { entity: "repo" }));
        let e = map_db_err(
            "sqlite",
            "repo",
            "account",
            DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        );
        assert!(e.is_retryable());
        let e = map_db_err("sqlite", "repo", "account", DbErr::Custom("boom".into()));
        assert!(!e.is_retryable());
    }
}
