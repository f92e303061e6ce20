//! Shared test support: a throw-away database per test.

#![allow(dead_code)]

use lettuce_queue_postgres::PostgresQueue;
use sqlx::Connection;
use uuid::Uuid;

/// The server URL from `LETTUCE_TEST_POSTGRES_URL`, or `None` (after
/// printing why) when it is unset. Panics instead when
/// `LETTUCE_REQUIRE_PEERS=1`.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var("LETTUCE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "{test}: LETTUCE_TEST_POSTGRES_URL is not set but LETTUCE_REQUIRE_PEERS=1"
            );
            eprintln!(
                "SKIPPED: {test}: set LETTUCE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority = base[scheme_end..].split('/').next().unwrap_or("");
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}{authority}/{db}{query}", &base[..scheme_end])
}

/// A database created for one test and dropped (`WITH (FORCE)`) when this
/// value is dropped, also during a panic.
pub struct TestDb {
    /// URL of the test database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    /// Creates `lettuce_q_<uuid>`, or `None` when the tests are skipped.
    pub async fn create(test: &str) -> Option<Self> {
        let admin_url = server_url(test)?;
        let name = format!("lettuce_q_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot connect to LETTUCE_TEST_POSTGRES_URL: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// A migrated queue handle on this database (its own pool and listener).
    pub async fn queue(&self) -> PostgresQueue {
        let q = PostgresQueue::connect(&self.url).await.expect("connect");
        q.migrate().await.expect("migrate");
        q
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
