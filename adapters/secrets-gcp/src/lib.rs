//! # lettuce-secrets-gcp
//!
//! A [`SecretStore`] over **Google Cloud Secret Manager** (backend name
//! `gcp`), with Google's official Rust client
//! (`google-cloud-secretmanager-v1`, HTTP/JSON transport).
//!
//! * A secret named `NAME` is `projects/<project>/secrets/<NAME>/versions/latest`
//!   (`AccessSecretVersion`); the payload's bytes, as UTF-8, are the value (a
//!   payload that is not UTF-8 is an error, never garbage).
//! * The project is `LETTUCE_GCP_PROJECT`, else `GOOGLE_CLOUD_PROJECT`; one of
//!   them is required at start-up.
//! * Credentials: Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`,
//!   the gcloud ADC file, workload identity / the metadata server).
//! * `NOT_FOUND` (a missing secret, or a secret without an enabled version) is
//!   [`SecretError::NotFound`]; every other failure propagates as
//!   [`SecretError::Backend`] (retryable for `UNAVAILABLE`, `DEADLINE_EXCEEDED`,
//!   `RESOURCE_EXHAUSTED`, `INTERNAL`, timeouts and connection failures).
//! * No cache: every `get` is one call (with at most 3 attempts within 10 s
//!   for transient failures).
//! * `LETTUCE_GCP_SECRETS_ENDPOINT` overrides the API endpoint (Private
//!   Service Connect, regional endpoints, tests).
//!
//! The client brings its own HTTP client (reqwest, via `google-cloud-gax`),
//! so calls are not instrumented by `lettuce-http-client`; this adapter
//! emits a `gcp.secretmanager.access` span per read instead.
//!
//! **How it is tested.** No Secret Manager emulator exists; the tests run the
//! real client against a local HTTP server that replays Secret Manager's
//! published REST shapes: `AccessSecretVersionResponse` built from the
//! published discovery document's schema (Google publishes no concrete
//! `:access` instance) and a recorded `NOT_FOUND` error body
//! (`fixtures/secrets/gcp.*`, provenance in `fixtures/secrets/README.md`).
#![deny(missing_docs)]

use async_trait::async_trait;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use lettuce_ports::config::Settings;
use lettuce_ports::secrets::{Secret, SecretError, SecretStore, validate_secret_name};
use std::fmt;

const BACKEND: &str = "gcp";

/// Configuration of the Secret Manager store.
#[derive(Clone)]
#[non_exhaustive]
pub struct GcpSecretsConfig {
    /// `LETTUCE_GCP_PROJECT`, else `GOOGLE_CLOUD_PROJECT` (id or number).
    pub project: String,
    /// Which variable the project came from.
    pub project_var: &'static str,
    /// `LETTUCE_GCP_SECRETS_ENDPOINT` (default: Google's global endpoint).
    pub endpoint: Option<String>,
    /// Credentials instead of ADC (embedding, tests).
    pub credentials: Option<google_cloud_auth::credentials::Credentials>,
}

impl fmt::Debug for GcpSecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpSecretsConfig")
            .field("project", &self.project)
            .field("endpoint", &self.endpoint)
            .field(
                "credentials",
                &if self.credentials.is_some() { "explicit" } else { "ADC" },
            )
            .finish()
    }
}

impl GcpSecretsConfig {
    /// A configuration for `project` with Application Default Credentials.
    pub fn new(project: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            project_var: "LETTUCE_GCP_PROJECT",
            endpoint: None,
            credentials: None,
        }
    }

    /// The same configuration against another endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The same configuration with explicit credentials instead of ADC.
    pub fn with_credentials(mut self, credentials: google_cloud_auth::credentials::Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Reads `LETTUCE_GCP_PROJECT`/`GOOGLE_CLOUD_PROJECT` (required) and
    /// `LETTUCE_GCP_SECRETS_ENDPOINT`, recording problems in `s`.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<GcpSecretsConfig> {
        let endpoint = s
            .http_url("LETTUCE_GCP_SECRETS_ENDPOINT", "https://secretmanager.googleapis.com")
            .map(|u| u.as_str().trim_end_matches('/').to_owned());
        let (project, var) = match (s.get("LETTUCE_GCP_PROJECT"), s.get("GOOGLE_CLOUD_PROJECT")) {
            (Some(p), _) => (p, "LETTUCE_GCP_PROJECT"),
            (None, Some(p)) => (p, "GOOGLE_CLOUD_PROJECT"),
            (None, None) => {
                s.error(
                    "LETTUCE_GCP_PROJECT",
                    "is required with LETTUCE_SECRET_STORE=gcp (neither LETTUCE_GCP_PROJECT nor GOOGLE_CLOUD_PROJECT is set)",
                    "set LETTUCE_GCP_PROJECT to the id of the project that holds the secrets",
                );
                return None;
            }
        };
        if !project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ':' || c == '.')
        {
            s.error(
                var,
                format!("`{project}` is not a GCP project id or number"),
                "set the project id (lower-case letters, digits, hyphens) or number",
            );
        }
        let mut c = GcpSecretsConfig::new(project);
        c.project_var = var;
        c.endpoint = endpoint;
        Some(c)
    }

    /// The variables shown by `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![(self.project_var, self.project.clone())];
        if let Some(e) = &self.endpoint {
            rows.push(("LETTUCE_GCP_SECRETS_ENDPOINT", e.clone()));
        }
        rows.push((
            "(GCP credentials)",
            if self.credentials.is_some() {
                "explicit".into()
            } else {
                "Application Default Credentials".into()
            },
        ));
        rows
    }
}

