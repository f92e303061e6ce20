//! S3-compatible object stores (feature `s3`): AWS S3, MinIO, Cloudflare R2,
//! Backblaze B2, Ceph RGW, … — see [`S3Config`] and [`ObjectStoreBlobs::s3`].

use crate::ObjectStoreBlobs;
use lettuce_domain::Secret;
use lettuce_ports::blob::{BlobError, validate_key};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::prefix::PrefixStore;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

const BACKEND: &str = "s3";

/// Whole-request limit: index artifacts can be large single `PUT`s, which
/// `object_store`'s 30 s default would cut off on a slow link.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Retries of failed requests (5xx, connection errors): bounded so a dead
/// endpoint surfaces as an error within about two minutes, not three.
const MAX_RETRIES: usize = 5;
const RETRY_TIMEOUT: Duration = Duration::from_secs(120);
/// `ping` answers within this, for `/readyz`.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// AWS credential-chain variables passed through to `object_store` when no
/// static keys are configured (web identity / IRSA, ECS and EKS pod
/// identity, instance metadata).
const CREDENTIAL_CHAIN_VARS: &[&str] = &[
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
    "AWS_IMDSV1_FALLBACK",
];

/// Where and how to reach an S3-compatible bucket.
///
/// Build it with [`S3Config::new`] (then set the public fields) or from the
/// operator's environment with [`S3Config::from_env_map`]. `Debug` never
/// prints the access key id, the secret key or the session token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Config {
    /// Bucket name (it must exist: buckets are not created).
    pub bucket: String,
    /// Endpoint URL of a non-AWS service (MinIO, R2, B2, Ceph, …), e.g.
    /// `http://minio:9000`. When set, requests use path-style addressing
    /// (`<endpoint>/<bucket>/<key>`); when unset, AWS S3 proper with
    /// virtual-hosted addressing (`https://<bucket>.s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when unset; `auto` for R2).
    pub region: Option<String>,
    /// Static access key id. Set together with `secret_access_key`; when
    /// both are unset the AWS credential chain is used.
    pub access_key_id: Option<String>,
    /// Static secret access key.
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials (with the static keys).
    pub session_token: Option<Secret>,
    /// Allow plain `http://` endpoints (set by `from_env_map` for `http://`
    /// endpoint URLs).
    pub allow_http: bool,
    /// Key prefix inside the bucket (e.g. `lettuce/prod`): every key is
    /// stored under `<prefix>/`, so one bucket can hold several deployments.
    pub prefix: Option<String>,
    /// AWS credential-chain settings used when no static keys are set, by
    /// environment variable name (`AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// `AWS_ROLE_ARN`, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, …). Empty:
    /// the EC2 instance metadata service is asked for credentials.
    pub credential_chain: BTreeMap<String, String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { Some("***") } else { None };
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &redacted(self.access_key_id.is_some()))
            .field("secret_access_key", &redacted(self.secret_access_key.is_some()))
            .field("session_token", &redacted(self.session_token.is_some()))
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .field("credential_chain", &self.credential_chain.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl S3Config {
    /// A configuration for `bucket` on AWS S3 with the default region and
    /// the AWS credential chain; set the other fields as needed.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            prefix: None,
            credential_chain: BTreeMap::new(),
        }
    }

    /// Reads the operator contract from a map of environment variables (the
    /// caller passes e.g. `std::env::vars().collect()`; this crate never
    /// reads the process environment itself). Empty values count as unset.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `CODEWAZE_S3_BUCKET` | bucket name (required) |
    /// | `CODEWAZE_S3_ENDPOINT_URL` | endpoint of MinIO, R2, B2, Ceph, …; else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; unset = AWS S3. An `http://` URL allows plain HTTP. |
    /// | `CODEWAZE_S3_REGION` | region; else `AWS_REGION`, else `AWS_DEFAULT_REGION`; unset = `us-east-1` |
    /// | `CODEWAZE_S3_ACCESS_KEY_ID`, `CODEWAZE_S3_SECRET_ACCESS_KEY` | static keys (both or neither) |
    /// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | used when no `CODEWAZE_S3_*` key is set |
    /// | `CODEWAZE_S3_PREFIX` | optional key prefix inside the bucket |
    ///
    /// With no keys at all, the AWS credential chain applies: web identity
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), ECS/EKS container
    /// credentials, then the EC2 instance metadata service.
    ///
    /// # Errors
    ///
    /// A message naming the offending variable and how to fix it.
    pub fn from_env_map(vars: &HashMap<String, String>) -> Result<Self, String> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };

        let bucket = get("CODEWAZE_S3_BUCKET").ok_or_else(|| {
            "CODEWAZE_S3_BUCKET is not set: set it to the name of an existing S3 bucket to store blobs in S3 \
             (endpoint, region and keys come from CODEWAZE_S3_ENDPOINT_URL, CODEWAZE_S3_REGION, \
             CODEWAZE_S3_ACCESS_KEY_ID and CODEWAZE_S3_SECRET_ACCESS_KEY)"
                .to_owned()
        })?;
        check_bucket(&bucket)?;

        let endpoint_var = ["CODEWAZE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|name| get(name).map(|v| (name, v)));
        let mut allow_http = false;
        let endpoint = match endpoint_var {
            Some((name, url)) => {
                allow_http = check_endpoint(name, &url)?;
                Some(url.trim_end_matches('/').to_owned())
            }
            None => None,
        };

        let region = get("CODEWAZE_S3_REGION")
            .or_else(|| get("AWS_REGION"))
            .or_else(|| get("AWS_DEFAULT_REGION"));

        let (access_key_id, secret_access_key, session_token) =
            match (get("CODEWAZE_S3_ACCESS_KEY_ID"), get("CODEWAZE_S3_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => (Some(id), Some(Secret::new(secret)), None),
                (Some(_), None) => return Err(half_pair("CODEWAZE_S3_SECRET_ACCESS_KEY", "CODEWAZE_S3_ACCESS_KEY_ID")),
                (None, Some(_)) => return Err(half_pair("CODEWAZE_S3_ACCESS_KEY_ID", "CODEWAZE_S3_SECRET_ACCESS_KEY")),
                (None, None) => match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => (
                        Some(id),
                        Some(Secret::new(secret)),
                        get("AWS_SESSION_TOKEN").map(Secret::new),
                    ),
                    (Some(_), None) => return Err(half_pair("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")),
                    (None, Some(_)) => return Err(half_pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
                    (None, None) => (None, None, None),
                },
            };

        let credential_chain = if access_key_id.is_none() {
            CREDENTIAL_CHAIN_VARS
                .iter()
                .filter_map(|name| get(name).map(|v| ((*name).to_owned(), v)))
                .collect()
        } else {
            BTreeMap::new()
        };

        let prefix = match get("CODEWAZE_S3_PREFIX") {
            Some(p) => Some(
                normalize_prefix(&p)
                    .map_err(|reason| format!("CODEWAZE_S3_PREFIX={p:?} is not a valid key prefix: {reason}"))?,
            ),
            None => None,
        };

        Ok(Self {
            bucket,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            allow_http,
            prefix,
            credential_chain,
        })
    }

    /// Short description for logs and errors: `s3://bucket/prefix` and the
    /// endpoint (never credentials).
    pub fn location(&self) -> String {
        let mut s = format!("s3://{}", self.bucket);
        if let Some(p) = self.prefix.as_deref().and_then(|p| normalize_prefix(p).ok()) {
            s.push('/');
            s.push_str(&p);
        }
        if let Some(e) = &self.endpoint {
            s.push_str(" at ");
            s.push_str(e);
        }
        s
    }
}

