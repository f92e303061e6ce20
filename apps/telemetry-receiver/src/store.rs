//! Storage of heartbeats and the license registry, on the database
//! connection handling of `lettuce-store-sea-orm` (SQLite or PostgreSQL).

use crate::entity::{instance, license, ping};
use crate::migration::ReceiverMigrator;
use chrono::{DateTime, Utc};
use lettuce_domain::license::LicenseClaims;
use lettuce_domain::telemetry::{ACK_ACCEPTED, Heartbeat, HeartbeatAck};
use lettuce_ports::store::StoreError;
use lettuce_store_sea_orm::SeaOrmStore;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

/// The latest report of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Instance id.
    pub instance_id: Uuid,
    /// First heartbeat.
    pub first_seen: DateTime<Utc>,
    /// Latest heartbeat.
    pub last_seen: DateTime<Utc>,
    /// License id.
    pub license_id: Option<String>,
    /// Version.
    pub version: String,
    /// Repositories.
    pub repo_count: u64,
    /// Users.
    pub user_count: u64,
    /// Seats.
    pub seat_count: Option<u64>,
    /// Tokens saved over the 24 h before the latest heartbeat.
    pub tokens_saved_24h: u64,
    /// Uptime in hours.
    pub uptime_hours: u64,
    /// Heartbeats received.
    pub pings: u64,
}

/// One stored heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ping {
    /// Its receipt id.
    pub receipt_id: String,
    /// When it was stored.
    pub received_at: DateTime<Utc>,
    /// The heartbeat.
    pub heartbeat: Heartbeat,
}

/// A license in the vendor's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredLicense {
    /// `sub`.
    pub license_id: String,
    /// Customer.
    pub customer_id: String,
    /// Tier.
    pub tier: String,
    /// Seats.
    pub seats: u64,
    /// Repository cap.
    pub repo_cap: u64,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `telemetry_required`.
    pub telemetry_required: bool,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

/// Prefix of receipt ids.
const RECEIPT_PREFIX: &str = "rcpt_";

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Whole seconds: every timestamp is stored at one precision, so SQLite's
/// text timestamps order like the times they stand for.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn receipt_id(id: Uuid) -> String {
    format!("{RECEIPT_PREFIX}{}", id.simple())
}

impl From<instance::Model> for Instance {
    fn from(m: instance::Model) -> Self {
        Self {
            instance_id: m.instance_id,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            license_id: m.license_id,
            version: m.version,
            repo_count: u64_of(m.repo_count),
            user_count: u64_of(m.user_count),
            seat_count: m.seat_count.map(u64_of),
            tokens_saved_24h: u64_of(m.tokens_saved_24h),
            uptime_hours: u64_of(m.uptime_hours),
            pings: u64_of(m.pings),
        }
    }
}

impl From<license::Model> for RegisteredLicense {
    fn from(m: license::Model) -> Self {
        Self {
            license_id: m.license_id,
            customer_id: m.customer_id,
            tier: m.tier,
            seats: u64_of(m.seats),
            repo_cap: u64_of(m.repo_cap),
            issued_at: m.issued_at,
            expires_at: m.expires_at,
            telemetry_required: m.telemetry_required,
            registered_at: m.registered_at,
        }
    }
}

/// The receiver's storage. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReceiverStore {
    db: SeaOrmStore,
}

