//! What the dashboard and the JSON API show, computed from the stored
//! instances and the license registry at a given time.

use crate::store::{Instance, RegisteredLicense};
use chrono::{DateTime, Duration, Utc};
use lettuce_domain::license::{GRACE_DAYS, state_at};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// An instance that has not reported for this long is flagged `stale`
/// (heartbeats are daily, with hourly retries).
pub const STALE_AFTER: Duration = Duration::hours(48);

/// Licenses expiring within this many days are flagged (the dashboard's
/// renewal list), together with those already in their grace period.
pub const EXPIRING_WITHIN_DAYS: i64 = 30;

/// The registry's view of a license, as shown beside an instance.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseBrief {
    /// Customer.
    pub customer_id: String,
    /// Tier.
    pub tier: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Whole days until expiry (negative once expired).
    pub days_left: i64,
    /// `valid`, `grace` or `read_only` now.
    pub state: &'static str,
}

/// An instance with what the registry knows about its license.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// The latest report.
    #[serde(flatten)]
    pub instance: Instance,
    /// No heartbeat for [`STALE_AFTER`].
    pub stale: bool,
    /// The license, when it is in the registry.
    pub license: Option<LicenseBrief>,
}

/// A registered license with the instances that report it.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseView {
    /// The license.
    #[serde(flatten)]
    pub license: RegisteredLicense,
    /// Whole days until expiry (negative once expired).
    pub days_left: i64,
    /// `valid`, `grace` or `read_only` now.
    pub state: &'static str,
    /// Expires within [`EXPIRING_WITHIN_DAYS`] days or is in its grace period.
    pub expiring: bool,
    /// Instances reporting this license.
    pub instances: u64,
    /// The latest heartbeat of any of them.
    pub last_seen: Option<DateTime<Utc>>,
}

/// Totals for the dashboard's header and `GET /v1/summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// When this was computed.
    pub generated_at: DateTime<Utc>,
    /// Instances ever seen.
    pub instances: u64,
    /// Instances seen in the last 24 hours.
    pub active_24h: u64,
    /// Instances not seen for 48 hours.
    pub stale: u64,
    /// Sum of the latest `tokens_saved_24h` of instances that are not stale.
    pub tokens_saved_24h: u64,
    /// Instances per version (not stale), most common first.
    pub versions: Vec<VersionCount>,
    /// Registered licenses.
    pub licenses: u64,
    /// Licenses expiring within 30 days or in grace.
    pub licenses_expiring: u64,
    /// License ids instances report that the registry does not know.
    pub unregistered_license_ids: Vec<String>,
}

/// How many instances run a version.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionCount {
    /// Version.
    pub version: String,
    /// Instances.
    pub instances: u64,
}

fn days_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (expires_at - now).num_days()
}

/// Expires within [`EXPIRING_WITHIN_DAYS`] days, or expired less than the
/// grace period ago.
pub fn is_expiring(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at < now + Duration::days(EXPIRING_WITHIN_DAYS) && expires_at >= now - Duration::days(GRACE_DAYS)
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Totals.
    pub summary: Summary,
    /// Instances, most recently seen first.
    pub instances: Vec<InstanceView>,
    /// Registered licenses, soonest expiry first.
    pub licenses: Vec<LicenseView>,
}

