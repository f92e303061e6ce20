//! # lettuce-secrets-aws
//!
//! A [`SecretStore`] over **AWS Secrets Manager** (backend name `aws`), with
//! the official AWS SDK for Rust (`aws-sdk-secretsmanager`, `aws-config`).
//!
//! * A secret named `NAME` is `GetSecretValue` with `SecretId = NAME` — the
//!   literal env-var name (so `JWT_SIGNING_KEY` is the secret called
//!   `JWT_SIGNING_KEY`), version stage `AWSCURRENT`.
//! * The value is `SecretString`, else `SecretBinary` decoded as UTF-8 (a
//!   binary that is not UTF-8 is an error, never garbage).
//! * `ResourceNotFoundException` is [`SecretError::NotFound`]; every other
//!   failure (access denied, decryption failure, a secret marked for deletion,
//!   throttling, the network) propagates as [`SecretError::Backend`]
//!   (retryable for throttling, 5xx and transport failures).
//! * **No cache**: every `get` is one `GetSecretValue` call, so a rotation in
//!   Secrets Manager is read through at the next fetch
//!   ([`SecretHandle`](lettuce_ports::secrets::SecretHandle) decides reuse).
//! * Region: `LETTUCE_AWS_SECRETS_REGION`, else `AWS_REGION`, else what the
//!   SDK's default chain finds (profile, instance metadata); none at all is a
//!   start-up error. Credentials: the SDK's standard chain (environment,
//!   shared profile / SSO, web identity, ECS and EC2 instance roles).
//!   Endpoint: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`,
//!   exactly as every AWS SDK reads them (LocalStack, moto, VPC endpoints).
//!
//! The SDK brings its own HTTP client (hyper + rustls), so calls are not
//! instrumented by `lettuce-http-client`; this adapter emits an
//! `aws.secretsmanager.get` span per read instead.
//!
//! Tested against moto's Secrets Manager (`LETTUCE_TEST_S3_ENDPOINT`, from
//! `scripts/test-peers`) and, for error shapes moto cannot produce, a local
//! HTTP server replaying published response bodies (`fixtures/secrets/`).
#![deny(missing_docs)]

use async_trait::async_trait;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use lettuce_ports::config::Settings;
use lettuce_ports::secrets::{Secret, SecretError, SecretStore, validate_secret_name};
use std::fmt;
use std::time::Duration;

const BACKEND: &str = "aws";

/// Configuration of the Secrets Manager store. `Debug` never shows
/// credentials.
#[derive(Clone)]
#[non_exhaustive]
pub struct AwsSecretsConfig {
    /// `LETTUCE_AWS_SECRETS_REGION`, else `AWS_REGION` (else the SDK's chain).
    pub region: Option<String>,
    /// Which variable the region came from (for `config check`).
    pub region_var: Option<&'static str>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Which variable the endpoint came from.
    pub endpoint_var: Option<&'static str>,
    /// Explicit credentials instead of the standard chain (embedding, tests).
    pub static_credentials: Option<(String, Secret)>,
    /// Timeout of one call (connect + read), 10 s.
    pub timeout: Duration,
}

impl fmt::Debug for AwsSecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretsConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "credentials",
                &if self.static_credentials.is_some() {
                    "static (***)"
                } else {
                    "standard chain"
                },
            )
            .finish()
    }
}

impl Default for AwsSecretsConfig {
    fn default() -> Self {
        Self {
            region: None,
            region_var: None,
            endpoint_url: None,
            endpoint_var: None,
            static_credentials: None,
            timeout: Duration::from_secs(10),
        }
    }
}

impl AwsSecretsConfig {
    /// A configuration for `region` (credentials from the standard chain).
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            ..Self::default()
        }
    }

    /// The same configuration against another endpoint (moto, LocalStack).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// The same configuration with fixed credentials instead of the chain.
    pub fn with_static_credentials(mut self, access_key_id: impl Into<String>, secret_access_key: Secret) -> Self {
        self.static_credentials = Some((access_key_id.into(), secret_access_key));
        self
    }

    /// Reads `LETTUCE_AWS_SECRETS_REGION`/`AWS_REGION` and
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`/`AWS_ENDPOINT_URL`, recording
    /// problems in `s`. Credentials are left to the SDK's standard chain.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<AwsSecretsConfig> {
        let mut c = AwsSecretsConfig::default();
        for var in ["LETTUCE_AWS_SECRETS_REGION", "AWS_REGION"] {
            if let Some(r) = s.get(var) {
                if !r.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
                    s.error(
                        var,
                        format!("`{r}` is not an AWS region"),
                        "set a region such as eu-west-1",
                    );
                }
                c.region = Some(r);
                c.region_var = Some(var);
                break;
            }
        }
        for var in ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"] {
            if s.is_set(var) {
                if let Some(u) = s.http_url(var, "https://secretsmanager.eu-west-1.amazonaws.com") {
                    c.endpoint_url = Some(u.as_str().trim_end_matches('/').to_owned());
                    c.endpoint_var = Some(var);
                }
                break;
            }
        }
        Some(c)
    }

    /// The variables shown by `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![(
            self.region_var.unwrap_or("LETTUCE_AWS_SECRETS_REGION"),
            self.region
                .clone()
                .unwrap_or_else(|| "(from the AWS profile / instance metadata)".into()),
        )];
        if let Some(u) = &self.endpoint_url {
            rows.push((self.endpoint_var.unwrap_or("AWS_ENDPOINT_URL"), u.clone()));
        }
        rows.push((
            "(AWS credentials)",
            if self.static_credentials.is_some() {
                "static".into()
            } else {
                "standard chain (env, profile/SSO, web identity, ECS/EC2 role)".into()
            },
        ));
        rows
    }
}