impl ReceiverStore {
    /// Connects to `database_url` (`sqlite://PATH?mode=rwc` or
    /// `postgres://…`) with the metadata store's connection handling
    /// (pool, timeouts, SQLite pragmas, redacted errors).
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            db: SeaOrmStore::connect(database_url).await?,
        })
    }

    /// Applies the receiver's migrations (idempotent; serialised across
    /// processes on PostgreSQL).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.db.migrate_with::<ReceiverMigrator>().await
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.db.backend()
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        lettuce_ports::store::MetadataStore::ping(&self.db).await
    }

    fn err(&self, entity: &'static str) -> impl Fn(sea_orm::DbErr) -> StoreError + '_ {
        move |e| self.db.map_error(entity, e)
    }

    /// Stores a heartbeat received at `at` (one transaction: the instance's
    /// latest report and the ping) and returns the acknowledgement.
    pub async fn record(&self, hb: &Heartbeat, at: DateTime<Utc>) -> Result<HeartbeatAck, StoreError> {
        use instance::Column as I;
        let at = whole_seconds(at);
        let id = Uuid::now_v7();
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self
            .db
            .connection()
            .begin_with_options(options)
            .await
            .map_err(self.err("heartbeat"))?;
        let latest = instance::ActiveModel {
            instance_id: Set(hb.instance_id),
            first_seen: Set(at),
            last_seen: Set(at),
            license_id: Set(hb.license_id.clone()),
            version: Set(hb.version.clone()),
            repo_count: Set(i64_of(hb.repo_count)),
            user_count: Set(i64_of(hb.user_count)),
            seat_count: Set(hb.seat_count.map(i64_of)),
            tokens_saved_24h: Set(i64_of(hb.tokens_saved_24h)),
            uptime_hours: Set(i64_of(hb.uptime_hours)),
            pings: Set(1),
        };
        let upsert = OnConflict::column(I::InstanceId)
            .update_columns([
                I::LastSeen,
                I::LicenseId,
                I::Version,
                I::RepoCount,
                I::UserCount,
                I::SeatCount,
                I::TokensSaved24h,
                I::UptimeHours,
            ])
            .value(I::Pings, Expr::cust("telemetry_instances.pings + 1"))
            .to_owned();
        let stored = async {
            instance::Entity::insert(latest)
                .on_conflict(upsert)
                .exec_without_returning(&txn)
                .await?;
            ping::Entity::insert(ping::ActiveModel {
                id: Set(id),
                instance_id: Set(hb.instance_id),
                received_at: Set(at),
                license_id: Set(hb.license_id.clone()),
                version: Set(hb.version.clone()),
                repo_count: Set(i64_of(hb.repo_count)),
                user_count: Set(i64_of(hb.user_count)),
                seat_count: Set(hb.seat_count.map(i64_of)),
                tokens_saved_24h: Set(i64_of(hb.tokens_saved_24h)),
                uptime_hours: Set(i64_of(hb.uptime_hours)),
            })
            .exec_without_returning(&txn)
            .await
        }
        .await;
        match stored {
            Ok(_) => txn.commit().await.map_err(self.err("heartbeat"))?,
            Err(e) => {
                let _ = txn.rollback().await;
                return Err(self.db.map_error("heartbeat", e));
            }
        }
        Ok(HeartbeatAck {
            status: ACK_ACCEPTED.into(),
            instance_id: hb.instance_id,
            receipt_id: receipt_id(id),
            received_at: at,
        })
    }

    /// Every instance, most recently seen first.
    pub async fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        Ok(instance::Entity::find()
            .order_by_desc(instance::Column::LastSeen)
            .order_by_asc(instance::Column::InstanceId)
            .all(self.db.connection())
            .await
            .map_err(self.err("instance"))?
            .into_iter()
            .map(Instance::from)
            .collect())
    }

    /// One instance and its latest `limit` heartbeats (newest first).
    pub async fn instance(&self, id: Uuid, limit: u64) -> Result<Option<(Instance, Vec<Ping>)>, StoreError> {
        let Some(found) = instance::Entity::find_by_id(id)
            .one(self.db.connection())
            .await
            .map_err(self.err("instance"))?
        else {
            return Ok(None);
        };
        let pings = ping::Entity::find()
            .filter(ping::Column::InstanceId.eq(id))
            .order_by_desc(ping::Column::ReceivedAt)
            .order_by_desc(ping::Column::Id)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(self.err("ping"))?
            .into_iter()
            .map(|m| Ping {
                receipt_id: receipt_id(m.id),
                received_at: m.received_at,
                heartbeat: Heartbeat {
                    instance_id: m.instance_id,
                    license_id: m.license_id,
                    version: m.version,
                    repo_count: u64_of(m.repo_count),
                    user_count: u64_of(m.user_count),
                    seat_count: m.seat_count.map(u64_of),
                    tokens_saved_24h: u64_of(m.tokens_saved_24h),
                    uptime_hours: u64_of(m.uptime_hours),
                },
            })
            .collect();
        Ok(Some((found.into(), pings)))
    }

    /// The license registry, soonest expiry first.
    pub async fn licenses(&self) -> Result<Vec<RegisteredLicense>, StoreError> {
        Ok(license::Entity::find()
            .order_by_asc(license::Column::ExpiresAt)
            .order_by_asc(license::Column::LicenseId)
            .all(self.db.connection())
            .await
            .map_err(self.err("license"))?
            .into_iter()
            .map(RegisteredLicense::from)
            .collect())
    }

    /// Adds (or, for a re-issued license with the same id, replaces) a
    /// license whose signature the caller verified.
    pub async fn register_license(
        &self,
        claims: &LicenseClaims,
        at: DateTime<Utc>,
    ) -> Result<RegisteredLicense, StoreError> {
        use license::Column as L;
        let ts = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let model = license::Model {
            license_id: claims.sub.clone(),
            customer_id: claims.customer_id.clone(),
            tier: claims.tier.clone(),
            seats: i64::from(claims.seats),
            repo_cap: i64::from(claims.repo_cap),
            issued_at: ts(claims.iat),
            expires_at: ts(claims.exp),
            telemetry_required: claims.telemetry_required,
            registered_at: whole_seconds(at),
        };
        let active = license::ActiveModel {
            license_id: Set(model.license_id.clone()),
            customer_id: Set(model.customer_id.clone()),
            tier: Set(model.tier.clone()),
            seats: Set(model.seats),
            repo_cap: Set(model.repo_cap),
            issued_at: Set(model.issued_at),
            expires_at: Set(model.expires_at),
            telemetry_required: Set(model.telemetry_required),
            registered_at: Set(model.registered_at),
        };
        license::Entity::insert(active)
            .on_conflict(
                OnConflict::column(L::LicenseId)
                    .update_columns([
                        L::CustomerId,
                        L::Tier,
                        L::Seats,
                        L::RepoCap,
                        L::IssuedAt,
                        L::ExpiresAt,
                        L::TelemetryRequired,
                        L::RegisteredAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.connection())
            .await
            .map_err(self.err("license"))?;
        Ok(model.into())
    }
}
