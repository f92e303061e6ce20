//! Throw-away PostgreSQL databases for tests (feature `testing`), shared by
//! this crate's tests and by applications that keep tables on this store's
//! connection handling (the telemetry receiver).
//!
//! Tests read the admin URL from `LETTUCE_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`, exported by
//! `scripts/test-peers`); without it they skip with a printed reason, and
//! under `LETTUCE_REQUIRE_PEERS=1` they fail instead.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

/// The admin URL, or `None` (after printing why) when the test must skip.
///
/// # Panics
///
/// When the URL is unset and `LETTUCE_REQUIRE_PEERS=1`.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("LETTUCE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "LETTUCE_REQUIRE_PEERS=1 but LETTUCE_TEST_POSTGRES_URL is not set \
                 (source scripts/test-peers, or export an admin URL such as \
                 postgres://postgres@127.0.0.1:5432/postgres)"
            );
            println!("SKIPPED: LETTUCE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// `url` with its database (path) replaced by `database`; user info, host
/// and query string are kept.
///
/// # Panics
///
/// When `url` has no scheme.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (scheme, rest) = base.split_once("://").expect("admin URL has a scheme");
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

/// A one-connection pool on `url` (for creating databases and inspecting).
///
/// # Panics
///
/// When the server cannot be reached.
pub async fn admin_connection(url: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1).sqlx_logging(false);
    Database::connect(opts).await.expect("connect to the admin database")
}

/// A database of its own for one test (`lettuce_test_<uuid>`), dropped
/// `WITH (FORCE)` when this guard is dropped — also during a panic.
#[derive(Debug)]
pub struct PostgresTestDb {
    admin_url: String,
    /// The database's name.
    pub name: String,
    /// URL of the test database.
    pub url: String,
}

impl PostgresTestDb {
    /// Creates the database on the server behind `admin_url`.
    ///
    /// # Panics
    ///
    /// When the database cannot be created.
    pub async fn create(admin_url: &str) -> Self {
        let name = format!("lettuce_test_{}", Uuid::new_v4().simple());
        let admin = admin_connection(admin_url).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("CREATE DATABASE");
        admin.close().await.expect("close admin connection");
        Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for PostgresTestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: do the blocking work on a
        // thread with a runtime of its own. Best effort: a failure only
        // leaves a stray `lettuce_test_*` database behind.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let mut opts = ConnectOptions::new(admin_url);
                opts.max_connections(1).sqlx_logging(false);
                let admin = Database::connect(opts).await?;
                admin.execute_unprepared(&sql).await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}
