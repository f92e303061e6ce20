//! Code-host credentials and webhook self-repair: `provider_installations.
//! sealed_credentials` (OAuth / access tokens sealed with the data key) and
//! the freshness columns of `repo_links` (`mode`, `checked_at`, `check_note`,
//! `remote_head`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, string_null, text_null, timestamp_with_time_zone_null};

/// Adds one nullable (or defaulted) column per statement (SQLite allows one
/// change per `ALTER TABLE`), skipping columns that exist so an interrupted
/// run can be repeated.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251204_000006_code_host_credentials"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderInstallations {
    Table,
    SealedCredentials,
}

#[derive(DeriveIden, Clone, Copy)]
enum RepoLinks {
    Table,
    Mode,
    CheckedAt,
    CheckNote,
    RemoteHead,
}

async fn add(
    manager: &SchemaManager<'_>,
    table: &str,
    name: &str,
    col: ColumnDef,
    t: impl Iden + 'static,
) -> Result<(), DbErr> {
    if manager.has_column(table, name).await? {
        return Ok(());
    }
    manager
        .alter_table(Table::alter().table(t).add_column(col).to_owned())
        .await
}

async fn drop(
    manager: &SchemaManager<'_>,
    table: &str,
    name: &str,
    t: impl Iden + 'static,
    c: impl Iden + 'static,
) -> Result<(), DbErr> {
    if !manager.has_column(table, name).await? {
        return Ok(());
    }
    manager
        .alter_table(Table::alter().table(t).drop_column(c).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let pi = "provider_installations";
        let rl = "repo_links";
        add(
            manager,
            pi,
            "sealed_credentials",
            text_null(ProviderInstallations::SealedCredentials),
            ProviderInstallations::Table,
        )
        .await?;
        add(
            manager,
            rl,
            "mode",
            string_len(RepoLinks::Mode, 16).default("webhook").to_owned(),
            RepoLinks::Table,
        )
        .await?;
        add(
            manager,
            rl,
            "checked_at",
            timestamp_with_time_zone_null(RepoLinks::CheckedAt),
            RepoLinks::Table,
        )
        .await?;
        add(
            manager,
            rl,
            "check_note",
            text_null(RepoLinks::CheckNote),
            RepoLinks::Table,
        )
        .await?;
        add(
            manager,
            rl,
            "remote_head",
            string_null(RepoLinks::RemoteHead),
            RepoLinks::Table,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let rl = "repo_links";
        drop(manager, rl, "remote_head", RepoLinks::Table, RepoLinks::RemoteHead).await?;
        drop(manager, rl, "check_note", RepoLinks::Table, RepoLinks::CheckNote).await?;
        drop(manager, rl, "checked_at", RepoLinks::Table, RepoLinks::CheckedAt).await?;
        drop(manager, rl, "mode", RepoLinks::Table, RepoLinks::Mode).await?;
        drop(
            manager,
            "provider_installations",
            "sealed_credentials",
            ProviderInstallations::Table,
            ProviderInstallations::SealedCredentials,
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
