//! sea-orm entities of the receiver's tables.

/// `telemetry_instances`: the latest report of each instance.
pub mod instance {
    use sea_orm::entity::prelude::*;

    /// One instance.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "telemetry_instances")]
    pub struct Model {
        /// Instance id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub instance_id: Uuid,
        /// First heartbeat.
        pub first_seen: DateTimeUtc,
        /// Latest heartbeat.
        pub last_seen: DateTimeUtc,
        /// License id (latest).
        pub license_id: Option<String>,
        /// Version (latest).
        pub version: String,
        /// Repositories (latest).
        pub repo_count: i64,
        /// Users (latest).
        pub user_count: i64,
        /// Seats (latest).
        pub seat_count: Option<i64>,
        /// Tokens saved over 24 h (latest).
        #[sea_orm(column_name = "tokens_saved_24h")]
        pub tokens_saved_24h: i64,
        /// Uptime in hours (latest).
        pub uptime_hours: i64,
        /// Heartbeats received.
        pub pings: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `telemetry_pings`: every heartbeat received.
pub mod ping {
    use sea_orm::entity::prelude::*;

    /// One heartbeat.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "telemetry_pings")]
    pub struct Model {
        /// Receipt id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Instance id.
        pub instance_id: Uuid,
        /// When it was stored.
        pub received_at: DateTimeUtc,
        /// License id.
        pub license_id: Option<String>,
        /// Version.
        pub version: String,
        /// Repositories.
        pub repo_count: i64,
        /// Users.
        pub user_count: i64,
        /// Seats.
        pub seat_count: Option<i64>,
        /// Tokens saved over 24 h.
        #[sea_orm(column_name = "tokens_saved_24h")]
        pub tokens_saved_24h: i64,
        /// Uptime in hours.
        pub uptime_hours: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `telemetry_licenses`: the vendor's license registry.
pub mod license {
    use sea_orm::entity::prelude::*;

    /// One issued license.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "telemetry_licenses")]
    pub struct Model {
        /// `sub`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub license_id: String,
        /// Customer.
        pub customer_id: String,
        /// Tier.
        pub tier: String,
        /// Seats.
        pub seats: i64,
        /// Repository cap.
        pub repo_cap: i64,
        /// `iat`.
        pub issued_at: DateTimeUtc,
        /// `exp`.
        pub expires_at: DateTimeUtc,
        /// `telemetry_required`.
        pub telemetry_required: bool,
        /// When it was registered here.
        pub registered_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
