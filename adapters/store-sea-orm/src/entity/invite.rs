//! `invites`: unique `code_hash`; `account_id` is NULL until an admin invite
//! is first redeemed.

use sea_orm::entity::prelude::*;

/// One row of `invites`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invites")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code_hash: String,
    pub account_id: Option<Uuid>,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub created_by: Option<Uuid>,
    pub expires_at: DateTimeUtc,
    pub redemptions: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
