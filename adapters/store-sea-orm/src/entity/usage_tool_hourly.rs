//! `usage_tool_hourly`: token usage per (account, UTC hour, tool); primary
//! key `(account_id, hour, tool)`, rows only ever grow through an
//! incrementing upsert.

use sea_orm::entity::prelude::*;

/// One row of `usage_tool_hourly`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_tool_hourly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: DateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tool: String,
    pub queries: i64,
    pub tokens_returned: i64,
    pub tokens_full: i64,
    pub tokens_saved: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
