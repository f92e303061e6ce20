//! Usage metering: `usage_hourly`, one row per (account, UTC hour).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, timestamp_with_time_zone, uuid};

/// Creates `usage_hourly (account_id → accounts.id ON DELETE CASCADE, hour,
/// queries, tokens_returned, tokens_full, tokens_saved, PRIMARY KEY
/// (account_id, hour))` and an index on `hour` for instance-wide ranges.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250701_000002_usage_hourly"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageHourly {
    Table,
    AccountId,
    Hour,
    Queries,
    TokensReturned,
    TokensFull,
    TokensSaved,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageHourly::Table)
                    .if_not_exists()
                    .col(uuid(UsageHourly::AccountId))
                    .col(timestamp_with_time_zone(UsageHourly::Hour))
                    .col(big_integer(UsageHourly::Queries).default(0))
                    .col(big_integer(UsageHourly::TokensReturned).default(0))
                    .col(big_integer(UsageHourly::TokensFull).default(0))
                    .col(big_integer(UsageHourly::TokensSaved).default(0))
                    .primary_key(
                        Index::create()
                            .name("pk_usage_hourly")
                            .col(UsageHourly::AccountId)
                            .col(UsageHourly::Hour),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_hourly_account")
                            .from(UsageHourly::Table, UsageHourly::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_usage_hourly_hour")
                    .table(UsageHourly::Table)
                    .col(UsageHourly::Hour)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageHourly::Table).if_exists().to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
