//! Creating and dropping the bench's databases.

use anyhow::Context as _;
use sqlx08::Connection as _;
use sqlx08::postgres::PgConnection;
use std::sync::atomic::{AtomicU32, Ordering};

/// Access to the cluster through its maintenance database.
#[derive(Debug)]
pub struct Admin {
    base: url::Url,
    counter: AtomicU32,
}

/// A database created for one step; dropped with [`Admin::drop_db`].
#[derive(Debug)]
pub struct BenchDb {
    /// Its name.
    pub name: String,
    /// Its URL (may contain the password of the base URL: never print it).
    pub url: String,
}

impl Admin {
    /// Checks that the maintenance database at `url` is reachable.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let base = url::Url::parse(url).context("--database-url is not a URL")?;
        let admin = Self {
            base,
            counter: AtomicU32::new(0),
        };
        admin.conn().await?.close().await?;
        Ok(admin)
    }

    async fn conn(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(self.base.as_str())
            .await
            .with_context(|| format!("cannot connect to {}", redact(&self.base)))
    }

    /// Server version and durability settings, for the report.
    pub async fn describe(&self) -> anyhow::Result<String> {
        let mut c = self.conn().await?;
        let version: String = sqlx08::query_scalar("SHOW server_version").fetch_one(&mut c).await?;
        let sync: String = sqlx08::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut c)
            .await?;
        let fsync: String = sqlx08::query_scalar("SHOW fsync").fetch_one(&mut c).await?;
        c.close().await?;
        let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        Ok(format!(
            "PostgreSQL {version} on {} (synchronous_commit={sync}, fsync={fsync}), {cpus} CPUs",
            redact_host(&self.base)
        ))
    }

    /// Creates a fresh, empty database named after `tag`.
    pub async fn create_db(&self, tag: &str) -> anyhow::Result<BenchDb> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("lettuce_bench_{}_{n}_{tag}", std::process::id());
        let mut c = self.conn().await?;
        sqlx08::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut c)
            .await?;
        sqlx08::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut c)
            .await
            .with_context(|| format!("CREATE DATABASE {name} (the URL's role needs CREATEDB)"))?;
        c.close().await?;
        let mut url = self.base.clone();
        url.set_path(&format!("/{name}"));
        Ok(BenchDb {
            name,
            url: url.to_string(),
        })
    }

    /// Drops a database created by [`Admin::create_db`], closing its connections.
    pub async fn drop_db(&self, db: &BenchDb) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        sqlx08::raw_sql(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name))
            .execute(&mut c)
            .await?;
        c.close().await?;
        Ok(())
    }
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    u.to_string()
}

fn redact_host(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port().map_or_else(|| "5432".to_owned(), |p| p.to_string())
    )
}

/// The command line of this run, as `cargo run` would be typed, with any
/// password in a URL argument redacted.
pub fn shown_command(database_url: &str) -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if a == database_url
                && let Ok(u) = url::Url::parse(&a)
            {
                return redact(&u);
            }
            if let Some(v) = a.strip_prefix("--database-url=")
                && let Ok(u) = url::Url::parse(v)
            {
                return format!("--database-url={}", redact(&u));
            }
            a
        })
        .collect();
    let mut cmd = "cargo run --release -p lettuce-queue-bench --".to_owned();
    for a in args {
        cmd.push(' ');
        cmd.push_str(&a);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let u = url::Url::parse("postgres://u:hunter2@h:5433/db").expect("url");
        let r = redact(&u);
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("***"));
    }
}