/// Reads secrets from AWS Secrets Manager (see the crate docs).
#[derive(Clone)]
pub struct AwsSecretStore {
    client: aws_sdk_secretsmanager::Client,
    region: String,
}

impl fmt::Debug for AwsSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretStore").field("region", &self.region).finish()
    }
}

impl AwsSecretStore {
    /// Loads the SDK configuration (region, endpoint, credential chain).
    /// Makes no call to Secrets Manager: an unreachable service is reported
    /// by the first `get`, with the name of the secret. Fails when no region
    /// can be found.
    pub async fn connect(config: AwsSecretsConfig) -> Result<Self, SecretError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(config.timeout)
                .connect_timeout(Duration::from_secs(5))
                .build(),
        );
        if let Some(r) = &config.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &config.endpoint_url {
            loader = loader.endpoint_url(u.clone());
        }
        if let Some((id, key)) = &config.static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                key.expose().to_owned(),
                None,
                None,
                "lettuce-static",
            ));
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| SecretError::Backend {
                backend: BACKEND,
                source: lettuce_ports::box_msg(
                    "no AWS region: set LETTUCE_AWS_SECRETS_REGION (or AWS_REGION) to the region of your secrets",
                ),
                retryable: false,
            })?;
        Ok(Self {
            client: aws_sdk_secretsmanager::Client::new(&sdk),
            region,
        })
    }

    /// The region secrets are read from.
    pub fn region(&self) -> &str {
        &self.region
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    #[tracing::instrument(name = "aws.secretsmanager.get", skip(self), fields(region = %self.region))]
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        validate_secret_name(name)?;
        let out = match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetSecretValueError::ResourceNotFoundException(_)) => {
                return Err(SecretError::NotFound {
                    backend: BACKEND,
                    name: name.to_owned(),
                });
            }
            Err(e) => return Err(map_error(e, name)),
        };
        if let Some(s) = out.secret_string {
            return Ok(Secret::new(s));
        }
        if let Some(blob) = out.secret_binary {
            return String::from_utf8(blob.into_inner())
                .map(Secret::new)
                .map_err(|_| SecretError::Backend {
                    backend: BACKEND,
                    source: lettuce_ports::box_msg(format!(
                        "secret {name} has a SecretBinary that is not UTF-8 text; store the value as SecretString"
                    )),
                    retryable: false,
                });
        }
        Err(SecretError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(format!("secret {name} has neither SecretString nor SecretBinary")),
            retryable: false,
        })
    }
}

/// Every failure but "not found": the error code and message AWS sent (never
/// a value), retryable for throttling, 5xx and transport failures.
fn map_error<R>(e: SdkError<GetSecretValueError, R>, name: &str) -> SecretError
where
    R: fmt::Debug,
{
    let (retryable, detail) = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("unknown error");
            let retryable = matches!(err, GetSecretValueError::InternalServiceError(_))
                || matches!(
                    code,
                    "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" | "ServiceUnavailable"
                );
            (
                retryable,
                format!("{code}: {}", err.message().unwrap_or("(no message)")),
            )
        }
        SdkError::TimeoutError(_) => (true, "timed out".to_owned()),
        SdkError::DispatchFailure(_) => (true, format!("request failed: {}", lettuce_ports::error_chain(&e))),
        SdkError::ResponseError(_) => (true, format!("unreadable response: {}", lettuce_ports::error_chain(&e))),
        SdkError::ConstructionFailure(_) => (false, format!("request not built: {}", lettuce_ports::error_chain(&e))),
        _ => (false, lettuce_ports::error_chain(&e)),
    };
    SecretError::Backend {
        backend: BACKEND,
        source: lettuce_ports::box_msg(format!("GetSecretValue {name}: {detail}")),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<AwsSecretsConfig, lettuce_ports::config::ConfigErrors> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&env);
        let c = AwsSecretsConfig::from_settings(&mut s);
        s.finish(c)
    }

    #[test]
    fn region_and_endpoint_precedence() {
        let c = cfg(&[
            ("AWS_REGION", "us-east-1"),
            ("LETTUCE_AWS_SECRETS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:2/"),
        ])
        .unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.region_var, Some("LETTUCE_AWS_SECRETS_REGION"));
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:2"));
        let c = cfg(&[("AWS_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]).unwrap();
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.endpoint_var, Some("AWS_ENDPOINT_URL"));
        let e = cfg(&[("AWS_REGION", "eu west"), ("AWS_ENDPOINT_URL", "not a url")]).unwrap_err();
        assert_eq!(e.vars(), ["AWS_REGION", "AWS_ENDPOINT_URL"]);
    }

    #[test]
    fn debug_hides_static_credentials() {
        let c = AwsSecretsConfig::new("eu-west-1").with_static_credentials("AKIDEXAMPLE", Secret::new("wJalrXUtnFEMI"));
        let shown = format!("{c:?} {:?}", c.describe());
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
    }
}