fn half_pair(missing: &str, present: &str) -> String {
    format!("{present} is set but {missing} is not: set both (static keys) or neither (AWS credential chain)")
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.contains("://") || bucket.contains('/') {
        return Err(format!(
            "CODEWAZE_S3_BUCKET={bucket:?} must be a bare bucket name (e.g. `lettuce-blobs`), not a URL or path: \
             put the endpoint in CODEWAZE_S3_ENDPOINT_URL and a key prefix in CODEWAZE_S3_PREFIX"
        ));
    }
    if bucket.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "CODEWAZE_S3_BUCKET={bucket:?} contains whitespace: set it to the bucket name only"
        ));
    }
    Ok(())
}

/// Validates an endpoint URL; returns whether it is plain HTTP.
fn check_endpoint(var: &str, url: &str) -> Result<bool, String> {
    let (http, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (false, rest)
    } else {
        // Never echo credentials someone put in the URL.
        let shown = match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        };
        return Err(format!(
            "{var}={shown:?} must be an http:// or https:// URL of the S3 service (e.g. http://minio:9000 or \
             https://<account>.r2.cloudflarestorage.com); unset it to use AWS S3"
        ));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(format!(
            "{var} must be a URL with a host and no credentials (e.g. http://minio:9000); set the keys in \
             CODEWAZE_S3_ACCESS_KEY_ID / CODEWAZE_S3_SECRET_ACCESS_KEY"
        ));
    }
    Ok(http)
}

/// `a/b/` or `/a/b` → `a/b`, checked like a blob key.
fn normalize_prefix(prefix: &str) -> Result<String, &'static str> {
    let p = prefix.trim_matches('/');
    match validate_key(p) {
        Ok(()) => Ok(p.to_owned()),
        Err(BlobError::InvalidKey { reason, .. }) => Err(reason),
        Err(_) => Err("invalid prefix"),
    }
}

