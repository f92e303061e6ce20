//! The secret store named by `LETTUCE_SECRET_STORE=env|vault|aws|gcp`: its
//! typed configuration (each backend's own `XConfig::from_settings`) and the
//! store itself. The store is opened once per process by [`open`].

use crate::config::EnvMap;
use lettuce_ports::config::{ConfigError, Settings};
use lettuce_ports::secrets::{SecretError, SecretStore};
use std::sync::Arc;
use std::time::Duration;

/// Which secret store, with its backend's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SecretBackend {
    /// The process environment (`env`, the default).
    Env,
    /// HashiCorp Vault / OpenBao KV v2 (`vault`, feature `secrets-vault`).
    #[cfg(feature = "secrets-vault")]
    Vault(lettuce_secrets_vault::VaultConfig),
    /// AWS Secrets Manager (`aws`, feature `secrets-aws`).
    #[cfg(feature = "secrets-aws")]
    Aws(lettuce_secrets_aws::AwsSecretsConfig),
    /// Google Cloud Secret Manager (`gcp`, feature `secrets-gcp`).
    #[cfg(feature = "secrets-gcp")]
    Gcp(lettuce_secrets_gcp::GcpSecretsConfig),
}

/// `LETTUCE_SECRET_STORE` and `LETTUCE_SECRET_CACHE_SECS`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecretsConfig {
    /// The backend and its configuration.
    pub backend: SecretBackend,
    /// How long a secret read lazily through a `SecretHandle` is reused
    /// (`LETTUCE_SECRET_CACHE_SECS`, default 300). `0` reads the store at
    /// every use.
    pub reuse: Duration,
}

impl SecretsConfig {
    /// The backend's name as `LETTUCE_SECRET_STORE` spells it.
    pub fn name(&self) -> &'static str {
        match &self.backend {
            SecretBackend::Env => "env",
            #[cfg(feature = "secrets-vault")]
            SecretBackend::Vault(_) => "vault",
            #[cfg(feature = "secrets-aws")]
            SecretBackend::Aws(_) => "aws",
            #[cfg(feature = "secrets-gcp")]
            SecretBackend::Gcp(_) => "gcp",
        }
    }

    /// Reads `LETTUCE_SECRET_STORE` and the chosen backend's variables.
    pub(crate) fn from_settings(s: &mut Settings<'_>) -> Option<SecretsConfig> {
        let reuse = Duration::from_secs(s.num("LETTUCE_SECRET_CACHE_SECS", 300u64, 0, 86_400));
        let name = s.one_of("LETTUCE_SECRET_STORE", "env", &["env", "vault", "aws", "gcp"]);
        let backend = match name.as_str() {
            "env" if cfg!(feature = "secrets-env") => SecretBackend::Env,
            #[cfg(feature = "secrets-vault")]
            "vault" => SecretBackend::Vault(lettuce_secrets_vault::VaultConfig::from_settings(s)?),
            #[cfg(feature = "secrets-aws")]
            "aws" => SecretBackend::Aws(lettuce_secrets_aws::AwsSecretsConfig::from_settings(s)?),
            #[cfg(feature = "secrets-gcp")]
            "gcp" => SecretBackend::Gcp(lettuce_secrets_gcp::GcpSecretsConfig::from_settings(s)?),
            other => {
                s.push(lettuce_ports::config::missing_feature(
                    &format!("secrets-{other}"),
                    "LETTUCE_SECRET_STORE",
                    other,
                ));
                return None;
            }
        };
        Some(SecretsConfig { backend, reuse })
    }

    /// Rows for `lettuce config check` (no secret values).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![("LETTUCE_SECRET_STORE", self.name().to_owned())];
        match &self.backend {
            SecretBackend::Env => {}
            #[cfg(feature = "secrets-vault")]
            SecretBackend::Vault(c) => rows.extend(c.describe()),
            #[cfg(feature = "secrets-aws")]
            SecretBackend::Aws(c) => rows.extend(c.describe()),
            #[cfg(feature = "secrets-gcp")]
            SecretBackend::Gcp(c) => rows.extend(c.describe()),
        }
        rows.push(("LETTUCE_SECRET_CACHE_SECS", self.reuse.as_secs().to_string()));
        rows
    }

    /// A description of the store for error messages: `vault at https://…`.
    pub fn location(&self) -> String {
        match &self.backend {
            SecretBackend::Env => "the environment (LETTUCE_SECRET_STORE=env)".into(),
            #[cfg(feature = "secrets-vault")]
            SecretBackend::Vault(c) => format!("Vault at {} (LETTUCE_SECRET_STORE=vault)", c.addr),
            #[cfg(feature = "secrets-aws")]
            SecretBackend::Aws(c) => format!(
                "AWS Secrets Manager in {} (LETTUCE_SECRET_STORE=aws)",
                c.region.as_deref().unwrap_or("the default region")
            ),
            #[cfg(feature = "secrets-gcp")]
            SecretBackend::Gcp(c) => format!("GCP Secret Manager of project {} (LETTUCE_SECRET_STORE=gcp)", c.project),
        }
    }
}

