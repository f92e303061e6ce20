//! Which adapters this build contains.

/// Every adapter feature this crate knows, in documentation order.
pub const ADAPTER_FEATURES: &[&str] = &[
    "store-sqlite",
    "store-postgres",
    "queue-sqlite",
    "queue-postgres",
    "blob-fs",
    "blob-memory",
    "blob-s3",
    "secrets-env",
    "secrets-vault",
    "secrets-aws",
    "secrets-gcp",
    "auth-local",
    "auth-oidc",
    "auth-supabase",
    "auth-jwks",
    "git-generic",
    "git-github",
    "git-gitlab",
    "git-bitbucket",
    "index-tantivy",
    "tokens-bpe",
    "source-local",
    "license-ed25519",
    "telemetry-http",
    "otel",
];

/// The adapter features compiled into this build.
pub fn enabled_features() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "store-sqlite") {
        v.push("store-sqlite");
    }
    if cfg!(feature = "store-postgres") {
        v.push("store-postgres");
    }
    if cfg!(feature = "queue-sqlite") {
        v.push("queue-sqlite");
    }
    if cfg!(feature = "queue-postgres") {
        v.push("queue-postgres");
    }
    if cfg!(feature = "blob-s3") {
        v.push("blob-s3");
    }
    if cfg!(feature = "blob-fs") {
        v.push("blob-fs");
    }
    if cfg!(feature = "blob-memory") {
        v.push("blob-memory");
    }
    if cfg!(feature = "secrets-env") {
        v.push("secrets-env");
    }
    if cfg!(feature = "secrets-vault") {
        v.push("secrets-vault");
    }
    if cfg!(feature = "secrets-aws") {
        v.push("secrets-aws");
    }
    if cfg!(feature = "secrets-gcp") {
        v.push("secrets-gcp");
    }
    if cfg!(feature = "auth-local") {
        v.push("auth-local");
    }
    if cfg!(feature = "auth-oidc") {
        v.push("auth-oidc");
    }
    if cfg!(feature = "auth-supabase") {
        v.push("auth-supabase");
    }
    if cfg!(feature = "auth-jwks") {
        v.push("auth-jwks");
    }
    if cfg!(feature = "git-generic") {
        v.push("git-generic");
    }
    if cfg!(feature = "git-github") {
        v.push("git-github");
    }
    if cfg!(feature = "git-gitlab") {
        v.push("git-gitlab");
    }
    if cfg!(feature = "git-bitbucket") {
        v.push("git-bitbucket");
    }
    if cfg!(feature = "index-tantivy") {
        v.push("index-tantivy");
    }
    if cfg!(feature = "tokens-bpe") {
        v.push("tokens-bpe");
    }
    if cfg!(feature = "source-local") {
        v.push("source-local");
    }
    if cfg!(feature = "license-ed25519") {
        v.push("license-ed25519");
    }
    if cfg!(feature = "telemetry-http") {
        v.push("telemetry-http");
    }
    if cfg!(feature = "otel") {
        v.push("otel");
    }
    v
}

/// The error for a configuration that needs an adapter this build lacks.
pub(crate) fn missing_feature(feature: &str, var: &'static str, value: &str) -> crate::ConfigError {
    lettuce_ports::config::missing_feature(feature, var, value)
}
