//! A fake [`LicenseOracle`] and the contract suite.

use crate::license::{LicenseError, LicenseOracle, LicenseStatus};
use crate::testing::{assert_not_leaked, lock};
use async_trait::async_trait;
use lettuce_domain::Secret;
use lettuce_domain::license::{LicenseClaims, LicenseState};
use std::sync::Mutex;

/// The key [`FakeLicenseOracle::install`] accepts.
pub const VALID_TEST_KEY: &str = "valid-test-key";

/// Claims of [`VALID_TEST_KEY`]: tier `team`, 25 seats, 100 repos, expiring
/// 2100-01-01.
pub fn sample_claims() -> LicenseClaims {
    LicenseClaims {
        iss: "lettuce-licensing".into(),
        sub: "lic_test_0001".into(),
        customer_id: "cus_test".into(),
        tier: "team".into(),
        seats: 25,
        repo_cap: 100,
        exp: 4_102_444_800,
        iat: 1_700_000_000,
        features: vec!["sso".into()],
        telemetry_required: true,
    }
}

/// A gated [`LicenseStatus`] that is `valid` with [`sample_claims`].
pub fn valid_status() -> LicenseStatus {
    LicenseStatus {
        gated: true,
        state: LicenseState::Valid,
        claims: Some(sample_claims()),
        reason: None,
    }
}

/// A [`LicenseOracle`] whose status the test sets.
///
/// * [`FakeLicenseOracle::new`] starts gated and `locked` (a self-hosted
///   instance without a key);
/// * `install` accepts exactly [`VALID_TEST_KEY`] (→ [`valid_status`]) and
///   answers [`LicenseError::Malformed`] for anything else, keeping the
///   previous status;
/// * `refresh` returns the current status, or the error set with
///   [`FakeLicenseOracle::fail_next_refresh`].
#[derive(Debug)]
pub struct FakeLicenseOracle {
    status: Mutex<LicenseStatus>,
    refresh_error: Mutex<Option<LicenseError>>,
}

impl Default for FakeLicenseOracle {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeLicenseOracle {
    /// Gated and locked: no key installed yet.
    pub fn new() -> Self {
        Self::with_status(LicenseStatus {
            gated: true,
            state: LicenseState::Locked,
            claims: None,
            reason: Some("no license key is installed; upload one or set LETTUCE_LICENSE_KEY".into()),
        })
    }

    /// Starts with `status`.
    pub fn with_status(status: LicenseStatus) -> Self {
        Self {
            status: Mutex::new(status),
            refresh_error: Mutex::new(None),
        }
    }

    /// Replaces the status (e.g. to move to `grace` or `read_only`).
    pub fn set_status(&self, status: LicenseStatus) {
        *lock(&self.status) = status;
    }

    /// Makes the next `refresh` fail with `err` (the status is kept).
    pub fn fail_next_refresh(&self, err: LicenseError) {
        *lock(&self.refresh_error) = Some(err);
    }
}

#[async_trait]
impl LicenseOracle for FakeLicenseOracle {
    async fn status(&self) -> LicenseStatus {
        lock(&self.status).clone()
    }

    async fn install(&self, key: &Secret) -> Result<LicenseStatus, LicenseError> {
        if key.expose() != VALID_TEST_KEY {
            return Err(LicenseError::Malformed {
                reason: "not a compact EdDSA JWT".into(),
            });
        }
        let status = valid_status();
        *lock(&self.status) = status.clone();
        Ok(status)
    }

    async fn refresh(&self) -> Result<LicenseStatus, LicenseError> {
        if let Some(err) = lock(&self.refresh_error).take() {
            return Err(err);
        }
        Ok(lock(&self.status).clone())
    }
}

/// Checks the [`LicenseOracle`] contract: `status` is stable; installing
/// `garbage-not-a-jwt` fails without echoing the key and keeps the previous
/// status; `refresh` returns `Ok` with the status `status` then reports, or
/// an error after which `status` is still stable.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn license_oracle_contract(o: &dyn LicenseOracle) {
    let s1 = o.status().await;
    let s2 = o.status().await;
    assert_eq!(s1, s2, "status() must be stable between calls");

    let garbage = "garbage-not-a-jwt";
    match o.install(&Secret::new(garbage)).await {
        Ok(s) => panic!("install of {garbage:?} must fail, got {s:?}"),
        Err(e) => assert_not_leaked(&e, garbage, 1, "a LicenseError must not echo the key"),
    }
    assert_eq!(o.status().await, s1, "a failed install must keep the previous status");

    match o.refresh().await {
        Ok(s) => assert_eq!(
            s,
            o.status().await,
            "refresh must return the status that status() then reports"
        ),
        Err(_) => {
            let (a, b) = (o.status().await, o.status().await);
            assert_eq!(a, b, "after a failed refresh status() must still be stable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::Ungated;

    #[tokio::test]
    async fn fake_and_ungated_pass_contract() {
        let o = FakeLicenseOracle::new();
        license_oracle_contract(&o).await;
        o.install(&Secret::new(VALID_TEST_KEY)).await.unwrap();
        license_oracle_contract(&o).await;
        o.fail_next_refresh(LicenseError::Expired {
            expired_on: "2020-01-01T00:00:00Z".into(),
        });
        license_oracle_contract(&o).await;
        license_oracle_contract(&Ungated).await;
    }

    #[tokio::test]
    async fn install_and_set_status() {
        let o = FakeLicenseOracle::new();
        assert_eq!(o.status().await.state, LicenseState::Locked);
        assert!(matches!(
            o.install(&Secret::new("nope")).await,
            Err(LicenseError::Malformed { .. })
        ));
        assert_eq!(o.install(&Secret::new(VALID_TEST_KEY)).await.unwrap(), valid_status());
        let mut ro = valid_status();
        ro.state = LicenseState::ReadOnly;
        o.set_status(ro.clone());
        assert_eq!(o.refresh().await.unwrap(), ro);
    }
}
