//! `provider_installations`: one code-host connection per account and provider.

use sea_orm::entity::prelude::*;

/// One row of `provider_installations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_installations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    pub external_id: String,
    pub connected_by: Uuid,
    pub connected_at: DateTimeUtc,
    /// JSON array of strings.
    pub scopes: String,
    pub needs_reauth: bool,
    /// Sealed with the data key (see `sealed.rs`).
    pub sealed_credentials: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
