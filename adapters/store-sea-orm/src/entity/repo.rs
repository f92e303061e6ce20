//! `repos`: unique `(account_id, url, branch_key)` where `branch_key` is the
//! branch or `""`, so that "default branch" rows compare equal (NULLs would not).

use sea_orm::entity::prelude::*;

/// One row of `repos`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub url: String,
    pub name: String,
    pub branch: Option<String>,
    pub branch_key: String,
    pub status: String,
    pub indexed_commit: Option<String>,
    pub error: Option<String>,
    pub files_done: i64,
    pub files_total: i64,
    pub sealed_credentials: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub indexed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