fn config_err(config: &S3Config, msg: impl fmt::Display) -> BlobError {
    BlobError::Backend {
        backend: BACKEND,
        source: lettuce_ports::box_msg(format!("invalid S3 configuration for {}: {msg}", config.location())),
        retryable: false,
    }
}

/// What `ping` needs: the raw bucket client and the prefix to list under.
#[derive(Clone)]
pub(crate) struct S3Probe {
    s3: AmazonS3,
    /// `<prefix>/` or none.
    list_prefix: Option<String>,
    bucket: String,
    pub(crate) location: String,
}

impl S3Probe {
    /// One `ListObjectsV2` with `max-keys=1`: cheap on any bucket size,
    /// succeeds on an empty bucket, fails on a missing one.
    pub(crate) async fn ping(&self) -> Result<(), BlobError> {
        let opts = PaginatedListOptions {
            delimiter: Some("/".into()),
            max_keys: Some(1),
            ..Default::default()
        };
        let listing = tokio::time::timeout(PING_TIMEOUT, self.s3.list_paginated(self.list_prefix.as_deref(), opts));
        let err = match listing.await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(BlobError::Backend {
                    backend: BACKEND,
                    source: lettuce_ports::box_msg(format!(
                        "listing {} did not answer within {}s",
                        self.location,
                        PING_TIMEOUT.as_secs()
                    )),
                    retryable: true,
                });
            }
        };
        let chain = error_chain(&err);
        let (msg, retryable) = if chain.contains("NoSuchBucket") {
            (
                format!(
                    "bucket {:?} does not exist ({}): create it, or fix CODEWAZE_S3_BUCKET / CODEWAZE_S3_ENDPOINT_URL",
                    self.bucket, self.location
                ),
                false,
            )
        } else {
            match err {
                object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => (
                    format!(
                        "access to {} denied: check the S3 keys and that they may list the bucket: {chain}",
                        self.location
                    ),
                    false,
                ),
                _ => (format!("cannot list {}: {chain}", self.location), true),
            }
        };
        Err(BlobError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(msg),
            retryable,
        })
    }
}

/// `e: cause: cause…` (object_store nests the S3 response body in sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

impl ObjectStoreBlobs {
    /// A store in an S3-compatible bucket (feature `s3`). Backend name `s3`.
    ///
    /// The bucket must already exist; nothing is contacted here (call
    /// [`BlobStore::ping`](lettuce_ports::blob::BlobStore::ping) to check
    /// it). Writes are single `PUT`s, which S3 applies atomically.
    ///
    /// # Errors
    ///
    /// [`BlobError::Backend`] (not retryable) when the configuration is
    /// inconsistent (e.g. only one of the two keys, a bad prefix).
    pub fn s3(config: &S3Config) -> Result<Self, BlobError> {
        if config.bucket.is_empty() {
            return Err(config_err(config, "the bucket name is empty (set CODEWAZE_S3_BUCKET)"));
        }
        let prefix = match &config.prefix {
            Some(p) => Some(normalize_prefix(p).map_err(|reason| config_err(config, format!("prefix: {reason}")))?),
            None => None,
        };

        let retry = object_store::RetryConfig {
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..Default::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_client_options(object_store::ClientOptions::new().with_timeout(REQUEST_TIMEOUT))
            .with_retry(retry)
            .with_bucket_name(&config.bucket)
            .with_allow_http(config.allow_http);
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        builder = match &config.endpoint {
            // MinIO, Ceph and most S3-compatible services need path-style.
            Some(endpoint) => builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false),
            // AWS proper: virtual-hosted, except for dotted bucket names
            // (their host names do not match the wildcard TLS certificate).
            None => builder.with_virtual_hosted_style_request(!config.bucket.contains('.')),
        };
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token.expose());
        }
        if config.access_key_id.is_none() && config.secret_access_key.is_none() {
            for (name, value) in &config.credential_chain {
                let key: AmazonS3ConfigKey = name
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| config_err(config, format!("unknown credential setting {name}")))?;
                builder = builder.with_config(key, value);
            }
        }
        let s3 = builder.build().map_err(|e| config_err(config, e))?;

        let location = config.location();
        let probe = S3Probe {
            s3: s3.clone(),
            list_prefix: prefix.as_ref().map(|p| format!("{p}/")),
            bucket: config.bucket.clone(),
            location,
        };
        let store: Arc<dyn object_store::ObjectStore> = match prefix {
            Some(p) => Arc::new(PrefixStore::new(s3, p.as_str())),
            None => Arc::new(s3),
        };
        let mut blobs = Self::from_object_store(store, BACKEND);
        blobs.s3 = Some(probe);
        Ok(blobs)
    }
}
