//! Eval runs: `eval_runs`, the latest `lettuce eval` run of each repo
//! started over the API (`POST /v1/repos/{id}/eval`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, string_len, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

/// Creates `eval_runs (repo_id PRIMARY KEY → repos.id ON DELETE CASCADE,
/// account_id, status, commits, done, total, queued_at, started_at,
/// finished_at, error, report)`; `report` is the JSON of the figures.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251205_000007_eval_runs"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Repos {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum EvalRuns {
    Table,
    RepoId,
    AccountId,
    Status,
    Commits,
    Done,
    Total,
    QueuedAt,
    StartedAt,
    FinishedAt,
    Error,
    Report,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EvalRuns::Table)
                    .if_not_exists()
                    .col(uuid(EvalRuns::RepoId).primary_key())
                    .col(uuid(EvalRuns::AccountId))
                    .col(string_len(EvalRuns::Status, 16))
                    .col(big_integer(EvalRuns::Commits))
                    .col(big_integer(EvalRuns::Done).default(0))
                    .col(big_integer(EvalRuns::Total).default(0))
                    .col(timestamp_with_time_zone(EvalRuns::QueuedAt))
                    .col(timestamp_with_time_zone_null(EvalRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(EvalRuns::FinishedAt))
                    .col(text_null(EvalRuns::Error))
                    .col(text_null(EvalRuns::Report))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_eval_runs_repo")
                            .from(EvalRuns::Table, EvalRuns::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EvalRuns::Table).if_exists().to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