/// Opens the configured store. Makes no secret read (the first read reports
/// an unreachable store, naming the secret).
pub(crate) async fn open(config: &SecretsConfig, env: &EnvMap) -> Result<Arc<dyn SecretStore>, SecretError> {
    let _ = env;
    match &config.backend {
        #[cfg(feature = "secrets-env")]
        SecretBackend::Env => Ok(Arc::new(lettuce_secrets_env::EnvSecretStore::from_map(
            env.clone().into_map(),
        ))),
        #[cfg(not(feature = "secrets-env"))]
        SecretBackend::Env => Err(SecretError::Backend {
            backend: "env",
            source: lettuce_ports::box_msg("feature `secrets-env` is not enabled in this build"),
            retryable: false,
        }),
        #[cfg(feature = "secrets-vault")]
        SecretBackend::Vault(c) => Ok(Arc::new(lettuce_secrets_vault::VaultSecretStore::new(c.clone())?)),
        #[cfg(feature = "secrets-aws")]
        SecretBackend::Aws(c) => Ok(Arc::new(lettuce_secrets_aws::AwsSecretStore::connect(c.clone()).await?)),
        #[cfg(feature = "secrets-gcp")]
        SecretBackend::Gcp(c) => Ok(Arc::new(lettuce_secrets_gcp::GcpSecretStore::connect(c.clone()).await?)),
    }
}

/// Appends the secret store's configuration problems to `errs`.
pub(crate) fn read(env: &EnvMap, errs: &mut Vec<ConfigError>) -> SecretsConfig {
    let mut s = Settings::new(env);
    let config = SecretsConfig::from_settings(&mut s);
    errs.extend(s.into_errors());
    config.unwrap_or(SecretsConfig {
        backend: SecretBackend::Env,
        reuse: Duration::from_secs(300),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(pairs: &[(&str, &str)]) -> Vec<&'static str> {
        let mut e = Vec::new();
        read(&EnvMap::from_pairs(pairs.iter().copied()), &mut e);
        e.into_iter().map(|e| e.var).collect()
    }

    #[test]
    fn store_choice_and_its_variables() {
        assert!(errs(&[]).is_empty());
        assert_eq!(errs(&[("LETTUCE_SECRET_STORE", "keychain")]), ["LETTUCE_SECRET_STORE"]);
        assert_eq!(
            errs(&[("LETTUCE_SECRET_CACHE_SECS", "-1")]),
            ["LETTUCE_SECRET_CACHE_SECS"]
        );
        let mut e = Vec::new();
        read(&EnvMap::from_pairs([("LETTUCE_SECRET_STORE", "vault")]), &mut e);
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        if cfg!(feature = "secrets-vault") {
            // The adapter names every missing variable.
            assert_eq!(
                e.iter().map(|e| e.var).collect::<Vec<_>>(),
                ["VAULT_ADDR", "VAULT_TOKEN"]
            );
        } else {
            assert!(
                text[0].contains("feature `secrets-vault` is not enabled in this build"),
                "{text:?}"
            );
        }
        let mut e = Vec::new();
        read(&EnvMap::from_pairs([("LETTUCE_SECRET_STORE", "gcp")]), &mut e);
        if cfg!(feature = "secrets-gcp") {
            assert_eq!(e.iter().map(|e| e.var).collect::<Vec<_>>(), ["LETTUCE_GCP_PROJECT"]);
        } else {
            assert!(e[0].to_string().contains("feature `secrets-gcp`"), "{e:?}");
        }
    }
}
