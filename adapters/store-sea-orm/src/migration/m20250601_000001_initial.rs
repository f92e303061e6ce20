//! The initial schema: accounts, users, invites, API keys, repos.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, pk_uuid, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

/// Creates the five metadata tables, their unique indexes and foreign keys.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250601_000001_initial"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
    Name,
    WebhookSecret,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    AccountId,
    Email,
    PasswordHash,
    IdentityIssuer,
    IdentitySubject,
    Role,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Invites {
    Table,
    Id,
    CodeHash,
    AccountId,
    AccountName,
    Email,
    CreatedBy,
    ExpiresAt,
    Redemptions,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    AccountId,
    UserId,
    Name,
    Prefix,
    KeyHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Repos {
    Table,
    Id,
    AccountId,
    Url,
    Name,
    Branch,
    BranchKey,
    Status,
    IndexedCommit,
    Error,
    FilesDone,
    FilesTotal,
    SealedCredentials,
    CreatedAt,
    UpdatedAt,
    IndexedAt,
}

/// `ON DELETE CASCADE` foreign key from `table.col` to `accounts.id`.
fn fk_account<T: IntoIden + 'static, C: IntoIden + 'static>(name: &str, table: T, col: C) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Accounts::Table, Accounts::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .if_not_exists()
                    .col(pk_uuid(Accounts::Id))
                    .col(text(Accounts::Name))
                    .col(text(Accounts::WebhookSecret))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::AccountId))
                    .col(text(Users::Email))
                    .col(text_null(Users::PasswordHash))
                    .col(text_null(Users::IdentityIssuer))
                    .col(text_null(Users::IdentitySubject))
                    .col(text(Users::Role))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(&mut fk_account("fk_users_account", Users::Table, Users::AccountId))
                    .to_owned(),
            )
            .await?;
        create_index(manager, "ux_users_email", Users::Table, &[Users::Email], true).await?;
        create_index(
            manager,
            "ux_users_identity",
            Users::Table,
            &[Users::IdentityIssuer, Users::IdentitySubject],
            true,
        )
        .await?;
        create_index(
            manager,
            "ix_users_account",
            Users::Table,
            &[Users::AccountId, Users::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invites::Table)
                    .if_not_exists()
                    .col(pk_uuid(Invites::Id))
                    .col(text(Invites::CodeHash))
                    .col(uuid_null(Invites::AccountId))
                    .col(text_null(Invites::AccountName))
                    .col(text_null(Invites::Email))
                    .col(uuid_null(Invites::CreatedBy))
                    .col(timestamp_with_time_zone(Invites::ExpiresAt))
                    .col(big_integer(Invites::Redemptions).default(0))
                    .col(timestamp_with_time_zone(Invites::CreatedAt))
                    .foreign_key(&mut fk_account(
                        "fk_invites_account",
                        Invites::Table,
                        Invites::AccountId,
                    ))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "ux_invites_code_hash",
            Invites::Table,
            &[Invites::CodeHash],
            true,
        )
        .await?;
        create_index(
            manager,
            "ix_invites_account",
            Invites::Table,
            &[Invites::AccountId, Invites::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid(ApiKeys::AccountId))
                    .col(uuid(ApiKeys::UserId))
                    .col(text(ApiKeys::Name))
                    .col(text(ApiKeys::Prefix))
                    .col(text(ApiKeys::KeyHash))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut fk_account(
                        "fk_api_keys_account",
                        ApiKeys::Table,
                        ApiKeys::AccountId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_user")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "ux_api_keys_key_hash",
            ApiKeys::Table,
            &[ApiKeys::KeyHash],
            true,
        )
        .await?;
        create_index(
            manager,
            "ix_api_keys_user",
            ApiKeys::Table,
            &[ApiKeys::UserId, ApiKeys::CreatedAt],
            false,
        )
        .await?;
        create_index(
            manager,
            "ix_api_keys_account",
            ApiKeys::Table,
            &[ApiKeys::AccountId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Repos::Table)
                    .if_not_exists()
                    .col(pk_uuid(Repos::Id))
                    .col(uuid(Repos::AccountId))
                    .col(text(Repos::Url))
                    .col(text(Repos::Name))
                    .col(text_null(Repos::Branch))
                    .col(text(Repos::BranchKey))
                    .col(text(Repos::Status))
                    .col(text_null(Repos::IndexedCommit))
                    .col(text_null(Repos::Error))
                    .col(big_integer(Repos::FilesDone).default(0))
                    .col(big_integer(Repos::FilesTotal).default(0))
                    .col(text_null(Repos::SealedCredentials))
                    .col(timestamp_with_time_zone(Repos::CreatedAt))
                    .col(timestamp_with_time_zone(Repos::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Repos::IndexedAt))
                    .foreign_key(&mut fk_account("fk_repos_account", Repos::Table, Repos::AccountId))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "ux_repos_account_url_branch",
            Repos::Table,
            &[Repos::AccountId, Repos::Url, Repos::BranchKey],
            true,
        )
        .await?;
        create_index(
            manager,
            "ix_repos_account_created",
            Repos::Table,
            &[Repos::AccountId, Repos::CreatedAt],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Repos::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Invites::Table.into_iden(),
            Users::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // Atomic on every backend (SQLite and PostgreSQL both have
        // transactional DDL).
        Some(true)
    }
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table (cols…)`.
async fn create_index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    C: IntoIden + Copy + 'static,
{
    let mut index = Index::create();
    index.name(name).table(table).if_not_exists();
    for col in cols {
        index.col(*col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}
