//! The receiver's own schema, applied by its own migrator
//! ([`ReceiverMigrator`]) with its own bookkeeping table
//! (`telemetry_receiver_migrations`), so a receiver database never mixes
//! with (or depends on) the product's metadata schema.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, text, text_null, timestamp_with_time_zone, uuid,
};

/// The receiver's migrations.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiverMigrator;

impl MigratorTrait for ReceiverMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }

    fn migration_table_name() -> DynIden {
        "telemetry_receiver_migrations".into_iden()
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "r20250801_000001_telemetry"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TelemetryInstances {
    Table,
    InstanceId,
    FirstSeen,
    LastSeen,
    Pings,
}

#[derive(DeriveIden, Clone, Copy)]
enum TelemetryPings {
    Table,
    Id,
    InstanceId,
    ReceivedAt,
}

/// The heartbeat's fields (other than the instance id), stored as columns
/// of both `telemetry_instances` (the latest report) and `telemetry_pings`.
#[derive(DeriveIden, Clone, Copy)]
enum Reported {
    LicenseId,
    Version,
    RepoCount,
    UserCount,
    SeatCount,
    #[sea_orm(iden = "tokens_saved_24h")]
    TokensSaved24h,
    UptimeHours,
}

/// Adds the [`Reported`] columns to `table`.
fn reported_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(text_null(Reported::LicenseId))
        .col(text(Reported::Version))
        .col(big_integer(Reported::RepoCount))
        .col(big_integer(Reported::UserCount))
        .col(big_integer_null(Reported::SeatCount))
        .col(big_integer(Reported::TokensSaved24h))
        .col(big_integer(Reported::UptimeHours))
}

#[derive(DeriveIden, Clone, Copy)]
enum TelemetryLicenses {
    Table,
    LicenseId,
    CustomerId,
    Tier,
    Seats,
    RepoCap,
    IssuedAt,
    ExpiresAt,
    TelemetryRequired,
    RegisteredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TelemetryInstances as I;
        use TelemetryLicenses as L;
        use TelemetryPings as P;
        manager
            .create_table(
                reported_columns(
                    Table::create()
                        .table(I::Table)
                        .if_not_exists()
                        .col(uuid(I::InstanceId).primary_key())
                        .col(timestamp_with_time_zone(I::FirstSeen))
                        .col(timestamp_with_time_zone(I::LastSeen)),
                )
                .col(big_integer(I::Pings).default(0))
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                reported_columns(
                    Table::create()
                        .table(P::Table)
                        .if_not_exists()
                        .col(uuid(P::Id).primary_key())
                        .col(uuid(P::InstanceId))
                        .col(timestamp_with_time_zone(P::ReceivedAt)),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_telemetry_pings_instance")
                        .from(P::Table, P::InstanceId)
                        .to(I::Table, I::InstanceId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_telemetry_pings_instance_time")
                    .table(P::Table)
                    .col(P::InstanceId)
                    .col(P::ReceivedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .if_not_exists()
                    .col(text(L::LicenseId).primary_key())
                    .col(text(L::CustomerId))
                    .col(text(L::Tier))
                    .col(big_integer(L::Seats))
                    .col(big_integer(L::RepoCap))
                    .col(timestamp_with_time_zone(L::IssuedAt))
                    .col(timestamp_with_time_zone(L::ExpiresAt))
                    .col(boolean(L::TelemetryRequired))
                    .col(timestamp_with_time_zone(L::RegisteredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TelemetryPings::Table.into_iden(),
            TelemetryInstances::Table.into_iden(),
            TelemetryLicenses::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