/// Builds the report at `now`.
pub fn report(instances: Vec<Instance>, licenses: Vec<RegisteredLicense>, now: DateTime<Utc>) -> Report {
    let by_id: HashMap<&str, &RegisteredLicense> = licenses.iter().map(|l| (l.license_id.as_str(), l)).collect();
    let views: Vec<InstanceView> = instances
        .iter()
        .map(|i| InstanceView {
            instance: i.clone(),
            stale: now - i.last_seen >= STALE_AFTER,
            license: i
                .license_id
                .as_deref()
                .and_then(|id| by_id.get(id))
                .map(|l| LicenseBrief {
                    customer_id: l.customer_id.clone(),
                    tier: l.tier.clone(),
                    expires_at: l.expires_at,
                    days_left: days_left(l.expires_at, now),
                    state: state_at(l.expires_at, now).as_str(),
                }),
        })
        .collect();
    let mut license_views: Vec<LicenseView> = licenses
        .iter()
        .map(|l| {
            let reporting: Vec<&Instance> = instances
                .iter()
                .filter(|i| i.license_id.as_deref() == Some(l.license_id.as_str()))
                .collect();
            LicenseView {
                license: l.clone(),
                days_left: days_left(l.expires_at, now),
                state: state_at(l.expires_at, now).as_str(),
                expiring: is_expiring(l.expires_at, now),
                instances: reporting.len() as u64,
                last_seen: reporting.iter().map(|i| i.last_seen).max(),
            }
        })
        .collect();
    license_views.sort_by(|a, b| {
        (a.license.expires_at, &a.license.license_id).cmp(&(b.license.expires_at, &b.license.license_id))
    });
    let live: Vec<&InstanceView> = views.iter().filter(|v| !v.stale).collect();
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for v in &live {
        *versions.entry(v.instance.version.as_str()).or_default() += 1;
    }
    let mut versions: Vec<VersionCount> = versions
        .into_iter()
        .map(|(version, instances)| VersionCount {
            version: version.to_owned(),
            instances,
        })
        .collect();
    versions.sort_by(|a, b| b.instances.cmp(&a.instances).then_with(|| a.version.cmp(&b.version)));
    let mut unregistered: Vec<String> = instances
        .iter()
        .filter_map(|i| i.license_id.clone())
        .filter(|id| !by_id.contains_key(id.as_str()))
        .collect();
    unregistered.sort();
    unregistered.dedup();
    let summary = Summary {
        generated_at: now,
        instances: views.len() as u64,
        active_24h: views
            .iter()
            .filter(|v| now - v.instance.last_seen < Duration::hours(24))
            .count() as u64,
        stale: views.iter().filter(|v| v.stale).count() as u64,
        tokens_saved_24h: live
            .iter()
            .fold(0u64, |sum, v| sum.saturating_add(v.instance.tokens_saved_24h)),
        versions,
        licenses: license_views.len() as u64,
        licenses_expiring: license_views.iter().filter(|l| l.expiring).count() as u64,
        unregistered_license_ids: unregistered,
    };
    Report {
        summary,
        instances: views,
        licenses: license_views,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn instance(license: Option<&str>, version: &str, seen_hours_ago: i64, saved: u64) -> Instance {
        Instance {
            instance_id: Uuid::new_v4(),
            first_seen: now() - Duration::days(100),
            last_seen: now() - Duration::hours(seen_hours_ago),
            license_id: license.map(str::to_owned),
            version: version.into(),
            repo_count: 1,
            user_count: 1,
            seat_count: Some(5),
            tokens_saved_24h: saved,
            uptime_hours: 10,
            pings: 3,
        }
    }

    fn license(id: &str, expires_in_days: i64) -> RegisteredLicense {
        RegisteredLicense {
            license_id: id.into(),
            customer_id: format!("cus_{id}"),
            tier: "team".into(),
            seats: 5,
            repo_cap: 10,
            issued_at: now() - Duration::days(300),
            expires_at: now() + Duration::days(expires_in_days),
            telemetry_required: true,
            registered_at: now() - Duration::days(300),
        }
    }

    #[test]
    fn expiring_licenses_stale_instances_and_totals() {
        let r = report(
            vec![
                instance(Some("lic_soon"), "1.2.0", 1, 100),
                instance(Some("lic_soon"), "1.3.0", 30, 50),
                instance(Some("lic_later"), "1.3.0", 2, 7),
                instance(Some("lic_ghost"), "1.3.0", 100, 1_000_000),
                instance(None, "1.3.0", 3, 3),
            ],
            vec![
                license("lic_soon", 10),
                license("lic_later", 200),
                license("lic_grace", -5),
                license("lic_dead", -40),
                license("lic_edge", EXPIRING_WITHIN_DAYS),
            ],
            now(),
        );
        let s = &r.summary;
        assert_eq!((s.instances, s.active_24h, s.stale), (5, 3, 1));
        assert_eq!(s.tokens_saved_24h, 100 + 50 + 7 + 3, "stale instances are not counted");
        assert_eq!(
            s.versions,
            vec![
                VersionCount {
                    version: "1.3.0".into(),
                    instances: 3
                },
                VersionCount {
                    version: "1.2.0".into(),
                    instances: 1
                },
            ]
        );
        assert_eq!(s.unregistered_license_ids, vec!["lic_ghost".to_owned()]);
        let expiring: Vec<&str> = r
            .licenses
            .iter()
            .filter(|l| l.expiring)
            .map(|l| l.license.license_id.as_str())
            .collect();
        assert_eq!(
            expiring,
            vec!["lic_grace", "lic_soon"],
            "soonest first; dead and 30+ days excluded"
        );
        assert_eq!(s.licenses_expiring, 2);
        let soon = r.licenses.iter().find(|l| l.license.license_id == "lic_soon").unwrap();
        assert_eq!((soon.instances, soon.days_left, soon.state), (2, 10, "valid"));
        assert_eq!(soon.last_seen, Some(now() - Duration::hours(1)));
        let grace = r.licenses.iter().find(|l| l.license.license_id == "lic_grace").unwrap();
        assert_eq!(grace.state, "grace");
        assert!(r.instances[3].stale && r.instances[3].license.is_none());
        assert_eq!(r.instances[0].license.as_ref().unwrap().customer_id, "cus_lic_soon");
    }
}
