//! Instance settings: `instance_settings`, a small key/value table shared by
//! every process of an install (instance id, telemetry state, …).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text;

/// Creates `instance_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`.
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250801_000003_instance_settings"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum InstanceSettings {
    Table,
    Key,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InstanceSettings::Table)
                    .if_not_exists()
                    .col(text(InstanceSettings::Key).primary_key())
                    .col(text(InstanceSettings::Value))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InstanceSettings::Table).if_exists().to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
