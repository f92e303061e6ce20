//! Code hosts: `provider_installations` (one per account and provider),
//! `used_once` (single-use install nonces and webhook delivery ids),
//! `repo_links` (the provider's repo id and webhook state of a repo added
//! through a code host) and `webhook_deliveries` (accepted deliveries per repo).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, pk_uuid, text, text_null, timestamp_with_time_zone, uuid};

/// Creates the four code-host tables, their indexes and foreign keys
/// (deleting an account or a repo deletes its rows).
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251201_000004_code_hosts"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Repos {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderInstallations {
    Table,
    AccountId,
    Provider,
    ExternalId,
    ConnectedBy,
    ConnectedAt,
    Scopes,
    NeedsReauth,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsedOnce {
    Table,
    Scope,
    Key,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RepoLinks {
    Table,
    RepoId,
    AccountId,
    Provider,
    ProviderRepoId,
    FullName,
    Branch,
    HookId,
    HookError,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    Id,
    RepoId,
    At,
    Event,
    DeliveryId,
    Outcome,
    Detail,
}

fn cascade(name: &str) -> ForeignKeyCreateStatement {
    let mut fk = ForeignKey::create();
    fk.name(name)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade);
    fk
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderInstallations::Table)
                    .if_not_exists()
                    .col(uuid(ProviderInstallations::AccountId))
                    .col(text(ProviderInstallations::Provider))
                    .col(text(ProviderInstallations::ExternalId))
                    .col(uuid(ProviderInstallations::ConnectedBy))
                    .col(timestamp_with_time_zone(ProviderInstallations::ConnectedAt))
                    .col(text(ProviderInstallations::Scopes))
                    .col(boolean(ProviderInstallations::NeedsReauth).default(false))
                    .primary_key(
                        Index::create()
                            .col(ProviderInstallations::AccountId)
                            .col(ProviderInstallations::Provider),
                    )
                    .foreign_key(
                        cascade("fk_provider_installations_account")
                            .from(ProviderInstallations::Table, ProviderInstallations::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsedOnce::Table)
                    .if_not_exists()
                    .col(text(UsedOnce::Scope))
                    .col(text(UsedOnce::Key))
                    .col(timestamp_with_time_zone(UsedOnce::ExpiresAt))
                    .primary_key(Index::create().col(UsedOnce::Scope).col(UsedOnce::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_used_once_expires")
                    .table(UsedOnce::Table)
                    .col(UsedOnce::ExpiresAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RepoLinks::Table)
                    .if_not_exists()
                    .col(uuid(RepoLinks::RepoId).primary_key())
                    .col(uuid(RepoLinks::AccountId))
                    .col(text(RepoLinks::Provider))
                    .col(text(RepoLinks::ProviderRepoId))
                    .col(text(RepoLinks::FullName))
                    .col(text(RepoLinks::Branch))
                    .col(text_null(RepoLinks::HookId))
                    .col(text_null(RepoLinks::HookError))
                    .col(timestamp_with_time_zone(RepoLinks::UpdatedAt))
                    .foreign_key(
                        cascade("fk_repo_links_repo")
                            .from(RepoLinks::Table, RepoLinks::RepoId)
                            .to(Repos::Table, Repos::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_repo_links_account_provider")
                    .table(RepoLinks::Table)
                    .col(RepoLinks::AccountId)
                    .col(RepoLinks::Provider)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::RepoId))
                    .col(timestamp_with_time_zone(WebhookDeliveries::At))
                    .col(text(WebhookDeliveries::Event))
                    .col(text_null(WebhookDeliveries::DeliveryId))
                    .col(text(WebhookDeliveries::Outcome))
                    .col(text(WebhookDeliveries::Detail))
                    .foreign_key(
                        cascade("fk_webhook_deliveries_repo")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::RepoId)
                            .to(Repos::Table, Repos::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_deliveries_repo_at")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::RepoId)
                    .col(WebhookDeliveries::At)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookDeliveries::Table.into_iden(),
            RepoLinks::Table.into_iden(),
            UsedOnce::Table.into_iden(),
            ProviderInstallations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
