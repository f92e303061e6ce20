//! License status and key installation (PRODUCT P-6).

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use lettuce_domain::Secret;
use lettuce_domain::license::LicenseState;
use lettuce_ports::license::LicenseStatus;
use serde::{Deserialize, Serialize};

/// Instance setting holding the last key accepted by `PUT /v1/admin/license`,
/// so that every process of the install adopts it (not only the one that
/// received the upload).
const SHARED_LICENSE: &str = "license.uploaded";

/// The shared key: sealed with `LETTUCE_DATA_KEY` (AES-256-GCM), with the
/// claims needed to decide whether to adopt it without unsealing.
#[derive(Debug, Serialize, Deserialize)]
struct SharedLicense {
    sealed_key: String,
    license_id: String,
    exp: i64,
    uploaded_at: DateTime<Utc>,
}

impl Engine {
    /// The license as this process sees it. Any authenticated caller (and the
    /// admin token) may read it, whatever the state.
    pub async fn license_status(&self, _caller: &Caller) -> LicenseStatus {
        self.inner.license.status().await
    }

    /// Verifies and installs a new license key; it takes effect at once. The
    /// admin token works here even while the instance is locked (so a fresh
    /// install can be unlocked before any user exists); otherwise only account
    /// owners may do it.
    pub async fn install_license(&self, caller: &Caller, key: Secret) -> Result<LicenseStatus, EngineError> {
        if !matches!(caller, Caller::Admin) {
            caller.owner()?;
        }
        if key.expose().trim().is_empty() {
            return Err(EngineError::validation(
                "key",
                "paste the license key (a JWT starting with `eyJ`)",
            ));
        }
        let key = Secret::new(key.expose().trim());
        let status = self.inner.license.install(&key).await?;
        tracing::info!(state = status.state.as_str(), license = ?status.claims.as_ref().map(|c| &c.sub), "license key installed");
        if let Err(e) = self.share_license(&key, &status).await {
            tracing::error!(error = %e, "the license key took effect in this process but could not be stored for the others; upload it again or set LETTUCE_LICENSE_KEY everywhere");
        }
        Ok(status)
    }

    /// Stores an accepted key (sealed) in the metadata store for the other
    /// processes of the install.
    async fn share_license(&self, key: &Secret, status: &LicenseStatus) -> Result<(), EngineError> {
        let Some(claims) = &status.claims else {
            return Ok(());
        };
        let shared = SharedLicense {
            sealed_key: self
                .inner
                .keys
                .seal(key.expose().as_bytes())
                .map_err(EngineError::Internal)?,
            license_id: claims.sub.clone(),
            exp: claims.exp,
            uploaded_at: self.inner.clock.now(),
        };
        let json = serde_json::to_string(&shared).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.inner.store.put_setting(SHARED_LICENSE, &json).await?;
        Ok(())
    }

    /// Adopts a key another process accepted through the admin API, when it
    /// expires later than the key this process has (so a renewal uploaded
    /// anywhere reaches every process, and an older upload never replaces a
    /// newer `LETTUCE_LICENSE_KEY`).
    async fn adopt_shared_license(&self) {
        let e = &self.inner;
        let current = e.license.status().await;
        if !current.gated {
            return;
        }
        let shared: SharedLicense = match e.store.get_setting(SHARED_LICENSE).await {
            Ok(Some(raw)) => match serde_json::from_str(&raw) {
                Ok(s) => s,
                Err(err) => {
                    tracing::warn!(error = %err, "ignoring an unreadable shared license record");
                    return;
                }
            },
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the shared license key; keeping the current one");
                return;
            }
        };
        if current.claims.as_ref().is_some_and(|c| c.exp >= shared.exp) {
            return;
        }
        let key = match e.keys.open(&shared.sealed_key) {
            Ok(bytes) => Secret::new(String::from_utf8_lossy(&bytes)),
            Err(err) => {
                tracing::warn!(
                    license = %shared.license_id,
                    error = %err,
                    "a license key uploaded through another process cannot be decrypted here: set the same LETTUCE_DATA_KEY on every process (or set LETTUCE_LICENSE_KEY)"
                );
                return;
            }
        };
        match e.license.install(&key).await {
            Ok(status) => tracing::info!(
                license = %shared.license_id,
                state = status.state.as_str(),
                "adopted the license key uploaded through the admin API"
            ),
            Err(err) => {
                tracing::warn!(license = %shared.license_id, error = %err, "the shared license key was refused")
            }
        }
    }

    /// Re-verifies the license (run hourly by the server) and logs what an
    /// operator must know: grace warnings, read-only and locked states.
    ///
    /// First adopts a key that another process of the install accepted
    /// through `PUT /v1/admin/license` (stored in the metadata store), when
    /// it expires later than this process's key.
    pub async fn refresh_license(&self) -> LicenseStatus {
        self.adopt_shared_license().await;
        let status = match self.inner.license.refresh().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "license re-verification failed; keeping the current state");
                self.inner.license.status().await
            }
        };
        log_license(&status);
        status
    }
}

/// Logs the license state at the level it deserves.
pub(crate) fn log_license(status: &LicenseStatus) {
    if !status.gated {
        return;
    }
    let reason = status.reason.as_deref().unwrap_or("");
    match status.state {
        LicenseState::Valid => tracing::info!(state = "valid", "license verified"),
        LicenseState::Grace => tracing::warn!(state = "grace", "LICENSE EXPIRED — grace period: {reason}"),
        LicenseState::ReadOnly => tracing::error!(
            state = "read_only",
            "license expired beyond grace; the instance is read-only: {reason}"
        ),
        LicenseState::Locked => tracing::error!(state = "locked", "the instance is locked: {reason}"),
    }
}
