//! `repo_links`: the code-host side of a repo (provider repo id, webhook).

use sea_orm::entity::prelude::*;

/// One row of `repo_links`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub repo_id: Uuid,
    pub account_id: Uuid,
    pub provider: String,
    pub provider_repo_id: String,
    pub full_name: String,
    pub branch: String,
    pub hook_id: Option<String>,
    pub hook_error: Option<String>,
    pub updated_at: DateTimeUtc,
    /// `webhook` or `polling`.
    pub mode: String,
    pub checked_at: Option<DateTimeUtc>,
    pub check_note: Option<String>,
    pub remote_head: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
