//! License status and key installation (PRODUCT P-6).

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use lettuce_domain::Secret;
use lettuce_domain::license::LicenseState;
use lettuce_ports::license::LicenseStatus;

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
        let status = self.inner.license.install(&Secret::new(key.expose().trim())).await?;
        tracing::info!(state = status.state.as_str(), license = ?status.claims.as_ref().map(|c| &c.sub), "license key installed");
        Ok(status)
    }

    /// Re-verifies the license (run hourly by the server) and logs what an
    /// operator must know: grace warnings, read-only and locked states.
    pub async fn refresh_license(&self) -> LicenseStatus {
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
