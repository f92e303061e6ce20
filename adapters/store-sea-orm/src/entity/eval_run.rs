//! `eval_runs`: the latest eval run of each repo.

use sea_orm::entity::prelude::*;

/// One row of `eval_runs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "eval_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub repo_id: Uuid,
    pub account_id: Uuid,
    pub status: String,
    pub commits: i64,
    pub done: i64,
    pub total: i64,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub error: Option<String>,
    pub report: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
