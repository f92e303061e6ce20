//! Schema migrations (sea-orm-migration), written with the portable schema
//! builder so the same migrations run on SQLite and PostgreSQL.
//!
//! Migrations are recorded in `seaql_migrations`; applying them again is a
//! no-op. Each `CREATE` also carries `IF NOT EXISTS`, so a migration that was
//! interrupted half-way on a backend without transactional DDL can be re-run.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20250601_000001_initial;
mod m20250701_000002_usage_hourly;
mod m20250801_000003_instance_settings;
mod m20251201_000004_code_hosts;
mod m20251202_000005_usage_tool_hourly;
mod m20251204_000006_code_host_credentials;
mod m20251205_000007_eval_runs;

/// The ordered list of Lettuce metadata migrations.
///
/// Most callers use [`crate::SeaOrmStore::migrate`]; the migrator is public
/// for tooling that drives sea-orm-migration directly.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250601_000001_initial::Migration),
            Box::new(m20250701_000002_usage_hourly::Migration),
            Box::new(m20250801_000003_instance_settings::Migration),
            Box::new(m20251201_000004_code_hosts::Migration),
            Box::new(m20251202_000005_usage_tool_hourly::Migration),
            Box::new(m20251204_000006_code_host_credentials::Migration),
            Box::new(m20251205_000007_eval_runs::Migration),
        ]
    }
}