/// Reads secrets from Google Cloud Secret Manager (see the crate docs).
#[derive(Clone)]
pub struct GcpSecretStore {
    client: SecretManagerService,
    project: String,
}

impl fmt::Debug for GcpSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpSecretStore")
            .field("project", &self.project)
            .finish()
    }
}

impl GcpSecretStore {
    /// Builds the client (credentials are resolved here; no secret is read).
    pub async fn connect(config: GcpSecretsConfig) -> Result<Self, SecretError> {
        use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
        // A few quick retries of transient failures, then the error: a store
        // outage must surface (start-up error, 503) instead of hanging.
        let mut b = SecretManagerService::builder()
            .with_retry_policy(
                Aip194Strict
                    .with_attempt_limit(3)
                    .with_time_limit(std::time::Duration::from_secs(10)),
            )
            .with_attempt_timeout(std::time::Duration::from_secs(10));
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e.clone());
        }
        if let Some(c) = config.credentials.clone() {
            b = b.with_credentials(c);
        }
        let client = b.build().await.map_err(|e| SecretError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(format!(
                "cannot create the Secret Manager client (Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS or run on GCP with a service account): {e}"
            )),
            retryable: false,
        })?;
        Ok(Self {
            client,
            project: config.project,
        })
    }

    /// The project secrets are read from.
    pub fn project(&self) -> &str {
        &self.project
    }
}

#[async_trait]
impl SecretStore for GcpSecretStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    #[tracing::instrument(name = "gcp.secretmanager.access", skip(self), fields(project = %self.project))]
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        validate_secret_name(name)?;
        let resource = format!("projects/{}/secrets/{name}/versions/latest", self.project);
        let resp = match self.client.access_secret_version().set_name(&resource).send().await {
            Ok(r) => r,
            Err(e) => return Err(map_error(&e, name, &resource)),
        };
        let payload = resp.payload.ok_or_else(|| SecretError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(format!("{resource}: the response has no payload")),
            retryable: false,
        })?;
        String::from_utf8(payload.data.to_vec())
            .map(Secret::new)
            .map_err(|_| SecretError::Backend {
                backend: BACKEND,
                source: lettuce_ports::box_msg(format!(
                    "{resource}: the payload is not UTF-8 text; store the value as text"
                )),
                retryable: false,
            })
    }
}

fn map_error(e: &google_cloud_secretmanager_v1::Error, name: &str, resource: &str) -> SecretError {
    use google_cloud_gax::error::rpc::Code;
    if let Some(status) = e.status() {
        if status.code == Code::NotFound {
            return SecretError::NotFound {
                backend: BACKEND,
                name: name.to_owned(),
            };
        }
        let retryable = matches!(
            status.code,
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Internal | Code::Aborted
        );
        return SecretError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(format!("{resource}: {:?}: {}", status.code, status.message)),
            retryable,
        };
    }
    if e.http_status_code() == Some(404) {
        return SecretError::NotFound {
            backend: BACKEND,
            name: name.to_owned(),
        };
    }
    let retryable = e.is_timeout()
        || e.is_io()
        || e.is_connect()
        || e.is_transport()
        || e.is_exhausted()
        || e.http_status_code().is_some_and(|c| c == 429 || c >= 500);
    SecretError::Backend {
        backend: BACKEND,
        source: lettuce_ports::box_msg(format!("{resource}: {}", lettuce_ports::error_chain(e))),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<GcpSecretsConfig, lettuce_ports::config::ConfigErrors> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&env);
        let c = GcpSecretsConfig::from_settings(&mut s);
        s.finish(c)
    }

    #[test]
    fn project_is_required_and_lettuce_variable_wins() {
        assert_eq!(cfg(&[]).unwrap_err().vars(), ["LETTUCE_GCP_PROJECT"]);
        let c = cfg(&[
            ("GOOGLE_CLOUD_PROJECT", "gcp-proj"),
            ("LETTUCE_GCP_PROJECT", "lettuce-proj"),
        ])
        .unwrap();
        assert_eq!(
            (c.project.as_str(), c.project_var),
            ("lettuce-proj", "LETTUCE_GCP_PROJECT")
        );
        let c = cfg(&[("GOOGLE_CLOUD_PROJECT", "gcp-proj")]).unwrap();
        assert_eq!(c.project_var, "GOOGLE_CLOUD_PROJECT");
        let e = cfg(&[
            ("LETTUCE_GCP_PROJECT", "Bad Project"),
            ("LETTUCE_GCP_SECRETS_ENDPOINT", "nope"),
        ])
        .unwrap_err();
        assert_eq!(e.vars(), ["LETTUCE_GCP_SECRETS_ENDPOINT", "LETTUCE_GCP_PROJECT"]);
    }
}
