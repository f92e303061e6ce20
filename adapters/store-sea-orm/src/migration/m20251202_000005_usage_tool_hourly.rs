//! Per-tool usage: `usage_tool_hourly`, one row per (account, UTC hour, tool).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len, timestamp_with_time_zone, uuid};

/// Creates `usage_tool_hourly (account_id → accounts.id ON DELETE CASCADE,
/// hour, tool, queries, tokens_returned, tokens_full, tokens_saved, PRIMARY
/// KEY (account_id, hour, tool))`. Reads are per account and hour range, so
/// the primary key is the only index.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251202_000005_usage_tool_hourly"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageToolHourly {
    Table,
    AccountId,
    Hour,
    Tool,
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
                    .table(UsageToolHourly::Table)
                    .if_not_exists()
                    .col(uuid(UsageToolHourly::AccountId))
                    .col(timestamp_with_time_zone(UsageToolHourly::Hour))
                    .col(string_len(UsageToolHourly::Tool, 64))
                    .col(big_integer(UsageToolHourly::Queries).default(0))
                    .col(big_integer(UsageToolHourly::TokensReturned).default(0))
                    .col(big_integer(UsageToolHourly::TokensFull).default(0))
                    .col(big_integer(UsageToolHourly::TokensSaved).default(0))
                    .primary_key(
                        Index::create()
                            .name("pk_usage_tool_hourly")
                            .col(UsageToolHourly::AccountId)
                            .col(UsageToolHourly::Hour)
                            .col(UsageToolHourly::Tool),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_tool_hourly_account")
                            .from(UsageToolHourly::Table, UsageToolHourly::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageToolHourly::Table).if_exists().to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
