//! SQL spans: every statement the store runs goes through [`Traced`], which
//! wraps it in a `db.query` span named after the statement kind and table
//! (`SELECT repos`) — never the values — and times it for
//! `lettuce_db_query_duration_seconds`.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};
use std::time::Instant;
use tracing::Instrument;

/// A connection or transaction whose statements are traced.
pub(crate) struct Traced<'a, C> {
    conn: &'a C,
}

impl<'a, C: ConnectionTrait> Traced<'a, C> {
    pub(crate) fn new(conn: &'a C) -> Self {
        Self { conn }
    }

    async fn run<T>(&self, sql: &str, fut: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let (operation, table) = describe(sql);
        let system = match self.conn.get_database_backend() {
            DbBackend::Postgres => "postgresql",
            DbBackend::Sqlite => "sqlite",
            _ => "other_sql",
        };
        let span = tracing::info_span!(
            "db.query",
            otel.name = %if table.is_empty() { operation.to_owned() } else { format!("{operation} {table}") },
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = operation,
            db.collection.name = table,
            error = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = fut.instrument(span.clone()).await;
        if result.is_err() {
            span.record("error", true);
        }
        metrics::histogram!(
            "lettuce_db_query_duration_seconds",
            "operation" => operation,
            "table" => table.to_owned(),
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait::async_trait]
impl<C: ConnectionTrait> ConnectionTrait for Traced<'_, C> {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let sql = stmt.sql.clone();
        self.run(&sql, self.conn.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.run(sql, self.conn.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let sql = stmt.sql.clone();
        self.run(&sql, self.conn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let sql = stmt.sql.clone();
        self.run(&sql, self.conn.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }
}

/// The statement kind (`SELECT`, `INSERT`, …) and the first table it names,
/// read from the SQL text (values are bound parameters, never in the text).
pub(crate) fn describe(sql: &str) -> (&'static str, &str) {
    let trimmed = sql.trim_start();
    let first = trimmed.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    let (operation, after) = match first.as_str() {
        "SELECT" => ("SELECT", " FROM "),
        "INSERT" => ("INSERT", " INTO "),
        "UPDATE" => ("UPDATE", "UPDATE "),
        "DELETE" => ("DELETE", " FROM "),
        "WITH" => ("WITH", " FROM "),
        "CREATE" => ("CREATE", ""),
        "ALTER" => ("ALTER", ""),
        "DROP" => ("DROP", ""),
        "BEGIN" | "COMMIT" | "ROLLBACK" => ("TRANSACTION", ""),
        _ => ("OTHER", ""),
    };
    if after.is_empty() {
        return (operation, "");
    }
    let upper = trimmed.to_ascii_uppercase();
    let Some(at) = upper.find(after) else {
        return (operation, "");
    };
    let rest = trimmed[at + after.len()..].trim_start();
    let name = rest
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .next()
        .unwrap_or("");
    // `"schema"."table"` → table
    let name = name.rsplit('.').next().unwrap_or(name);
    (operation, name.trim_matches(|c| c == '"' || c == '`'))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn statement_kind_and_table_without_values() {
        assert_eq!(
            describe(r#"SELECT "repos"."id", "repos"."url" FROM "repos" WHERE "repos"."id" = $1 LIMIT $2"#),
            ("SELECT", "repos")
        );
        assert_eq!(
            describe(r#"INSERT INTO "users" ("id", "email") VALUES (?, ?)"#),
            ("INSERT", "users")
        );
        assert_eq!(
            describe(r#"UPDATE "repos" SET "status" = $1 WHERE "repos"."id" = $2"#),
            ("UPDATE", "repos")
        );
        assert_eq!(
            describe(r#"DELETE FROM "api_keys" WHERE "api_keys"."id" = $1"#),
            ("DELETE", "api_keys")
        );
        assert_eq!(
            describe(r#"SELECT COUNT(*) FROM "public"."users""#),
            ("SELECT", "users")
        );
        assert_eq!(describe("SELECT 1"), ("SELECT", ""));
        assert_eq!(describe("vacuum"), ("OTHER", ""));
    }
}
