//! The identity provider named by `LETTUCE_AUTH_PROVIDER=local|oidc|supabase|jwks`:
//! its typed configuration (each adapter's own `XConfig::from_settings`) and
//! the external verifier [`wire`](crate::wire) hands the engine. Local
//! accounts, API keys and the admin token work with every choice; an IdP
//! adds its tokens beside them.

use crate::config::EnvMap;
use lettuce_ports::config::{ConfigError, Settings};

/// Which IdP verifies external tokens, with its configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthProvider {
    /// Lettuce's own accounts only (`local`, the default).
    Local,
    /// Any OpenID Connect provider (`oidc`, feature `auth-oidc`).
    #[cfg(feature = "auth-oidc")]
    Oidc(lettuce_auth_oidc::OidcAuthConfig),
    /// Supabase Auth (`supabase`, feature `auth-supabase`).
    #[cfg(feature = "auth-supabase")]
    Supabase(lettuce_auth_supabase::SupabaseAuthConfig),
    /// A static JWKS (`jwks`, feature `auth-jwks`).
    #[cfg(feature = "auth-jwks")]
    Jwks(lettuce_auth_jwks::JwksAuthConfig),
}

impl AuthProvider {
    /// The name as `LETTUCE_AUTH_PROVIDER` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            AuthProvider::Local => "local",
            #[cfg(feature = "auth-oidc")]
            AuthProvider::Oidc(_) => "oidc",
            #[cfg(feature = "auth-supabase")]
            AuthProvider::Supabase(_) => "supabase",
            #[cfg(feature = "auth-jwks")]
            AuthProvider::Jwks(_) => "jwks",
        }
    }

    /// Reads `LETTUCE_AUTH_PROVIDER` and the chosen adapter's variables.
    pub(crate) fn from_settings(s: &mut Settings<'_>) -> Option<AuthProvider> {
        let name = s.one_of("LETTUCE_AUTH_PROVIDER", "local", &["local", "oidc", "supabase", "jwks"]);
        Some(match name.as_str() {
            "local" if cfg!(feature = "auth-local") => AuthProvider::Local,
            #[cfg(feature = "auth-oidc")]
            "oidc" => AuthProvider::Oidc(lettuce_auth_oidc::OidcAuthConfig::from_settings(s)?),
            #[cfg(feature = "auth-supabase")]
            "supabase" => AuthProvider::Supabase(lettuce_auth_supabase::SupabaseAuthConfig::from_settings(s)?),
            #[cfg(feature = "auth-jwks")]
            "jwks" => AuthProvider::Jwks(lettuce_auth_jwks::JwksAuthConfig::from_settings(s)?),
            other => {
                s.push(lettuce_ports::config::missing_feature(
                    &format!("auth-{other}"),
                    "LETTUCE_AUTH_PROVIDER",
                    other,
                ));
                return None;
            }
        })
    }

    /// Rows for `lettuce config check` (no secret values).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let adapter_rows = match self {
            AuthProvider::Local => Vec::new(),
            #[cfg(feature = "auth-oidc")]
            AuthProvider::Oidc(c) => c.describe(),
            #[cfg(feature = "auth-supabase")]
            AuthProvider::Supabase(c) => c.describe(),
            #[cfg(feature = "auth-jwks")]
            AuthProvider::Jwks(c) => c.describe(),
        };
        std::iter::once(("LETTUCE_AUTH_PROVIDER", self.name().to_owned()))
            .chain(adapter_rows)
            .collect()
    }
}

/// Appends the auth configuration's problems to `errs`.
pub(crate) fn read(env: &EnvMap, errs: &mut Vec<ConfigError>) -> AuthProvider {
    let mut s = Settings::new(env);
    let provider = AuthProvider::from_settings(&mut s);
    errs.extend(s.into_errors());
    provider.unwrap_or(AuthProvider::Local)
}

/// What the configured IdP adds to the engine.
pub(crate) struct ExternalAuth {
    /// Verifies the IdP's bearer tokens.
    pub verifier: std::sync::Arc<dyn lettuce_ports::auth::AuthVerifier>,
    /// Browser sign-in (OIDC with `LETTUCE_OIDC_CLIENT_ID`).
    pub sign_in: Option<std::sync::Arc<dyn lettuce_ports::auth::IdpSignIn>>,
}

/// The external verifier (and browser sign-in) for `provider`, if any.
/// Secrets (`SUPABASE_JWT_SECRET`, `LETTUCE_OIDC_CLIENT_SECRET`) are read
/// through the secret store.
pub(crate) async fn external_auth(
    provider: &AuthProvider,
    secrets: &crate::secrets::Secrets,
) -> anyhow::Result<Option<ExternalAuth>> {
    let _ = secrets;
    Ok(match provider {
        AuthProvider::Local => None,
        #[cfg(feature = "auth-oidc")]
        AuthProvider::Oidc(c) => {
            let secret = secrets.resolve("LETTUCE_OIDC_CLIENT_SECRET").await?.map(|(v, _)| v);
            let oidc = std::sync::Arc::new(
                lettuce_auth_oidc::OidcAuth::new(c.clone())
                    .map_err(|e| anyhow::anyhow!("LETTUCE_OIDC_ISSUER: {e}"))?
                    .with_client_secret(secret),
            );
            let sign_in: Option<std::sync::Arc<dyn lettuce_ports::auth::IdpSignIn>> =
                oidc.can_sign_in().then(|| oidc.clone() as _);
            Some(ExternalAuth {
                verifier: oidc,
                sign_in,
            })
        }
        #[cfg(feature = "auth-supabase")]
        AuthProvider::Supabase(c) => {
            let secret = secrets.resolve("SUPABASE_JWT_SECRET").await?.map(|(v, _)| v);
            Some(ExternalAuth {
                verifier: std::sync::Arc::new(
                    lettuce_auth_supabase::SupabaseAuth::new(c.clone(), secret)
                        .map_err(|e| anyhow::anyhow!("SUPABASE_JWT_SECRET: {e}"))?,
                ),
                sign_in: None,
            })
        }
        #[cfg(feature = "auth-jwks")]
        AuthProvider::Jwks(c) => Some(ExternalAuth {
            verifier: std::sync::Arc::new(
                lettuce_auth_jwks::JwksAuth::new(c.clone()).map_err(|e| anyhow::anyhow!("LETTUCE_JWKS_URL: {e}"))?,
            ),
            sign_in: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(pairs: &[(&str, &str)]) -> Vec<String> {
        let mut e = Vec::new();
        read(&EnvMap::from_pairs(pairs.iter().copied()), &mut e);
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn provider_choice_and_its_variables() {
        assert!(errs(&[]).is_empty());
        assert!(errs(&[("LETTUCE_AUTH_PROVIDER", "ldap")])[0].starts_with("LETTUCE_AUTH_PROVIDER"));
        for (name, feature, first_var) in [
            ("oidc", "auth-oidc", "LETTUCE_OIDC_ISSUER"),
            ("supabase", "auth-supabase", "SUPABASE_URL"),
            ("jwks", "auth-jwks", "LETTUCE_JWKS_URL"),
        ] {
            let e = errs(&[("LETTUCE_AUTH_PROVIDER", name)]);
            let built = crate::enabled_features().contains(&feature);
            if built {
                assert!(e[0].starts_with(first_var), "{name}: {e:?}");
            } else {
                assert!(e[0].contains(&format!("feature `{feature}`")), "{name}: {e:?}");
            }
        }
    }
}
